// A stand-in for a libllama of another llama.cpp release, built by the
// tests: the version functions and llama_decode, so the runtime's check
// must refuse it by its version (not for a missing symbol).
extern "C" {
const char* llama_version() { return "0.4.0"; }
const char* ggml_commit() { return "0123abc"; }
int llama_decode(void*, void*) { return -1; }
}
