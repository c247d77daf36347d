// The version and the git commit this binary was built from (generated at
// build time by cmake/BuildInfo.cmake; "-dirty" marks uncommitted changes).
#pragma once

namespace tcobench {

const char* BuildCommitId();
const char* VersionString();

}  // namespace tcobench
