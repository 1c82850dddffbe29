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

from dataclasses import replace

import numpy as np

from parsers.positions import match_keys
from parsers.segment import Segment


def refine_with_twin(text: Segment, twin: Segment) -> Segment:
    """`text` with its values refined from `twin` (and `twin_values_refined` saying how many
    values changed); `text` itself when the twins share no row."""
    if text.rows == 0 or twin.rows == 0:
        return text
    runner = text.runner or "epoch"
    tkey = match_keys(text, runner)
    if twin.library == "mmengine" and runner != "iter":
        # mmengine json: `step` is global; the text's [e][i/n] gives (e-1)*n + i.
        tkey = (text.epoch - 1) * text.n + text.iter
        jkey = twin.step.astype(float)
    else:
        jkey = match_keys(twin, runner)
    common, ti, ji = np.intersect1d(tkey, jkey, return_indices=True)
    if len(common) == 0:
        return text
    values = text.values.copy()
    changed = 0
    jcol = {k: j for j, k in enumerate(twin.keys)}
    for c, key in enumerate(text.keys):
        j = jcol.get(key)
        if j is None or (twin.library == "mmcv" and _is_lr(key)):
            continue
        t = values[ti, c]
        v = twin.values[ji, j]
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(t) & np.isfinite(v) & (np.abs(t - v) <= 6e-4 + 1e-3 * np.abs(t))
        if ok.any():
            values[ti[ok], c] = v[ok]
            changed += int(ok.sum())
    return replace(text, values=values, twin_values_refined=changed)


def _is_lr(key: str) -> bool:
    """An lr key: 5 decimals of a 1e-5 lr (mmcv json) are coarser than the text's `%.3e`."""
    return key == "lr" or key.startswith(("lr_", "base_lr"))
