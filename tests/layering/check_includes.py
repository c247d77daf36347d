#!/usr/bin/env python3
"""The layering rule (docs/architecture.md, "Layers"), checked.

check_includes.py SOURCE_DIR
    Reads the component table between <!-- layers:begin --> and
    <!-- layers:end --> in SOURCE_DIR/docs/architecture.md, then every
    #include "..." in the components' folders and every
    target_link_libraries() of their libraries in the CMakeLists.txt files.
    Prints one line per edge the table does not allow, as FILE:LINE: what,
    and exits 1 when there is any; 0 when all edges are allowed.

check_includes.py --self-test
    Plants a bad include and a bad link in a copy-free scratch tree and
    checks that both are reported (so the rule itself can fail).
"""
import os
import re
import sys
import tempfile

SOURCE_SUFFIXES = (".h", ".cc", ".cpp", ".hpp")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
LINKS = re.compile(r"target_link_libraries\s*\(\s*([A-Za-z0-9_\-]+)([^)]*)\)", re.S)


class Rules:
    def __init__(self, components):
        # name -> (folder, library, allowed names)
        self.components = components
        self.by_library = {lib: name for name, (_, lib, _) in components.items()}

    def component_of_path(self, rel):
        """The component a source path (from the source root) belongs to."""
        best = None
        for name, (folder, _, _) in self.components.items():
            if rel == folder or rel.startswith(folder + "/"):
                if best is None or len(folder) > len(self.components[best][0]):
                    best = name
        return best

    def component_of_include(self, path):
        if path.startswith("tcobench/v1/"):
            return "proto"
        return self.component_of_path(path)

    def allowed(self, source, target):
        return source == target or target in self.components[source][2]


def parse_table(architecture_md):
    text = open(architecture_md, encoding="utf-8").read()
    m = re.search(r"<!-- layers:begin -->(.*?)<!-- layers:end -->", text, re.S)
    if not m:
        raise SystemExit("%s: no layers table (<!-- layers:begin --> ... <!-- layers:end -->)" % architecture_md)
    components = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("component", "") or set(cells[0]) <= set("-"):
            continue
        name, folder, library, uses = cells
        components[name] = (folder, library, {u.strip() for u in uses.split(",") if u.strip()})
    for name, (_, _, uses) in components.items():
        for u in uses:
            if u not in components:
                raise SystemExit("%s: component %s may use '%s', which the table does not list" %
                                 (architecture_md, name, u))
    return Rules(components)


def check(source_dir):
    rules = parse_table(os.path.join(source_dir, "docs", "architecture.md"))
    problems = []
    files = 0
    includes = 0
    for name, (folder, _, _) in sorted(rules.components.items()):
        root = os.path.join(source_dir, folder)
        for dirpath, _, names in os.walk(root):
            for n in sorted(names):
                path = os.path.join(dirpath, n)
                rel = os.path.relpath(path, source_dir)
                if rules.component_of_path(rel) != name:
                    continue  # a nested component's file: checked as that one
                if n.endswith(SOURCE_SUFFIXES):
                    files += 1
                    with open(path, encoding="utf-8", errors="replace") as f:
                        for lineno, line in enumerate(f, 1):
                            m = INCLUDE.match(line)
                            if not m:
                                continue
                            target = rules.component_of_include(m.group(1))
                            if target is None:
                                continue  # not a project header (absl/..., a system one)
                            includes += 1
                            if not rules.allowed(name, target):
                                problems.append("%s:%d: %s may not include %s (component %s; docs/architecture.md, "
                                                "Layers)" % (rel, lineno, name, m.group(1), target))
                elif n == "CMakeLists.txt":
                    text = open(path, encoding="utf-8").read()
                    for m in LINKS.finditer(text):
                        source = rules.by_library.get(m.group(1))
                        if source is None:
                            continue  # an executable or a test: not a component
                        lineno = text.count("\n", 0, m.start()) + 1
                        for dep in m.group(2).split():
                            target = rules.by_library.get(dep)
                            if target is not None and not rules.allowed(source, target):
                                problems.append("%s:%d: %s may not link %s (component %s; docs/architecture.md, "
                                                "Layers)" % (rel, lineno, m.group(1), dep, target))
    return rules, files, includes, problems


def self_test():
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, "docs"))
        with open(os.path.join(work, "docs", "architecture.md"), "w") as f:
            f.write("<!-- layers:begin -->\n| component | folder | library | may use |\n|---|---|---|---|\n"
                    "| base | common/base | tcobench_base | |\n"
                    "| engine | workers/engine | tcobench_engine | base |\n"
                    "| coordinator | services/coordinator | tcobench_coordinator_lib | base |\n"
                    "<!-- layers:end -->\n")
        for folder in ("common/base", "workers/engine", "services/coordinator"):
            os.makedirs(os.path.join(work, folder))
        with open(os.path.join(work, "services/coordinator/store.cc"), "w") as f:
            f.write('#include "services/coordinator/store.h"\n#include "common/base/flags.h"\n'
                    '#include "absl/strings/str_cat.h"\n#include "workers/engine/build_info.h"\n')
        with open(os.path.join(work, "services/coordinator/CMakeLists.txt"), "w") as f:
            f.write("target_link_libraries(tcobench_coordinator_lib PRIVATE tcobench_base\n tcobench_engine)\n")
        _, _, _, problems = check(work)
    expected = ["services/coordinator/store.cc:4: coordinator may not include workers/engine/build_info.h",
                "services/coordinator/CMakeLists.txt:1: tcobench_coordinator_lib may not link tcobench_engine"]
    for e in expected:
        if not any(p.startswith(e) for p in problems):
            print("self-test: the planted edge was not reported: %s\nreported: %s" % (e, problems))
            return 1
    if len(problems) != len(expected):
        print("self-test: unexpected reports: %s" % problems)
        return 1
    print("self-test: both planted edges reported:\n  " + "\n  ".join(problems))
    return 0


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    rules, files, includes, problems = check(os.path.abspath(sys.argv[1]))
    for p in problems:
        print(p)
    print("%d components, %d files, %d project includes checked: %d edges not allowed" %
          (len(rules.components), files, includes, len(problems)))
    if files == 0:
        print("no source files found: is %s the source root?" % sys.argv[1])
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
