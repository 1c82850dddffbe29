"""Precision and recall of every diagnosis rule over the labelled corpus (fixtures/labelled).

    python benchmarks/rules_eval.py            # table; exit 1 when a rule is under target
    python benchmarks/rules_eval.py --verbose  # also every label that failed

Precision = TP / (TP + FP), recall = TP / (TP + FN), where a `must` label met is a TP, one
missed an FN, and a `must_not` label violated an FP. Also checked: no divergence or
nonfinite-loss error on a run labelled healthy. Target: ≥ 0.9 for each rule.
"""
from __future__ import annotations

import math
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "fixtures", "labelled"))

import corpus  # noqa: E402

TARGET = 0.9


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from bevlog.diagnose import diagnose_run
    from bevlog.rules import RULE_IDS

    started = time.perf_counter()
    results, failures = [], []
    kinds: dict[str, dict[str, int]] = {}
    for e in corpus.entries():
        run = corpus.read(e)
        findings = diagnose_run(run)
        results.append((e, findings))
        failures += corpus.check(e, findings)
        for m in e.get("must", []):
            kinds.setdefault(m["rule"], {}).setdefault(e["kind"], 0)
            kinds[m["rule"]][e["kind"]] += 1
    scores = corpus.score(results)
    healthy = [f for f in failures if "error on a healthy run" in f]

    print(f"labelled corpus: {len(results)} runs ({sum(e['kind'] == 'real' for e, _ in results)} real logs, "
          f"{sum(e['kind'].startswith('variant') for e, _ in results)} variants, "
          f"{sum(e['kind'] == 'bevdetr' for e, _ in results)} bevdetr runs)")
    print(f"{'rule':<16} {'TP':>3} {'FN':>3} {'FP':>3} {'TN':>3}  {'precision':>9} {'recall':>6}  positives by kind")
    below = []
    for rule in RULE_IDS:
        s = scores.get(rule, corpus.Score())
        p, r = s.precision, s.recall
        ok = all(math.isnan(x) or x >= TARGET for x in (p, r)) and s.tp + s.fn > 0
        if not ok:
            below.append(rule)
        pos = ", ".join(f"{k} {n}" for k, n in sorted(kinds.get(rule, {}).items()))
        print(f"{rule:<16} {s.tp:>3} {s.fn:>3} {s.fp:>3} {s.tn:>3}  {_f(p):>9} {_f(r):>6}  {pos}"
              + ("" if ok else "   <-- below target or no positive"))
    print(f"healthy runs with a divergence/nonfinite-loss error: {len(healthy)}")
    print(f"all labels hold: {'yes' if not failures else f'no ({len(failures)} failures)'}; "
          f"{time.perf_counter() - started:.1f} s")
    if "--verbose" in argv or failures:
        for line in failures:
            print("  " + line)
    return 1 if below or healthy else 0


def _f(x: float) -> str:
    return "  –" if math.isnan(x) else f"{x:.2f}"


if __name__ == "__main__":
    sys.exit(main())
