#!/usr/bin/python3
"""`tcobench model tokenize` against llama.cpp's own `llama-tokenize` (built by
scripts/build-llama-cpp.sh) on the first 200 KB of wikitext-2's test text
(cut at a line end), for the llama-bpe (Llama 3), qwen2 and phi-3 vocabularies
of ../shared and the vocabularies `model synth` writes for gemma3 (Gemma's
SentencePiece: no space prefix, user-defined tokens split out first) and
phi3: the same ids, token for token, no BOS, special tokens as text (the
synthetic ones with chat markup and blank lines appended, so user-defined
tokens occur).
Also --detokenize gives the text back and --pieces one line per token.

usage: tokenize_test.py BIN_DIR SHARED_DIR
Exits 77 (ctest: Skipped) when llama-tokenize or ../shared is missing.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from procs import llama_dir  # noqa: E402

SKIP = 77


def main():
    bin_dir, shared = sys.argv[1], sys.argv[2]
    ref_bin = os.path.join(llama_dir(), "bin", "llama-tokenize")
    wiki = os.path.join(shared, "data", "wikitext-2-raw", "wiki.test.raw")
    if not os.path.exists(ref_bin):
        print("SKIP: %s missing (scripts/build-llama-cpp.sh)" % ref_bin)
        return SKIP
    if not os.path.exists(wiki):
        print("SKIP: %s missing (set TCOBENCH_SHARED_DIR)" % wiki)
        return SKIP
    with open(wiki, "rb") as f:
        data = f.read(200 * 1024)
    data = data[:data.rfind(b"\n") + 1]
    work = tempfile.mkdtemp(prefix="tcobench-tokenize-")
    text = os.path.join(work, "wiki200k.txt")
    with open(text, "wb") as f:
        f.write(data)
    tcobench = os.path.join(bin_dir, "tcobench")
    markup = os.path.join(work, "wiki200k-markup.txt")
    with open(markup, "wb") as f:
        f.write(data + b"<start_of_turn>user\nTell me a story.<end_of_turn>\n\n<b>Once</b> upon\n\n\na time<h1>x"
                b"<|end|> <|user|>\n")
    cases = [(name, os.path.join(shared, "models", "vocab", "ggml-vocab-%s.gguf" % name), text)
             for name in ("llama-bpe", "qwen2", "phi-3")]
    for shape in ("ktiny-gemma3", "ktiny-phi3"):
        path = os.path.join(work, shape + ".gguf")
        r = subprocess.run([tcobench, "model", "synth", path, "--shape", shape], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        cases.append((shape + " (synthesized)", path, markup))
    for name, vocab, text in cases:
        ref = subprocess.run([ref_bin, "-m", vocab, "-f", text, "--ids", "--no-bos", "--no-parse-special",
                              "--log-disable"], capture_output=True, text=True)
        assert ref.returncode == 0, ref.stderr
        ours = subprocess.run([tcobench, "model", "tokenize", vocab, "--file", text], capture_output=True, text=True)
        assert ours.returncode == 0, ours.stderr
        a, b = json.loads(ref.stdout), json.loads(ours.stdout)
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        assert a == b, "%s: %d vs %d tokens, first difference at %s: llama.cpp %s, ours %s" % (
            name, len(a), len(b), first, a[first:first + 5] if first is not None else a[len(b):len(b) + 5],
            b[first:first + 5] if first is not None else b[len(a):len(a) + 5])
        print("%s: %d tokens of %d bytes identical to llama-tokenize" % (name, len(a), len(data)))
        back = subprocess.run([tcobench, "model", "tokenize", vocab, "--detokenize", "--text", json.dumps(a[:200])],
                              capture_output=True, text=True)
        assert back.returncode == 0, back.stderr
        head = subprocess.run([tcobench, "model", "tokenize", vocab, "--text", back.stdout[:-1]],
                              capture_output=True, text=True)
        assert json.loads(head.stdout) == a[:200], "detokenized text does not tokenize back"
        pieces = subprocess.run([tcobench, "model", "tokenize", vocab, "--text", "Hello 1234", "--pieces"],
                                capture_output=True, text=True)
        assert pieces.returncode == 0 and len(pieces.stdout.strip().split("\n")) >= 3, pieces.stdout
    bad = subprocess.run([tcobench, "model", "tokenize", os.path.join(shared, "models", "vocab", "ggml-vocab-bert-bge.gguf"),
                          "--text", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "supported" in bad.stderr, bad.stderr
    print("tokenize_test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
