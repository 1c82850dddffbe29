"""ONE launch of a text log -> a Segment (`read_text`): the text engine's core.

Line prefixes (`parsers.patterns.DIALECTS`): mmcv `2024-04-07 18:21:18,692 - mmdet - INFO - `,
mmengine `2022/08/22 15:51:56 - mmengine - INFO - `, and mmengine's console form without
a year, `10/10 17:36:37 - mmengine - INFO - ` (its year: `parsers.formats.text.clock`).

The launch's bytes are read in ~8 MB chunks of Arrow lines (`parsers.lines.TextFile`, two
chunks at a time on two threads): a regex pass marks logger-prefixed lines, mmcv train
lines go through the vectorised fast path (`parsers.formats.text.mmcv_lines`), and the
remaining prefixed lines (val/test records, mmengine records, header messages) are
gathered; records (`parsers.patterns.RECORD`) are then extracted and their bodies parsed at
once (`parsers.formats.text.kv`). Only the few non-record lines (header, resume and
checkpoint messages, blocks, stray output) become Python strings.

Lines that are not logger output are classified (`parsers.formats.text.stray`):
continuation lines of a multi-line message (Config dump, environment block, model repr…)
belong to their message; the others are counted in `skipped` as "traceback", "progress
bar" or "other output".
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parsers.formats.text.clock import launch_year
from parsers.formats.text.dialect import looks_like_console
from parsers.formats.text.evals import fill_evals
from parsers.formats.text.header import read_header
from parsers.formats.text.stray import count_stray
from parsers.formats.text.train import TrainPart, arrow_indices, fast_train, generic_train, set_train
from parsers.lines import TextFile
from parsers.patterns import LIBRARY, RECORD, RECORD_HEAD, RECORD_START, prefix
from parsers.segment import Draft, Segment

TRUNCATED_AT = 4095  # a terminal's line limit: longer console lines are cut there
MALFORMED = "malformed train/val line"
CUT_AT_LIMIT = f"truncated line ({TRUNCATED_AT} bytes)"
# characters of a line that hold a record's prefix and head (`_records`): the logger name is short
HEAD_SCAN = 512


class _Chunk:
    """What one chunk of lines yields: prefixed mask, fast train rows, other records."""

    def __init__(self, starts, prefixed, fast, candidates, cand_idx, long_idx):
        self.first = 0  # the chunk's first line in the launch, set once every chunk is read
        self.starts, self.prefixed, self.fast = starts, prefixed, fast
        self.candidates, self.cand_idx, self.long_idx = candidates, cand_idx, long_idx


def read_text(
    source: str,
    data: bytes,
    dialect: str,
    console: bool | None = None,
    engine: str = "fast",
    chunk: int | None = None,
    year: int | None = None,
    find_year: bool = True,
    scanned: Scanned | None = None,
) -> Segment:
    """Parse ONE launch of a text log written in `dialect`. `console`: the format label is
    `console` (True), `<library>-text` (False), or decided from the content (None); engine
    "python" reads every train line with the generic parser; `year`: the year of a console
    capture's first line when the caller knows it, else (with `find_year`) found from the
    content's `Exp name` stamp (`data` must then start where the launch starts); `scanned`:
    `scan_text` of these bytes with this `console`, done beforehand."""
    f, console, chunks = scanned or scan_text(data, dialect, console, engine, chunk)
    library = LIBRARY[dialect]
    draft = Draft(source, "console" if console else f"{library}-text", library)
    for reason, count in f.skipped.items():
        draft.skip(reason, count)
    if dialect == "mmengine-console":
        year = _console_year(draft, f.data, year, find_year)
    prefixed = np.concatenate([c.prefixed for c in chunks])
    draft.log_lines = int(prefixed.sum())
    is_cut = _cut_records(draft, f, chunks, prefixed, dialect)
    parts = _fast_parts(chunks, is_cut)
    draft.fast_train_rows = sum(len(p.line_idx) for p in parts)
    _read_records(draft, f, chunks, prefixed, is_cut, parts, dialect, year)
    return draft.freeze()


Scanned = tuple  # (TextFile, console, [_Chunk]): what `scan_text` gives


def scan_text(
    data: bytes, dialect: str, console: bool | None, engine: str = "fast", chunk: int | None = None
) -> Scanned:
    """The bulk of `read_text`, which depends on the bytes alone: their lines, scanned chunk
    by chunk (train lines read by the fast path, the other logger lines picked out), and
    whether they are a console capture (`console`, or decided from the content when None).
    The loader may run it for the next piece while this one is read (`parsers.follow`)."""
    f = TextFile(data, chunk)
    if console is None:
        first_lines, _ = f.chunk_lines(0)
        first_line = first_lines[0].as_py() if len(first_lines) else None
        console = dialect == "mmengine-console" or looks_like_console(f.data, first_line, dialect)
    else:
        console = console or dialect == "mmengine-console"  # mmengine's console form is only written there
    f.console_cr = console
    return f, console, _scan(f, dialect, engine == "fast" and dialect == "mmcv", console)


def _console_year(draft: Draft, data: bytes, year: int | None, find: bool) -> int | None:
    """The year of a console launch: given, or from its `Exp name` stamp; else unknown."""
    if year is None and find:
        year, stamp = launch_year(data)
        if stamp:
            draft.year_from = f"Exp name timestamp {stamp}"
    if year is None:
        draft.year_unknown = True  # timestamps count from a stand-in year (parsers.formats.text.clock)
    else:
        draft.year = year
    return year


def _scan(f: TextFile, dialect: str, use_fast: bool, console: bool) -> list[_Chunk]:
    """Every chunk of `f` scanned (two at a time, on two threads), line numbers counted
    from the launch's first line."""
    prefix_re = prefix(dialect)

    def scan(k: int) -> _Chunk:
        lines, starts = f.chunk_lines(k)
        fast = None
        prefixed = np.zeros(len(lines), bool)
        rest = np.ones(len(lines), bool)
        if use_fast and len(lines):
            # Every line goes through the fast path first: what is not an mmcv train line
            # (header, config dump, val lines) fails its shape checks and is not taken.
            fast, _ = fast_train(lines, np.arange(len(lines)), threads=1)
            prefixed[fast.line_idx] = True
            rest[fast.line_idx] = False
        # The prefix regex only for the lines the fast path did not take.
        rest_idx = np.flatnonzero(rest)
        if len(rest_idx):
            rest_lines = lines if len(rest_idx) == len(lines) else lines.take(arrow_indices(rest_idx))
            prefixed[rest_idx] = np.asarray(pc.match_substring_regex(rest_lines, prefix_re).fill_null(False))
        cand_idx = np.flatnonzero(prefixed & rest)
        long_idx = np.zeros(0, np.int64)
        if console and len(lines):
            long_idx = np.flatnonzero(prefixed & np.asarray(pc.equal(pc.binary_length(lines), TRUNCATED_AT)))
        return _Chunk(starts, prefixed, fast, lines.take(arrow_indices(cand_idx)), cand_idx, long_idx)

    if len(f.bounds) > 1:
        with ThreadPoolExecutor(2) as ex:
            chunks = list(ex.map(scan, range(len(f.bounds))))
    else:
        chunks = [scan(0)]
    first = 0
    for c in chunks:
        c.first = first
        first += len(c.starts)
    f.set_starts([c.starts for c in chunks])
    return chunks


def _looks_record(dialect: str) -> re.Pattern:
    return re.compile(prefix(dialect) + RECORD_START)


def _cut_records(draft: Draft, f: TextFile, chunks, prefixed, dialect: str) -> np.ndarray:
    """Record lines that were cut: at a terminal's 4095-byte limit (console captures) or by
    the writer dying mid-line (no final newline). A cut number would read as a wrong value,
    so such a line gives no row; it is counted. Returns the cut lines as a mask."""
    looks_record = _looks_record(dialect)
    nlines = f.nlines
    is_cut = np.zeros(nlines, bool)
    long_idx = np.concatenate([c.long_idx + c.first for c in chunks])
    long_idx = np.array([i for i in long_idx if looks_record.match(f.text(int(i)))], dtype=np.int64)
    draft.skip(CUT_AT_LIMIT, len(long_idx), long_idx + 1)
    is_cut[long_idx] = True
    if f.truncated_last and nlines and prefixed[-1] and looks_record.match(f.text(nlines - 1)):
        draft.skip("truncated last line", 1, [nlines])
        is_cut[nlines - 1] = True
    return is_cut


def _fast_parts(chunks, is_cut) -> list[TrainPart]:
    """The train rows the fast path read, chunk by chunk, without the cut lines."""
    parts = []
    for c in chunks:
        if c.fast is not None and len(c.fast.line_idx):
            part = c.fast.shifted(c.first)
            keep = ~is_cut[part.line_idx]
            parts.append(part if keep.all() else part.subset(keep))
    return parts


def _read_records(draft: Draft, f: TextFile, chunks, prefixed, is_cut, parts, dialect: str, year) -> None:
    """The prefixed lines the fast path did not take: train and evaluation records, the
    header's messages; then the lines that are no logger output."""
    cand_idx = np.concatenate([c.cand_idx + c.first for c in chunks])
    generic = pa.concat_arrays([c.candidates for c in chunks])
    keep = ~is_cut[cand_idx]
    generic_idx, generic = cand_idx[keep], generic.filter(pa.array(keep))
    prefix_re = prefix(dialect)
    # A prefixed line that starts like a record but does not parse as one.
    looks = np.asarray(pc.match_substring_regex(generic, _looks_record(dialect).pattern).fill_null(False))
    rec = _records(generic, prefix_re, looks)
    is_rec = np.asarray(pc.is_valid(rec))
    broken = np.flatnonzero(looks & ~is_rec)
    draft.skip(MALFORMED, len(broken), generic_idx[broken] + 1)
    rec_idx = generic_idx[is_rec]
    rec = rec.filter(pa.array(is_rec))
    mode = np.asarray(rec.field("mode").fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    is_train = (mode == "") | (mode == "train")
    tr = np.flatnonzero(is_train)
    if len(tr):
        parts.append(generic_train(draft, rec, tr, rec_idx, dialect, year))
    train_line_idx = set_train(draft, parts)
    ev = np.flatnonzero(~is_train)
    others = generic.filter(pa.array(~is_rec))
    errors = np.asarray(pc.match_substring(others, " - ERROR - ").fill_null(False))  # a literal: cheap
    error_lines = generic_idx[~is_rec][errors]
    error_texts = [error_message(t, dialect) for t in others.filter(pa.array(errors)).to_pylist()]
    logged = [k for k, t in enumerate(error_texts) if t is not None]  # at the ERROR level itself
    error_lines, error_texts = error_lines[logged], [error_texts[k] for k in logged]
    fill_evals(draft, rec, ev, rec_idx, train_line_idx, (error_lines, error_texts))
    is_record = is_cut.copy()
    is_record[train_line_idx] = True
    is_record[rec_idx] = True
    read_header(draft, f, prefixed, generic_idx[~is_rec], others, dialect, year)
    count_stray(draft, f, prefixed, is_record)
    if draft.runner is None and len(ev):
        draft.runner = "iter" if rec.field("kind")[int(ev[0])].as_py() == "Iter" else "epoch"


def _records(lines, prefix_re: str, looks: np.ndarray):
    """`pc.extract_regex(lines, prefix_re + RECORD)`, without running a capturing regex over
    the bodies (a val line's body is KBs of metrics): the head is matched in each line's first
    HEAD_SCAN characters, and the body is the line with that head removed. A line that starts
    like a record (`looks`) and whose head could go on past those characters sends every line
    through the whole regex."""
    whole = prefix_re + RECORD
    heads = pc.extract_regex(pc.utf8_slice_codeunits(lines, 0, HEAD_SCAN), prefix_re + RECORD_HEAD + "(?P<body>)")
    ok = np.asarray(pc.is_valid(heads))
    long = np.asarray(pc.greater(pc.utf8_length(lines), HEAD_SCAN))
    if (looks & ~ok & long).any():
        return pc.extract_regex(lines, whole)
    bodies = pc.replace_substring_regex(lines, prefix_re + RECORD_HEAD, "", max_replacements=1)
    fields = [heads.field(k) for k in range(heads.type.num_fields)]
    fields[heads.type.get_field_index("body")] = bodies
    mask = pa.array(~ok)
    return pa.StructArray.from_arrays(fields, [f.name for f in heads.type], mask=mask)


def error_message(line: str, dialect: str) -> str | None:
    """An ERROR logger line's message (the line without its prefix); None for another level."""
    m = re.match(prefix(dialect, ("level",)), line)
    return line[m.end() :] if m and m.group("level") == "ERROR" else None
