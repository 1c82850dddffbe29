"""A text log and its json twin: one set of rows, the most precise value of each.

The text log is the segment's source of rows (it has timestamps, the header, eta).
Its values carry 4 decimals (losses), 3 (time) or 4 significant digits (lr, `%.3e`);
the mmcv json carries 5 decimals, the mmengine json full precision. For every train
row present in both (matched by epoch and iter, or global iter for iter runners) and
every key in both, the json value replaces the text value when it is consistent with it
(the text value is its rounding) and more precise: always for mmengine json; for mmcv
json except lr keys (5 decimals of a 1e-5 lr are worse than `%.3e`). Non-finite values
keep the text's. Rows only one twin has are left as they are.
"""
from __future__ import annotations

import numpy as np


def _keys(seg, runner):
    if seg.rows == 0:
        return np.zeros(0)
    if runner == "iter":
        if seg.step is not None and not np.all(np.isnan(seg.step)):
            return seg.step.astype(float)
        return seg.iter.astype(float)
    return seg.epoch.astype(float) * 1e9 + seg.iter.astype(float)


def refine_with_twin(text, twin) -> int:
    """Refine `text`'s values in place from `twin`; returns how many values changed."""
    if text.rows == 0 or twin.rows == 0:
        return 0
    runner = text.runner or "epoch"
    tkey = _keys(text, runner)
    if twin.library == "mmengine" and runner != "iter":
        # mmengine json: `step` is global; the text's [e][i/n] gives (e-1)*n + i.
        tkey = (text.epoch - 1) * text.n + text.iter
        jkey = twin.step.astype(float)
    else:
        jkey = _keys(twin, runner)
    common, ti, ji = np.intersect1d(tkey, jkey, return_indices=True)
    if len(common) == 0:
        return 0
    changed = 0
    jcol = {k: j for j, k in enumerate(twin.keys)}
    for c, key in enumerate(text.keys):
        j = jcol.get(key)
        if j is None:
            continue
        if twin.library == "mmcv" and (key == "lr" or key.startswith(("lr_", "base_lr"))):
            continue
        t = text.values[ti, c]
        v = twin.values[ji, j]
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(t) & np.isfinite(v) & (np.abs(t - v) <= 6e-4 + 1e-3 * np.abs(t))
        if ok.any():
            rows = ti[ok]
            text.values[rows, c] = v[ok]
            changed += int(ok.sum())
    text.header["twin_values_refined"] = changed
    return changed
