"""Fast path for JSON-lines logs written by Python's `json.dumps` (mmcv, mmengine).

`json.dumps` output is canonical: `{"key": value, "key": value}` with `, ` between
items and `: ` after keys; a string cannot contain `"` without a backslash. So, like
`parsers.formats.text.mmcv_lines`, one same-length replacement (`: ` -> `, `) and one split
give `[key, value, key, value, …]` per row, for all rows at once in Arrow. Keys must look
like `"…"` without escapes; a row whose items do not alternate (a nested `lr` dict of
several optimizers, a string value containing `, `) is handed back and read with
`json.loads`. Values cast to float64 in one call; Python's bare `NaN`, `Infinity`,
`-Infinity` tokens cast to nan, inf, -inf directly (Arrow accepts them), so nothing is
rewritten. The cast is laxer than JSON (`.5`, `+1`, `1.`, `01`, `inf` read as numbers, which
`json.loads` and so the "python" engine refuse); what it takes is what
`parsers.patterns.NUMBER` matches, so a value reads the same whatever else is in its batch.
Quoted values (`"mode": "train"`, `bbox_mAP_copypaste`) are kept as strings.
Two halves of the rows are parsed on two threads (Arrow releases the GIL).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parsers.bounds import MAX_KEYS, kept_keys
from parsers.frames import list_offsets
from parsers.patterns import NUMBER
from parsers.stack import stack_values

PARALLEL_FROM = 20_000
KEY = r'^"[^"\\]*"$'


class Rows:
    """ok_rows (indices into the input), names, values/present matrices, string
    columns {name: object array}, and the rows to read with json.loads."""

    def __init__(self, ok_rows, names, values, present, strings, rejected, dropped: int = 0):
        self.ok_rows, self.names, self.values, self.present = ok_rows, names, values, present
        self.strings, self.rejected = strings, rejected
        self.first_seen: dict[str, int] = {}  # key -> the input row where it is first seen
        self.dropped = dropped  # values of keys past the bound (parsers.bounds.MAX_KEYS)


def no_rows() -> Rows:
    """The Rows of no lines."""
    none = np.zeros(0, np.int64)
    return Rows(none, [], np.zeros((0, 0)), np.zeros((0, 0), bool), {}, none)


def parse_rows(lines, threads: int = 2) -> Rows:
    n = len(lines)
    if threads > 1 and n >= PARALLEL_FROM:
        half = n // 2
        with ThreadPoolExecutor(2) as ex:
            a, b = ex.map(_parse_chunk, [lines.slice(0, half), lines.slice(half)])
        b.ok_rows = b.ok_rows + half
        b.rejected = b.rejected + half
        return _merge([a, b])
    return _parse_chunk(lines)


def _parse_chunk(lines) -> Rows:
    framed = np.asarray(pc.and_(pc.starts_with(lines, "{"), pc.ends_with(lines, "}")).fill_null(False))
    x = pc.utf8_slice_codeunits(lines, 1, -1)
    x = pc.replace_substring(x, ": ", ", ")
    fields = pc.split_pattern(x, ", ")
    off = list_offsets(fields)
    lens = np.diff(off)
    items = fields.flatten()
    ok = framed & (lens % 2 == 0) & (lens >= 2)
    ok_rows = np.flatnonzero(ok)
    pairs = lens[ok_rows] // 2
    starts = off[:-1][ok_rows]
    total = int(pairs.sum())
    row_of = np.repeat(np.arange(len(ok_rows)), pairs)
    first = np.cumsum(pairs) - pairs
    key_idx = np.repeat(starts, pairs) + 2 * (np.arange(total) - np.repeat(first, pairs))
    enc = pc.dictionary_encode(items.take(pa.array(key_idx)))
    codes = np.asarray(enc.indices)
    raw_names = enc.dictionary
    valid_key = np.asarray(pc.match_substring_regex(raw_names, KEY).fill_null(False))
    names = [k[1:-1] if v else None for k, v in zip(raw_names.to_pylist(), valid_key)]
    vals = items.take(pa.array(key_idx + 1))

    bad_row = np.zeros(len(ok_rows), bool)
    if not valid_key.all():
        bad_row[row_of[~valid_key[codes]]] = True
    quoted = np.asarray(pc.starts_with(vals, '"').fill_null(False))
    # A string value must be one whole item: `"…"` with no escapes.
    if quoted.any():
        whole = np.asarray(pc.match_substring_regex(vals.filter(pa.array(quoted)), KEY).fill_null(False))
        broken = np.flatnonzero(quoted)[~whole]
        bad_row[row_of[broken]] = True
    numeric = ~quoted
    literal = np.zeros(total, bool)  # true / false / null
    try:
        floats = np.asarray(pc.cast(vals.filter(pa.array(numeric)), pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        num_vals = vals.filter(pa.array(numeric))
        good = np.asarray(pc.match_substring_regex(num_vals, NUMBER).fill_null(False))
        idx = np.flatnonzero(numeric)
        lit = np.asarray(pc.is_in(num_vals, pa.array(["true", "false", "null"])).fill_null(False))
        literal[idx[lit]] = True
        bad_row[row_of[idx[~good & ~lit]]] = True  # a nested object, a list, a broken token
        numeric[idx[~good]] = False
        floats = np.asarray(pc.cast(num_vals.filter(pa.array(good)), pa.float64()))

    keep_row = ~bad_row
    kept_value = keep_row[row_of]
    # The columns: keys of the values kept (rows not handed to json.loads), in the order the
    # dictionary met them (first seen), at most MAX_KEYS of them (parsers.bounds).
    col_codes = np.unique(codes[kept_value & (numeric | quoted)])
    dropped = 0
    if len(col_codes) > MAX_KEYS:
        kept = set(kept_keys(names[c] for c in col_codes))
        col_codes = np.array([c for c in col_codes if names[c] in kept], np.int64)
        allowed = np.zeros(len(names), bool)
        allowed[col_codes] = True
        past = kept_value & (numeric | quoted) & ~allowed[codes]
        dropped = int(past.sum())
        floats_at = np.full(total, np.nan)
        floats_at[numeric] = floats
        numeric, quoted = numeric & ~past, quoted & ~past
        floats = floats_at[numeric]
    col_of = np.full(len(names), -1)
    col_of[col_codes] = np.arange(len(col_codes))
    nrows = int(keep_row.sum())
    remap = np.cumsum(keep_row) - 1
    sel_num = numeric & kept_value
    f_sel = floats[kept_value[numeric]] if len(floats) else floats
    values = np.full((nrows, len(col_codes)), np.nan)
    present = np.zeros((nrows, len(col_codes)), bool)
    values[remap[row_of[sel_num]], col_of[codes[sel_num]]] = f_sel
    present[remap[row_of[sel_num]], col_of[codes[sel_num]]] = True
    strings = {}
    sel_str = quoted & kept_value
    if sel_str.any():
        s_codes = codes[sel_str]
        s_rows = remap[row_of[sel_str]]
        s_vals = np.asarray(
            pc.utf8_slice_codeunits(vals.filter(pa.array(sel_str)), 1, -1).to_numpy(zero_copy_only=False), dtype=object
        )
        for c in np.unique(s_codes):
            col = np.full(nrows, None, dtype=object)
            m = s_codes == c
            col[s_rows[m]] = s_vals[m]
            strings[names[c]] = col
    seen = np.any(present, axis=0).tolist()
    cols = [j for j, c in enumerate(col_codes) if names[c] is not None and seen[j]]
    rejected = np.sort(np.concatenate([np.flatnonzero(~ok), ok_rows[bad_row]]))
    out = Rows(
        ok_rows[keep_row],
        [names[col_codes[j]] for j in cols],
        values[:, cols],
        present[:, cols],
        strings,
        rejected,
        dropped,
    )
    # Where each key is first seen (input index): names are in that order (parsers.formats.jsonl.blocks).
    codes_seen, at = np.unique(codes, return_index=True)
    out.first_seen = {names[c]: int(ok_rows[row_of[i]]) for c, i in zip(codes_seen, at) if names[c] is not None}
    return out


def _merge(parts) -> Rows:
    names, values, present, dropped = stack_values(parts, lambda p: len(p.ok_rows))
    rows = len(values)
    strings: dict = {}
    at = 0
    for p in parts:
        m = len(p.ok_rows)
        for k, v in p.strings.items():
            strings.setdefault(k, np.full(rows, None, dtype=object))[at : at + m] = v
        at += m
    return Rows(
        np.concatenate([p.ok_rows for p in parts]),
        names,
        values,
        present,
        strings,
        np.concatenate([p.rejected for p in parts]),
        dropped + sum(p.dropped for p in parts),
    )
