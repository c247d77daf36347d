// tcobench: the command-line interface. Parses the subcommand and hands off.
#include <cstdio>
#include <string>
#include <vector>

#include "services/cli/commands.h"
#include "common/base/build_info.h"

namespace {

constexpr char kUsage[] =
    "usage: tcobench <command> [options]\n"
    "\n"
    "Model benchmarking and total-cost-of-ownership analysis.\n"
    "\n"
    "commands:\n"
    "  demo                   the whole service on this machine: coordinator, two workers, a comparison\n"
    "  model info FILE        describe a GGUF model (architecture, sizes, tensor types)\n"
    "  model logits FILE      evaluate token ids and write every position's logits\n"
    "  model synth OUT        write a random-weight llama model of a real shape\n"
    "  model quantize IN OUT  make a quantized variant (Q8_0, Q4_K_M, ...)\n"
    "  model bench FILE       prefill/decode speed and the machine's read bandwidth\n"
    "  generate FILE          generate text with the embedded engine\n"
    "  eval perplexity MODEL  perplexity over a text, as llama-perplexity computes it\n"
    "  eval kld BASE CAND     KL divergence and top-1 agreement of a variant against its base\n"
    "  eval choice MODEL      multiple-choice accuracy (HellaSwag, ARC-Easy)\n"
    "  spec validate SPEC     check a comparison spec without running it\n"
    "  run SPEC --local       run a comparison on this machine: latency, energy, accuracy\n"
    "  run SPEC               submit to the coordinator, wait, print the same summary\n"
    "  submit SPEC [--wait]   submit a comparison to the coordinator (prints its id)\n"
    "  watch ID               follow a comparison's jobs live\n"
    "  list                   the coordinator's comparisons\n"
    "  report REF             results and cost: table, json, csv, markdown or html\n"
    "  tag ID NAME            name a comparison (release/1.4, main); tags move\n"
    "  gate --baseline REF --candidate REF   fail CI on a regression (exit 0/1/3)\n"
    "  cancel ID | delete ID  stop / remove a comparison\n"
    "  workers                the workers registered with the coordinator\n"
    "  drain WORKER           stop giving a worker jobs; it exits after the current one (admin)\n"
    "\n"
    "Run 'tcobench <command> --help' for a command's options.\n"
    "  --version              print the version and build commit\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace tcobench::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::printf("tcobench %s (commit %s)\n", tcobench::VersionString(), tcobench::BuildCommitId());
    return kExitOk;
  }
  const std::string cmd = args[0];
  if (cmd == "generate") return RunGenerate({args.begin() + 1, args.end()});
  if (cmd == "run") return RunRun({args.begin() + 1, args.end()});
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "submit") return RunSubmit(rest);
  if (cmd == "watch") return RunWatch(rest);
  if (cmd == "list") return RunList(rest);
  if (cmd == "report") return RunReport(rest);
  if (cmd == "cancel") return RunCancel(rest);
  if (cmd == "delete") return RunDelete(rest);
  if (cmd == "workers") return RunWorkers(rest);
  if (cmd == "drain") return RunDrain(rest);
  if (cmd == "tag") return RunTag(rest);
  if (cmd == "gate") return RunGate(rest);
  if (cmd == "demo") return RunDemo(rest);
  if (cmd == "spec") {
    if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
      std::fputs("usage: tcobench spec validate SPEC.json (see tcobench spec validate --help)\n",
                 args.size() < 2 ? stderr : stdout);
      return args.size() < 2 ? kExitUsage : kExitOk;
    }
    if (args[1] == "validate") return RunSpecValidate({args.begin() + 2, args.end()});
    std::fprintf(stderr, "tcobench: unknown spec command '%s' (validate)\n", args[1].c_str());
    return kExitUsage;
  }
  if (cmd == "eval") {
    if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
      std::fputs(
          "usage: tcobench eval perplexity|kld|choice ... (see tcobench eval <verb> --help)\n",
          args.size() < 2 ? stderr : stdout);
      return args.size() < 2 ? kExitUsage : kExitOk;
    }
    const std::vector<std::string> rest(args.begin() + 2, args.end());
    if (args[1] == "perplexity") return RunEvalPerplexity(rest);
    if (args[1] == "kld") return RunEvalKld(rest);
    if (args[1] == "choice") return RunEvalChoice(rest);
    std::fprintf(stderr, "tcobench: unknown eval command '%s' (perplexity, kld, choice)\n",
                 args[1].c_str());
    return kExitUsage;
  }
  if (cmd == "model") {
    if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
      std::fputs(
          "usage: tcobench model info|logits|tokenize|synth|quantize|bench ... (see tcobench model <verb> "
          "--help)\n",
          args.size() < 2 ? stderr : stdout);
      return args.size() < 2 ? kExitUsage : kExitOk;
    }
    const std::vector<std::string> rest(args.begin() + 2, args.end());
    if (args[1] == "info") return RunModelInfo(rest);
    if (args[1] == "logits") return RunModelLogits(rest);
    if (args[1] == "tokenize") return RunModelTokenize(rest);
    if (args[1] == "synth") return RunModelSynth(rest);
    if (args[1] == "quantize") return RunModelQuantize(rest);
    if (args[1] == "bench") return RunModelBench(rest);
    std::fprintf(stderr,
                 "tcobench: unknown model command '%s' (info, logits, tokenize, synth, quantize, bench)\n",
                 args[1].c_str());
    return kExitUsage;
  }
  std::fprintf(stderr, "tcobench: unknown command '%s' (see tcobench --help)\n", cmd.c_str());
  return kExitUsage;
}
