"""earlier-attempt: what happened in the rows a resume re-ran.

When a run is resumed from a checkpoint earlier than where its previous launch got to, the
previous launch's later rows are replaced in the curve by the resume's (`Run.superseded` keeps
them, with the segment that replaced them). They are evidence: an attempt that went non-finite
and was resumed from an earlier checkpoint — often with a changed config — is the story of the
run, and a run that "trained normally" after it is not simply healthy. The finding says where the
earlier attempt went non-finite (epoch, the log's own place, lr), where the run resumed from, and
how the part after the resume went, all as the log puts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.findings import is_number
from bevlog.rules._common import doc, finding, fmt, outcome, resume_words, signals
from bevlog.where import log_terms, span_text

RULE_ID = "earlier-attempt"
SUMMARY = "rows a resume re-ran went non-finite in the earlier attempt (the attempt failed, the resume did not)"


@dataclass(frozen=True)
class Thresholds:
    min_bad_rows: int = doc(1, "non-finite loss rows in the re-run stretch that make it a finding")


def find_earlier_attempt(run, th: Thresholds = Thresholds()):
    sup = run.superseded
    if sup is None or not len(sup) or "loss" not in sup:
        return []
    sig = signals(run)
    out = []
    for seg, rows in sup.groupby("segment", sort=True):
        loss = rows["loss"].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(loss))
        if len(bad) < th.min_bad_rows:
            continue
        out.append(_report(run, sig, int(seg), rows, bad))
    return out


def _report(run, sig, seg, rows, bad):
    meta = run.meta
    row = rows.iloc[int(bad[0])]

    def get(name):
        return float(row[name]) if name in row and is_number(row[name]) else None

    epoch_f, lr, step = get("epoch_f"), get("lr"), get("step")
    place = log_terms(meta, get("epoch"), get("iter"), get("iters_per_epoch") or meta.iters_per_epoch, step)
    what = "NaN" if np.isnan(rows["loss"].to_numpy(dtype=float)[bad[0]]) else "inf"
    attempt = "the first attempt" if seg == 0 else f"launch {seg + 1}"
    at = span_text(
        (step if step is not None else float("nan"), epoch_f if epoch_f is not None else float("nan")),
        None,
        meta.runner == "iter",
        sig.step_unit,
        sig.epoch_base,
    )
    by = int(rows["superseded_by"].iloc[0]) if "superseded_by" in rows else seg + 1
    resumed = meta.segments[by].resumed_from if 0 <= by < len(meta.segments) else None
    back = resume_words(sig, resumed, with_iter=False)
    after = _after(run, sig, by)
    headline = f"{attempt} went {what} at {at} at lr {fmt(lr)}; the run resumed from {back} and then {after[0]}"
    message = (
        f"{attempt} went {what} at {at}{f' ({place})' if place and place != at else ''} at lr {fmt(lr)} and "
        f"{len(bad)} of its {len(rows)} re-run rows are non-finite; the run resumed from {back} and then "
        f"{after[0]}{after[1]}"
    )
    evidence = {
        "kind": "nonfinite",
        "segment": seg,
        "first_step": step,
        "first_epoch": epoch_f,
        "lr_at_onset": lr,
        "rows": len(bad),
        "superseded_rows": len(rows),
        "resumed_from": back,
        "after": after[0],
        "lr_after": after[2],
    }
    advice = (
        "find what the resume changed (its config, the lr it trained at) and keep it; the attempt's own "
        "lr is what lr-batch judges"
    )
    if after[2] is not None and lr and after[2] < lr:
        advice = (
            f"the resumed run trained at lr {fmt(after[2])} where the attempt that went {what} had "
            f"{fmt(lr)}: keep the resume's schedule, and see lr-batch for the lr at this batch"
        )
    first_row = int(np.searchsorted(sig.step, step)) if step is not None and len(sig.step) else None
    severity = "warning" if after[0].startswith("trained normally") else "error"
    return finding(run, RULE_ID, severity, sig, first_row, first_row, message, evidence, advice, [], headline)


def _after(run, sig, seg):
    """('trained normally' / 'went non-finite again', details, the lr at the resume's first row)."""
    t = sig.t
    if "segment" not in t or not len(t):
        return "logged nothing more", "", None
    mine = np.asarray(t["segment"]) >= seg
    if not mine.any():
        return "logged nothing more", "", None
    loss = sig.loss_raw[mine]
    lr = sig.lr[mine]
    lr0 = float(lr[np.isfinite(lr)][0]) if np.isfinite(lr).any() else None
    if (~np.isfinite(loss)).any():
        return "went non-finite again", "", lr0
    out = outcome(run)
    good = out.good_text()
    detail = f" ({good})" if good else f" (the loss stayed finite over its {int(mine.sum())} rows)"
    return "trained normally", detail, lr0
