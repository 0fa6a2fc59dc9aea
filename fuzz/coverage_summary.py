#!/usr/bin/env python3
"""Per-file coverage of gossipd's sources from libFuzzer's -print_coverage=1.

    fuzz/target/x86_64-unknown-linux-gnu/release/TARGET -runs=0 -print_coverage=1 \\
        fuzz/generated/TARGET fuzz/corpus/TARGET 2>&1 | python3 fuzz/coverage_summary.py

For every file under src/ it prints the functions reached out of those linked
into the target, and the covered instrumented edges of those functions. The
edge counts include branches that cannot be taken (bounds and overflow
checks, panics, inlined library code), so 100 % is out of reach; compare
runs, not absolutes. With --lines it also lists the lines of each file that
hold an edge never taken (the line may be partly covered).
"""

import os
import re
import sys
from collections import defaultdict

LINE = re.compile(
    r"^(COVERED|UNCOVERED)_FUNC: hits: \d+ edges: (\d+)/(\d+) (.*) (\S+):\d+$"
)
PC = re.compile(r"^UNCOVERED_PC: (\S+):(\d+)$")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/"


def source(path: str):
    """The path relative to the repository, for gossipd's own sources only."""
    if not path.startswith(ROOT + "src/"):
        return None
    return path[len(ROOT) :]


def main() -> None:
    files = defaultdict(lambda: [0, 0, 0, 0, []])  # reached, funcs, edges, total, unreached
    lines = defaultdict(set)
    for line in sys.stdin:
        pc = PC.match(line.strip())
        if pc and source(pc.group(1)) and pc.group(2) != "0":
            lines[source(pc.group(1))].add(int(pc.group(2)))
        m = LINE.match(line.strip())
        if not m:
            continue
        kind, covered, total, func, path = m.groups()
        if not source(path):
            continue
        f = files[source(path)]
        f[1] += 1
        f[2] += int(covered)
        f[3] += int(total)
        if kind == "COVERED":
            f[0] += 1
        else:
            f[4].append(func)
    print(f"{'file':36} {'functions':>12} {'edges':>16}")
    for path in sorted(files):
        reached, funcs, edges, total, unreached = files[path]
        pct = 100 * edges / total if total else 0
        print(f"{path:36} {reached:5}/{funcs:<6} {edges:6}/{total:<6} {pct:3.0f}%")
        for func in unreached:
            print(f"    not reached: {func}")
        if "--lines" in sys.argv and lines[path]:
            print("    lines with an edge never taken:", " ".join(map(str, sorted(lines[path]))))


if __name__ == "__main__":
    main()
