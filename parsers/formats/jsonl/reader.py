"""JSON-lines logs: mmcv 1.x `<ts>.log.json` and mmengine `vis_data/scalars.json`.

mmcv json: line 1 is run meta (`env_info`, `config` text, `seed`, `exp_name`) or, after a
resume, checkpoint meta (`{"epoch": 2, "iter": 61790, "fp16": …}`); rows carry `mode`
(`train`/`val`), `epoch`, `iter` (within the epoch, or global for iter runners, which
write `"epoch": 1` on every row), `lr` (a dict `{name: lr}` with several optimizers),
floats rounded to 5 decimals, bare `NaN` / `Infinity` tokens.
mmengine json: no `mode`; train rows carry `step` (global iter), `lr`, `epoch` (epoch
runners) and `iter` (not in older mmengine versions); val rows carry `step` (= epoch
for epoch runners) and metric keys with `/`; a test dump (tools/test.py) has neither.

Rows are read by `parsers.formats.jsonl.blocks` (rows sharing one key layout, straight from the
bytes with numpy) and `parsers.formats.jsonl.rows` (vectorised split of json.dumps' canonical
output, NaN/Infinity tokens included); rows neither can vouch for go through `json.loads`, and
lines that are not JSON objects are counted in `skipped` with their line numbers.

The train lane: when every chunk's block is train rows of one layout (the usual log),
those blocks become the segment's train matrix with one concatenation (column-major, as
the frame wants it), and only the other rows (val rows, odd lines) go through the
per-key columns of a `Table`. Train rows outside the blocks (the last line, a row of
another layout) are slotted in by line; anything the lane cannot represent exactly
(a train row with a key the blocks lack, a block key that is a string elsewhere, blocks
of different layouts) sends the whole file through the general path, which gives the
same frames (tests/parsers/test_parsers_fastpaths.py compares the two).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from parsers.bounds import KEYS_PAST_BOUND, MAX_KEYS, OUT_OF_RANGE, PLACING_KEYS, counts_ok
from parsers.formats.jsonl.blocks import chunk_parts, merge_block, name_order
from parsers.formats.jsonl.rows import no_rows, parse_rows
from parsers.formats.jsonl.scratch import Scratch
from parsers.formats.text.header import read_env
from parsers.formats.text.kv import NON_NUMERIC
from parsers.formats.text.train import DAMAGED
from parsers.lines import TextFile, find_newline
from parsers.run import ParseError
from parsers.segment import Draft, EmptyEval, Segment

POSITION_KEYS = PLACING_KEYS
INVALID_LINE = "invalid JSON line"
NOT_AN_OBJECT = "JSON line is not an object"
NO_MODE = "row without mode"
NOT_METRICS = ("lr", "time", "data_time", "memory", "base_lr")
# Bytes per chunk of a scan (the text logs' chunks are twice as big): the layout block reads
# its rows one key at a time, each read a pass over the chunk; two chunks of this size (one
# per scanning thread) stay in the caches, and smaller ones pay the per-chunk work more often.
CHUNK = 4 << 20


def read_json(
    source: str,
    content,
    library: str,
    engine: str = "fast",
    chunk: int | None = None,
    meta_first: bool = True,
    runner: str | None = None,
    scanned: Scanned | None = None,
) -> Segment:
    """A json log -> its Segment. `content`: the file's bytes or uint8 array
    (parsers.io.read_log), or a one-item list holding them, which is emptied so that they
    are freed as soon as every row is parsed: the train matrix and the frame are then
    allocated from the memory just returned instead of fresh pages (docs/benchmarks.md,
    "Fresh processes and huge pages"). engine "fast": layout blocks and the train lane
    (parsers.formats.jsonl.blocks, .rows); engine "python": every line through json.loads,
    the straightforward reference. `meta_first`: the first line may be a launch's meta line
    (the content starts where a launch starts); `runner`: the launch's runner as its earlier
    rows showed it (mmengine: what an evaluation's `step` means in a piece of no train row);
    `scanned`: `scan_json` of these bytes, done beforehand."""
    data = content.pop() if isinstance(content, list) else content
    seg = Draft(source, f"{library}-json", library, runner=runner)
    data = _without_bom(data)
    meta_line = meta_first and _split_meta(seg, data)
    f, chunks = scanned or scan_json(data, engine, chunk)
    del data  # f holds it
    for reason, count in f.skipped.items():
        seg.skip(reason, count)
    firsts = np.cumsum([0] + [len(c[0]) for c in chunks[:-1]]).tolist()  # each chunk's first line
    seg.fast_train_rows = sum(len(b.lines) for _, b, _ in chunks if b is not None)
    blocks = _train_blocks(chunks, firsts, library)
    if blocks is not None:
        # The blocks hold train rows: only the other rows go through the columns.
        skips: list = []
        table = _table(f, [(first, rows) for first, (_, _, rows) in zip(firsts, chunks)], meta_line, skips)
        train_rows = _lane_fits(blocks, table, library)
        if train_rows is not None:
            lane = _train_lane(blocks, table, train_rows)
            order = _first_seen_order(f, table, lane, _name_order(chunks, table))
            f.release()
            for s in skips:
                seg.skip(*s)
            seg.train_lane = True
            _fill(seg, table, library, order, lane)
            return seg.freeze()
    skips = []
    parts = [
        (first, rows if block is None else merge_block(block, rows)) for first, (_, block, rows) in zip(firsts, chunks)
    ]
    table = _table(f, parts, meta_line, skips)
    order = _first_seen_order(f, table, None, list(table.cols))
    f.release()
    for s in skips:
        seg.skip(*s)
    _fill(seg, table, library, order)
    return seg.freeze()


Scanned = tuple  # (TextFile, chunks): what `scan_json` gives


def scan_json(data, engine: str = "fast", chunk: int | None = None) -> Scanned:
    """The bulk of `read_json`, which depends on the bytes alone: their lines and, chunk by
    chunk, the layout blocks and the other rows. The loader may run it for the next piece
    while this one is read (`parsers.follow`)."""
    f = TextFile(_without_bom(data), chunk or CHUNK)
    return f, _scan(f, engine)


def _without_bom(data):
    return data[3:] if bytes(memoryview(data)[:3]) == b"\xef\xbb\xbf" else data


def check_rows(source: str, seg: Segment) -> Segment:
    """ParseError when a json log yielded nothing: no row, evaluation, test result or meta."""
    if seg.rows == 0 and not seg.eval_metric and not seg.test_metrics and not seg.json_meta:
        where = min((n for ls in seg.skipped_lines.values() for n in ls), default=1)
        raise ParseError(source, "no readable JSON log rows", where)
    return seg


def _scan(f: TextFile, engine: str):
    """[(global line starts, Block or None, Rows of the other lines)] per ~4 MB chunk,
    two chunks at a time (numpy and Arrow release the GIL). Engine "python": no rows
    parsed here, every line is handed to json.loads."""

    mine = threading.local()  # each scanning thread's working arrays, kept from chunk to chunk

    def scan(k):
        if engine == "fast" and not f.has_cr:  # rows read straight from the bytes (parsers.formats.jsonl.blocks)
            if not hasattr(mine, "scratch"):
                mine.scratch = Scratch()
            a, b = f.bounds[k]
            return chunk_parts(f.data, a, b, mine.scratch)
        lines, starts = f.chunk_lines(k)
        if not len(lines):
            return starts, None, no_rows()
        if engine == "python":
            rows = no_rows()
            rows.rejected = np.arange(len(lines))
            return starts, None, rows
        return starts, None, parse_rows(lines, threads=1)

    if len(f.bounds) > 1:
        with ThreadPoolExecutor(2) as ex:
            chunks = list(ex.map(scan, range(len(f.bounds))))
    else:
        chunks = [scan(0)]
    f.set_starts([c[0] for c in chunks])
    return chunks


class Lane:
    """Train rows: global lines, numeric names, values and present masks (names x rows)."""

    def __init__(self, lines, names, values, present):
        self.lines, self.names, self.values, self.present = lines, names, values, present


def _train_blocks(chunks, firsts, library: str):
    """[(first line, Block)] when the chunks' blocks share one layout of train rows (the
    usual log), else None."""
    blocks = [(first, block) for first, (_, block, _) in zip(firsts, chunks) if block is not None]
    if not blocks:
        return None
    first = blocks[0][1]
    for _, b in blocks:
        if b.names != first.names or list(b.fixed) != list(first.fixed):
            return None
    if library == "mmcv":
        if list(first.fixed) != ["mode"] or any(b.fixed["mode"] != "train" for _, b in blocks):
            return None
    elif first.fixed or "step" not in first.names or not ({"iter", "lr"} & set(first.names)):
        return None
    return blocks


def _lane_fits(blocks, table, library: str):
    """The table's train rows (a last line, a row of another layout) when a Lane can hold
    them with the blocks' rows; None when one logs a key the blocks do not, or a block key
    is a string elsewhere (the general path decides)."""
    names = list(blocks[0][1].names)
    if any(isinstance(table.cols[k][0], str) for k in names if k in table.cols):
        return None
    is_train = _row_kinds(table, library)[0]
    tr = np.setdiff1d(np.flatnonzero(is_train), list(_damaged_train(table, is_train)))
    if any(c[1][tr].any() for k, c in table.cols.items() if k not in names and not isinstance(c[0], str)):
        return None
    return tr


def _train_lane(blocks, table, tr) -> Lane:
    """Every train row as one Lane: the blocks' rows and the table's train rows `tr`, in
    file order."""
    names = list(blocks[0][1].names)
    # Blocks in file order, then the table's train rows; one concatenation copies every
    # value once, and a sort by line (only when those rows are not all at the end).
    lines = [b.lines + first for first, b in blocks]
    values = [b.values.T for _, b in blocks]  # names x rows
    present = [np.ones(v.shape, bool) for v in values]
    if len(tr):
        lines.append(table.lines[tr])
        values.append(np.full((len(names), len(tr)), np.nan))
        present.append(np.zeros((len(names), len(tr)), bool))
        for j, k in enumerate(names):
            if k in table.cols:
                values[-1][j], present[-1][j] = table.cols[k][0][tr], table.cols[k][1][tr]
    all_lines = np.concatenate(lines)
    all_values, all_present = np.concatenate(values, axis=1), np.concatenate(present, axis=1)
    if len(tr) and (np.diff(all_lines) < 0).any():
        order = np.argsort(all_lines, kind="stable")
        all_lines, all_values, all_present = all_lines[order], all_values[:, order], all_present[:, order]
    return Lane(all_lines, names, all_values, all_present)


def _name_order(chunks, table) -> list[str]:
    """Every key in the order the columns would hold them (first seen, chunk by chunk,
    then keys only rows read with json.loads carry)."""
    order: dict = {}
    for _, block, rows in chunks:
        numeric, strings = (rows.names, list(rows.strings)) if block is None else name_order(block, rows)
        order.update(dict.fromkeys(numeric))
        order.update(dict.fromkeys(strings))
    order.update(dict.fromkeys(table.cols))
    return list(order)


class Table:
    """Columns over some rows of a json log: {name: (float64 values, present mask)} or
    {name: ('str', object array)}, each row's line index, and the rows holding a value of the
    wrong kind ({row: key}: a string where the key holds numbers, a list …)."""

    def __init__(self, cols, lines, damaged: dict | None = None):
        self.cols, self.lines, self.damaged = cols, lines, damaged or {}

    def __len__(self):
        return len(self.lines)


def _table(f: TextFile, parts, meta_line: bool, skips: list) -> Table:
    """The rows of `parts` ([(first line index, Rows)]) and their rejected lines (read
    with json.loads) as a Table; lines that are not JSON objects go to `skips`."""
    ok = _lines_of([rows.ok_rows + first for first, rows in parts])
    rejected = _lines_of([rows.rejected + first for first, rows in parts])
    if meta_line:  # line 1 was read by _split_meta
        ok, rejected = ok[ok != 0], rejected[rejected != 0]
    lines = np.sort(np.concatenate((ok, rejected)))
    n = len(lines)
    is_row = np.zeros(n, bool)
    cols: dict = {}
    dropped = sum(rows.dropped for _, rows in parts)
    damaged: dict[int, str] = {}  # row -> the first key whose value is of the wrong kind
    for first, rows in parts:
        if not len(rows.ok_rows):
            continue
        src = np.arange(len(rows.ok_rows))
        at = np.searchsorted(lines, rows.ok_rows + first)
        if meta_line and first == 0 and rows.ok_rows[0] == 0:
            src, at = src[1:], at[1:]
        if len(at) and at[-1] - at[0] + 1 == len(at):  # consecutive rows: copies, not scatters
            at, src = slice(int(at[0]), int(at[-1]) + 1), slice(int(src[0]), int(src[-1]) + 1)  # type: ignore[assignment]
        is_row[at] = True
        for j, name in enumerate(rows.names):
            c = cols.get(name)
            if c is not None and isinstance(c[0], str):
                c = _to_numbers(cols, name, damaged)
            if c is None:
                if _past_bound(cols, name):
                    dropped += int(rows.present[src, j].sum())
                    continue
                c = cols[name] = (np.full(n, np.nan), np.zeros(n, bool))
            c[0][at] = rows.values[src, j]
            c[1][at] = rows.present[src, j]
        for name, col in rows.strings.items():
            c = cols.get(name)
            if c is None and _past_bound(cols, name):
                dropped += int(sum(x is not None for x in col[src]))
                continue
            if c is None:
                c = cols[name] = ("str", np.full(n, None, dtype=object))
            if isinstance(c[0], str):
                c[1][at] = col[src]
            else:  # a string where the key holds numbers elsewhere (`"loss": "1.5"`)
                _mark(damaged, np.arange(n)[at][np.not_equal(col[src], None)], name)  # type: ignore[call-overload]
    for r, i in zip(rejected.tolist(), np.searchsorted(lines, rejected).tolist()):
        last_cut = f.truncated_last and r == f.nlines - 1
        dropped += _slow_row(skips, cols, is_row, n, i, f.text(r), r + 1, last_cut, damaged)
    if dropped:
        skips.append((KEYS_PAST_BOUND, dropped))
    keep = np.flatnonzero(is_row)
    if len(keep) == n:
        keep = slice(None)  # type: ignore[assignment]  # the usual case: views, no copies
    out = {}
    for name, c in cols.items():
        out[name] = ("str", c[1][keep]) if isinstance(c[0], str) else (c[0][keep], c[1][keep])
    at = np.searchsorted(np.arange(n)[keep], sorted(damaged))
    return Table(out, lines[keep], dict(zip(at.tolist(), (damaged[r] for r in sorted(damaged)))))


def _slow_row(skips, cols, is_row, n, r, text, line_no, last_cut=False, damaged=None) -> int:
    """One line read with json.loads into the columns (a value of the wrong kind marks the
    row `damaged`); returns the values of keys past the bound it could not keep."""
    if not text.strip():
        return 0
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        skips.append(("truncated last line (invalid JSON)" if last_cut else INVALID_LINE, 1, [line_no]))
        return 0
    if not isinstance(obj, dict):
        skips.append((NOT_AN_OBJECT, 1, [line_no]))
        return 0
    is_row[r] = True
    dropped = 0
    for key, v in _flat_items(obj):
        if isinstance(v, bool) or v is None:
            continue
        if key not in cols and _past_bound(cols, key):
            dropped += 1
            continue
        if isinstance(v, (int, float)):
            c = cols.get(key)
            if c is not None and isinstance(c[0], str):
                c = _to_numbers(cols, key, damaged)
            if c is None:
                c = cols[key] = (np.full(n, np.nan), np.zeros(n, bool))
            c[0][r] = float(v)
            c[1][r] = True
        elif isinstance(v, str):
            c = cols.get(key)
            if c is None:
                c = cols[key] = ("str", np.full(n, None, dtype=object))
            if isinstance(c[0], str):
                c[1][r] = v
            else:
                _mark(damaged, [r], key)
        else:  # a list, an object: no value of a log
            _mark(damaged, [r], key)
    return dropped


def _to_numbers(cols: dict, key: str, damaged: dict | None):
    """A key that holds strings in some rows and numbers in others holds numbers (a log's
    values are numbers; `"loss": "1.5"` is damage): its strings mark their rows damaged."""
    strings = cols[key][1]
    _mark(damaged, np.flatnonzero(_is_set(strings)), key)
    c = cols[key] = (np.full(len(strings), np.nan), np.zeros(len(strings), bool))
    return c


def _mark(damaged: dict | None, rows, key: str) -> None:
    """Rows with a value of the wrong kind for `key` (the first such key of each row kept)."""
    if damaged is not None:
        for r in rows:
            damaged.setdefault(int(r), key)


def _past_bound(cols: dict, key: str) -> bool:
    """A new column for `key` would pass the bound on keys (parsers.bounds): not read."""
    return key not in PLACING_KEYS and len(cols) - sum(k in cols for k in PLACING_KEYS) >= MAX_KEYS


def _flat_items(obj: dict):
    """`"lr": {"backbone": …, "head": …}` (several optimizers) -> lr_backbone, lr_head."""
    for key, v in obj.items():
        if isinstance(v, dict) and key == "lr":
            for sub, sv in v.items():
                yield f"lr_{sub}", sv
        else:
            yield str(key), v


def _split_meta(seg: Draft, data: bytes) -> bool:
    """Read an mmcv json's first line when it is meta (run or checkpoint), not a row."""
    nl = find_newline(data)
    first = bytes(memoryview(data)[: len(data) if nl < 0 else nl])
    if b'"mode"' in first or b'"step"' in first:
        return False
    try:
        meta = json.loads(first)
    except (ValueError, RecursionError):
        return False
    if not isinstance(meta, dict):
        return False
    if seg.library == "mmcv" or any(k in meta for k in ("env_info", "config", "mmcv_version", "exp_name")):
        seg.json_meta = {k: v for k, v in meta.items() if k not in ("env_info", "config")}
        if isinstance(meta.get("config"), str):
            seg.config_text = meta["config"]
        if isinstance(meta.get("env_info"), str):
            read_env(meta["env_info"].splitlines(), seg)
        if isinstance(meta.get("exp_name"), str):
            seg.exp_name = meta["exp_name"]
        if isinstance(meta.get("seed"), int) and not isinstance(meta.get("seed"), bool):
            seg.seed = meta["seed"]
        return True
    return False


def _gather(columns, rows, dtype):
    """(len(rows), len(columns)) matrix of columns[j][rows]: taken row by row into a
    (columns, rows) block and transposed (a view): no column_stack copy."""
    out = np.empty((len(columns), len(rows)), dtype)
    for j, c in enumerate(columns):
        np.take(c, rows, out=out[j])
    return out.T


def _row_kinds(table: Table, library: str):
    """(train, eval, other) masks over the table's rows; `other` = mmcv rows without
    `mode`, or mmengine test dumps (no `step`)."""
    cols, n = table.cols, len(table)

    def has(name):
        c = cols.get(name)
        return np.zeros(n, bool) if c is None or isinstance(c[0], str) else c[1]

    if library == "mmcv":
        mode = cols.get("mode")
        mode = mode[1] if mode is not None and isinstance(mode[0], str) else np.full(n, None, dtype=object)
        is_train = mode == "train"
        no_mode = ~_is_set(mode)
        return is_train, ~is_train & ~no_mode, no_mode
    # A train row: `step` and `iter`, or `step` and `lr` (older mmengine logs no `iter`).
    has_step = has("step")
    is_train = has_step & (has("iter") | has("lr"))
    return is_train, has_step & ~is_train, ~has_step


def _damaged_train(table: Table, is_train: np.ndarray) -> dict[int, str]:
    """{row: key} of the train rows holding a value of the wrong kind: a string where the key
    holds numbers (`"loss": "1.5"`), a list, or a string-valued key other than `mode`."""
    bad = {r: k for r, k in table.damaged.items() if is_train[r]}
    for name, c in table.cols.items():
        if isinstance(c[0], str) and name != "mode":
            for r in np.flatnonzero(is_train & _is_set(c[1])).tolist():
                bad.setdefault(r, name)
    return bad


def _count_damage(seg: Draft, table: Table, is_train: np.ndarray, bad: dict[int, str]) -> None:
    """A damaged train row is not read (never a nan): counted by its key, with its line; a
    field that is no number in another row (an evaluation's `bbox_mAP_copypaste`) is counted."""
    by_key: dict[str, list[int]] = {}
    for r, key in sorted(bad.items()):
        by_key.setdefault(key, []).append(int(table.lines[r]) + 1)
    for key, lines in by_key.items():
        seg.skip(f"{DAMAGED}{key}", len(lines), lines)
    for r, key in table.damaged.items():
        if r not in bad:
            seg.skip(f"{NON_NUMERIC}{key}", 1, [int(table.lines[r]) + 1])
    for name, c in table.cols.items():
        if isinstance(c[0], str) and name != "mode":
            seg.skip(f"{NON_NUMERIC}{name}", int((_is_set(c[1]) & ~is_train).sum()))


def _fill(seg: Draft, table: Table, library: str, order: list, lane: Lane | None = None) -> None:
    """Train rows (from the lane when given, else from the table), evaluations and test
    metrics (from the table) into the segment; keys in `order`."""
    cols, n = table.cols, len(table)

    def num(name):
        c = cols.get(name)
        if c is None or isinstance(c[0], str):
            return np.full(n, np.nan), np.zeros(n, bool)
        return c

    is_train, is_eval, other = _row_kinds(table, library)
    bad = _damaged_train(table, is_train)
    if bad:
        is_train = is_train.copy()
        is_train[list(bad)] = False
    _count_damage(seg, table, is_train, bad)
    if library == "mmcv":
        seg.skip(NO_MODE, int(other.sum()))
    rank = {k: i for i, k in enumerate(order)}
    numeric = sorted((k for k in cols if not isinstance(cols[k][0], str)), key=rank.__getitem__)
    metric_names = [k for k in numeric if k not in POSITION_KEYS]

    if lane is None:
        tr = np.flatnonzero(is_train)
        train_lines = table.lines[tr]
        train_keys = [k for k in metric_names if cols[k][1][tr].any()]
        position = {k: num(k)[0][tr] for k in ("epoch", "iter", "step")}
        has_epoch = num("epoch")[1][tr].any()
        seg.values = _gather([cols[k][0] for k in train_keys], tr, np.float64)
        seg.present = _gather([cols[k][1] for k in train_keys], tr, bool)
    else:
        train_lines = lane.lines
        at = {k: j for j, k in enumerate(lane.names)}
        train_keys = sorted((k for k in lane.names if k not in POSITION_KEYS), key=rank.__getitem__)
        nan = np.full(len(train_lines), np.nan)
        position = {k: lane.values[at[k]] if k in at else nan for k in ("epoch", "iter", "step")}
        has_epoch = "epoch" in at and len(train_lines) > 0
        rows = [at[k] for k in train_keys]
        if rows and rows == list(range(rows[0], rows[0] + len(rows))):
            seg.values = lane.values[rows[0] : rows[0] + len(rows)].T  # a view
        else:
            seg.values = lane.values[rows].T
        seg.present = lane.present[rows].T
    seg.keys = train_keys
    ok = counts_ok(position["epoch"]) & counts_ok(position["iter"]) & counts_ok(position["step"])
    if not ok.all():  # `"iter": 1e309`: the row cannot be placed; count it, never guess
        seg.skip(OUT_OF_RANGE, int((~ok).sum()), train_lines[~ok] + 1)
        train_lines, seg.values, seg.present = train_lines[ok], seg.values[ok], seg.present[ok]
        position = {k: v[ok] for k, v in position.items()}
    m = len(train_lines)
    seg.epoch, seg.iter = position["epoch"], position["iter"]
    seg.step = position["step"] if library == "mmengine" else np.full(m, np.nan)
    seg.n, seg.ts, seg.eta_s = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    if m and library == "mmengine":
        seg.runner = "epoch" if has_epoch else "iter"

    _evals(seg, table, library, is_eval, metric_names, order, train_lines)
    if library == "mmengine":
        for r in np.flatnonzero(other):
            for k in metric_names:
                v, p = cols[k]
                if p[r] and k not in NOT_METRICS:
                    seg.test_metrics[k] = float(v[r])


def _first_seen_order(f: TextFile, table: Table, lane: Lane | None, order: list) -> list:
    """Keys by the line where each is first seen, then by their place in that line: the
    same order whichever reader took which line (engine fast or python). Only the few
    lines where some key is first seen are looked at again."""
    first: dict = {}
    for k, c in table.cols.items():
        seen = _is_set(c[1]) if isinstance(c[0], str) else c[1]
        if seen.any():
            first[k] = int(table.lines[int(np.argmax(seen))])
    if lane is not None:
        for j, k in enumerate(lane.names):
            if lane.present[j].any():
                first[k] = min(first.get(k, 1 << 62), int(lane.lines[int(np.argmax(lane.present[j]))]))
    place: dict = {}
    for line in sorted(set(first.values())):
        try:
            keys = [k for k, _ in _flat_items(json.loads(f.text(line)))]
        except (ValueError, RecursionError, AttributeError):
            continue
        place.update({k: i for i, k in enumerate(keys) if first.get(k) == line})
    at = {k: i for i, k in enumerate(order)}
    return sorted(order, key=lambda k: (first.get(k, 1 << 62), place.get(k, 1 << 62), at[k]))


def _evals(seg, table, library, is_eval, metric_names, order, train_lines) -> None:
    """Evaluation rows, long: one entry per (row, metric) present, rows in file order,
    metrics in key order, string metrics (`bbox_mAP_copypaste`) after the numbers."""
    cols = table.cols
    ev = np.flatnonzero(is_eval)
    if not len(ev):
        return
    rank = {k: i for i, k in enumerate(order)}
    nums = [k for k in metric_names if k not in NOT_METRICS and not k.startswith("lr_")]
    strs = sorted((k for k in cols if k not in POSITION_KEYS and isinstance(cols[k][0], str)), key=rank.__getitem__)
    present = np.empty((len(ev), len(nums) + len(strs)), bool)
    for j, k in enumerate(nums):
        present[:, j] = cols[k][1][ev]
    for j, k in enumerate(strs):
        present[:, len(nums) + j] = _is_set(cols[k][1][ev])
    r, c = np.nonzero(present)  # row-major: fields of one row together, in key order
    values = np.empty(len(r), object)
    is_num = c < len(nums)
    if len(nums):
        matrix = np.column_stack([cols[k][0][ev] for k in nums])
        values[is_num] = matrix[r[is_num], c[is_num]].tolist()
    if len(strs):
        strings = np.column_stack([cols[k][1][ev] for k in strs])
        values[~is_num] = strings[r[~is_num], c[~is_num] - len(nums)]
    names = np.array(nums + strs, dtype=object)
    after = np.searchsorted(train_lines, table.lines[ev]) - 1  # the last train row before it
    if library == "mmengine":
        # Epoch runners: `step` is the epoch. Iter runners write `step: 0`: the step is
        # worked out from the train rows (parsers.assemble).
        step = cols["step"][0][ev] if seg.runner != "iter" else np.full(len(ev), np.nan)
        epoch = step
    else:
        epoch = (
            cols["epoch"][0][ev]
            if "epoch" in cols and not isinstance(cols["epoch"][0], str)
            else np.full(len(ev), np.nan)
        )
    epoch = np.where(counts_ok(epoch), epoch, np.nan)  # an out-of-range epoch is not stated
    for k in np.flatnonzero(~present.any(axis=1)):  # an evaluation that produced no metric
        seg.empty_evals.append(EmptyEval(int(table.lines[ev[k]]) + 1, float(epoch[k]), int(after[k]), None))
    seg.eval_epoch.extend(epoch[r].tolist())
    seg.eval_step.extend([np.nan] * len(r))
    seg.eval_after_row.extend(after[r].tolist())
    seg.eval_metric.extend(names[c].tolist())
    seg.eval_value.extend(values.tolist())


def _lines_of(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _is_set(strings: np.ndarray) -> np.ndarray:
    """Bool per entry of an object array of strings: it holds one (not None)."""
    return np.not_equal(strings, None)  # type: ignore[call-overload]  # the stubs take no None: elementwise here
