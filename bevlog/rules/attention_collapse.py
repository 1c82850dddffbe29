"""attention-collapse: a decoder layer's cross-attention turns one-hot or its logits explode.

Reads the per-layer attention statistics when the log has them (bevdetr writes them; so does
the attention hook for mmdet/mmcv runs): `[dK.]attn_entropy`, the softmax entropy divided by
log(number of keys), averaged over the log interval (1 = uniform, 0 = one key), and
`[dK.]attn_logit_max`, the largest |q·k/√d| in the interval. They parse into `Run.layers`
as group `attn`. Per layer, after warmup, each series is smoothed (rolling median) and
compared with its own level over the first third of the post-warmup rows:
- entropy collapse: the smoothed entropy falls below `entropy_floor` and below
  `entropy_drop` × its early level;
- logit growth: the smoothed max |logit| climbs to ≥ `logit_growth` × its early level.
The first row where either holds (for `min_rows` rows) is the onset. The mechanism (seen on
bevdetr in an independent probe, fixtures/runs/issue13): once a model has taken off, an lr
several times the good one grows the cross-attention logits by orders of magnitude, the entropy
falls toward 0, every query attends to the same keys, and only then does the loss climb back —
while grad_norm stays moderate, so clipping never acts. Seeing it in the attention statistics
warns before the loss turns; the finding says whether the loss has already risen since the
onset.

Thin basis: the thresholds come from bevdetr runs alone (fixtures/runs/issue13; no real log in
the repository carries attention statistics), so the rule speaks at `info` when one of the two
signs shows and at `warning` only when both do (entropy collapsed and logits grown together).
Checked on the seeded sweeps it was not tuned on (docs/experiments.md, "What bevlog says about
these runs"): it warns on every run whose lr rose after take-off, before its loss turned, and on
no run that held its mAP; the entropy sign alone (info) shows on some healthy runs whose sharp
attention ends near the floor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import (
    column,
    doc,
    finding,
    fmt,
    lower_lr_fix,
    lr_change,
    rolling_median,
    runs_of,
    signals,
    where,
)

RULE_ID = "attention-collapse"
SUMMARY = "a decoder layer's cross-attention entropy falls toward 0 or its max logit grows ≥30× (before the loss turns)"


@dataclass(frozen=True)
class Thresholds:
    entropy_floor: float = doc(
        0.1,
        "normalised entropy below this is (nearly) one-hot attention; a collapsing run "
        "passes 0.1 before its loss turns, a floor low enough (0.01) to spare healthy "
        "sharp attention only after it (docs/experiments.md)",
    )
    entropy_drop: float = doc(0.3, "… and below this share of the layer's early post-warmup level")
    logit_growth: float = doc(
        30.0,
        "max |logit| this many times its early post-warmup level (1.5 orders of "
        "magnitude: a run taking off grows its logits ×13–19 as attention localises)",
    )
    min_rows: int = doc(3, "rows a sign must last (after smoothing)")
    early_share: float = doc(1 / 3, "the first share of post-warmup rows that sets each layer's early level")
    min_post_warmup_rows: int = doc(9, "rows after warmup needed to judge at all")
    lr_divisor: float = doc(
        5.0, "suggested peak lr = the run's lr / this (the probe's collapse came at ~5× the good lr)"
    )


# the statistics' train columns: `[dK.]attn_entropy`, `[dK.]attn_logit_max` (the unprefixed one is
# the final layer); read straight from the rows, so a log without them costs nothing here
STATS_KEY = re.compile(r"^(?:d(?P<d>\d+)\.)?attn_(?P<term>entropy|logit_max)$")


def stats_columns(run) -> list[tuple[str, str, int]]:
    """[(column, term, layer)] of the attention statistics the log carries (empty without any)."""
    found = [(c, STATS_KEY.match(str(c))) for c in run.train.columns] if run.train is not None else []
    found = [(c, m) for c, m in found if m]
    numbered = [int(m.group("d")) for _, m in found if m.group("d") is not None]
    final = max(numbered) + 1 if numbered else max(0, (run.meta.num_decoder_layers or 1) - 1)
    return [(c, m.group("term"), int(m.group("d")) if m.group("d") is not None else final) for c, m in found]


def find_attention_collapse(run, th: Thresholds = Thresholds()):
    cols = stats_columns(run)
    if not cols:
        return []
    sig = signals(run)
    start = sig.warmup_end_row
    if len(sig.step) - start < th.min_post_warmup_rows:
        return []
    hits = []  # (onset row, layer, kind, early, at onset, extreme)
    for name, term, layer in cols:
        hit = _sign(column(sig.t, name), start, term, sig.window, th)
        if hit is not None:
            hits.append((hit[0], layer, term, *hit[1:]))
    if not hits:
        return []
    kinds = {h[2] for h in hits}
    onset = min(h[0] for h in hits)
    last = len(sig.step) - 1
    severity = "warning" if kinds == {"entropy", "logit_max"} else "info"
    parts = []
    for term in ("entropy", "logit_max"):
        mine = sorted((h for h in hits if h[2] == term), key=lambda h: h[0])
        if not mine:
            continue
        first = mine[0]
        names = ", ".join(str(layer) for layer in sorted({h[1] for h in mine}))
        if term == "entropy":
            parts.append(
                f"cross-attention entropy of layer(s) {names} fell to {fmt(first[5])} of log N "
                f"(from {fmt(first[3])}) from {where(sig, first[0])}"
            )
        else:
            parts.append(
                f"max |attention logit| of layer(s) {names} grew ×{first[5] / first[3]:.3g} "
                f"(to {fmt(first[5])}) from {where(sig, first[0])}"
            )
    loss_note = _loss_since(sig, onset)
    message = "; ".join(parts) + f" — {loss_note}"
    evidence = {
        "onset_step": int(sig.step[onset]),
        "signs": sorted(kinds),
        "layers": sorted({h[1] for h in hits}),
        "per_layer": [
            {
                "layer": h[1],
                "term": h[2],
                "onset_step": int(sig.step[h[0]]),
                "early": float(h[3]),
                "at_onset": float(h[4]),
                "extreme": float(h[5]),
            }
            for h in hits
        ],
    }
    fix_text, changes = _lr_fix(run, sig, onset, th)
    return [
        finding(
            run,
            RULE_ID,
            severity,
            sig,
            onset,
            last,
            message,
            evidence,
            fix_text,
            changes,
            f"cross-attention collapsed from {where(sig, onset)}",
        )
    ]


def _sign(series: np.ndarray, start: int, term: str, window: int, th: Thresholds):
    """(onset row, early level, value at onset, extreme value) for one layer's series, or None."""
    post = series[start:]
    if np.isfinite(post).sum() < th.min_post_warmup_rows:
        return None
    smooth = np.full(len(series), np.nan)
    smooth[start:] = rolling_median(post, max(1, min(window, 5)))
    n_early = max(3, int(len(post) * th.early_share))
    early = float(np.nanmedian(smooth[start : start + n_early]))
    if not np.isfinite(early) or early <= 0:
        return None
    after = smooth[start + n_early :]
    if term == "entropy":
        bad = (after < th.entropy_floor) & (after < th.entropy_drop * early)
        extreme = np.nanmin(after) if np.isfinite(after).any() else np.nan
    else:
        bad = after >= th.logit_growth * early
        extreme = np.nanmax(after) if np.isfinite(after).any() else np.nan
    for lo, hi in runs_of(bad):
        if hi - lo + 1 >= th.min_rows:
            row = start + n_early + lo
            return row, early, float(smooth[row]), float(extreme)
    return None


def _loss_since(sig, onset: int) -> str:
    """Where the loss stood when the sign showed: already risen from its minimum, rising after, or not yet."""
    loss = rolling_median(sig.loss, sig.window)
    finite = np.flatnonzero(np.isfinite(loss))
    before = loss[sig.warmup_end_row : onset + 1]
    if not len(finite) or not np.isfinite(before).any() or not np.isfinite(loss[onset]):
        return "the loss could not be compared"
    low, at, end = float(np.nanmin(before)), float(loss[onset]), float(loss[finite[-1]])
    if low > 0 and at > low * 1.05:
        return (
            f"the loss had already risen {at / low - 1:.0%} from its minimum ({fmt(low)} → {fmt(at)}) when "
            "this showed: an abrupt lr change moves both at once"
        )
    if at > 0 and end > at * 1.05:
        return f"the loss rose {end / at - 1:.0%} after it ({fmt(at)} → {fmt(end)}): this came first"
    return f"the loss has not turned yet ({fmt(at)} → {fmt(end)}): this comes first"


def _lr_fix(run, sig, onset: int, th: Thresholds):
    """lr / lr_divisor, from the lr logged where the collapse began (an lr raised after take-off is
    the culprit there, not the run's configured lr), else the run's lr."""
    at = float(sig.lr[onset]) if len(sig.lr) > onset and np.isfinite(sig.lr[onset]) and sig.lr[onset] > 0 else None
    text = (
        "attention that collapses while grad_norm stays moderate is an lr too high for the attention "
        "logits (clipping does not reach it)"
    )
    if at:
        return text, [
            lr_change(
                run,
                sig,
                logged_to=at / th.lr_divisor,
                reason=f"a fifth of the logged {fmt(at)} where the collapse began",
            )
        ]
    return text, lower_lr_fix(run, sig, th.lr_divisor, "a fifth of the run's lr")
