// A stand-in for libnvidia-ml.so.1, built by the tests: the NVML functions
// the meter uses, behaving as FAKE_NVML_MODE says:
//   counter  one GPU with a total-energy counter rising at 150 W
//   power    one GPU without the counter, drawing 200 W
//   noperm   the counter refuses with NVML_ERROR_NO_PERMISSION
//   nogpu    no GPUs
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
std::string Mode() {
  const char* m = std::getenv("FAKE_NVML_MODE");
  return m != nullptr ? m : "counter";
}
double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
int g_device = 0;
}  // namespace

extern "C" {
int nvmlInit_v2() { return 0; }
int nvmlShutdown() { return 0; }
int nvmlDeviceGetCount_v2(unsigned int* count) {
  *count = Mode() == "nogpu" ? 0 : 1;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int, void** device) {
  *device = &g_device;
  return 0;
}
int nvmlDeviceGetTotalEnergyConsumption(void*, unsigned long long* mj) {
  if (Mode() == "power") return 3;   // NVML_ERROR_NOT_SUPPORTED
  if (Mode() == "noperm") return 4;  // NVML_ERROR_NO_PERMISSION
  *mj = static_cast<unsigned long long>(Seconds() * 150.0 * 1000.0);
  return 0;
}
int nvmlDeviceGetPowerUsage(void*, unsigned int* mw) {
  *mw = 200000;
  return 0;
}
int nvmlDeviceGetName(void*, char* name, unsigned int length) {
  std::strncpy(name, "Fake GPU", length);
  return 0;
}
int nvmlDeviceGetMemoryInfo(void*, unsigned long long* memory) {  // total, free, used
  memory[0] = 80ull << 30;
  memory[1] = 79ull << 30;
  memory[2] = 1ull << 30;
  return 0;
}
int nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  std::strncpy(version, "999.1", length);
  return 0;
}
const char* nvmlErrorString(int r) {
  return r == 4 ? "Insufficient Permissions" : r == 3 ? "Not Supported" : "Unknown Error";
}
}
