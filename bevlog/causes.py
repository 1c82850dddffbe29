"""The likely cause of a difference between two runs, from what the compare table shows.

The table gives each run's total batch, lr, lr per sample and optimizer steps per epoch;
the config diff gives every other setting. The first thing a reviewer checks is the
batch/lr pair: at the same lr, 2.5× the batch is 2.5× fewer optimizer steps per epoch (and
2.5× less lr per sample), which alone puts a run behind per epoch or per sample seen. Other
settings that differ are named after it (at most MAX_NAMED). The clause says "likely": it
names what differs and which way it is expected to push, it does not prove the cause.
"""

from __future__ import annotations

import math
import numbers

from bevlog.configdiff import comparable, config_diff, short

MAX_NAMED = 3
# settings already spoken for by the batch/lr sentence, and those that never cause anything
_BATCH_OR_LR = ("batch (total)", "lr", "iters/epoch")
_CONFIG_BATCH_OR_LR = ("samples_per_gpu", "batch_size", "total_batch_size", "batch", "lr", "iters")


def cause_clause(
    run_a, run_b, row_a, row_b, align: str, worse: bool | None, totals_differ: bool = False, replicated: bool = False
) -> str:
    """'likely cause: same lr at 2.5× the batch = 2.5× fewer optimizer steps per epoch
    (40 vs 100)', or '' when the table shows no difference in settings.

    `worse`: run b is behind run a at the end (None: level). Rows are compare-table rows
    (batch, lr, iters_per_epoch, run). `totals_differ`: the metric is a total loss summing
    different terms, so no setting explains its level. `replicated`: both sides are groups of
    seeds whose difference is beyond their spread; a single setting that differs is then the
    likely cause, while between two single runs seed noise is not ruled out."""
    if totals_differ:
        return "the totals sum different loss terms, so their levels are no verdict (see the warning)"
    batch_lr = batch_lr_text(row_a, row_b, align, worse)
    others, n_others = other_settings(run_a, run_b, row_a["run"], row_b["run"])
    if batch_lr:
        lead = "likely cause" if worse is not None else "the settings show"
        return f"{lead}: {batch_lr}" + (f"; also differs: {others}" if others else "")
    if not others:
        return ""
    if worse is not None and n_others == 1:  # the one setting that differs
        if replicated:
            return f"likely cause: {others}"
        return f"the only setting that differs: {others} (one run each: the seed's share is not measured)"
    return f"settings that differ: {others}"


def batch_lr_text(row_a, row_b, align: str, worse: bool | None) -> str:
    ba, bb, la, lb = row_a["batch"], row_b["batch"], row_a["lr"], row_b["lr"]
    if not (_ok(ba) and _ok(bb)) or ba <= 0 or bb <= 0:
        return ""
    r = bb / ba
    lr_ratio = lb / la if _ok(la) and _ok(lb) and la > 0 else None
    if abs(r - 1) < 1e-9:
        if lr_ratio is not None and abs(math.log(lr_ratio)) > math.log(1.01):
            return f"{_x(lr_ratio)} the lr ({lb:.2g} vs {la:.2g}) at the same batch"
        return ""
    if lr_ratio is None:
        lr_part = f"{_x(r)} the batch"
    elif abs(math.log(lr_ratio)) <= math.log(1.01):
        lr_part = f"same lr at {_x(r)} the batch"
    elif abs(math.log(lr_ratio / r)) <= math.log(1.05):
        lr_part = f"lr scaled with the batch ({_x(r)} both: the linear rule, same lr per sample)"
    else:
        per_sample = lr_ratio / r
        lr_part = f"{_x(lr_ratio)} the lr at {_x(r)} the batch ({_x(per_sample)} the lr per sample)"
    if align == "iters":
        text = f"{lr_part}: each iteration of {row_b['run']} sees {_x(r)} the samples"
        more_data = r > 1
        return ("despite " + text) if worse is not None and more_data == worse else text
    fewer = r > 1
    steps = f"{_x(max(r, 1 / r))} {'fewer' if fewer else 'more'} optimizer steps per epoch"
    ipe_a, ipe_b = row_a.get("iters_per_epoch"), row_b.get("iters_per_epoch")
    if _ok(ipe_a) and _ok(ipe_b):
        steps += f" ({int(ipe_b)} vs {int(ipe_a)})"
    text = f"{lr_part} = {steps}"
    if worse is not None and fewer != worse:  # ahead with fewer steps, or behind with more
        text = "despite " + text
    return text


def other_settings(run_a, run_b, label_a: str, label_b: str) -> tuple[str, int]:
    """('decoder layers 2 vs 3, aux losses False vs True', 2): b's value first, seeds and
    work dirs left out, and the batch/lr keys the first sentence already covers."""
    diff = config_diff([run_b, run_a], [label_b, label_a])
    named, fact_pairs = [], set()
    for row in diff.rows:
        if row.seed_only or row.key in _BATCH_OR_LR:
            continue
        if row.kind == "config" and row.key.rsplit(".", 1)[-1] in _CONFIG_BATCH_OR_LR:
            continue
        pair = (comparable(row.values[0]), comparable(row.values[1]))
        if row.kind == "fact":
            fact_pairs.add(pair)
        elif pair in fact_pairs:  # the config key behind a fact already named (num_layers)
            continue
        named.append(f"{row.key} {short(row.values[0], 24)} vs {short(row.values[1], 24)}")
    if not named:
        return "", 0
    more = f" and {len(named) - MAX_NAMED} more" if len(named) > MAX_NAMED else ""
    return ", ".join(named[:MAX_NAMED]) + more, len(named)


def _x(r: float) -> str:
    return f"{r:.2g}×"


def _ok(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
