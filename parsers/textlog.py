"""Text logs of mmcv 1.x and mmengine runners, and console captures of either.

The whole file is handled as Arrow arrays: one regex pass marks logger-prefixed lines,
another extracts `Epoch [e][i/n]` / `Iter [i/n]` / `Epoch(val) [e][n]` records, and
`parsers.kv` parses all record bodies at once. Only the few non-record prefixed lines
(header, resume, checkpoint messages) become Python strings.

Lines that are not logger output are classified: continuation lines of a multi-line
message (Config dump, environment block, model repr…) belong to their message; lines
after a train/val record cannot be continuations (records are one line) and are counted
in `skipped` as "traceback", "progress bar" or "other output".
"""
from __future__ import annotations

import re

import numpy as np

from parsers.kv import parse_bodies
from parsers.lines import split_lines
from parsers.segment import Segment

DIALECTS = {
    # 2024-04-07 18:21:18,692 - mmdet - INFO - ...
    "mmcv": dict(
        prefix=r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}),(?P<ms>[0-9]{3}) - (?P<logger>[^ ]+) - (?P<level>[A-Z]+) - ",
        ts_format="%Y-%m-%d %H:%M:%S",
    ),
    # 2022/08/22 15:51:56 - mmengine - INFO - ...
    "mmengine": dict(
        prefix=r"^(?P<date>[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}) - (?P<logger>[^ ]+) - (?P<level>[A-Z]+) - ",
        ts_format="%Y/%m/%d %H:%M:%S",
    ),
}
# After the prefix: `Epoch [e][i/n]`, `Iter [i/n]`, `Epoch(val) [e][n]`, `Iter(val) [n]`,
# mmengine `Epoch(train)  [1][  50/3517]`, `Iter(train) [  50/80000]`, `Epoch(test) [n/n]`.
RECORD = (
    r"(?P<kind>Epoch|Iter)(?:\((?P<mode>[a-z]+)\))? *\[ *(?P<x>[0-9]+)(?:/ *(?P<xn>[0-9]+))?\]"
    r"(?:\[ *(?P<y>[0-9]+)(?:/ *(?P<yn>[0-9]+))?\])?[ \t]+(?P<body>.*)$"
)
TRUNCATED_AT = 4095  # a terminal's line limit: longer console lines are cut there
PROGRESS = re.compile(r"\d+%\||\|[ #█▏▎▍▌▋▊▉]*\||task/s|it/s\]|s/it\]|elapsed: *\d|^\s*\[[ >=#.]*\] *\d+/\d+")
BLOCK_MESSAGES = ("Config:", "Environment info:", "System environment:", "Runtime environment:", "Model:")


def detect_dialect(lines) -> str | None:
    """'mmcv' or 'mmengine' by which prefix the first lines carry (None: neither)."""
    import pyarrow.compute as pc

    head = lines.slice(0, 5000)
    counts = {name: pc.sum(pc.match_substring_regex(head, d["prefix"])).as_py() or 0 for name, d in DIALECTS.items()}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def read_text(source: str, data: bytes, fmt: str | None = None) -> Segment:
    """Parse a text log (or console capture). `fmt` forces the format label."""
    import pyarrow as pa
    import pyarrow.compute as pc

    split = split_lines(data)
    lines = split.lines
    dialect = detect_dialect(lines) or detect_dialect(_strip_cr_prefix(lines)) or "mmcv"
    console = fmt == "console" or (fmt is None and looks_like_console(data, lines, dialect))
    if b"\r" in data:
        lines = _strip_cr_prefix(lines)
    seg = Segment(source=source, format="console" if console else f"{dialect}-text", library=dialect)
    for reason, count in split.skipped.items():
        seg.skip(reason, count)
    prefix = DIALECTS[dialect]["prefix"]
    nlines = len(lines)

    prefixed = np.asarray(pc.match_substring_regex(lines, prefix).fill_null(False)) if nlines else np.zeros(0, bool)
    cand_idx = np.flatnonzero(prefixed)
    seg.header["log_lines"] = len(cand_idx)
    cand = lines.take(_idx(cand_idx))
    # Record lines that were cut: at a terminal's 4095-byte limit (console captures) or
    # by the writer dying mid-line (no final newline). A cut number would read as a wrong
    # value, so such a line gives no row; it is counted.
    looks_rec = np.asarray(pc.match_substring_regex(cand, prefix + r"(?:Epoch|Iter)(?:\([a-z]+\))? *\[").fill_null(False)) if len(cand_idx) else np.zeros(0, bool)
    cut_idx = np.zeros(0, np.int64)
    if console and len(cand_idx):
        long_cut = cand_idx[looks_rec & np.asarray(pc.equal(pc.binary_length(cand), TRUNCATED_AT))]
        seg.skip(f"truncated line ({TRUNCATED_AT} bytes)", len(long_cut), long_cut + 1)
        cut_idx = long_cut
    if split.truncated_last and len(cand_idx) and cand_idx[-1] == nlines - 1 and looks_rec[-1]:
        seg.skip("truncated last line", 1, [nlines])
        cut_idx = np.union1d(cut_idx, [nlines - 1])
    keep = ~np.isin(cand_idx, cut_idx)
    rec_cand_idx, rec_cand = cand_idx[keep], cand.filter(pa.array(keep))

    parts = []
    generic_idx = rec_cand_idx
    if dialect == "mmcv" and len(rec_cand_idx):
        fast = np.asarray(pc.match_substring_regex(rec_cand, prefix + r"(?:Epoch|Iter) \[").fill_null(False))
        fast_idx = rec_cand_idx[fast]
        if len(fast_idx):
            days = tuple(d for d in (" day, ", " days, ") if d.encode() in data)
            part, rejected = _fast_train(lines.take(_idx(fast_idx)), fast_idx, b" lr_" in data, days)
            parts.append(part)
            generic_idx = np.union1d(rec_cand_idx[~fast], rejected)
    generic = lines.take(_idx(generic_idx))
    rec = pc.extract_regex(generic, prefix + RECORD)
    is_rec = np.asarray(pc.is_valid(rec))
    # A prefixed line that starts like a record but does not parse as one.
    looks = np.asarray(pc.match_substring_regex(generic, prefix + r"(?:Epoch|Iter)(?:\([a-z]+\))? *\[").fill_null(False))
    broken = np.flatnonzero(looks & ~is_rec)
    seg.skip("malformed train/val line", len(broken), generic_idx[broken] + 1)
    rec_idx = generic_idx[is_rec]
    rec = rec.filter(pa.array(is_rec))
    mode = np.asarray(rec.field("mode").fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    is_train = (mode == "") | (mode == "train")
    tr = np.flatnonzero(is_train)
    if len(tr):
        parts.append(_generic_train(seg, rec, tr, rec_idx, dialect))
    _set_train(seg, parts)
    train_line_idx = seg.header.pop("_train_line_idx")
    ev = np.flatnonzero(~is_train)
    _fill_evals(seg, rec, ev, rec.field("body"), rec_idx, train_line_idx)

    record_idx = np.union1d(np.union1d(train_line_idx, rec_idx), cut_idx)
    others = np.setdiff1d(cand_idx, record_idx, assume_unique=True)
    _read_messages(seg, lines, prefixed, others, dialect)
    _count_stray(seg, lines, prefixed, record_idx)
    if seg.runner is None and len(ev):
        seg.runner = "iter" if rec.field("kind")[int(ev[0])].as_py() == "Iter" else "epoch"
    return seg


class _TrainPart:
    """Train rows from one path (fast or generic), by line index."""

    def __init__(self, line_idx, is_epoch, x, xn, y, yn, ts, names, values, present, eta_s):
        self.line_idx, self.is_epoch = line_idx, is_epoch
        self.x, self.xn, self.y, self.yn, self.ts = x, xn, y, yn, ts
        self.names, self.values, self.present, self.eta_s = names, values, present, eta_s


def _fast_train(lines, line_idx, maybe_multi_lr: bool, days):
    from parsers.mmcv_train_lines import parse_train_lines

    ok_rows, heads, names, values, present, eta_s, rejected = parse_train_lines(lines, maybe_multi_lr=maybe_multi_lr, days=days)
    kind = np.asarray(heads.field("kind").to_numpy(zero_copy_only=False), dtype=object)
    part = _TrainPart(
        line_idx[ok_rows],
        kind == "Epoch",
        *(_floats(heads.field(f)) for f in ("x", "xn", "y", "yn")),
        _timestamps(heads.field("date"), heads.field("ms"), "mmcv"),
        names,
        values,
        present,
        eta_s,
    )
    return part, line_idx[rejected]


def _generic_train(seg, rec, tr, rec_idx, dialect):
    take = _idx(tr)
    r = rec.take(take)
    kind = np.asarray(r.field("kind").to_numpy(zero_copy_only=False), dtype=object)
    p = parse_bodies(r.field("body"))
    for reason, count in p.skipped.items():
        seg.skip(reason, count, rec_idx[tr][p.bad_rows.get(reason, [])] + 1)
    return _TrainPart(
        rec_idx[tr],
        kind == "Epoch",
        *(_floats(r.field(f)) for f in ("x", "xn", "y", "yn")),
        _timestamps(r.field("date"), r.field("ms") if dialect == "mmcv" else None, dialect),
        p.keys,
        p.values,
        p.present,
        p.eta_s,
    )


def _set_train(seg, parts) -> None:
    """Merge train parts in line order into the segment."""
    if not parts:
        seg.empty_train()
        seg.header["_train_line_idx"] = np.zeros(0, np.int64)
        return
    if len(parts) == 1:
        p = parts[0]
        order = np.argsort(p.line_idx, kind="stable")
        names, values, present = p.names, p.values, p.present
        cat = lambda f: getattr(p, f)
    else:
        names = []
        for p in parts:
            names.extend(k for k in p.names if k not in names)
        col = {k: j for j, k in enumerate(names)}
        rows = sum(len(p.line_idx) for p in parts)
        values = np.full((rows, len(names)), np.nan)
        present = np.zeros((rows, len(names)), bool)
        at = 0
        for p in parts:
            m = len(p.line_idx)
            idx = [col[k] for k in p.names]
            if idx:
                values[at : at + m, idx] = p.values
                present[at : at + m, idx] = p.present
            at += m
        cat = lambda f: np.concatenate([getattr(p, f) for p in parts])
        order = np.argsort(cat("line_idx"), kind="stable")
    line_idx = cat("line_idx")[order]
    is_epoch = cat("is_epoch")[order]
    x, xn, y, yn = (cat(f)[order] for f in ("x", "xn", "y", "yn"))
    # Epoch [e][i/n]: epoch e, iter i, n iters per epoch.  Iter [i/n]: global i of n.
    seg.epoch = np.where(is_epoch, x, np.nan)
    seg.iter = np.where(is_epoch, y, x)
    seg.n = np.where(is_epoch, yn, xn)
    seg.step = np.full(len(order), np.nan)
    seg.ts = cat("ts")[order]
    seg.eta_s = cat("eta_s")[order]
    seg.keys, seg.values, seg.present = names, values[order], present[order]
    seg.header["_train_line_idx"] = line_idx
    if len(order):
        seg.runner = "epoch" if is_epoch[0] else "iter"


def looks_like_console(data: bytes, lines, dialect: str) -> bool:
    """A runner's .log file holds only logger output; a console capture also holds
    tracebacks, progress bars or prints, or does not start with a logger line."""
    if len(lines) == 0:
        return False
    if not re.match(DIALECTS[dialect]["prefix"], lines[0].as_py()):
        return True
    if b"Traceback (most recent call last)" in data:
        return True
    return b"\r" in data and data.count(b"\r") != data.count(b"\r\n")  # bare \r: progress bars


def _strip_cr_prefix(lines):
    """Progress bars redraw with '\\r': what a terminal shows is the text after the last one."""
    import pyarrow.compute as pc

    return pc.replace_substring_regex(lines, r"^[^\n]*\r", "")


def _floats(arr) -> np.ndarray:
    import pyarrow.compute as pc

    arr = pc.if_else(pc.equal(arr, ""), None, arr)
    return np.asarray(pc.cast(arr, "float64").fill_null(np.nan))


def _fill_evals(seg, rec, ev, body, rec_idx, train_line_idx) -> None:
    import pyarrow as pa

    if len(ev) == 0:
        return
    take = pa.array(ev, pa.int64())
    r = rec.take(take)
    modes = r.field("mode").to_pylist()
    kinds = r.field("kind").to_pylist()
    x, y = _floats(r.field("x")), _floats(r.field("y"))
    p = parse_bodies(body.take(take))
    after = np.searchsorted(train_line_idx, rec_idx[ev]) - 1
    for reason, count in p.skipped.items():
        seg.skip(reason, count, rec_idx[ev][p.bad_rows.get(reason, [])] + 1)
    # Rows with non-numeric fields (`bbox_mAP_copypaste: 0.374 0.581 …`): keep the strings.
    str_rows = set()
    for reason, rows in p.bad_rows.items():
        if reason.startswith("non-numeric field: "):
            str_rows.update(int(x) for x in rows)
    texts = {j: body[int(ev[j])].as_py() for j in sorted(str_rows)}
    for j in range(len(ev)):
        if not np.isnan(p.eta_s[j]):
            continue  # an mmengine evaluation progress line (`eta: …`), not a result
        # NaN metrics are real results (`nan` in the log): keep every key this line carries.
        row = _line_fields(p, j)
        row = {k: v for k, v in row.items() if k not in ("time", "data_time", "memory", "lr")}
        if modes[j] == "test":
            seg.test_metrics.update({k: (v if isinstance(v, str) else float(v)) for k, v in row.items()})
            continue
        epoch = x[j] if kinds[j] == "Epoch" else np.nan
        if j in texts:
            for k, v in string_fields(texts[j]).items():
                if k not in row:
                    row[k] = v
        for k, v in row.items():
            seg.eval_epoch.append(epoch)
            seg.eval_after_row.append(int(after[j]))
            seg.eval_step.append(np.nan)
            seg.eval_metric.append(k)
            seg.eval_value.append(v if isinstance(v, str) else float(v))


_FIELD = re.compile(r"(?:,? +|^)([^ :,\x1f]+): ")


def string_fields(body: str) -> dict:
    """The fields of one body whose values are not numbers, as strings."""
    from parsers.kv import NUMBER

    parts = _FIELD.split(body)
    out = {}
    for k, v in zip(parts[1::2], parts[2::2]):
        if not re.match(NUMBER, v.strip()):
            out[k] = v.strip()
    return out


def _line_fields(p, j) -> dict:
    return {p.keys[c]: p.values[j, c] for c in np.flatnonzero(p.present[j])}


def _timestamps(date, ms, dialect) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(date) == 0:
        return np.zeros(0)
    t = pc.strptime(date, format=DIALECTS[dialect]["ts_format"], unit="s", error_is_null=True)
    secs = np.asarray(pc.cast(t, pa.int64()).cast(pa.float64()).fill_null(np.nan))
    if ms is not None:
        secs = secs + _floats(ms) / 1000.0
    return secs


def _read_messages(seg, lines, prefixed, others, dialect) -> None:
    """Header facts from the prefixed lines that are not records (and their blocks)."""
    from parsers.header import read_messages

    prefixed_idx = np.flatnonzero(prefixed)
    msgs = []
    texts = lines.take(_idx(others)).to_pylist() if len(others) else []
    nxt = np.searchsorted(prefixed_idx, others, side="right")
    prefix_re = re.compile(DIALECTS[dialect]["prefix"])
    for i, text in zip(others, texts):
        m = prefix_re.match(text)
        msg = text[m.end():] if m else text
        msgs.append((int(i), m.group("date") if m else None, msg))
    blocks = {}
    for (i, _, msg), n in zip(msgs, nxt):
        if not msg.strip() or msg.startswith(BLOCK_MESSAGES):
            end = int(prefixed_idx[n]) if n < len(prefixed_idx) else len(lines)
            blocks[i] = lines.slice(i + 1, end - i - 1).to_pylist()
    seg.header.update(read_messages(msgs, blocks, dialect))
    first_line = lines[0].as_py() if len(lines) else ""
    m = prefix_re.match(first_line)
    if m:
        seg.header["start_date"] = m.group("date")
        ms = m.groupdict().get("ms")
        seg.header["start_ms"] = int(ms) if ms else 0


def _idx(a):
    import pyarrow as pa

    return pa.array(np.asarray(a, dtype=np.int64), pa.int64())


def _count_stray(seg, lines, prefixed, rec_idx) -> None:
    """Count lines that are neither logger output nor part of a logged message."""
    n = len(lines)
    if n == 0:
        return
    owner_kind = np.zeros(n, np.int8)  # 0: before any log line, 1: after a message, 2: after a record
    marks = np.zeros(n, np.int8)
    marks[np.flatnonzero(prefixed)] = 1
    marks[rec_idx] = 2
    last = np.where(marks > 0, np.arange(n), -1)
    last = np.maximum.accumulate(last)
    owner_kind = np.where(last >= 0, marks[np.maximum(last, 0)], 0)
    stray = np.flatnonzero((marks == 0) & (owner_kind != 1))
    # Tracebacks can follow any line: find them everywhere.
    import pyarrow.compute as pc

    tb_starts = np.flatnonzero(np.asarray(pc.starts_with(lines, "Traceback (most recent call last)")))
    tb_lines = set()
    exception = None
    for s in tb_starts:
        block = lines.slice(int(s), 400).to_pylist()
        j = 1
        while j < len(block) and (block[j].startswith((" ", "\t")) or block[j] == ""):
            j += 1
        tb_lines.update(range(int(s), int(s) + min(j + 1, len(block))))
        if j < len(block):
            exception = block[j].strip()
    if len(tb_starts):
        seg.header["traceback"] = exception or "Traceback"
        in_tb = np.array(sorted(tb_lines), dtype=np.int64)
        stray_tb = np.intersect1d(in_tb, np.flatnonzero(marks == 0))
        seg.skip("traceback", len(stray_tb), stray_tb + 1)
        stray = np.setdiff1d(stray, in_tb)
    if len(stray) == 0:
        return
    texts = lines.take(_idx(stray)).to_pylist()
    prog, other = [], []
    for i, t in zip(stray, texts):
        if not t.strip():
            continue
        (prog if PROGRESS.search(t) else other).append(int(i) + 1)
    seg.skip("progress bar", len(prog), prog)
    seg.skip("other output", len(other), other)
