"""Stacking the per-chunk value matrices of a log into one.

Chunks of a log are parsed apart (in threads); each gives a (rows × its keys) float matrix
and a matching `present` mask. Keys can differ between chunks (a key logged only later, a
second optimizer appearing), so the result spans the union of keys, in first-seen order,
with NaN / False where a chunk did not log a key — the first `parsers.bounds.MAX_KEYS` of
them: the values of later keys are dropped and counted.
"""

from __future__ import annotations

import numpy as np

from parsers.bounds import MAX_KEYS, kept_keys


def union_of_keys(parts) -> list[str]:
    names: dict[str, None] = {}
    for p in parts:
        names.update(dict.fromkeys(p.names))
    return list(names)


def stack_values(parts, rows_of) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """(keys, values, present, values dropped) of parts stacked in order; `rows_of(part)` is
    its row count. Keys past the bound are dropped; the values they held are counted."""
    names = union_of_keys(parts)
    dropped = 0
    if len(names) > MAX_KEYS:
        names = kept_keys(names)
        kept = set(names)
        for p in parts:
            cut = [j for j, k in enumerate(p.names) if k not in kept]
            dropped += int(np.asarray(p.present)[:, cut].sum()) if cut else 0
    if all(p.names == names for p in parts):  # the usual case: no scatter, no fill
        if len(parts) == 1:
            return names, parts[0].values, parts[0].present, 0
        return names, np.concatenate([p.values for p in parts]), np.concatenate([p.present for p in parts]), 0
    col = {k: j for j, k in enumerate(names)}
    rows = sum(rows_of(p) for p in parts)
    values = np.full((rows, len(names)), np.nan)
    present = np.zeros((rows, len(names)), bool)
    at = 0
    for p in parts:
        m = rows_of(p)
        mine = [j for j, k in enumerate(p.names) if k in col]
        idx = [col[p.names[j]] for j in mine]
        if idx:
            every = len(mine) == len(p.names)
            values[at : at + m, idx] = p.values if every else np.asarray(p.values)[:, mine]
            present[at : at + m, idx] = p.present if every else np.asarray(p.present)[:, mine]
        at += m
    return names, values, present, dropped
