"""Vectorised `key: value` parsing of many log-line bodies at once (Arrow compute).

A body is `lr: 2.000e-04, eta: 2 days, 7:04:24, time: 0.685, loss: 4.2288` (mmcv) or
`base_lr: 1.0000e-04 lr: 1.0000e-04  eta: 1 day, 0:17:53  time: 1.0907` (mmengine).
Each `key: ` (a key has no space, colon or comma) starts a field, so one regex
replacement puts a separator before every key; the comma in `2 days, 7:04:24` is not
followed by a key and survives. Values become float64 (`nan`, `inf` included); a field
that is not a number is counted by key, never silently dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parsers.bounds import KEYS_PAST_BOUND, MAX_KEYS
from parsers.patterns import NUMBER

SEP = "\x1f"
NON_NUMERIC = "non-numeric field: "  # + the key: a value that is not a number
NO_KEY_VALUE = "field without 'key: value'"
# A field boundary: the start of the body, or `, ` / spaces, before `key: `.
FIELD_START = r"(?:,? +|^)([^ :,\x1f]+): "
ETA = r"^(?:(?P<d>[0-9]+) days?, )?(?P<h>[0-9]+):(?P<m>[0-9]+):(?P<s>[0-9]+(?:\.[0-9]*)?)$"


@dataclass
class Parsed:
    keys: list  # key names in first-seen order (eta excluded)
    values: np.ndarray  # float64 rows x keys, NaN where absent
    present: np.ndarray  # bool rows x keys: the line carried the key (its value may be nan)
    eta_s: np.ndarray  # float64 per row
    skipped: Counter  # reason -> count of fields
    bad_rows: dict  # reason -> row indices (for line numbers)


def parse_bodies(bodies) -> Parsed:
    """Parse an Arrow string array of bodies (one per log line)."""
    nrows = len(bodies)
    skipped: Counter = Counter()
    bad_rows: dict = {}
    if nrows == 0:
        return Parsed([], np.zeros((0, 0)), np.zeros((0, 0), bool), np.zeros(0), skipped, bad_rows)
    marked = pc.replace_substring_regex(bodies, FIELD_START, SEP + r"\1: ")
    fields = pc.split_pattern(marked, SEP)
    row_of = np.asarray(pc.list_parent_indices(fields))
    items = fields.flatten()
    keep = np.asarray(pc.not_equal(items, "").fill_null(False))
    items = items.filter(pa.array(keep))
    row_of = row_of[keep]
    kv = pc.split_pattern(items, ": ", max_splits=1)
    whole = np.asarray(pc.equal(pc.list_value_length(kv), 2).fill_null(False))
    if not whole.all():
        bad = ~whole
        skipped[NO_KEY_VALUE] += int(bad.sum())
        bad_rows[NO_KEY_VALUE] = np.unique(row_of[bad])
        kv = kv.filter(pa.array(whole))
        row_of = row_of[whole]
    keys_arr = pc.list_element(kv, 0)
    vals_arr = pc.list_element(kv, 1)
    enc = pc.dictionary_encode(keys_arr)
    codes = np.asarray(enc.indices)
    names = enc.dictionary.to_pylist()

    eta_s = np.full(nrows, np.nan)
    is_eta = np.zeros(len(codes), bool)
    if "eta" in names:
        is_eta = codes == names.index("eta")
        eta_vals = vals_arr.filter(pa.array(is_eta))
        eta_s[row_of[is_eta]] = eta_seconds(eta_vals)

    numeric = ~is_eta
    vals = vals_arr.filter(pa.array(numeric)) if not numeric.all() else vals_arr
    v_codes, v_rows = codes[numeric], row_of[numeric]
    try:
        floats = np.asarray(pc.cast(vals, pa.float64()))
        ok = None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = np.asarray(pc.match_substring_regex(vals, NUMBER).fill_null(False))
        floats = np.full(len(vals), np.nan)
        if ok.any():
            floats[ok] = np.asarray(pc.cast(vals.filter(pa.array(ok)), pa.float64()))
    if ok is not None and not ok.all():
        for code in np.unique(v_codes[~ok]):
            sel = (~ok) & (v_codes == code)
            reason = f"{NON_NUMERIC}{names[code]}"
            skipped[reason] += int(sel.sum())
            bad_rows[reason] = np.unique(v_rows[sel])
        v_codes, v_rows, floats = v_codes[ok], v_rows[ok], floats[ok]

    # Columns in first-seen order, only keys that carry at least one number.
    has_number = np.zeros(len(names), bool)
    has_number[v_codes] = True
    first = np.full(len(names), np.iinfo(np.int64).max)
    uniq, idx = np.unique(v_codes, return_index=True)
    first[uniq] = idx
    order = [c for c in np.argsort(first, kind="stable") if has_number[c]]
    if len(order) > MAX_KEYS:  # a run keeps its first keys (parsers.bounds): count the others
        past = np.isin(v_codes, order[MAX_KEYS:])
        skipped[KEYS_PAST_BOUND] += int(past.sum())
        v_codes, v_rows, floats = v_codes[~past], v_rows[~past], floats[~past]
        order = order[:MAX_KEYS]
    col_of = np.full(len(names), -1)
    col_of[order] = np.arange(len(order))
    values = np.full((nrows, len(order)), np.nan)
    values[v_rows, col_of[v_codes]] = floats
    present = np.zeros((nrows, len(order)), bool)
    present[v_rows, col_of[v_codes]] = True
    return Parsed([names[c] for c in order], values, present, eta_s, skipped, bad_rows)


def eta_seconds(etas) -> np.ndarray:
    """`2 days, 7:04:24` / `0:00:58` -> seconds (NaN when unreadable)."""
    parts = pc.extract_regex(etas, ETA)
    n = len(etas)
    # the four fields end to end, cast at once (a call costs more than the few values in it)
    fields = pa.concat_arrays([parts.field(name) for name in ("d", "h", "m", "s")])
    numbers = np.asarray(pc.cast(pc.if_else(pc.equal(fields, ""), "0", fields), pa.float64()).fill_null(np.nan))
    d, h, m, sec = numbers.reshape(4, n)
    out = d * 86400.0 + h * 3600.0 + m * 60.0 + sec  # summed in this order, as always
    out[~np.asarray(parts.is_valid())] = np.nan  # no match: its fields are null, and null became "0" above
    return out
