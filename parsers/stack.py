"""Stacking the per-chunk value matrices of a log into one.

Chunks of a log are parsed apart (in threads); each gives a (rows × its keys) float matrix
and a matching `present` mask. Keys can differ between chunks (a key logged only later, a
second optimizer appearing), so the result spans the union of keys, in first-seen order,
with NaN / False where a chunk did not log a key.
"""

from __future__ import annotations

import numpy as np


def union_of_keys(parts) -> list[str]:
    names: list[str] = []
    for p in parts:
        names.extend(k for k in p.names if k not in names)
    return names


def stack_values(parts, rows_of) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(keys, values, present) of parts stacked in order; `rows_of(part)` is its row count."""
    names = union_of_keys(parts)
    if all(p.names == names for p in parts):  # the usual case: no scatter, no fill
        if len(parts) == 1:
            return names, parts[0].values, parts[0].present
        return names, np.concatenate([p.values for p in parts]), np.concatenate([p.present for p in parts])
    col = {k: j for j, k in enumerate(names)}
    rows = sum(rows_of(p) for p in parts)
    values = np.full((rows, len(names)), np.nan)
    present = np.zeros((rows, len(names)), bool)
    at = 0
    for p in parts:
        m = rows_of(p)
        idx = [col[k] for k in p.names]
        if idx:
            values[at : at + m, idx] = p.values
            present[at : at + m, idx] = p.present
        at += m
    return names, values, present
