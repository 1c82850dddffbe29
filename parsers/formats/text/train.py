"""Train rows of a text launch: from the mmcv fast path and from the generic record parser,
merged in line order into the draft.

`Epoch [e][i/n]`: epoch e, iter i of n iters per epoch. `Iter [i/n]`: global iter i of n.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parsers.bounds import KEYS_PAST_BOUND, OUT_OF_RANGE, counts_ok
from parsers.formats.text.clock import floats, timestamps
from parsers.formats.text.kv import NO_KEY_VALUE, NON_NUMERIC, parse_bodies
from parsers.formats.text.mmcv_lines import parse_train_lines
from parsers.stack import stack_values

DAMAGED = "train line with a damaged value: "  # the line is not read (never a nan)


class TrainPart:
    """Train rows from one path (fast or generic), by line index."""

    def __init__(self, line_idx, is_epoch, x, xn, y, yn, ts, names, values, present, eta_s):
        self.line_idx, self.is_epoch = line_idx, is_epoch
        self.x, self.xn, self.y, self.yn, self.ts = x, xn, y, yn, ts
        self.names, self.values, self.present, self.eta_s = names, values, present, eta_s

    def shifted(self, by: int) -> TrainPart:
        out = self.subset(slice(None))
        out.line_idx = self.line_idx + by
        return out

    def subset(self, keep) -> TrainPart:
        return TrainPart(
            self.line_idx[keep],
            self.is_epoch[keep],
            self.x[keep],
            self.xn[keep],
            self.y[keep],
            self.yn[keep],
            self.ts[keep],
            self.names,
            self.values[keep],
            self.present[keep],
            self.eta_s[keep],
        )


def arrow_indices(a) -> pa.Array:
    return pa.array(np.asarray(a, dtype=np.int64), pa.int64())


def rtrim(bodies):
    """mmengine pads its lines with spaces (`memory: 799  `): not part of the last value."""
    return pc.utf8_rtrim_whitespace(bodies)


def fast_train(lines, line_idx, threads: int = 2) -> tuple[TrainPart, np.ndarray]:
    """The mmcv train lines among `lines` (their indices `line_idx`), read by the fast path;
    and the indices of the lines it did not take."""
    ok_rows, h, names, values, present, eta_s, rejected = parse_train_lines(lines, threads=threads)
    part = TrainPart(line_idx[ok_rows], h.is_epoch, h.x, h.xn, h.y, h.yn, h.ts, names, values, present, eta_s)
    return part, line_idx[rejected]


def generic_train(draft, rec, tr, rec_idx, dialect: str, year: int | None = None) -> TrainPart:
    """The train records `tr` of the extracted records `rec` (lines `rec_idx`), bodies parsed
    by `parsers.formats.text.kv`; fields it cannot read are counted in the draft."""
    r = rec.take(arrow_indices(tr))
    kind = np.asarray(r.field("kind").to_numpy(zero_copy_only=False), dtype=object)
    p = parse_bodies(rtrim(r.field("body")))
    damaged = np.zeros(len(tr), bool)
    for reason, count in p.skipped.items():
        rows = np.asarray(p.bad_rows.get(reason, []), np.int64)
        if reason.startswith(NON_NUMERIC) or reason == NO_KEY_VALUE:
            # a value that is no number (`loss: 1.2.3`, a NUL in it) is damage, not a nan
            new = rows[~damaged[rows]]
            damaged[new] = True
            what = reason.removeprefix(NON_NUMERIC) if reason.startswith(NON_NUMERIC) else "a field"
            draft.skip(f"{DAMAGED}{what}", len(new), rec_idx[tr][new] + 1)
        else:
            draft.skip(reason, count, rec_idx[tr][rows] + 1)
    x, xn, y, yn = (floats(r.field(f)) for f in ("x", "xn", "y", "yn"))
    part = TrainPart(
        rec_idx[tr],
        kind == "Epoch",
        x,
        xn,
        y,
        yn,
        timestamps(r.field("date"), r.field("ms") if dialect == "mmcv" else None, dialect, year),
        p.keys,
        p.values,
        p.present,
        p.eta_s,
    )
    return part.subset(~damaged) if damaged.any() else part


def set_train(draft, parts) -> np.ndarray:
    """Train parts merged in line order into the draft (no reordering copy when they are
    already in order, as the chunks of a log are); returns the line index of each row."""
    parts = [p for p in parts if len(p.line_idx)]
    if not parts:
        draft.empty_train()
        return np.zeros(0, np.int64)
    names, values, present, dropped = stack_values(parts, lambda p: len(p.line_idx))
    draft.skip(KEYS_PAST_BOUND, dropped)

    def cat(f):
        return np.concatenate([getattr(p, f) for p in parts]) if len(parts) > 1 else getattr(parts[0], f)

    line_idx = cat("line_idx")
    order = None if np.all(np.diff(line_idx) > 0) else np.argsort(line_idx, kind="stable")

    def ordered(a):
        return a if order is None else a[order]

    is_epoch = ordered(cat("is_epoch"))
    x, xn, y, yn = (ordered(cat(f)) for f in ("x", "xn", "y", "yn"))
    ok = counts_ok(x) & counts_ok(xn) & counts_ok(y) & counts_ok(yn)
    if not ok.all():  # `Epoch [1<30 digits>][…]` would size the epoch grid: count the row, drop it
        draft.skip(OUT_OF_RANGE, int((~ok).sum()), ordered(line_idx)[~ok] + 1)
        if not ok.any():
            draft.empty_train()
            return np.zeros(0, np.int64)
        order = (np.arange(len(line_idx)) if order is None else order)[ok]
        is_epoch, x, xn, y, yn = (a[ok] for a in (is_epoch, x, xn, y, yn))
    draft.epoch = np.where(is_epoch, x, np.nan)
    draft.iter = np.where(is_epoch, y, x)
    n = np.where(is_epoch, yn, xn)
    draft.n = np.where(n > 0, n, np.nan)  # `[5/0]`: no iteration count is stated
    draft.step = np.full(len(is_epoch), np.nan)
    draft.ts = ordered(cat("ts"))
    draft.eta_s = ordered(cat("eta_s"))
    draft.keys, draft.values, draft.present = names, ordered(values), ordered(present)
    draft.runner = "epoch" if is_epoch[0] else "iter"
    return ordered(line_idx)
