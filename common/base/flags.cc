#include "common/base/flags.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/build_info.h"

namespace tcobench {

std::string HelpText(const CommandSpec& spec) {
  std::string out = absl::StrCat("usage: ", spec.usage, "\n\n", spec.description, "\n");
  if (!spec.flags.empty()) out += "\noptions:\n";
  for (const FlagSpec& f : spec.flags) {
    std::string left = f.short_name.empty() ? "    " : absl::StrCat("-", f.short_name, ", ");
    left += absl::StrCat("--", f.name);
    if (f.takes_value) left += absl::StrCat(" ", f.value_name.empty() ? "VALUE" : f.value_name);
    if (left.size() < 26)
      left.resize(26, ' ');
    else
      left += "  ";
    out += absl::StrCat("  ", left, f.help, "\n");
  }
  out += "  -h, --help                show this help\n";
  return out;
}

absl::StatusOr<Args> Args::Parse(const CommandSpec& spec, const std::vector<std::string>& argv) {
  Args args;
  bool only_positional = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (only_positional || a.size() < 2 || a[0] != '-' ||
        (a.size() > 1 && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.'))) {
      args.positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    if (a == "-h" || a == "--help") return absl::NotFoundError(HelpText(spec));
    std::string name, value;
    bool has_value = false;
    if (a.rfind("--", 0) == 0) {
      name = a.substr(2);
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
    } else {
      name = a.substr(1);
    }
    const FlagSpec* flag = nullptr;
    for (const FlagSpec& f : spec.flags) {
      if (f.name == name || (!f.short_name.empty() && f.short_name == name && a[1] != '-'))
        flag = &f;
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", a, "' (see --help)"));
    }
    if (flag->takes_value && !has_value) {
      if (i + 1 >= argv.size()) {
        return absl::InvalidArgumentError(absl::StrCat("option --", flag->name, " needs a value"));
      }
      value = argv[++i];
    } else if (!flag->takes_value && has_value) {
      return absl::InvalidArgumentError(absl::StrCat("option --", flag->name, " takes no value"));
    }
    args.values_[flag->name].push_back(value);
  }
  const int n = static_cast<int>(args.positional_.size());
  if (n < spec.min_positional) {
    return absl::InvalidArgumentError(absl::StrCat("missing argument; usage: ", spec.usage));
  }
  if (n > spec.max_positional) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument '", args.positional_[spec.max_positional], "'; usage: ", spec.usage));
  }
  return args;
}

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

absl::StatusOr<int64_t> Args::GetInt(const std::string& name, int64_t fallback, int64_t min,
                                     int64_t max) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second.back();
  int64_t v;
  if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be an integer from ", min,
                                                   " to ", max, ", got '", text, "'"));
  }
  return v;
}

absl::StatusOr<double> Args::GetDouble(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second.back();
  double v;
  if (!absl::SimpleAtod(text, &v) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be a number, got '", text, "'"));
  }
  return v;
}

std::optional<int> ParseDaemonArgs(const CommandSpec& spec, int argc, char** argv,
                                   const char* program, Args* out) {
  absl::StatusOr<Args> args = Args::Parse(spec, std::vector<std::string>(argv + 1, argv + argc));
  if (!args.ok()) {
    if (args.status().code() == absl::StatusCode::kNotFound) {
      std::fputs(std::string(args.status().message()).c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "%s: %s\n", program, std::string(args.status().message()).c_str());
    return 2;
  }
  if (args->Has("version")) {
    std::printf("%s %s (commit %s)\n", program, VersionString(), BuildCommitId());
    return 0;
  }
  *out = std::move(*args);
  return std::nullopt;
}

}  // namespace tcobench
