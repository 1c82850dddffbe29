"""Text logs of mmcv 1.x and mmengine runners, and console captures of either (the text
format of parsers.formats: `sniff`, `read` -> one Segment per launch).

Line prefixes (parsers.patterns): mmcv `2024-04-07 18:21:18,692 - mmdet - INFO - `,
mmengine `2022/08/22 15:51:56 - mmengine - INFO - `, and mmengine's console form without
a year, `10/10 17:36:37 - mmengine - INFO - `: its year comes from the launch's `Exp name`
timestamp when that matches, else a stand-in year counts the clock and the segment says
`year_unknown`. Launches appended to one file (nohup.out) are read one by one (`read`).

The file is read in ~8 MB chunks of Arrow lines (two at a time, on two threads): a
regex pass marks logger-prefixed lines, mmcv train lines go through the vectorised
fast path (`parsers.formats.text.mmcv_lines`), and the remaining prefixed lines (val/test
records, mmengine records, header messages) are gathered; `Epoch(val) [e][n]`-style
records are then extracted and their bodies parsed at once by `parsers.formats.text.kv`. Only the
few non-record lines (header, resume, checkpoint messages, blocks, stray output)
become Python strings.

Lines that are not logger output are classified: continuation lines of a multi-line
message (Config dump, environment block, model repr…) belong to their message; lines
after a train/val record cannot be continuations (records are one line) and are counted
in `skipped` as "traceback", "progress bar" or "other output".
"""
from __future__ import annotations

import re

import numpy as np

from parsers.bounds import OUT_OF_RANGE, counts_ok
from parsers.formats.text.kv import parse_bodies
from parsers.lines import TextFile
from parsers.patterns import ANY_PREFIX, DIALECTS, LIBRARY, TIMESTAMP, date_format, prefix
from parsers.segment import Segment
from parsers.stack import stack_values

# After the prefix: `Epoch [e][i/n]`, `Iter [i/n]`, `Epoch(val) [e][n]`, `Iter(val) [n]`,
# mmengine `Epoch(train)  [1][  50/3517]`, `Iter(train) [  50/80000]`, `Epoch(test) [n/n]`.
RECORD = (
    r"(?P<kind>Epoch|Iter)(?:\((?P<mode>[a-z]+)\))? *\[ *(?P<x>[0-9]+)(?:/ *(?P<xn>[0-9]+))?\]"
    r"(?:\[ *(?P<y>[0-9]+)(?:/ *(?P<yn>[0-9]+))?\])?[ \t]+(?P<body>.*)$"
)
TRUNCATED_AT = 4095  # a terminal's line limit: longer console lines are cut there
PROGRESS = re.compile(r"\d+%\||\|[ #█▏▎▍▌▋▊▉]*\||task/s|it/s\]|s/it\]|elapsed: *\d|^\s*\[[ >=#.]*\] *\d+/\d+")
_TRACEBACK = b"Traceback (most recent call last)"
MAX_BLOCK_LINES = 20000  # a Config dump or model repr is a few thousand lines


def sniff(head: bytes) -> bool:
    """A text log: logger lines of mmcv or mmengine (with or without the year) somewhere."""
    return ANY_PREFIX.search(head) is not None


def read(source: str, content, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    """A text log -> one Segment per launch, in file order.

    nohup.out and slurm-*.out often hold several launches appended to one file. A launch
    starts where the runner logs its environment block (found by its content,
    `sys.platform: `, whatever label the team's script gave it); failing that, at each
    Config dump (and the header lines right above it). A file of several launches is read
    once whole, to find them, then launch by launch. Output before the first launch belongs to the first,
    output after a launch's last line (its traceback) to that launch. `content`: bytes, or
    a one-item list holding them (parsers.formats)."""
    data = bytes(content.pop() if isinstance(content, list) else content)
    seg = read_text(source, data, engine=engine, chunk=chunk)
    envs, dumps = seg.header.get("env_lines", []), seg.header.get("config_lines", [])
    if len(envs) < 2 and len(dumps) < 2:
        seg.header["tail_lines"] = _tail(data)
        return [seg]  # one launch (the usual file): read once
    offsets = _line_offsets(data)
    if len(envs) >= 2:
        starts = [int(offsets[line - 1]) for line in envs]
    else:
        starts = [_header_start(data, int(offsets[line - 1])) for line in dumps]
    return _read_launches(source, data, starts, engine, chunk)


def _tail(data: bytes) -> list[str]:
    """The last lines of a launch (how it ended: its traceback, its last output), bounded."""
    from parsers.tracebacks import tail_of

    return tail_of(data)


def _read_launches(source, data, starts, engine, chunk) -> list[Segment]:
    f = TextFile(data[: 1 << 20])
    lines, _ = f.chunk_lines(0)
    dialect = detect_dialect(lines) or detect_dialect(_strip_cr_prefix(lines)) or "mmcv"
    fmt = "console" if looks_like_console(data, lines, dialect) else None
    bounds = [0] + starts[1:] + [len(data)]
    out = []
    first_line = 0
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        seg = read_text(source, data[a:b], fmt=fmt, dialect=dialect, engine=engine, chunk=chunk)
        if "year_unknown" in seg.header:
            year, evidence = _year_of_neighbours(out, seg)
            if year is not None:
                seg = read_text(source, data[a:b], fmt=fmt, dialect=dialect, engine=engine, chunk=chunk, year=year)
                seg.header["year_from"] = evidence
        nlines = data.count(b"\n", a, b) + (b == len(data) and not data.endswith(b"\n"))
        _shift_lines(seg, first_line)
        seg.header["launch"] = {"index": k + 1, "of": len(bounds) - 1, "first_line": first_line + 1, "last_line": first_line + nlines}
        seg.header["tail_lines"] = _tail(data[a:b])
        first_line += nlines
        out.append(seg)
    if any("year" in s.header for s in out):  # launches before the first one with a known year
        for k in range(len(out) - 1, -1, -1):
            if "year_unknown" in out[k].header:
                year, evidence = _year_of_neighbours(out[k + 1 :], out[k], before=True)
                if year is not None:
                    a, b = bounds[k], bounds[k + 1]
                    seg = read_text(source, data[a:b], fmt=fmt, dialect=dialect, engine=engine, chunk=chunk, year=year)
                    _shift_lines(seg, out[k].header["launch"]["first_line"] - 1)
                    seg.header.update(launch=out[k].header["launch"], year_from=evidence,
                                      tail_lines=out[k].header["tail_lines"])
                    out[k] = seg
    return out


def _year_of_neighbours(others, seg, before: bool = False):
    """(year, evidence) of a console launch without a year of its own, from the nearest
    launch of the same file whose year is known: launches are appended in time order, so
    it is that launch's year, one more (less) when the month/day went back (forward)."""
    known = [s for s in others if "year" in s.header]
    if not known or not seg.header.get("start_date"):
        return None, None
    ref = known[0] if before else known[-1]
    mine, theirs = seg.header["start_date"][:5], ref.header["start_date"][5:10]  # MM/DD
    if before:
        year = ref.header["year"] - (mine > theirs)
    else:
        year = ref.header["year"] + (mine < theirs)
    return year, f"launch {ref.header['launch']['index']} of this file ({ref.header['year']}, {'after' if before else 'before'} it)"


def _line_offsets(data: bytes):
    """Byte offset of every line's start."""
    nl = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    return np.concatenate(([0], nl + 1))


_RECORD = re.compile(rb"(?:Epoch|Iter)(?:\([a-z]+\))? *\[")
HEADER_LINES_BEFORE_CONFIG = 2  # mmcv's tools/train.py logs `Distributed training: …` there


def _header_start(data: bytes, pos: int) -> int:
    """Back from a Config dump over the few logger lines right above it that are header
    messages, not records (nor output of the launch before, which is not logger lines)."""
    for _ in range(HEADER_LINES_BEFORE_CONFIG):
        if pos == 0:
            break
        prev = data.rfind(b"\n", 0, pos - 1) + 1
        m = ANY_PREFIX.match(data, prev)
        if m is None or _RECORD.match(data, m.end()):
            break
        pos = prev
    return pos


def _shift_lines(seg: Segment, by: int) -> None:
    """Line numbers of a launch read on its own -> line numbers in the whole file."""
    if not by:
        return
    seg.skipped_lines = {r: [n + by for n in ls] for r, ls in seg.skipped_lines.items()}
    for r in seg.header.get("resumes", []):
        r["line"] += by
    seg.header["checkpoints"] = [(i + by, n, unit) for i, n, unit in seg.header.get("checkpoints", [])]
    for key in ("config_lines", "env_lines"):
        seg.header[key] = [n + by for n in seg.header.get(key, [])]


def detect_dialect(lines) -> str | None:
    """Which prefix the first lines carry most (parsers.patterns.DIALECTS; None: none)."""
    import pyarrow.compute as pc

    head = lines.slice(0, 5000)
    counts = {name: pc.sum(pc.match_substring_regex(head, prefix(name))).as_py() or 0 for name in DIALECTS}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


class _Chunk:
    """What one chunk of lines yields: prefixed mask, fast train rows, other records."""

    def __init__(self, first, starts, prefixed, fast, candidates, cand_idx, long_idx):
        self.first, self.starts, self.prefixed, self.fast = first, starts, prefixed, fast
        self.candidates, self.cand_idx, self.long_idx = candidates, cand_idx, long_idx


def read_text(source: str, data: bytes, fmt: str | None = None, dialect: str | None = None, engine: str = "fast",
              chunk: int | None = None, year: int | None = None) -> Segment:
    """Parse ONE launch of a text log (or console capture). `fmt` forces the format label,
    `dialect` the prefix; engine "python" reads every train line with the generic parser;
    `year`: the year of a console capture's first line when the caller knows it."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.compute as pc

    f = TextFile(data, chunk)
    first_lines, _ = f.chunk_lines(0)
    dialect = dialect or detect_dialect(first_lines) or detect_dialect(_strip_cr_prefix(first_lines)) or "mmcv"
    # mmengine's console formatter (no year) writes only to the console.
    console = fmt == "console" or dialect == "mmengine-console" or (fmt is None and looks_like_console(f.data, first_lines, dialect))
    f.console_cr = console
    library = LIBRARY[dialect]
    seg = Segment(source=source, format="console" if console else f"{library}-text", library=library)
    for reason, count in f.skipped.items():
        seg.skip(reason, count)
    if dialect == "mmengine-console":
        if year is None:
            year, stamp = launch_year(f.data)
            if stamp:
                seg.header["year_from"] = f"Exp name timestamp {stamp}"
        if year is None:
            seg.header["year_unknown"] = True  # timestamps count from a stand-in year (_timestamps)
        else:
            seg.header["year"] = year
    use_fast = engine == "fast" and dialect == "mmcv"
    prefix_re = prefix(dialect)

    def scan(k: int) -> _Chunk:
        lines, starts = f.chunk_lines(k)
        fast = None
        prefixed = np.zeros(len(lines), bool)
        rest = np.ones(len(lines), bool)
        if use_fast and len(lines):
            # Every line goes through the fast path first: what is not an mmcv train line
            # (header, config dump, val lines) fails its shape checks and is not taken.
            fast, _ = _fast_train(lines, np.arange(len(lines)), threads=1)
            prefixed[fast.line_idx] = True
            rest[fast.line_idx] = False
        # The prefix regex only for the lines the fast path did not take.
        rest_idx = np.flatnonzero(rest)
        if len(rest_idx):
            rest_lines = lines if len(rest_idx) == len(lines) else lines.take(_idx(rest_idx))
            prefixed[rest_idx] = np.asarray(pc.match_substring_regex(rest_lines, prefix_re).fill_null(False))
        other = prefixed & rest
        cand_idx = np.flatnonzero(other)
        long_idx = np.zeros(0, np.int64)
        if console and len(lines):
            long_idx = np.flatnonzero(prefixed & np.asarray(pc.equal(pc.binary_length(lines), TRUNCATED_AT)))
        return _Chunk(0, starts, prefixed, fast, lines.take(_idx(cand_idx)), cand_idx, long_idx)

    n_chunks = len(f.bounds)
    if n_chunks > 1:
        with ThreadPoolExecutor(2) as ex:
            chunks = list(ex.map(scan, range(n_chunks)))
    else:
        chunks = [scan(0)]
    first = 0
    for c in chunks:
        c.first = first
        first += len(c.starts)
    f.set_starts([c.starts for c in chunks])
    nlines = f.nlines
    prefixed = np.concatenate([c.prefixed for c in chunks]) if chunks else np.zeros(0, bool)
    seg.header["log_lines"] = int(prefixed.sum())

    # Record lines that were cut: at a terminal's 4095-byte limit (console captures) or by
    # the writer dying mid-line (no final newline). A cut number would read as a wrong
    # value, so such a line gives no row; it is counted.
    looks_record = re.compile(prefix_re + r"(?:Epoch|Iter)(?:\([a-z]+\))? *\[")
    is_cut = np.zeros(nlines, bool)
    long_idx = np.concatenate([c.long_idx + c.first for c in chunks])
    long_idx = np.array([i for i in long_idx if looks_record.match(f.text(int(i)))], dtype=np.int64)
    seg.skip(f"truncated line ({TRUNCATED_AT} bytes)", len(long_idx), long_idx + 1)
    is_cut[long_idx] = True
    if f.truncated_last and nlines and prefixed[-1] and looks_record.match(f.text(nlines - 1)):
        seg.skip("truncated last line", 1, [nlines])
        is_cut[nlines - 1] = True

    parts = []
    for c in chunks:
        if c.fast is not None and len(c.fast.line_idx):
            part = c.fast.shifted(c.first)
            keep = ~is_cut[part.line_idx]
            parts.append(part if keep.all() else part.subset(keep))
    seg.header["fast_train_rows"] = sum(len(p.line_idx) for p in parts)  # what the fast path read
    cand_idx = np.concatenate([c.cand_idx + c.first for c in chunks])
    generic = pa.concat_arrays([c.candidates for c in chunks]) if chunks else pa.array([], pa.large_string())
    keep = ~is_cut[cand_idx]
    generic_idx, generic = cand_idx[keep], generic.filter(pa.array(keep))

    rec = pc.extract_regex(generic, prefix_re + RECORD)
    is_rec = np.asarray(pc.is_valid(rec))
    # A prefixed line that starts like a record but does not parse as one.
    looks = np.asarray(pc.match_substring_regex(generic, looks_record.pattern).fill_null(False))
    broken = np.flatnonzero(looks & ~is_rec)
    seg.skip("malformed train/val line", len(broken), generic_idx[broken] + 1)
    rec_idx = generic_idx[is_rec]
    rec = rec.filter(pa.array(is_rec))
    mode = np.asarray(rec.field("mode").fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    is_train = (mode == "") | (mode == "train")
    tr = np.flatnonzero(is_train)
    if len(tr):
        parts.append(_generic_train(seg, rec, tr, rec_idx, dialect, year))
    _set_train(seg, parts)
    train_line_idx = seg.header.pop("_train_line_idx")
    ev = np.flatnonzero(~is_train)
    _fill_evals(seg, rec, ev, rec.field("body"), rec_idx, train_line_idx)

    is_record = is_cut.copy()
    is_record[train_line_idx] = True
    is_record[rec_idx] = True
    others = generic_idx[~is_rec]
    _read_messages(seg, f, prefixed, others, generic.filter(pa.array(~is_rec)), dialect, year)
    _count_stray(seg, f, prefixed, is_record)
    if seg.runner is None and len(ev):
        seg.runner = "iter" if rec.field("kind")[int(ev[0])].as_py() == "Iter" else "epoch"
    return seg


class _TrainPart:
    """Train rows from one path (fast or generic), by line index."""

    def __init__(self, line_idx, is_epoch, x, xn, y, yn, ts, names, values, present, eta_s):
        self.line_idx, self.is_epoch = line_idx, is_epoch
        self.x, self.xn, self.y, self.yn, self.ts = x, xn, y, yn, ts
        self.names, self.values, self.present, self.eta_s = names, values, present, eta_s

    def shifted(self, by: int):
        out = self.subset(slice(None))
        out.line_idx = self.line_idx + by
        return out

    def subset(self, keep):
        f = ("line_idx", "is_epoch", "x", "xn", "y", "yn", "ts")
        return _TrainPart(*(getattr(self, a)[keep] for a in f), self.names, self.values[keep], self.present[keep], self.eta_s[keep])


def _fast_train(lines, line_idx, threads: int = 2):
    from parsers.formats.text.mmcv_lines import parse_train_lines

    ok_rows, heads, names, values, present, eta_s, rejected = parse_train_lines(lines, threads=threads)
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


def _generic_train(seg, rec, tr, rec_idx, dialect, year=None):
    take = _idx(tr)
    r = rec.take(take)
    kind = np.asarray(r.field("kind").to_numpy(zero_copy_only=False), dtype=object)
    p = parse_bodies(_rtrim(r.field("body")))
    for reason, count in p.skipped.items():
        seg.skip(reason, count, rec_idx[tr][p.bad_rows.get(reason, [])] + 1)
    return _TrainPart(
        rec_idx[tr],
        kind == "Epoch",
        *(_floats(r.field(f)) for f in ("x", "xn", "y", "yn")),
        _timestamps(r.field("date"), r.field("ms") if dialect == "mmcv" else None, dialect, year),
        p.keys,
        p.values,
        p.present,
        p.eta_s,
    )


def _set_train(seg, parts) -> None:
    """Merge train parts in line order into the segment (no reordering copy when the
    parts are already in order, as the chunks of a log are)."""
    parts = [p for p in parts if len(p.line_idx)]
    if not parts:
        seg.empty_train()
        seg.header["_train_line_idx"] = np.zeros(0, np.int64)
        return
    names, values, present = stack_values(parts, lambda p: len(p.line_idx))

    def cat(f):
        return np.concatenate([getattr(p, f) for p in parts]) if len(parts) > 1 else getattr(parts[0], f)

    line_idx = cat("line_idx")
    order = None if np.all(np.diff(line_idx) > 0) else np.argsort(line_idx, kind="stable")

    def ordered(a):
        return a if order is None else a[order]

    is_epoch = ordered(cat("is_epoch"))
    x, xn, y, yn = (ordered(cat(f)) for f in ("x", "xn", "y", "yn"))
    ok = counts_ok(x) & counts_ok(xn) & counts_ok(y) & counts_ok(yn)
    if not ok.all():  # `Epoch [1<30 digits>][…]` would size the epoch grid: count the row, drop it
        seg.skip(OUT_OF_RANGE, int((~ok).sum()), ordered(line_idx)[~ok] + 1)
        if not ok.any():
            seg.empty_train()
            seg.header["_train_line_idx"] = np.zeros(0, np.int64)
            return
        order = (np.arange(len(line_idx)) if order is None else order)[ok]
        is_epoch, x, xn, y, yn = (a[ok] for a in (is_epoch, x, xn, y, yn))
    # Epoch [e][i/n]: epoch e, iter i, n iters per epoch.  Iter [i/n]: global i of n.
    seg.epoch = np.where(is_epoch, x, np.nan)
    seg.iter = np.where(is_epoch, y, x)
    seg.n = np.where(is_epoch, yn, xn)
    seg.step = np.full(len(line_idx), np.nan)
    seg.ts = ordered(cat("ts"))
    seg.eta_s = ordered(cat("eta_s"))
    seg.keys, seg.values, seg.present = names, ordered(values), ordered(present)
    seg.header["_train_line_idx"] = ordered(line_idx)
    seg.runner = "epoch" if is_epoch[0] else "iter"


def looks_like_console(data: bytes, lines, dialect: str) -> bool:
    """A runner's .log file holds only logger output; a console capture also holds
    tracebacks, progress bars or prints, or does not start with a logger line."""
    if len(lines) == 0:
        return False
    if not re.match(prefix(dialect), lines[0].as_py()):
        return True
    if b"Traceback (most recent call last)" in data:
        return True
    if b"\r" not in data:
        return False
    bare = data.count(b"\r") - data.count(b"\r\n") - data.endswith(b"\r")  # \r not ending a line
    return bare > 0  # progress bars redraw with a bare \r


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
    x = _floats(r.field("x"))
    p = parse_bodies(_rtrim(body.take(take)))
    after = np.searchsorted(train_line_idx, rec_idx[ev]) - 1
    for reason, count in p.skipped.items():
        seg.skip(reason, count, rec_idx[ev][p.bad_rows.get(reason, [])] + 1)
    # Rows with non-numeric fields (`bbox_mAP_copypaste: 0.374 0.581 …`): keep the strings.
    str_rows = set()
    for reason, rows in p.bad_rows.items():
        if reason.startswith("non-numeric field: "):
            str_rows.update(int(x) for x in rows)
    texts = {j: body[int(ev[j])].as_py() for j in sorted(str_rows)}
    # Every val/test line is accounted for: a progress line, a result, or a result line
    # without metrics (`Epoch(val) [6][3750]` after a failed evaluation).
    lines = seg.header.setdefault("val_lines", {"progress": 0, "results": 0, "empty": 0})
    for j in range(len(ev)):
        if not np.isnan(p.eta_s[j]):
            lines["progress"] += 1
            continue  # an mmengine evaluation progress line (`eta: …`), not a result
        # NaN metrics are real results (`nan` in the log): keep every key this line carries.
        row = _line_fields(p, j)
        row = {k: v for k, v in row.items() if k not in ("time", "data_time", "memory", "lr")}
        lines["results" if row or j in texts else "empty"] += 1
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
    from parsers.formats.text.kv import NUMBER

    parts = _FIELD.split(body)
    out = {}
    for k, v in zip(parts[1::2], parts[2::2]):
        if not re.match(NUMBER, v.strip()):
            out[k] = v.strip()
    return out


def _line_fields(p, j) -> dict:
    return {p.keys[c]: p.values[j, c] for c in np.flatnonzero(p.present[j])}


STAND_IN_YEAR = 2000  # a leap year, so that a `02/29` line parses
_YEAR_BACK = 180 * 86400  # the clock going back this far is a new year (Dec 31 -> Jan 1)


def launch_year(data: bytes):
    """(year, timestamp) of a console capture's launch from mmengine's `Exp name:
    <config>_<YYYYmmdd_HHMMSS>` (the runner's creation time) when its month and day are
    those of the launch's first logger line; (None, None) when there is no such evidence."""
    return year_of(_CONSOLE_DATE.search(data), _EXP_NAME.search(data))


def year_of(first, exp):
    """(year, stamp) from the first console line's date match and the `Exp name` match, when
    the stamp's month and day are the line's; (None, None) otherwise."""
    if first is None or exp is None:
        return None, None
    stamp = exp.group("stamp").decode()
    if stamp[4:8] != first.group("date")[:5].decode().replace("/", ""):
        return None, None
    return int(stamp[:4]), stamp


_CONSOLE_DATE = re.compile(b"(?m)" + prefix("mmengine-console", ("date",)).encode())
_EXP_NAME = re.compile(rb" - Exp name: \S*?(?P<stamp>" + TIMESTAMP.encode() + rb")")


def _timestamps(date, ms, dialect, year=None) -> np.ndarray:
    """Unix seconds of each line. Lines without a year (mmengine's console) count from
    `year` (launch_year) or else a stand-in year (the segment then says `year_unknown`),
    plus one for every Dec 31 -> Jan 1 in file order: differences between them are right,
    whatever the real year was, except across a Feb 29 that a stand-in year would not have."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(date) == 0:
        return np.zeros(0)

    def seconds(d):
        t = pc.strptime(d, format=date_format(dialect), unit="s", error_is_null=True)
        return np.asarray(pc.cast(t, pa.int64()).cast(pa.float64()).fill_null(np.nan))

    if dialect == "mmengine-console":
        base = year or STAND_IN_YEAR
        date = date.cast(pa.large_string())
        slash = pa.scalar("/", pa.large_string())
        secs = seconds(pc.binary_join_element_wise(pa.scalar(str(base), pa.large_string()), date, slash))
        with np.errstate(invalid="ignore"):
            years = np.concatenate([[0], np.cumsum(np.diff(secs) < -_YEAR_BACK)])
        if years[-1]:
            per_row = pa.array((base + years).astype(str), pa.large_string())
            secs = seconds(pc.binary_join_element_wise(per_row, date, slash))
    else:
        secs = seconds(date)
    if ms is not None:
        secs = secs + _floats(ms) / 1000.0
    return secs


def _read_messages(seg, f, prefixed, others, other_lines, dialect, year=None) -> None:
    """Header facts from the prefixed lines that are not records, and from the blocks of
    text that follow some of them, recognised by their content (parsers.formats.text.header)."""
    from parsers.formats.text.header import block_kind, read_messages

    prefixed_idx = np.flatnonzero(prefixed)
    msgs = []
    texts = other_lines.to_pylist()
    nxt = np.searchsorted(prefixed_idx, others, side="right")
    prefix_re = re.compile(prefix(dialect))
    for i, text in zip(others, texts):
        m = prefix_re.match(text)
        msg = text[m.end():] if m else text
        msgs.append((int(i), m.group("date") if m else None, msg))
    blocks = {}
    for (i, _, msg), n in zip(msgs, nxt):
        end = int(prefixed_idx[n]) if n < len(prefixed_idx) else f.nlines
        if end > i + 1:
            kind = block_kind(f.texts(range(i + 1, min(end, i + 1 + 200))))
            if kind:
                blocks[i] = (kind, f.texts(range(i + 1, min(end, i + 1 + MAX_BLOCK_LINES))))
    seg.header.update(read_messages(msgs, blocks, dialect))
    first = int(prefixed_idx[0]) if len(prefixed_idx) else None
    m = prefix_re.match(f.text(first)) if first is not None else None
    if m:
        date = m.group("date")
        # With the year found (launch_year), in mmengine's file-log form; else as written.
        seg.header["start_date"] = f"{year}/{date}" if year and dialect == "mmengine-console" else date
        ms = m.groupdict().get("ms")
        seg.header["start_ms"] = int(ms) if ms else 0


def _rtrim(bodies):
    """mmengine pads its lines with spaces (`memory: 799  `): not part of the last value."""
    import pyarrow.compute as pc

    return pc.utf8_rtrim_whitespace(bodies)


def _idx(a):
    import pyarrow as pa

    return pa.array(np.asarray(a, dtype=np.int64), pa.int64())


def _count_stray(seg, f, prefixed, is_record) -> None:
    """Count lines that are neither logger output nor part of a logged message."""
    n = f.nlines
    if n == 0:
        return
    marks = np.zeros(n, np.int8)  # 0: not logger output, 1: a message, 2: a record
    marks[prefixed] = 1
    marks[is_record] = 2
    last = np.maximum.accumulate(np.where(marks > 0, np.arange(n), -1))
    owner = np.where(last >= 0, marks[np.maximum(last, 0)], 0)  # 0: before any log line
    stray = (marks == 0) & (owner != 1)
    # Tracebacks can follow any line: find them in the bytes.
    tb_starts = [int(np.searchsorted(f.starts, pos, side="right")) - 1 for pos in _traceback_positions(f.data)]
    exception = None
    in_tb = np.zeros(n, bool)
    for s in tb_starts:
        j = s + 1
        while j < n and j - s < 400:
            t = f.text(j)
            if not (t.startswith((" ", "\t")) or t == ""):
                break
            j += 1
        in_tb[s : min(j + 1, n)] = True
        if j < n:  # the exception line, skipping output interleaved after the last frame
            from parsers.tracebacks import exception_line

            after = [f.text(k) for k in range(j, min(j + 50, n))]
            exception = exception_line(after) or f.text(j).strip()
    if tb_starts:
        seg.header["traceback"] = exception or "Traceback"
        tb = np.flatnonzero(in_tb & (marks == 0))
        seg.skip("traceback", len(tb), tb + 1)
        stray &= ~in_tb
    idx = np.flatnonzero(stray)
    if len(idx) == 0:
        return
    prog, other = [], []
    for i in idx:
        t = f.text(int(i))
        if not t.strip():
            continue
        (prog if PROGRESS.search(t) else other).append(int(i) + 1)
    seg.skip("progress bar", len(prog), prog)
    seg.skip("other output", len(other), other)


def _traceback_positions(data: bytes):
    """Byte positions of `Traceback (most recent call last)` at a line start (or after a
    progress bar's \\r). A literal search: fast on a 200 MB log that has none."""
    pos = data.find(_TRACEBACK)
    while pos >= 0:
        if pos == 0 or data[pos - 1 : pos] in (b"\n", b"\r"):
            yield pos
        pos = data.find(_TRACEBACK, pos + 1)
