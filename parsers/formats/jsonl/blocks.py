"""Layout blocks of a JSON-lines chunk, read with numpy straight from the bytes.

`json.dumps` output is canonical and, in a training log, most rows of a chunk log the
same keys in the same order (train rows). The only spaces in such a row are the ones
after `:` and `,`, so one pass over the chunk's bytes finds every separator (and every
newline). The chunk's most common separator count picks a reference row (read with
`json.loads`; if it reads fewer than half the candidates, the first row it missed is
tried too). Item j of a candidate row must then sit right before the row's space 2j:
one fixed-width gather per item fetches its skeleton (`{"key": ` / `, "key": `, and a
fixed string value such as `"train"`) with the 12 bytes after it, the skeleton is
compared 8 bytes at a time, and the 12 bytes become the item's inline Arrow string view
(longer values point into the chunk), so all values cast to float64 in one Arrow call
(`NaN` / `Infinity` cast directly). Values come out column-major (keys x rows), the
layout of the train frame's float block. Rows that differ (val rows, a key logged later,
the meta line, `"lr": {…}` of several optimizers, strings, the file's last bytes) are
handed to `parsers.formats.jsonl.rows` unchanged; a block that cannot be cast goes there whole.
`chunk_parts` returns the block and the other rows apart (the json parser keeps train
blocks as they are, see `parsers.formats.jsonl.reader`); `chunk_rows` merges them into the `Rows`
that `parsers.formats.jsonl.rows.parse_rows` gives for the chunk's lines.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parsers.bounds import MAX_KEYS, kept_keys
from parsers.formats.jsonl.rows import Rows, no_rows, parse_rows
from parsers.formats.jsonl.scratch import Scratch
from parsers.views import MASKS, TAIL, windows

SPACE = 32
PLAIN_STRING = re.compile(rb'^"[^"\\]*"$')
_PREFIX = MASKS[:5] << np.uint64(32)  # the first n of a view's 4 prefix bytes


class Block:
    """Rows of one key layout: line indices (in the chunk), numeric names, values
    (rows x names, column-major), {name: value} of the fixed string values (the same in
    every row of the block: `"mode": "train"`)."""

    def __init__(self, lines, names, values, fixed):
        self.lines, self.names, self.values, self.fixed = lines, names, values, fixed


def chunk_parts(data: bytes, a: int, b: int, scratch: Scratch | None = None):
    """(global line starts, Block or None, Rows of the other lines) for the lines of
    data[a:b] (which ends before a '\\n'; no '\\r' in data). `scratch`: the working
    arrays of the scanning thread (parsers.formats.jsonl.scratch)."""
    scratch = scratch or Scratch()
    mv = memoryview(data)
    u = np.frombuffer(mv, dtype=np.uint8, count=b - a, offset=a)
    # `marks`: newlines and spaces; a line's spaces are the marks between its start and its
    # newline (first_sp: the index of its first space in `marks`).
    marks, nl_at = _marks(u, scratch)
    nl = marks[nl_at]
    starts = np.concatenate(([0], nl + 1))  # local
    ends = np.concatenate((nl, [b - a]))
    nlines = len(starts)
    first_sp = np.concatenate(([0], nl_at + 1))
    count = np.append(nl_at, len(marks)) - first_sp
    found = _block(u, mv, a, marks, starts, ends, first_sp, count, scratch) if nlines else None
    if found is None:
        return a + starts, None, _fallback(mv, a, starts, ends, np.arange(nlines))
    block = Block(*found)
    rest = np.ones(nlines, bool)
    rest[block.lines] = False
    return a + starts, block, _fallback(mv, a, starts, ends, np.flatnonzero(rest))


def _marks(u, scratch: Scratch):
    """(positions of the newlines and spaces in u, indices of the newlines among them)."""
    # One pass: every byte <= ' '. json.dumps escapes control characters, so those bytes are
    # newlines and spaces unless the chunk is damaged; then the two are looked for apart.
    marks = np.flatnonzero(np.less_equal(u, SPACE, out=scratch.array("mask", len(u), bool)))
    kind = np.take(u, marks, out=scratch.array("kind", len(marks), np.uint8), mode="clip")  # "raise" copies out
    nl_at = np.flatnonzero(kind == 10)
    if np.count_nonzero(kind != SPACE) != len(nl_at):  # another control byte
        is_mark = u == 10
        is_mark |= u == SPACE
        marks = np.flatnonzero(is_mark)
        nl_at = np.flatnonzero(u[marks] == 10)
    return marks, nl_at


def chunk_rows(data: bytes, a: int, b: int):
    """(global line starts, Rows) for the lines of data[a:b], equal to `parse_rows` over
    `TextFile.chunk_lines` of that range (no '\\r' in data)."""
    starts, block, slow = chunk_parts(data, a, b)
    return starts, slow if block is None else merge_block(block, slow)


def _block(u, mv, a, sp, starts, ends, first_sp, count, scratch):
    """(line indices, numeric names, values, {name: fixed string value}) of the rows sharing the
    layout of the chunk's most common separator count, or None.

    Item j of such a row is `{"key": value` (j = 0) or `, "key": value`: its skeleton
    (`{"key": ` / `, "key": `, plus the value when it is a fixed string such as "train")
    ends at the row's space number 2j, so the value starts there. Once every skeleton is
    found in place, the row's 2k - 1 spaces are all accounted for by the skeletons and
    the values between them are exactly the bytes left. Each item is read with ONE
    gather of its skeleton and the 12 bytes after it (numpy copies a fixed-width void
    item as fast as one word), which serves both the skeleton check and the value's
    inline Arrow string view. Line i's spaces are sp[first_sp[i] : first_sp[i] + count[i]]."""
    nsep = int(np.bincount(count).argmax())
    if nsep % 2 == 0:  # k items have k ': ' and k - 1 ', '
        return None
    cand = np.flatnonzero(count == nsep)
    found = _layout_rows(u, mv, a, sp, starts, ends, first_sp, nsep, cand, int(cand[0]), scratch)
    if found is None or 2 * len(found[0]) < len(cand):
        # The first row may be the odd one (another key, a mistyped mode): try the first
        # row that layout did not read, keep the layout that reads more rows.
        missed = cand[1:] if found is None else np.setdiff1d(cand, found[0], assume_unique=True)
        if len(missed):
            other = _layout_rows(u, mv, a, sp, starts, ends, first_sp, nsep, cand, int(missed[0]), scratch)
            if other is not None and (found is None or len(other[0]) > len(found[0])):
                found = other
    return found


def _layout_rows(u, mv, a, sp, starts, ends, first_sp, nsep, cand, r0, scratch):
    """_block's rows of the candidates `cand` that share the layout of row r0."""
    ref = _reference(mv, a, starts[r0], ends[r0], sp[first_sp[r0] : first_sp[r0] + nsep])
    if ref is None:
        return None
    keys, fixed, names, numeric = ref  # raw key bytes, raw fixed value bytes (or None)
    if not numeric or len(numeric) > MAX_KEYS:
        return None  # no numbers; or more keys than a run keeps: the rows path bounds and counts
    if any(b" " in key for key in keys) or any(v is not None and b" " in v for v in fixed):
        return None  # a space that is not a separator: the counting below would not hold
    skeletons = [(b"{" if j == 0 else b", ") + key + b": " for j, key in enumerate(keys)]
    placed = _places(u, mv, a, sp, starts, ends, first_sp, nsep, cand, skeletons, fixed, scratch)
    if placed is None:
        return None
    cand, S, R, VL = placed
    views, ok = _skeletons_and_views(mv, R, skeletons, fixed, len(numeric), scratch)
    _finish_views(views, VL, S, numeric, a, scratch)
    if not ok.all():
        cand, views = cand[ok], np.ascontiguousarray(views[:, ok])
    n_ok = len(cand)
    if n_ok == 0:
        return None
    arr = pa.Array.from_buffers(
        pa.string_view(), n_ok * len(numeric), [None, pa.py_buffer(views), pa.py_buffer(mv[a:])]
    )
    try:
        floats = np.asarray(pc.cast(arr, pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    values = floats.reshape(len(numeric), n_ok).T  # rows x keys, column-major
    strings = {_name(key): json.loads(v) for key, v in zip(keys, fixed) if v is not None}
    return cand, list(names), values, strings


def _places(u, mv, a, sp, starts, ends, first_sp, nsep, cand, skeletons, fixed, scratch):
    """(candidates, value starts S, skeleton starts R, value lengths VL) of the candidates
    whose items can sit where the layout puts them (positions in `mv`; (k, m) arrays: one
    contiguous row per item, so values come out column-major, as the train frame's
    (columns x rows) block wants them); None when none can."""
    shape = (len(skeletons), len(cand))
    L = np.array([len(s) for s in skeletons])[:, None]
    ls, le = starts[cand], ends[cand]
    at = np.add(first_sp[cand], np.arange(0, nsep, 2)[:, None], out=scratch.array("at", shape, np.int64))
    S = np.take(sp, at, out=scratch.array("S", shape, np.int64), mode="clip")  # the space before each value
    S += 1 + a  # value starts
    R = np.subtract(S, L, out=scratch.array("R", shape, np.int64))  # skeleton starts
    VL = scratch.array("VL", shape, np.int64)  # value lengths: up to the next skeleton, the last to the '}'
    np.subtract(R[1:], S[:-1], out=VL[:-1])
    np.subtract(le + (a - 1), S[-1], out=VL[-1])
    ok = (R[0] == ls + a) & (u[le - 1] == ord("}")) & (a + le + 24 <= len(mv))  # reads stay in the data
    ok &= VL.min(axis=0) >= 1  # no value is empty, no skeleton overlaps the one before it
    for j, v in enumerate(fixed):
        if v is not None:
            ok &= VL[j] == len(v)
    if not ok.all():  # rows of another layout, or the data's last line: keep the plausible ones
        at = np.flatnonzero(ok)
        keep = slice(0, len(at)) if len(at) and at[-1] == len(at) - 1 else at  # some last rows: views
        cand, S, R, VL = cand[keep], S[:, keep], R[:, keep], VL[:, keep]
    return (cand, S, R, VL) if len(cand) else None


def _skeletons_and_views(mv, R, skeletons, fixed, nnum, scratch):
    """(Arrow string views of the numeric values, their 12 inline bytes filled; per row:
    every skeleton is where the layout puts it). Each item is read with ONE gather of its
    skeleton and the 12 bytes after it; skeletons are compared 8 bytes at a time. `R`:
    global skeleton starts."""
    m = R.shape[1]
    views = scratch.array("views", (nnum, m, 16), np.uint8)  # Arrow string views: length, 12 inline bytes
    # Their inline bytes as 12-byte void items: numpy copies one per item, not byte by byte.
    inline = np.ndarray((nnum, m), "V12", buffer=views, offset=4, strides=(16 * m, 16))
    diff = np.zeros(m, np.uint64)  # OR of (got ^ want) over every skeleton word: 0 = all equal
    tmp = np.empty(m, np.uint64)
    q = 0
    for j, skel in enumerate(skeletons):
        want = skel + (fixed[j] or b"")
        width = -(-(len(want) + (12 if fixed[j] is None else 0)) // 8) * 8
        got = windows(mv, width)[R[j]]
        got_words = got.view("<u8").reshape(m, width // 8)
        padded = want.ljust(width, b"\0")
        for i in range(-(-len(want) // 8)):
            np.bitwise_xor(got_words[:, i], np.uint64(int.from_bytes(padded[8 * i : 8 * i + 8], "little")), out=tmp)
            if 8 * i + 8 > len(want):
                tmp &= MASKS[len(want) - 8 * i]
            diff |= tmp
        if fixed[j] is None:
            inline[q] = np.ndarray((m,), "V12", buffer=got, offset=len(want), strides=(width,))
            q += 1
    return views, diff == 0


def _finish_views(views, VL, S, numeric, a: int, scratch) -> None:
    """Zero the bytes after each value (inline views are zero-padded), then set the lengths;
    a value longer than 12 bytes points into the chunk (buffer 0, its offset from `a`)."""
    contiguous = numeric == list(range(numeric[0], numeric[-1] + 1))
    lens = VL[numeric[0] : numeric[-1] + 1] if contiguous else VL[numeric]
    words = views.view("<u8")  # (nnum, m, 2): length + 4 bytes, 8 bytes
    lo, hi = words[:, :, 0], words[:, :, 1]
    # The masks by length; "clip": a length over 12 keeps all 8 tail bytes (and 4 prefix bytes).
    hi &= np.take(TAIL, lens, out=scratch.array("tail", lens.shape, np.uint64), mode="clip")
    for col in np.flatnonzero(lens.min(axis=1) < 4):  # few columns (epoch, iter) have such values
        lo[col] &= np.take(_PREFIX, lens[col], mode="clip")
    views.view("<i4")[:, :, 0] = lens
    for col in np.flatnonzero(lens.max(axis=1) > 12):
        row = np.flatnonzero(lens[col] > 12)
        hi[col, row] = (S[numeric[col], row] - a).astype(np.uint64) << np.uint64(32)


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
    keys: list[bytes] = []
    fixed: list[bytes | None] = []
    names: list[str] = []
    numeric: list[int] = []
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
    if len(idx) == 0:
        return no_rows()

    offsets = np.empty(2 * len(idx), np.int64)
    offsets[0::2], offsets[1::2] = starts[idx], ends[idx]
    offsets = np.append(offsets, offsets[-1])
    pairs = pa.Array.from_buffers(
        pa.large_string(), max(len(offsets) - 1, 0), [None, pa.py_buffer(offsets), pa.py_buffer(mv[a:])]
    )
    lines = pairs.take(pa.array(np.arange(0, 2 * len(idx), 2)))
    rows = parse_rows(lines, threads=1)
    out = Rows(idx[rows.ok_rows], rows.names, rows.values, rows.present, rows.strings, idx[rows.rejected], rows.dropped)
    out.first_seen = {n: int(idx[i]) for n, i in rows.first_seen.items()}
    return out


def name_order(block: Block, slow: Rows) -> tuple[list[str], list[str]]:
    """(numeric names, string names) of a chunk's block and other rows, in the order
    `rows` gives them: by the line a key is first seen, then its place in that line."""
    first0 = int(block.lines[0])
    rank = {n: (first0, i) for i, n in enumerate(list(block.names) + list(block.fixed))}
    for i, (n, line) in enumerate(slow.first_seen.items()):
        if n not in rank or line < rank[n][0]:
            rank[n] = (line, i)
    numeric = sorted(set(block.names) | set(slow.names), key=rank.__getitem__)
    strings = sorted(set(block.fixed) | set(slow.strings), key=rank.__getitem__)
    return numeric, strings


def merge_block(block: Block, slow: Rows) -> Rows:
    """One Rows of a chunk's block and its other lines (rows in file order)."""
    all_names, string_names = name_order(block, slow)
    m, s = len(block.lines), len(slow.ok_rows)
    if not s and all_names == block.names and string_names == list(block.fixed):
        return Rows(
            block.lines,
            block.names,
            block.values,
            np.ones(block.values.shape, bool),
            {n: np.full(m, v, dtype=object) for n, v in block.fixed.items()},
            slow.rejected,
            slow.dropped,
        )
    dropped = slow.dropped
    if len(all_names) > MAX_KEYS:  # a run keeps its first keys (parsers.bounds)
        all_names = kept_keys(all_names)
        kept = set(all_names)
        dropped += m * sum(n not in kept for n in block.names)
        dropped += int(slow.present[:, [j for j, n in enumerate(slow.names) if n not in kept]].sum())
    col = {n: i for i, n in enumerate(all_names)}
    lines = np.sort(np.concatenate((block.lines, slow.ok_rows)))  # rows in file order
    at_fast, at_slow = np.searchsorted(lines, block.lines), np.searchsorted(lines, slow.ok_rows)
    vals = np.full((m + s, len(all_names)), np.nan)
    pres = np.zeros((m + s, len(all_names)), bool)
    mine = [j for j, n in enumerate(block.names) if n in col]
    idx = np.array([col[block.names[j]] for j in mine], np.int64)
    vals[at_fast[:, None], idx] = block.values[:, mine] if len(mine) < len(block.names) else block.values
    pres[at_fast[:, None], idx] = True
    mine = [j for j, n in enumerate(slow.names) if n in col]
    if mine:
        idx = np.array([col[slow.names[j]] for j in mine], np.int64)
        vals[at_slow[:, None], idx] = slow.values[:, mine]
        pres[at_slow[:, None], idx] = slow.present[:, mine]
    out_str = {}
    for n in string_names:
        c = np.full(m + s, None, dtype=object)
        if n in block.fixed:
            c[at_fast] = block.fixed[n]
        if n in slow.strings:
            c[at_slow] = slow.strings[n]
        out_str[n] = c
    return Rows(lines, all_names, vals, pres, out_str, slow.rejected, dropped)
