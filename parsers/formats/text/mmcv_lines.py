"""Fast path for mmcv 1.x train lines: the bulk of every mmcv text log.

`<prefix>Epoch [e][i/n]\tlr: 2.000e-04, eta: 2 days, 7:04:24, time: 0.685, loss: 4.2288`

One same-length literal replacement (`: ` -> `, `) and one `split_pattern` on `, ` give,
per line, `head\tlr | 2.000e-04 | eta | 2 days | 7:04:24 | time | 0.685 | loss | 4.2288`
(the `2 days` item only when eta is a day or more). numpy index arithmetic on the list
offsets picks heads, the lr and eta items, then alternating keys and values; keys are
dictionary-encoded (a few dozen distinct) and all values cast to float64 in one call.
It is all Arrow C++ that releases the GIL, so two halves of the lines run on two threads.

A line that does not have this shape (`lr_a: … lr_b: …` of several optimizers, no eta,
a value that is not a number, a key that is not a plain name) is handed back to the
generic parser (`parsers.formats.text.kv`), which reads and counts it.

Most lines of a chunk do not need the split: the lines of its main layout are read from
their bytes first (`parsers.formats.text.mmcv_bytes`), with the same result.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parsers.bounds import MAX_KEYS
from parsers.formats.text.kv import NUMBER
from parsers.formats.text.mmcv_bytes import read_block
from parsers.formats.text.train_heads import EMPTY, Heads
from parsers.frames import list_offsets
from parsers.patterns import MMCV_TRAIN_HEAD, PLAIN_KEY
from parsers.stack import stack_values

PARALLEL_FROM = 20_000  # lines; below this one thread is faster


class Chunk:
    """Parsed lines of one chunk: heads (`Heads`), keys, matrix, eta, rejects;
    `keyed`: some line got as far as its keys (had a train line's shape and head)."""

    def __init__(self, heads, names, values, present, eta_s, ok_rows, rejected, keyed=True):
        self.heads, self.names, self.values, self.present = heads, names, values, present
        self.eta_s, self.ok_rows, self.rejected, self.keyed = eta_s, ok_rows, rejected, keyed


def parse_train_lines(lines, threads: int = 2, parallel_from: int = PARALLEL_FROM):
    """lines: Arrow string array of mmcv train lines. Returns (ok_rows, Heads, names,
    values, present, eta_s, rejected_rows): `ok_rows` index `lines`; `rejected_rows`
    must go through the generic parser. Two threads from `parallel_from` lines on."""
    n = len(lines)
    if threads > 1 and n >= parallel_from:
        half = n // 2
        with ThreadPoolExecutor(2) as ex:
            parts = list(ex.map(_parse_chunk, [lines.slice(0, half), lines.slice(half)]))
        parts[1].ok_rows = parts[1].ok_rows + half
        parts[1].rejected = parts[1].rejected + half
        return _merge(parts)
    c = _parse_chunk(lines)
    return c.ok_rows, c.heads, c.names, c.values, c.present, c.eta_s, c.rejected


def _parse_chunk(lines) -> Chunk:
    """The lines of the chunk's main layout read from their bytes (`mmcv_bytes`), the
    others split into items. Should one of those others be a train line that the items
    take, the chunk is read by items alone: then which keys the chunk has, and in which
    order, come from one reading of all its lines, whatever they are."""
    block = read_block(lines)
    if block is None:
        return _parse_items(lines)
    others = np.ones(len(lines), bool)
    others[block.rows] = False
    rest = np.flatnonzero(others)
    if len(rest) and _parse_items(lines.take(pa.array(rest))).keyed:
        return _parse_items(lines)
    present = np.ones(block.values.shape, bool)
    return Chunk(block.heads, block.names, block.values, present, block.eta_s, block.rows, rest)


def _parse_items(lines) -> Chunk:
    """One pass (`: ` -> `, `), one split; then per line the items are
    `head\tlr | lr value | eta | eta value [| h:mm:ss when eta has days] | key | value …`."""
    fields = pc.split_pattern(pc.replace_substring(lines, ": ", ", "), ", ")
    off = list_offsets(fields)
    items = fields.flatten()
    ok_rows, rejected, starts, pair_start, days = _shaped_lines(items, off, len(lines))
    heads = pc.extract_regex(items.take(pa.array(starts)), MMCV_TRAIN_HEAD)
    good_head = np.asarray(heads.is_valid())
    keyed = bool(good_head.any())
    if not good_head.all():
        rejected = np.sort(np.concatenate([rejected, ok_rows[~good_head]]))
        ok_rows, starts, pair_start, days = (
            ok_rows[good_head],
            starts[good_head],
            pair_start[good_head],
            days[good_head],
        )
        heads = heads.filter(pa.array(good_head))
    eta_s = _eta_from_items(items, starts, days)
    ends = off[1:][ok_rows]
    names, codes, row_of, floats, bad_row = _keys_and_values(items, starts, pair_start, ends)
    if bad_row.any():
        # Those lines go to the generic parser, which counts what it cannot read.
        rejected = np.sort(np.concatenate([rejected, ok_rows[bad_row]]))
        keep_row = ~bad_row
        sel = keep_row[row_of]
        remap = np.cumsum(keep_row) - 1
        codes, floats, row_of = codes[sel], floats[sel], remap[row_of[sel]]
        ok_rows, eta_s = ok_rows[keep_row], eta_s[keep_row]
        heads = heads.filter(pa.array(keep_row))
    if len(names) > MAX_KEYS:  # more keys than a run keeps: the generic parser reads and counts
        taken = _none_taken(np.sort(np.concatenate([ok_rows, rejected])))
        return Chunk(taken[1], [], taken[3], taken[4], taken[5], taken[0], taken[6])
    names, values, present = _matrix(names, codes, row_of, floats, len(ok_rows))
    return Chunk(Heads.from_struct(heads), names, values, present, eta_s, ok_rows, rejected, keyed)


def _none_taken(rejected):
    """The fast path's result that takes no line (all `rejected`)."""
    none = np.zeros(0, np.int64)
    return none, EMPTY, [], np.zeros((0, 0)), np.zeros((0, 0), bool), np.zeros(0), rejected


def _shaped_lines(items, off, n: int):
    """The lines whose items have the train line's shape: the first key `lr` (not
    `lr_<name>` of several optimizers), the second `eta`, then key/value pairs. Returns
    (their rows, the other rows, their first item, their first pair's item, eta has days)."""
    lens = np.diff(off)
    starts = off[:-1]
    ok = lens >= 4
    idx = np.flatnonzero(ok)
    first = items.take(pa.array(starts[idx]))
    ok[idx] &= np.asarray(pc.ends_with(first, "\tlr").fill_null(False))
    idx = np.flatnonzero(ok)
    ok[idx] &= np.asarray(pc.equal(items.take(pa.array(starts[idx] + 2)), "eta").fill_null(False))
    idx = np.flatnonzero(ok)
    eta1 = items.take(pa.array(starts[idx] + 3))
    has_days = np.zeros(n, bool)
    has_days[idx] = np.asarray(pc.ends_with(eta1, "day").fill_null(False)) | np.asarray(
        pc.ends_with(eta1, "days").fill_null(False)
    )
    pair_start = starts + 4 + has_days
    rest = off[1:] - pair_start
    ok &= (rest >= 0) & (rest % 2 == 0)
    ok_rows = np.flatnonzero(ok)
    return ok_rows, np.flatnonzero(~ok), starts[ok_rows], pair_start[ok_rows], has_days[ok_rows]


def _keys_and_values(items, starts, pair_start, ends):
    """(names, code per value, row per value, float per value, bad row mask) of the lines'
    lr and key/value pairs; a row is bad when a key is not a plain name or a value not a
    number (the line did not split as expected)."""
    nrows = len(starts)
    lr = items.take(pa.array(starts + 1))
    is_key, is_val = _pair_masks(len(items), pair_start, ends)
    row_of = np.repeat(np.arange(nrows, dtype=np.int32), (ends - pair_start) // 2)
    enc = pc.dictionary_encode(items.filter(pa.array(is_key)))
    names = ["lr"] + enc.dictionary.to_pylist()
    codes = np.concatenate([np.zeros(nrows, np.asarray(enc.indices).dtype), np.asarray(enc.indices) + 1])
    row_of = np.concatenate([np.arange(nrows, dtype=np.int32), row_of])
    vals = pa.concat_arrays([lr, items.filter(pa.array(is_val))])
    bad_key = np.array([not PLAIN_KEY.match(k) for k in names])
    bad_row = np.zeros(nrows, bool)
    if bad_key.any():
        bad_row[row_of[bad_key[codes]]] = True
    try:
        floats = np.asarray(pc.cast(vals, pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        good = np.asarray(pc.match_substring_regex(vals, NUMBER).fill_null(False))
        bad_row[row_of[~good]] = True
        floats = np.full(len(codes), np.nan)
        floats[good] = np.asarray(pc.cast(vals.filter(pa.array(good)), pa.float64()))
    return names, codes, row_of, floats, bad_row


def _pair_masks(nitems: int, pair_start, ends):
    """(is a key, is a value) over the items, by boolean masks (cheaper than index arrays):
    the pair region of each line, and in it every other item starting with a key."""
    region = np.zeros(nitems + 1, np.int8)
    region[pair_start] += 1
    region[ends] -= 1
    in_pairs = np.cumsum(region[:-1], dtype=np.int8).astype(bool)
    par = np.zeros(nitems + 1, np.int8)
    odd_start = (pair_start % 2).astype(np.int8)
    par[pair_start] += odd_start
    par[ends] -= odd_start
    key_at_odd = np.cumsum(par[:-1], dtype=np.int8).astype(bool)
    even = np.zeros(nitems, bool)
    even[0::2] = True
    is_key = in_pairs & (even != key_at_odd)
    return is_key, in_pairs & ~is_key


def _matrix(names, codes, row_of, floats, nrows: int):
    """(names, values rows x names, present) of the values; names in first-seen order."""
    template = _same_keys_every_line(codes, nrows)
    if template is not None:
        # Every line logs the same keys in the same order (the usual case): the values
        # are a reshape, no scatter. Columns in first-seen order = the template's order.
        values = np.empty((nrows, len(template)))
        values[:, 0] = floats[:nrows]
        values[:, 1:] = floats[nrows:].reshape(nrows, len(template) - 1)
        return [names[c] for c in template], values, np.ones(values.shape, bool)
    values = np.full((nrows, len(names)), np.nan)
    present = np.zeros((nrows, len(names)), bool)
    values[row_of, codes] = floats
    present[row_of, codes] = True
    keep_cols = [j for j in range(len(names)) if present[:, j].any()]
    return [names[j] for j in keep_cols], values[:, keep_cols], present[:, keep_cols]


def _same_keys_every_line(codes, nrows):
    """codes = [lr code per row] + [key codes, row-major]: the per-line key order when it
    is the same on every line and has no repeated key, else None."""
    if nrows == 0 or (len(codes) - nrows) % nrows:
        return None
    per = (len(codes) - nrows) // nrows
    pairs = codes[nrows:].reshape(nrows, per)
    first = pairs[0]
    if len(set(first.tolist())) != per or not (pairs == first).all():
        return None
    return [0] + first.tolist()


def _eta_from_items(items, starts, days) -> np.ndarray:
    """eta seconds from `eta | 7:04:24` or `eta | 2 days | 7:04:24` items."""
    hms_pos = starts + 3 + days
    hms = pc.extract_regex(items.take(pa.array(hms_pos)), r"^(?P<h>[0-9]+):(?P<m>[0-9]+):(?P<s>[0-9]+(?:\.[0-9]*)?)$")
    out = np.zeros(len(starts))
    for name, scale in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        col = hms.field(name)
        col = pc.if_else(pc.equal(col, ""), None, col)
        out += np.asarray(pc.cast(col, pa.float64()).fill_null(np.nan)) * scale
    if days.any():
        d_idx = np.flatnonzero(days)
        d = pc.extract_regex(items.take(pa.array(starts[d_idx] + 3)), r"^(?P<d>[0-9]+) days?$").field("d")
        d = pc.if_else(pc.equal(d, ""), None, d)
        out[d_idx] += np.asarray(pc.cast(d, pa.float64()).fill_null(np.nan)) * 86400.0
    return out


def _merge(parts):
    names, values, present, dropped = stack_values(parts, lambda p: len(p.ok_rows))
    heads = Heads.concat([p.heads for p in parts])
    if dropped:  # more keys than a run keeps: the generic parser reads the lines and counts
        return _none_taken(np.sort(np.concatenate([p.ok_rows for p in parts] + [p.rejected for p in parts])))
    return (
        np.concatenate([p.ok_rows for p in parts]),
        heads,
        names,
        values,
        present,
        np.concatenate([p.eta_s for p in parts]),
        np.concatenate([p.rejected for p in parts]),
    )
