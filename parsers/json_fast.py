"""Layout blocks of a JSON-lines chunk, read with numpy straight from the bytes.

`json.dumps` output is canonical and, in a training log, most rows of a chunk log the
same keys in the same order (train rows). The only spaces in such a row are the ones
after `:` and `,`, so one comparison over the chunk's bytes finds every separator. The
chunk's most common separator count picks a reference row (read with `json.loads`); every
row with that count is then checked byte for byte against the reference's skeleton
`{"k1": v1, "k2": v2, …}` (keys, and string values such as `"mode": "train"`, compared
8 bytes at a time), and its numeric values, located by the separators, are cast to
float64 in one Arrow call through a string_view array that points into the chunk's bytes
(no copy of the values). Rows that differ (val rows, a key logged later, the meta line,
`"lr": {…}` of several optimizers, strings) are handed to `parsers.json_rows` unchanged;
a chunk whose block cannot be cast goes to `parsers.json_rows` whole. The result is the
same `Rows` that `json_rows.parse_rows` gives for the chunk's lines.
"""
from __future__ import annotations

import json
import re

import numpy as np

from parsers.json_rows import Rows, parse_rows

SPACE = 32
PLAIN_STRING = re.compile(rb'^"[^"\\]*"$')
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def words(data) -> np.ndarray:
    """Unaligned little-endian 8-byte words: w[p] = data[p:p+8] (a view, no copy)."""
    return np.ndarray((max(len(data) - 7, 0),), dtype="<u8", buffer=data, strides=(1,))


def chunk_rows(data: bytes, a: int, b: int):
    """(global line starts, Rows) for the lines of data[a:b] (which ends before a '\\n'),
    equal to `parse_rows` over `TextFile.chunk_lines` of that range (no '\\r' in data)."""
    mv = memoryview(data)
    u = np.frombuffer(mv, dtype=np.uint8, count=b - a, offset=a)
    nl = np.flatnonzero(u == 10)
    starts = np.concatenate(([0], nl + 1))  # local
    ends = np.concatenate((nl, [b - a]))
    nlines = len(starts)
    sp = np.flatnonzero(u == SPACE)
    first_sp = np.searchsorted(sp, starts)
    count = np.diff(np.append(first_sp, len(sp)))
    block = _block(u, mv, a, sp, starts, ends, first_sp, count) if nlines else None
    if block is None:
        return a + starts, _fallback(mv, a, starts, ends, np.arange(nlines))
    fast_lines, names, values, strings = block
    rest = np.ones(nlines, bool)
    rest[fast_lines] = False
    other = np.flatnonzero(rest)
    if len(other) == 0:
        return a + starts, Rows(fast_lines, names, values, np.ones(values.shape, bool), strings, np.zeros(0, np.int64))
    slow = _fallback(mv, a, starts, ends, other)
    return a + starts, _merge_parts(fast_lines, names, values, strings, slow)


def _block(u, mv, a, sp, starts, ends, first_sp, count):
    """(line indices, numeric names, values, {name: strings}) of the rows sharing the
    layout of the chunk's most common separator count, or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    nsep = int(np.bincount(count).argmax())
    if nsep % 2 == 0:  # k items have k ': ' and k - 1 ', '
        return None
    k = (nsep + 1) // 2
    cand = np.flatnonzero(count == nsep)
    ref = _reference(mv, a, starts[cand[0]], ends[cand[0]], sp[first_sp[cand[0]] : first_sp[cand[0]] + nsep] if nsep else sp[:0])
    if ref is None:
        return None
    keys, fixed, names, numeric = ref  # raw key bytes, raw fixed value bytes (or None)
    m = len(cand)
    P = sp[first_sp[cand][:, None] + np.arange(nsep)]  # (m, nsep) local positions of the spaces
    ls, le = starts[cand], ends[cand]
    S = P[:, 0::2] + 1  # value starts
    E = np.empty((m, k), np.int64)  # value ends: the ',' of the next item, the final '}'
    E[:, :-1] = P[:, 1::2] - 1
    E[:, -1] = le - 1
    A = np.empty((m, k), np.int64)  # where `{"key": ` / `, "key": ` starts
    A[:, 0] = ls
    A[:, 1:] = E[:, :-1]
    regions = [(b"{" if j == 0 else b", ") + key + b": " for j, key in enumerate(keys)]
    fixed_cols = [j for j, v in enumerate(fixed) if v is not None]
    lo_len = np.ones(k, np.int64)
    hi_len = np.full(k, np.iinfo(np.int64).max)
    for j in fixed_cols:
        lo_len[j] = hi_len[j] = len(fixed[j])
    VL = E - S
    safe = le + (a + 12) <= len(mv)  # every 8-byte read below stays in the data
    ok = (S - A == np.array([len(r) for r in regions])).all(axis=1)
    ok &= ((VL >= lo_len) & (VL <= hi_len)).all(axis=1) & (u[le - 1] == ord("}")) & safe
    # The skeleton (keys, separators, string values) byte for byte, 8 bytes a word.
    col, off, want, short = [], [], [], []
    for c, seg in [(j, r) for j, r in enumerate(regions)] + [(k + i, fixed[j]) for i, j in enumerate(fixed_cols)]:
        for o in (range(0, len(seg) - 7, 8) if len(seg) >= 8 else [0]):
            col.append(c)
            off.append(o)
            want.append(int.from_bytes(seg[o : o + 8].ljust(8, b"\0"), "little"))
            short.append(len(seg))
        if len(seg) >= 8 and len(seg) % 8:
            col.append(c)
            off.append(len(seg) - 8)
            want.append(int.from_bytes(seg[-8:], "little"))
            short.append(8)
    w = words(mv)
    anchors = np.concatenate((A, S[:, fixed_cols]), axis=1) if fixed_cols else A
    if not safe.all():
        anchors[~safe] = 0
    at = anchors[:, col]
    at += np.array(off) + a
    got = w[at]
    short = np.array(short)
    cut = np.flatnonzero(short < 8)
    if len(cut):
        got[:, cut] &= _MASKS[short[cut]]
    ok &= (got == np.array(want, dtype=np.uint64)).all(axis=1)
    lines = cand[ok]
    n_ok = len(lines)
    if n_ok == 0:
        return None
    # Numeric values: string views into the chunk's bytes, cast in one call.
    gs = S[ok][:, numeric].ravel()
    gs += a  # global offsets
    vlen = VL[ok][:, numeric].ravel()
    views = np.empty((len(vlen), 2), np.uint64)
    lo, hi = views[:, 0], views[:, 1]
    np.left_shift(w[gs] & _MASKS[np.minimum(vlen, 4)], np.uint64(32), out=lo)
    lo |= vlen.astype(np.uint64)
    np.bitwise_and(w[gs + 4], _MASKS[np.clip(vlen - 4, 0, 8)], out=hi)
    long = np.flatnonzero(vlen > 12)  # not inline: buffer 0, offset
    if len(long):
        hi[long] = (gs[long] - a).astype(np.uint64) << np.uint64(32)
    arr = pa.Array.from_buffers(pa.string_view(), len(vlen), [None, pa.py_buffer(views), pa.py_buffer(mv[a:])])
    try:
        floats = np.asarray(pc.cast(arr, pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    values = floats.reshape(n_ok, len(numeric))
    strings = {_name(keys[j]): np.full(n_ok, json.loads(fixed[j]), dtype=object) for j in fixed_cols}
    return lines, list(names), values, strings


def _name(raw: bytes) -> str:
    return raw[1:-1].decode("utf-8")


def _reference(mv, a, s, e, seps):
    """The skeleton of one row: (raw keys, raw fixed values or None, numeric names,
    numeric item indices), when it is a flat object of numbers and plain strings."""
    line = bytes(mv[a + s : a + e])
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not obj:
        return None
    cut = [0] + [int(p) - s for p in seps] + [len(line) - 1]
    items = []
    for j in range(len(obj)):
        key = line[cut[2 * j] + 1 : cut[2 * j + 1] - 1]
        value = line[cut[2 * j + 1] + 1 : cut[2 * j + 2] - (1 if 2 * j + 2 < len(cut) - 1 else 0)]
        items.append((key, value))
    if len(items) * 2 != len(cut) - 1 or not all(PLAIN_STRING.match(k) for k, _ in items):
        return None
    if [_name(k) for k, _ in items] != list(obj):
        return None
    keys, fixed, names, numeric = [], [], [], []
    for j, (key, value) in enumerate(items):
        v = obj[_name(key)]
        keys.append(key)
        if isinstance(v, str) and PLAIN_STRING.match(value):
            fixed.append(value)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            fixed.append(None)
            names.append(_name(key))
            numeric.append(j)
        else:
            return None
    return keys, fixed, names, numeric


def _fallback(mv, a, starts, ends, idx) -> Rows:
    """parse_rows over the lines `idx` of the chunk (their indices kept)."""
    import pyarrow as pa

    offsets = np.empty(2 * len(idx), np.int64)
    offsets[0::2], offsets[1::2] = starts[idx], ends[idx]
    offsets = np.append(offsets, offsets[-1]) if len(idx) else np.zeros(1, np.int64)
    pairs = pa.Array.from_buffers(pa.large_string(), max(len(offsets) - 1, 0), [None, pa.py_buffer(offsets), pa.py_buffer(mv[a:])])
    lines = pairs.take(pa.array(np.arange(0, 2 * len(idx), 2)))
    rows = parse_rows(lines, threads=1)
    out = Rows(idx[rows.ok_rows], rows.names, rows.values, rows.present, rows.strings, idx[rows.rejected])
    out.first_seen = {n: int(idx[i]) for n, i in rows.first_seen.items()}
    return out


def _merge_parts(fast_lines, names, values, strings, slow: Rows) -> Rows:
    """One Rows of the fast block and the other lines, keys in first-seen order (as
    json_rows orders them: by the line a key is first seen, then its place in that line)."""
    m, s = len(fast_lines), len(slow.ok_rows)
    first0 = int(fast_lines[0])
    rank = {n: (first0, i) for i, n in enumerate(list(names) + list(strings))}
    for i, (n, line) in enumerate(slow.first_seen.items()):
        if n not in rank or line < rank[n][0]:
            rank[n] = (line, i)
    all_names = sorted(set(names) | set(slow.names), key=rank.get)
    col = {n: i for i, n in enumerate(all_names)}
    lines = np.sort(np.concatenate((fast_lines, slow.ok_rows)))  # rows in file order
    at_fast, at_slow = np.searchsorted(lines, fast_lines), np.searchsorted(lines, slow.ok_rows)
    vals = np.full((m + s, len(all_names)), np.nan)
    pres = np.zeros((m + s, len(all_names)), bool)
    idx = np.array([col[n] for n in names], np.int64)
    vals[at_fast[:, None], idx] = values
    pres[at_fast[:, None], idx] = True
    if slow.names:
        idx = np.array([col[n] for n in slow.names], np.int64)
        vals[at_slow[:, None], idx] = slow.values
        pres[at_slow[:, None], idx] = slow.present
    out_str = {}
    for n in sorted(set(strings) | set(slow.strings), key=rank.get):
        c = np.full(m + s, None, dtype=object)
        if n in strings:
            c[at_fast] = strings[n]
        if n in slow.strings:
            c[at_slow] = slow.strings[n]
        out_str[n] = c
    return Rows(lines, all_names, vals, pres, out_str, slow.rejected)
