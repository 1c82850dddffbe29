"""The verdict line of every real log: what a user reads first, one line per run.

    python benchmarks/verdict_table.py                     # fixtures/real + ../shared/reallogs*
    python benchmarks/verdict_table.py --out before.tsv    # also a tab-separated copy
    python benchmarks/verdict_table.py PATH ...            # other top-level entries

Each top-level entry of a real-log set (a file or a work dir) is diagnosed through the CLI,
as a user would (`bevlog diagnose ENTRY`), and every `verdict:` line is printed beside its
run's name. Two tables made by two checkouts (PYTHONPATH) are compared by `--diff A B`.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# fixtures/real holds copies of some shared sets: an entry seen once (by name) is not read again
SETS = [
    os.path.join(REPO, "fixtures", "real", "set*"),
    os.path.join(REPO, "..", "..", "shared", "reallogs*"),
    os.path.join(REPO, "..", "shared", "reallogs*"),
]


def entries(args: list[str]) -> list[str]:
    if args:
        return args
    out, seen = [], set()
    for pattern in SETS:
        for folder in sorted(glob.glob(pattern)):
            for name in sorted(os.listdir(folder)):
                path = os.path.realpath(os.path.join(folder, name))
                if name.startswith("README") or name in seen:
                    continue
                seen.add(name)
                out.append(path)
    return out


def verdicts(path: str) -> list[tuple[str, str]]:
    """[(run, verdict line)] of `bevlog diagnose PATH` (a problem line when it fails)."""
    env = dict(os.environ, NO_COLOR="1", COLUMNS="400")
    proc = subprocess.run(
        [sys.executable, "-c", "from bevlog.cli import cli; cli()", "diagnose", "-j", "1", path],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    rows, run = [], None
    for line in proc.stdout.splitlines():
        if run is None and line.strip() and not line.startswith(" "):
            run = line.split(" · ")[0]
        if line.startswith("verdict:"):
            rows.append((run or "?", line[len("verdict:") :].strip()))
            run = None
        elif not line.strip():
            run = None
    for line in proc.stderr.splitlines():
        if line.startswith(("bevlog:", "error", "problem")) or ": " in line and "note" not in line:
            rows.append((os.path.basename(path), f"[stderr] {line.strip()[:200]}"))
    return rows


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--diff"]:
        return diff(argv[1], argv[2])
    out = None
    if "--out" in argv:
        k = argv.index("--out")
        out = argv[k + 1]
        del argv[k : k + 2]
    lines = []
    for path in entries(argv):
        label = os.path.basename(path)
        for run, verdict in verdicts(path):
            lines.append(f"{label}\t{run}\t{verdict}")
            print(f"{label}  |  {run}  |  {verdict}", flush=True)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return 0


def _cell(column: list[str], k: int) -> str:
    """The k-th verdict of one side as a markdown cell ("—" where that side has fewer)."""
    return (column[k] if k < len(column) else "—").replace("|", "\\|")


def diff(a: str, b: str) -> int:
    """Markdown table: entry, run, verdict in A, verdict in B (runs matched by entry and name)."""

    def load(path):
        rows = {}
        for line in open(path, encoding="utf-8"):
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                rows.setdefault((parts[0], parts[1]), []).append(parts[2])
        return rows

    before, after = load(a), load(b)
    print("| entry | run | before | after |\n|---|---|---|---|")
    for key in sorted(set(before) | set(after)):
        x, y = before.get(key, ["—"]), after.get(key, ["—"])
        for k in range(max(len(x), len(y))):
            print(f"| {key[0]} | {key[1]} | {_cell(x, k)} | {_cell(y, k)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
