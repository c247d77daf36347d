#include "services/coordinator/sqlite.h"

#include "absl/strings/str_cat.h"

namespace tcobench::internal {

absl::Status DatabaseError(int rc, const std::string& message) {
  switch (rc & 0xff) {  // the primary code of an extended one
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(
          absl::StrCat("the coordinator cannot write its store (", message,
                       "): nothing was changed; retry when its disk is back"));
    default:
      return absl::InternalError(absl::StrCat("database: ", message));
  }
}

absl::Status ExecSql(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    const std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return DatabaseError(rc, msg);
  }
  return absl::OkStatus();
}

}  // namespace tcobench::internal
