"""Byte ranges of one buffer, with numpy: compared with a string 8 bytes at a time, and as
Arrow string views (no copy of the bytes).

A view is 16 bytes: its length (int32), then the string itself when it is at most 12 bytes
long (zero-padded), else its first 4 bytes, the buffer's index (0) and its offset in it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

INLINE = 12
MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)  # n low bytes
TAIL = MASKS[np.clip(np.arange(INLINE + 1) - 4, 0, 8)]  # a view's bytes 4..11 of a string of length n


def words(buf: np.ndarray, width: int) -> np.ndarray:
    """Every `width`-byte little-endian word of `buf`, one starting at each byte (a view)."""
    return np.ndarray((len(buf) - width + 1,), f"<u{width}", buffer=buf, strides=(1,))


def matches(buf: np.ndarray, at, want) -> np.ndarray:
    """Per row i: buf[at[i, j] : at[i, j] + len(want[j])] == want[j] for every j (`at`:
    (rows, len(want)); row-major, so the reads go through `buf` in order), compared 8 bytes
    at a time: `buf` must hold the bytes up to the next multiple of 8 past each. Longest
    strings first, so that the strings with an i-th word are the first columns."""
    order = sorted(range(len(want)), key=lambda j: -len(want[j]))
    want = [want[j] for j in order]
    at = at[:, order]
    w8 = words(buf, 8)
    diff = np.zeros(at.shape, np.uint64)
    for i in range(0, len(want[0]), 8):
        n = sum(len(s) > i for s in want)
        parts = [s[i : i + 8] for s in want[:n]]
        got = w8[(at[:, :n] + i).ravel()].reshape(len(at), n)  # a flat index gathers faster
        got ^= np.array([int.from_bytes(p, "little") for p in parts], np.uint64)
        got &= MASKS[[len(p) for p in parts]]
        diff[:, :n] |= got
    return np.logical_not(diff.any(axis=1))


def windows(buf, width: int) -> np.ndarray:
    """Every `width`-byte window of `buf` as one fixed-width item, one starting at each byte
    (a view: numpy copies such an item, gathered, as fast as a word)."""
    return np.ndarray((len(buf) - width + 1,), f"V{width}", buffer=buf, strides=(1,))


def gather(buf: np.ndarray, at, width: int) -> np.ndarray:
    """(len(at), width) bytes of buf at each of `at`."""
    return windows(buf, width)[at].view(np.uint8).reshape(len(at), width)


def fixed_strings(buf: np.ndarray, at, width: int) -> pa.Array:
    """buf[at[i] : at[i] + width] as an Arrow large_string array (one copy of the bytes)."""
    data = windows(buf, width)[at]
    offsets = np.arange(len(at) + 1, dtype=np.int64) * width
    return pa.Array.from_buffers(pa.large_string(), len(at), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def string_views(buf: np.ndarray, starts, lens) -> pa.Array:
    """buf[starts[i] : starts[i] + lens[i]] as an Arrow string_view array, in the (C) order
    of `starts`; `buf` (uint8) must hold 4 bytes before and INLINE bytes past any start.
    One gather of 16 bytes per string: the 4 bytes before it (replaced by its length), 12
    of it."""
    starts = np.asarray(starts, np.int64).ravel()
    lens = np.asarray(lens, np.int64).ravel()
    views = np.ndarray((len(buf) - 15,), "V16", buffer=buf, strides=(1,))[starts - 4]
    words = views.view("<u8").reshape(len(starts), 2)  # length and 4 bytes | 8 bytes
    lo, hi = words[:, 0], words[:, 1]
    small = np.minimum(lens, INLINE)
    short = np.flatnonzero(small < 4)
    lo &= np.uint64(0xFFFFFFFF00000000)
    if len(short):
        lo[short] &= MASKS[small[short]] << np.uint64(32)
    lo |= lens.astype(np.uint64)
    hi &= TAIL[small]
    long = np.flatnonzero(lens > INLINE)
    if len(long):
        hi[long] = starts[long].astype(np.uint64) << np.uint64(32)  # buffer 0, at its offset
    return pa.Array.from_buffers(pa.string_view(), len(starts), [None, pa.py_buffer(words), pa.py_buffer(buf)])
