// Command-line parsing for every tcobench program (the CLI's subcommands and
// the daemons): GNU-style long flags
// (--name value, --name=value), declared short aliases (-n 5), positionals.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tcobench {

struct FlagSpec {
  std::string name;        // long name without dashes
  std::string short_name;  // e.g. "n" for -n; may be empty
  bool takes_value = true;
  std::string value_name;  // for help, e.g. "N"
  std::string help;
};

struct CommandSpec {
  std::string usage;        // "tcobench model info FILE [--format table|json]"
  std::string description;  // one paragraph
  std::vector<FlagSpec> flags;
  int min_positional = 0;
  int max_positional = 0;
};

class Args {
 public:
  // Parses argv (after the subcommand words). `--help` yields a NotFound
  // status whose message is the help text (the caller prints it, exit 0).
  static absl::StatusOr<Args> Parse(const CommandSpec& spec, const std::vector<std::string>& argv);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback, int64_t min,
                                 int64_t max) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // Every value of a repeatable flag, in order (Get returns the last).
  std::vector<std::string> GetAll(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>() : it->second;
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;  // each flag's values, in order
  std::vector<std::string> positional_;
};

std::string HelpText(const CommandSpec& spec);

// The start of a daemon's main(): parses argv, prints --help (exit 0) or
// `program VERSION (commit …)` for --version (exit 0), or a one-line usage
// error (exit 2). Returns the exit code when main should return it now.
std::optional<int> ParseDaemonArgs(const CommandSpec& spec, int argc, char** argv,
                                   const char* program, Args* out);

}  // namespace tcobench
