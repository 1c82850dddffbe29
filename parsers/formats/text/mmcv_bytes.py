"""mmcv train lines of one key layout, read with numpy straight from the lines' bytes.

`<date>,<ms> - mmdet - INFO - Epoch [e][i/n]\tlr: 2.000e-04, eta: 2 days, 7:04:24, time: 0.685, loss: 4.2288`

In a chunk, most lines are train lines that log the same keys; their only spaces are the
prefix's, the ones after `:` and `,`, and the one in `2 days`. The first line that holds
`\tlr: ` (read in Python) gives the layout: the head's bytes up to `[`, the separators of
its counters (`][`, `/`, `]\tlr`), the number of spaces before `\tlr: `, and the keys. A
line of that layout (with or without days in its eta) has that many spaces (two more with
days), and each of its items sits at a known space: the skeletons (`, eta: `, `, key: `)
are compared with one gather per 8 bytes; the head's date and counters, and the eta, are
digits at known places; the values between the skeletons become Arrow string views, cast
to float64 in one call. Lines are read BATCH at a time, so that every array stays small.

The lines read here are exactly those the item splitter (`parsers.formats.text.mmcv_lines`)
would take, with the same values: every space of such a line is accounted for, so that
splitter's cuts (`, ` and `: `) fall on the skeletons. A line that does not fit (another
layout, an eta not written `h:mm:ss`, a damaged head) is left to that splitter; a value that
does not cast leaves the whole chunk to it.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parsers.bounds import MAX_KEYS
from parsers.formats.text.clock import timestamps
from parsers.formats.text.train_heads import Heads
from parsers.patterns import MMCV_TRAIN_HEAD, PLAIN_KEY
from parsers.views import fixed_strings, gather, matches, string_views

SPACE, COLON, ZERO = 32, ord(":"), ord("0")
DATE = 23  # `2024-04-07 18:21:18,692`: date, comma, milliseconds
DATE_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22])
DATE_MARKS = np.array([4, 7, 10, 13, 16, 19])  # `-`, `-`, ` `, `:`, `:`, `,`
DIGITS = 15  # digits of a head's number at most: read exactly as an integer
TAIL = 32  # bytes of a head's tail (`e][i/n]\\tlr`) at most
MAX_PREFIX = 512  # bytes of a head up to its `[`: a logger name longer than this is left alone
PAD = MAX_PREFIX + 64  # zero bytes after the chunk: every gather stays in the buffer
REFERENCES = 4  # lines tried as the reference
BATCH = 4096  # lines read at a time
_HEAD = re.compile(MMCV_TRAIN_HEAD.encode())
_DAYS = re.compile(rb"^[0-9]+ days?$")
HEAD_FIELDS = ("x", "xn", "y", "yn")  # the groups of the head regex after `[`


class Block:
    """The lines read (indices into the chunk's lines), their `Heads`, names (`lr` first),
    values (rows x names) and eta seconds."""

    def __init__(self, rows, heads, names, values, eta_s):
        self.rows, self.heads, self.names, self.values, self.eta_s = rows, heads, names, values, eta_s


class _Layout:
    """A reference line's: its head's bytes up to `[` (`prefix`, then the tail's separators
    `seps` after its runs of digits, which are the head regex's `groups`), its spaces before
    `\\tlr: `, its keys."""

    def __init__(self, prefix: bytes, kind: str, seps: list[bytes], groups: list[str], h: int, keys: list[bytes]):
        self.prefix, self.kind, self.seps, self.groups, self.h, self.keys = prefix, kind, seps, groups, h, keys
        self.spaces = h + 3 + 2 * len(keys)  # without days in the eta


def read_block(lines) -> Block | None:
    """The lines of `lines` (an Arrow large_string array) of the chunk's main layout, or None.
    BATCH lines at a time: every array then stays small (in cache, its memory reused)."""
    n = len(lines)
    if n == 0 or lines.null_count or lines.type != pa.large_string():
        return None
    off = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset : lines.offset + n + 1]
    data = lines.buffers()[2]
    layout = None
    parts = []
    for b0 in range(0, n, BATCH):
        b1 = min(n, b0 + BATCH)
        a, size = int(off[b0]), int(off[b1] - off[b0])
        buf = np.zeros(size + PAD, np.uint8)
        buf[:size] = np.frombuffer(data, np.uint8, count=size, offset=a)
        ls, le = off[b0:b1] - a, off[b0 + 1 : b1 + 1] - a
        if layout is None:
            layout = _find_layout(buf, size, ls)
            if layout is None:
                continue
        sp = np.flatnonzero(buf[:size] == SPACE)
        first = np.searchsorted(sp, ls)
        count = np.diff(np.append(first, len(sp)))
        cand = np.flatnonzero((count == layout.spaces) | (count == layout.spaces + 2))
        if len(cand):
            try:
                part = _read(buf, sp, ls[cand], le[cand], first[cand], count[cand] > layout.spaces, layout)
            except NotNumbers:
                return None  # a value that is no number: the splitter reads and counts the chunk
            if part is not None:
                parts.append((cand[part[0]] + b0,) + part[1:])
    if not parts:
        return None
    rows, heads, values, eta_s = zip(*parts)
    names = ["lr"] + [key.decode() for key in layout.keys]  # type: ignore[union-attr]
    return Block(np.concatenate(rows), Heads.concat(list(heads)), names, np.concatenate(values), np.concatenate(eta_s))


def _find_layout(buf, size: int, ls) -> _Layout | None:
    """The layout of the first of a batch's lines that holds `\\tlr: ` and that this reader
    can take (REFERENCES tried at most)."""
    text = buf[:size].tobytes()
    at = -1
    for _ in range(REFERENCES):
        at = text.find(b"\tlr: ", at + 1)
        if at < 0:
            return None
        r = int(np.searchsorted(ls, at, side="right")) - 1
        end = int(ls[r + 1]) if r + 1 < len(ls) else size
        layout = _reference(text[ls[r] : end])
        if layout is not None:
            return layout
        at = end - 1  # on from the next line
    return None


class NotNumbers(Exception):
    """A batch's value that Arrow does not cast to a float."""


def _reference(line: bytes) -> _Layout | None:
    """The layout of one train line, read as the item splitter reads it; None when it is
    no train line or not one this reader can take (several optimizers, a repeated key…)."""
    at = line.find(b"\tlr: ")
    if at < 0:
        return None
    head = line[: at + 3]
    m = _HEAD.match(head)
    if m is None or b", " in head or b": " in head or m.start("x") > MAX_PREFIX:
        return None
    items = line[at + 1 :].replace(b": ", b", ").split(b", ")
    days = int(len(items) > 3 and _DAYS.match(items[3]) is not None)
    if len(items) < 4 or items[2] != b"eta" or (len(items) - days) % 2:
        return None
    keys = items[4 + days :: 2]
    names = [k.decode("utf-8", "replace") for k in keys]
    if not keys or len(set(names)) != len(names) or "lr" in names or len(names) + 1 > MAX_KEYS:
        return None
    if not all(PLAIN_KEY.match(k) for k in names):
        return None
    groups = [g for g in HEAD_FIELDS if m.group(g)]
    seps = re.split(rb"[0-9]+", head[m.start("x") :])[1:]
    if len(head) - m.start("x") > TAIL or len(seps) != len(groups):
        return None
    layout = _Layout(line[: m.start("x")], m.group("kind").decode(), seps, groups, head.count(b" "), keys)
    return layout if line.count(b" ") == layout.spaces + 2 * days else None


def _digits(b) -> np.ndarray:
    return (b - ZERO).astype(np.uint8) < 10


def _number(w, at, n) -> np.ndarray:
    """The integers written by the digits w[i, at[i] : at[i] + n[i]] (int64)."""
    rows = np.arange(len(w))
    out = np.zeros(len(w), np.int64)
    for t in range(int(n.max(initial=0))):
        d = w[rows, np.minimum(at + t, w.shape[1] - 1)].astype(np.int64) - ZERO
        out = np.where(t < n, out * 10 + d, out)
    return out


def _read(buf, sp, ls, le, first, days, layout: _Layout):
    """(the candidates read, their heads, values and eta seconds), or None: the candidates
    (lines with the layout's space count, or two more: days in the eta) whose every item is
    where the layout puts it. Arrays are (lines, items), row-major: every gather goes
    through the bytes in order."""
    h, k = layout.h, len(layout.keys)
    # The head: a valid date, then the reference's bytes up to `[`.
    date = gather(buf, ls, DATE)
    ref = np.frombuffer(layout.prefix[:DATE], np.uint8)
    ok = _digits(date[:, DATE_DIGITS]).all(axis=1) & (date[:, DATE_MARKS] == ref[DATE_MARKS]).all(axis=1)
    # Each line's spaces: h in the head, `lr: `, `, eta: ` (two), two more with days, two per key.
    idx = first[:, None] + np.arange(h + 5 + 2 * k)[None, :]
    at = sp[np.minimum(idx, len(sp) - 1, out=idx)]  # the last two are the next line's without days
    s_lr, s_eta = at[:, h], at[:, h + 2]
    tail_at = ls + len(layout.prefix)
    tail_len = s_lr - 1 - tail_at  # `e][i/n]\tlr`
    ok &= (tail_len > 3) & (buf[s_lr - 1] == COLON)
    # The pairs: `, key: ` ends at the line's space h + 4 (+ 2 with days) + 2j.
    ends = np.where(days[:, None], at[:, h + 6 : h + 6 + 2 * k : 2], at[:, h + 4 : h + 4 + 2 * k : 2])
    skel = [layout.prefix[DATE:], b", eta: "] + [b", " + key + b": " for key in layout.keys]
    starts = ends - np.array([len(x) for x in skel[2:]]) + 1
    ok &= matches(buf, np.column_stack([ls + DATE, s_eta - 6, starts]), skel)
    # The eta: `h:mm:ss`, or `d day(s), h:mm:ss`.
    eta_s = np.zeros(len(ls))
    hms_at = s_eta + 1
    if days.any():
        di = np.flatnonzero(days)
        s_d, s_c = at[di, h + 3], at[di, h + 4]
        dlen = s_d - hms_at[di]
        one = s_c - s_d == 5  # `day,` / `days,`
        ok[di] &= (dlen >= 1) & (dlen <= 3) & (one | (s_c - s_d == 6))
        ok[di] &= np.where(one, matches(buf, s_d[:, None] + 1, [b"day,"]), matches(buf, s_d[:, None] + 1, [b"days,"]))
        dd = gather(buf, hms_at[di], 3)
        dd_ok = _digits(dd) | (np.arange(3) >= dlen[:, None])
        ok[di] &= dd_ok.all(axis=1)
        eta_s[di] = _number(dd, np.zeros(len(di), np.int64), dlen) * 86400.0
        hms_at[di] = s_c + 1
    hms_len = starts[:, 0] - hms_at
    ok &= (hms_len == 7) | (hms_len == 8)
    hms = gather(buf, hms_at, 8)
    eight = hms_len == 8
    hh = np.where(eight, (hms[:, 0].astype(np.int64) - ZERO) * 10 + hms[:, 1] - ZERO, hms[:, 0].astype(np.int64) - ZERO)
    rest = np.where(eight[:, None], hms[:, 2:8], hms[:, 1:7])  # `:mm:ss`
    hd = np.where(eight[:, None], hms[:, :2], hms[:, [0, 0]])
    ok &= _digits(hd).all(axis=1) & (rest[:, 0] == COLON) & (rest[:, 3] == COLON)
    ok &= _digits(rest[:, [1, 2, 4, 5]]).all(axis=1)
    mm = (rest[:, 1].astype(np.int64) - ZERO) * 10 + rest[:, 2] - ZERO
    ss = (rest[:, 4].astype(np.int64) - ZERO) * 10 + rest[:, 5] - ZERO
    eta_s += hh * 3600.0 + mm * 60.0 + ss * 1.0
    if not ok.any():
        return None
    rows = np.flatnonzero(ok)
    if len(rows) < len(ok):
        ls, le, s_lr, s_eta, tail_at, tail_len = (x[rows] for x in (ls, le, s_lr, s_eta, tail_at, tail_len))
        ends, starts, eta_s = ends[rows], starts[rows], eta_s[rows]
    m = len(rows)
    # Values: lr, then each key's (up to the next skeleton; the last to the line's end).
    v_at = np.empty((m, k + 1), np.int64)
    v_end = np.empty((m, k + 1), np.int64)
    v_at[:, 0], v_end[:, 0] = s_lr + 1, s_eta - 6
    v_at[:, 1:], v_end[:, 1:-1], v_end[:, -1] = ends + 1, starts[:, 1:], le
    try:
        floats = np.asarray(pc.cast(string_views(buf, v_at, v_end - v_at), pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise NotNumbers from e
    good, heads = _heads(buf, ls, tail_at, tail_len, layout)
    values = floats.reshape(m, k + 1)
    if not good.all():
        rows, values, eta_s = rows[good], values[good], eta_s[good]
    return (rows, heads, values, eta_s) if len(rows) else None


def _heads(buf, ls, tail_at, tail_len, layout: _Layout):
    """(the lines whose head is an mmcv train head, their `Heads`). The tail (`e][i/n]\\tlr`)
    must be runs of digits between the reference's separators (`][`, `/`, `]\\tlr`): its
    groups are then those runs, in order (numbers of up to DIGITS digits, exact)."""
    seps, groups = layout.seps, layout.groups
    ns = sum(len(x) for x in seps)
    w = gather(buf, tail_at, TAIL)
    inside = np.arange(TAIL) < tail_len[:, None]
    other = ~_digits(w) & inside
    good = (tail_len <= TAIL) & (other.sum(axis=1) == ns)
    rows = np.flatnonzero(good)
    pos = np.nonzero(other if len(rows) == len(other) else other[rows])[1].reshape(len(rows), ns)
    ok = (w[rows[:, None], pos] == np.frombuffer(b"".join(seps), np.uint8)).all(axis=1)
    ok &= pos[:, -1] == tail_len[rows] - 1  # it ends with the last separator
    ends = np.cumsum([len(x) for x in seps])  # each separator group: contiguous, digits before it
    firsts = np.concatenate([[0], ends[:-1]])
    run_start = [pos[:, g0 - 1] + 1 if g0 else np.zeros(len(rows), np.int64) for g0 in firsts]
    for (g0, g1), r0 in zip(zip(firsts, ends), run_start):
        ok &= pos[:, g1 - 1] - pos[:, g0] == g1 - g0 - 1
        ok &= (pos[:, g0] > r0) & (pos[:, g0] - r0 <= DIGITS)
    good[rows[~ok]] = False
    keep = rows[ok]
    pos, w, ls = pos[ok], w[keep], ls[keep]
    m = len(keep)
    nums = {}
    for name, g0, r0 in zip(groups, firsts, run_start):
        nums[name] = _number(w, r0[ok], pos[:, g0] - r0[ok]).astype(np.float64)
    nan = np.full(m, np.nan)
    ms = gather(buf, ls + 20, 3).astype(np.int64) - ZERO
    ts = timestamps(fixed_strings(buf, ls, 19), None, "mmcv") + (ms[:, 0] * 100 + ms[:, 1] * 10 + ms[:, 2]) / 1000.0
    x, xn, y, yn = (nums.get(f, nan) for f in ("x", "xn", "y", "yn"))
    return good, Heads(np.full(m, layout.kind == "Epoch"), x, xn, y, yn, ts)
