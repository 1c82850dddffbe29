"""Caveats a comparison must carry: where the axis or the metric does not compare like with like.

- Iterations across batch sizes: at iteration k a run of batch 20 has seen 2.5× the samples
  of a run of batch 8, so "lower at every iteration" may be nothing but more data.
- A total loss is the sum of a model's loss terms (times their weights). Two models with
  different terms (one has auxiliary decoder losses, denoising or depth terms the other
  lacks) or different weights have totals on different scales: a higher total says nothing
  about which learned better. A shared term (`-m loss_cls`) or an evaluation metric does.
"""

from __future__ import annotations

import numpy as np

from bevlog.align import total_batch
from bevlog.configdiff import MISSING_VALUE, config_diff, short

TOTAL_LOSS = "loss"
MAX_LISTED = 4


def iters_across_batches(runs, labels, overrides=None) -> list[str]:
    """A warning when runs aligned by iterations have different (or unknown) total batches."""
    batches = [total_batch(run, overrides) for run in runs]
    known = {b for b in batches if b}
    unknown = [lab for lab, b in zip(labels, batches) if not b]
    if len(runs) < 2:
        return []
    if len(known) > 1:
        listed = ", ".join(f"{lab} {b}" for lab, b in zip(labels, batches) if b)
        big = labels[batches.index(max(known))]
        small = labels[batches.index(min(known))]
        return [
            f"warning: --align iters compares runs of different total batch ({listed}): an iteration "
            f"of {big} is {max(known) / min(known):.3g}× the samples of one of {small}; "
            "--align samples or epochs compares equal data"
        ]
    if unknown and known:
        return [
            f"warning: --align iters: the total batch of {', '.join(unknown)} is unknown, so equal "
            "iterations may not be equal data (pass --batch RUN=N and use --align samples)"
        ]
    return []


# DETR's log.txt and console write each weighted term twice: `loss_ce` (weighted, summed into the
# total) and `loss_ce_unscaled` (the same term before its weight, for reading only)
UNSCALED = "_unscaled"


def loss_terms(run) -> set[str]:
    """The loss terms a run's total sums (train columns with 'loss' in their name, the total
    excluded, and the `_unscaled` copies, which are no terms of it), counting only columns that
    hold a value."""
    train = run.train
    return {
        c
        for c in train.columns
        if "loss" in c.lower() and c != TOTAL_LOSS and not c.endswith(UNSCALED) and train[c].notna().any()
    }


def _has_values(curve) -> bool:
    """The run logs the compared column (a run that logs only loss terms has no total to compare)."""
    return curve is not None and bool(np.isfinite(curve.y).any())


def totals_differ(runs, curves, column: str) -> bool:
    """The runs' total losses sum different terms: their levels say nothing about each other."""
    if column != TOTAL_LOSS:
        return False
    terms = [loss_terms(run) for run, c in zip(runs, curves) if _has_values(c)]
    return len(terms) > 1 and any(t != terms[0] for t in terms[1:])


def metric_notes(runs, labels, curves, column: str) -> list[str]:
    """Caveats about comparing `column` across these runs (today: the total loss)."""
    if column != TOTAL_LOSS:
        return []
    present = [(run, lab) for run, lab, c in zip(runs, labels, curves) if _has_values(c)]
    if len(present) < 2:
        return []
    terms = [loss_terms(run) for run, _ in present]
    notes = []
    if any(t != terms[0] for t in terms[1:]):
        shared = set.intersection(*terms)
        counts = ", ".join(f"{lab} {len(t)}" for (_, lab), t in zip(present, terms))
        extra = []
        for (_, lab), t in zip(present, terms):
            only = sorted(t - shared)
            if only:
                listed = ", ".join(only[:MAX_LISTED]) + (f" … ({len(only)})" if len(only) > MAX_LISTED else "")
                extra.append(f"only {lab}: {listed}")
        hint = f" (-m {sorted(shared, key=_term_rank)[0]})" if shared else ""
        notes.append(
            f"warning: the total losses sum different terms ({counts} terms; {'; '.join(extra)}), "
            f"so their levels are not comparable: compare a shared term{hint} or an evaluation metric"
        )
    weights = _loss_weight_differences(runs=[r for r, _ in present], labels=[lab for _, lab in present])
    if weights:
        notes.append(
            f"warning: the loss weights differ ({weights}), so the totals are on different "
            "scales: compare a term or an evaluation metric"
        )
    return notes


def _term_rank(name: str):
    """Prefer the final layer's classification term as the one to compare."""
    return (not name.startswith("loss_cls"), "." in name or name[-1:].isdigit(), len(name), name)


def _loss_weight_differences(runs, labels) -> str:
    diff = config_diff(runs, labels)

    # a weight only one model has belongs to a term only it has: the terms note says that
    rows = [
        r
        for r in diff.rows
        if r.kind == "config" and r.key.endswith("loss_weight") and all(v is not MISSING_VALUE for v in r.values)
    ]
    if not rows:
        return ""
    shown = [f"{r.key}: " + " vs ".join(short(v, 12) for v in r.values) for r in rows[:MAX_LISTED]]
    return "; ".join(shown) + (f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else "")
