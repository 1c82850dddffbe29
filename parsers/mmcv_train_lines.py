"""Fast path for mmcv 1.x train lines: the bulk of every mmcv text log.

`<prefix>Epoch [e][i/n]\\tlr: 2.000e-04, eta: 2 days, 7:04:24, time: 0.685, loss: 4.2288`

Three same-length literal replacements turn a line into fields separated by one
delimiter (`, `): `]\\t` -> `, ` (cuts the head off), `: ` -> `, ` (splits key from
value) and ` days, ` -> ` days  ` (keeps `eta: 2 days, 7:04:24` whole). One `split_pattern` then gives,
per line, `[head, key, value, key, value, …]`; numpy index arithmetic picks heads,
keys and values; keys are dictionary-encoded (a few dozen distinct) and values cast to
float64 in one call. All of it is Arrow C++ that releases the GIL, so two halves of
the lines run on two threads.

A line whose fields do not alternate (`lr_a: 1e-4 lr_b: 2e-4` of several optimizers, a
value containing `: `, a cut line) is returned for the generic parser (`parsers.kv`).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from parsers.kv import ETA

HEAD = (
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}),(?P<ms>[0-9]{3}) - [^ ]+ - [A-Z]+ - "
    r"(?P<kind>Epoch|Iter) \[(?P<x>[0-9]+)(?:/(?P<xn>[0-9]+))?(?:\]\[(?P<y>[0-9]+)(?:/(?P<yn>[0-9]+))?)?$"
)
PARALLEL_FROM = 20_000  # lines; below this one thread is faster


class Chunk:
    """Parsed lines of one chunk: heads (struct array), keys, matrix, eta, rejects."""

    def __init__(self, heads, names, values, present, eta_s, ok_rows, rejected):
        self.heads, self.names, self.values, self.present = heads, names, values, present
        self.eta_s, self.ok_rows, self.rejected = eta_s, ok_rows, rejected


def parse_train_lines(lines, threads: int = 2, maybe_multi_lr: bool = True, days=(" day, ", " days, ")):
    """lines: Arrow string array of mmcv train lines. Returns (ok_rows, heads, names,
    values, present, eta_s, rejected_rows): `ok_rows` index `lines`; `rejected_rows`
    must go through the generic parser."""
    n = len(lines)
    if threads > 1 and n >= PARALLEL_FROM:
        half = n // 2
        with ThreadPoolExecutor(2) as ex:
            parts = list(ex.map(_parse_chunk, [lines.slice(0, half), lines.slice(half)], [maybe_multi_lr] * 2, [days] * 2))
        parts[1].ok_rows = parts[1].ok_rows + half
        parts[1].rejected = parts[1].rejected + half
        return _merge(parts)
    c = _parse_chunk(lines, maybe_multi_lr, days)
    return c.ok_rows, c.heads, c.names, c.values, c.present, c.eta_s, c.rejected


def _parse_chunk(lines, maybe_multi_lr: bool = True, days=(" day, ", " days, ")) -> Chunk:
    import pyarrow as pa
    import pyarrow.compute as pc

    x = pc.replace_substring(lines, "]\t", ", ", max_replacements=1)
    for pattern in days:  # the ones present in the file (the caller checks the bytes)
        x = pc.replace_substring(x, pattern, pattern[:-2] + "  ")
    x = pc.replace_substring(x, ": ", ", ")
    fields = pc.split_pattern(x, ", ")
    off = np.asarray(fields.offsets)
    off = off - off[0]
    lens = np.diff(off)
    items = fields.flatten()
    # Well-formed: head + pairs; no `lr_a: … lr_b: …` (several optimizers).
    ok = (lens % 2 == 1) & (lens >= 3)
    if maybe_multi_lr:
        ok &= ~np.asarray(pc.match_substring(lines, " lr_").fill_null(False))
    ok_rows = np.flatnonzero(ok)
    rejected = np.flatnonzero(~ok)
    starts = off[:-1][ok_rows]
    pairs = (lens[ok_rows] - 1) // 2
    heads = pc.extract_regex(items.take(pa.array(starts)), HEAD)
    good_head = np.asarray(heads.is_valid())
    if not good_head.all():
        rejected = np.sort(np.concatenate([rejected, ok_rows[~good_head]]))
        ok_rows, starts, pairs = ok_rows[good_head], starts[good_head], pairs[good_head]
        heads = heads.filter(pa.array(good_head))
    total = int(pairs.sum())
    row_of = np.repeat(np.arange(len(ok_rows)), pairs)
    first = np.cumsum(pairs) - pairs
    key_idx = np.repeat(starts + 1, pairs) + 2 * (np.arange(total) - np.repeat(first, pairs))
    keys = items.take(pa.array(key_idx))
    vals = items.take(pa.array(key_idx + 1))
    enc = pc.dictionary_encode(keys)
    codes = np.asarray(enc.indices)
    names = enc.dictionary.to_pylist()
    nrows = len(ok_rows)
    eta_s = np.full(nrows, np.nan)
    numeric = np.ones(total, bool)
    if "eta" in names:
        is_eta = codes == names.index("eta")
        numeric = ~is_eta
        eta_s[row_of[is_eta]] = _eta_seconds(vals.filter(pa.array(is_eta)))
    v = vals.filter(pa.array(numeric)) if not numeric.all() else vals
    v_codes, v_rows = codes[numeric], row_of[numeric]
    try:
        floats = np.asarray(pc.cast(v, pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Some value is not a number: send those lines to the generic parser.
        from parsers.kv import NUMBER

        good = np.asarray(pc.match_substring_regex(v, NUMBER).fill_null(False))
        bad_rows = np.unique(v_rows[~good])
        keep_row = np.ones(nrows, bool)
        keep_row[bad_rows] = False
        rejected = np.sort(np.concatenate([rejected, ok_rows[bad_rows]]))
        sel = keep_row[v_rows]
        floats = np.asarray(pc.cast(v.filter(pa.array(sel)), pa.float64()))
        v_codes, v_rows = v_codes[sel], v_rows[sel]
        remap = np.cumsum(keep_row) - 1
        v_rows = remap[v_rows]
        ok_rows, eta_s = ok_rows[keep_row], eta_s[keep_row]
        heads = heads.filter(pa.array(keep_row))
        nrows = len(ok_rows)
    values = np.full((nrows, len(names)), np.nan)
    present = np.zeros((nrows, len(names)), bool)
    values[v_rows, v_codes] = floats
    present[v_rows, v_codes] = True
    keep_cols = [j for j, name in enumerate(names) if name != "eta" and present[:, j].any()]
    names = [names[j] for j in keep_cols]
    return Chunk(heads, names, values[:, keep_cols], present[:, keep_cols], eta_s, ok_rows, rejected)


def _eta_seconds(etas) -> np.ndarray:
    import pyarrow.compute as pc

    from parsers.kv import eta_seconds

    # `2 days  7:04:24` (after the replacement) -> `2 days, 7:04:24` for the shared parser.
    return eta_seconds(pc.replace_substring(etas, "  ", ", "))


def _merge(parts):
    import pyarrow as pa

    names: list[str] = []
    for p in parts:
        for k in p.names:
            if k not in names:
                names.append(k)
    col = {k: j for j, k in enumerate(names)}
    rows = sum(len(p.ok_rows) for p in parts)
    values = np.full((rows, len(names)), np.nan)
    present = np.zeros((rows, len(names)), bool)
    at = 0
    for p in parts:
        m = len(p.ok_rows)
        idx = [col[k] for k in p.names]
        values[at : at + m, idx] = p.values
        present[at : at + m, idx] = p.present
        at += m
    heads = pa.concat_arrays([p.heads for p in parts])
    return (
        np.concatenate([p.ok_rows for p in parts]),
        heads,
        names,
        values,
        present,
        np.concatenate([p.eta_s for p in parts]),
        np.concatenate([p.rejected for p in parts]),
    )
