"""`Segment`: what one launch of a run yields, typed and frozen, before runs are assembled.

A log file holds one launch (a `nohup.out` may hold several appended to it); its format
module (`parsers.formats`) reads each launch into a `Segment`: the train rows (positions,
then the logged values as a matrix), the evaluation rows, what the header and the other
non-record lines state, and what was not read (counted by reason). `parsers.identity`
decides which segments are one run and `parsers.assemble` turns them into a `Run`.

Every field is declared once, here, with its meaning and ONE merge policy: how the
segments of a run combine it (`combine(segments, name)`, which `parsers.assemble` asks
for every fact it takes from the segments):

- LATEST      the latest launch that states it (not None, not empty): a resumed launch runs
              under its own config and plan (a schedule extended from 3 to 6 epochs);
- FIRST       the first launch that states it;
- LAST        the last launch's, stated or not (an earlier launch's crash was resumed);
- CONCAT      concatenated in time order;
- SUM         added up (counts by reason: per reason);
- UPDATE      one mapping, a later launch's value of a key replacing an earlier one's;
- PER_LAUNCH  not combined: a fact of one launch that the run reads launch by launch
              (rows, evaluations, line numbers, when it started).

A launch read in pieces (a big file or a growing one, `parsers.follow`) is put together by
`concat_pieces`, which must give what reading the launch whole gives. Where that differs
from the merge policy, the field declares its `pieces` rule too: rows are appended; a fact
the text reader keeps from its first statement in a file (`Exp name`, repeated every epoch
by mmengine) is FIRST; counts of lines are SUM; the traceback is the LATEST one in the file
(training may go on after a printed traceback).

Builders fill a `Draft` (mutable, only the Segment's field names can be set: there are no
private keys) and `freeze()` it; what leaves a format module is the frozen Segment. A
changed copy is `dataclasses.replace(segment, …)` (the twin refinement, line shifts).
Arrays and dicts are not copied when frozen: treat them as read-only.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from parsers.bounds import KEYS_PAST_BOUND
from parsers.stack import stack_values

SKIPPED_LINES_KEPT = 5  # line numbers kept per reason a line was not read


class Merge(enum.Enum):
    """How the segments of a run (or the pieces of one launch) combine a field."""

    LATEST = "the latest that states it"
    FIRST = "the first that states it"
    LAST = "the last one's, stated or not"
    CONCAT = "concatenated in order"
    SUM = "added up"
    UPDATE = "one mapping, later keys replacing earlier ones"
    PER_LAUNCH = "not combined: read launch by launch"
    ROWS = "rows appended, keys united (pieces of one launch)"
    EVALS = "appended, their train row counted from the launch's first row (pieces)"


def _field(
    merge: Merge, doc: str, default: Any = None, factory: Any = None, pieces: Merge | None = None, lines: bool = False
) -> Any:
    """A Segment field: its merge policy, its meaning (`doc`), how pieces of one launch combine
    it (`pieces`, default: as the segments of a run do) and whether it holds line numbers."""
    meta = {"merge": merge, "pieces": pieces or merge, "doc": doc, "lines": lines}
    assert meta["pieces"] is not Merge.PER_LAUNCH, "the pieces of one launch combine every field"
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _empty() -> np.ndarray:
    return np.zeros(0)


@dataclass(frozen=True)
class Resume:
    """A resume record: `resumed epoch 7, iter 49231` (mmcv) / `resumed epoch: 7, iter: 4923`."""

    line: int  # 1-based line of the record in its file
    date: str | None  # the record's timestamp as logged
    epoch: int | None  # None: the record names only the iteration (detectron2)
    iter: int


@dataclass(frozen=True)
class Checkpoint:
    """`Saving checkpoint at 1758 iterations` (or epochs)."""

    line: int  # 1-based line of the message in its file
    count: int
    unit: str  # "iterations" | "epochs"


@dataclass(frozen=True)
class Launch:
    """Where a launch lies in a file that holds several (nohup.out), 1-based lines."""

    index: int
    of: int
    first_line: int
    last_line: int


@dataclass(frozen=True)
class EmptyEval:
    """An evaluation that ran and produced no metric (`Epoch(val) [2][410/410]` with only
    `data_time`/`time`, after the evaluator logged an error)."""

    line: int  # 1-based line of its record in its file
    epoch: float  # the epoch it evaluated (NaN for iteration runners)
    after_row: int  # index of the last train row logged before it (-1: none)
    error: str | None  # the ERROR message the launch logged just before it, as logged


@dataclass(frozen=True)
class ValLines:
    """How the val/test record lines of a text launch were read: every one accounted for."""

    progress: int = 0  # an evaluation's progress line (`eta: …`), not a result
    results: int = 0  # a line that carried metrics
    empty: int = 0  # a result line without metrics (`Epoch(val) [6][3750]` after a failed evaluation)

    def __add__(self, other: ValLines) -> ValLines:
        return ValLines(self.progress + other.progress, self.results + other.results, self.empty + other.empty)


M = Merge


@dataclass(frozen=True, eq=False)  # identity equality: it holds arrays
class Segment:
    """One launch of a run, as its log states it (see the module docstring)."""

    # -- what was read -----------------------------------------------------------------
    source: str = _field(M.PER_LAUNCH, "the file it was read from (display name)", "", pieces=M.FIRST)
    format: str = _field(
        M.PER_LAUNCH,
        "mmcv-text | mmcv-json | mmengine-text | mmengine-json | console | detr-json | detr-console | "
        "detectron2-json | detectron2-console | tfevents | ultralytics-csv (the row names of parsers.formats)",
        "",
        pieces=M.FIRST,
    )
    library: str = _field(M.FIRST, "mmcv | mmengine | detr | detectron2 | tensorboard | ultralytics", "")
    runner: str | None = _field(M.FIRST, "epoch | iter | None (the log does not say)")
    # -- train rows: per-row positions, then the logged keys as a matrix -----------------
    epoch: np.ndarray = _field(
        M.PER_LAUNCH, "float64 per row: the epoch (NaN = not logged)", factory=_empty, pieces=M.ROWS
    )
    iter: np.ndarray = _field(
        M.PER_LAUNCH, "float64: within the epoch (epoch runner) or global (iter runner)", factory=_empty, pieces=M.ROWS
    )
    n: np.ndarray = _field(
        M.PER_LAUNCH,
        "float64: iters per epoch / max iters shown as `[i/n]`, NaN if absent",
        factory=_empty,
        pieces=M.ROWS,
    )
    step: np.ndarray = _field(
        M.PER_LAUNCH,
        "float64: the global iteration where the log states it (mmengine json)",
        factory=_empty,
        pieces=M.ROWS,
    )
    ts: np.ndarray = _field(
        M.PER_LAUNCH, "float64: unix seconds of the line (text logs), NaN otherwise", factory=_empty, pieces=M.ROWS
    )
    eta_s: np.ndarray = _field(M.PER_LAUNCH, "float64: the logged eta in seconds", factory=_empty, pieces=M.ROWS)
    keys: tuple[str, ...] = _field(M.PER_LAUNCH, "logged key names, in first-seen order", (), pieces=M.ROWS)
    values: np.ndarray = _field(
        M.PER_LAUNCH, "float64 matrix rows x keys", factory=lambda: np.zeros((0, 0)), pieces=M.ROWS
    )
    present: np.ndarray = _field(
        M.PER_LAUNCH,
        "bool matrix rows x keys: the row carried the key (value may be nan)",
        factory=lambda: np.zeros((0, 0), bool),
        pieces=M.ROWS,
    )
    # -- evaluation rows (long: one entry per metric of an evaluation) --------------------
    eval_epoch: tuple = _field(M.PER_LAUNCH, "epoch of the evaluation (NaN for iter runners)", (), pieces=M.EVALS)
    eval_after_row: tuple = _field(
        M.PER_LAUNCH, "index of the last train row logged before it (-1: none)", (), pieces=M.EVALS
    )
    eval_step: tuple = _field(M.PER_LAUNCH, "the step the log states for it (NaN: none)", (), pieces=M.EVALS)
    eval_metric: tuple = _field(M.PER_LAUNCH, "metric name", (), pieces=M.EVALS)
    eval_value: tuple = _field(
        M.PER_LAUNCH, "float, or str for a string field (`bbox_mAP_copypaste`)", (), pieces=M.EVALS
    )
    test_metrics: dict = _field(
        M.UPDATE, "{metric: value} of `runner.test()` (Epoch(test) line / test dump)", factory=dict
    )
    empty_evals: tuple[EmptyEval, ...] = _field(
        M.PER_LAUNCH, "evaluations that ran and produced no metric, in file order", (), pieces=M.EVALS, lines=True
    )
    # -- what the header and the other non-record lines state ------------------------------
    config_text: str | None = _field(
        M.LATEST,
        "the config dump (`Config:` block, an mmcv json meta line's "
        "`config`, mmengine's vis_data/config.py), read with `ast` later",
    )
    json_meta: dict | None = _field(
        M.LATEST,
        "an mmcv json's first line: run meta, or a resumed run's "
        "checkpoint meta (`epoch`, `iter`, `fp16` …), env and config left out",
    )
    args: dict | None = _field(
        M.LATEST,
        "the launch's command-line arguments as it printed them (`Namespace(...)` of DETR's "
        "main.py or detectron2's train_net.py; DINO's config_args_all.json beside a log.txt), read "
        "with `ast` / json: a DETR-family run has no config file, its arguments are its config",
    )
    epoch_base: int | None = _field(
        M.FIRST,
        "the number the log gives its first epoch when it is not 1 (DETR's logs count from 0); "
        "`epoch` counts from 1 whatever the log does, so the log's epoch is epoch - 1 + epoch_base",
    )
    loss_median_of: int | None = _field(
        M.FIRST,
        "each logged loss is already the median of this many iterations (detectron2's writers "
        "log `median(20)` of every loss term): a row is a robust statistic of its own",
    )
    epoch_rows: bool = _field(
        M.FIRST,
        "each train row sums up a whole epoch (DETR's log.txt): it lies "
        "at the end of its epoch; such a log gives no iterations, and `step` counts epochs",
        False,
    )
    exp_name: str | None = _field(M.LATEST, "`Exp name: …` (mmengine repeats it: the first in a file)", pieces=M.FIRST)
    seed: int | None = _field(M.LATEST, "`Set random seed to N` / `seed: N` (the first in a file)", pieces=M.FIRST)
    gpu_number: int | None = _field(M.LATEST, "mmengine's `GPU number: N`")
    distributed: bool | None = _field(M.LATEST, "`Distributed training: True|False`")
    env_gpus: int | None = _field(M.LATEST, "GPUs listed by mmcv's environment block (`GPU 0,1,2,3: …`)", pieces=M.SUM)
    max_epochs: int | None = _field(M.LATEST, "`workflow: …, max: N epochs`")
    max_iters: int | None = _field(M.LATEST, "`workflow: …, max: N iters`")
    resumes: tuple[Resume, ...] = _field(M.CONCAT, "resume records, in file order", (), lines=True)
    checkpoints: tuple[Checkpoint, ...] = _field(M.CONCAT, "`Saving checkpoint at …` messages", (), lines=True)
    traceback: str | None = _field(M.LAST, "`Type: message` of the launch's last Python traceback", pieces=M.LATEST)
    tail: tuple[str, ...] = _field(M.LATEST, "the launch's last lines (how it ended), as logged (text logs)", ())
    start_date: str | None = _field(
        M.PER_LAUNCH,
        "date of the first logger line, as logged (a console line with the year found: `YYYY/mm/dd …`)",
        pieces=M.FIRST,
    )
    start_ms: int | None = _field(M.PER_LAUNCH, "milliseconds of that line (mmcv; 0 for mmengine)", pieces=M.FIRST)
    year: int | None = _field(
        M.PER_LAUNCH, "the year of a console launch whose lines carry none, when known", pieces=M.LATEST
    )
    year_unknown: bool = _field(
        M.PER_LAUNCH,
        "a launch without a known year: its clock counts from a stand-in year (an mmengine "
        "console, detectron2's console log; an ultralytics results.csv, whose clock counts seconds from the start)",
        False,
        pieces=M.LATEST,
    )
    year_from: str | None = _field(M.PER_LAUNCH, "the evidence for `year`", pieces=M.LATEST)
    launch: Launch | None = _field(M.PER_LAUNCH, "its place in a file of several launches (nohup.out)", pieces=M.LATEST)
    config_lines: tuple[int, ...] = _field(
        M.PER_LAUNCH, "1-based lines where a Config dump starts", (), pieces=M.CONCAT, lines=True
    )
    env_lines: tuple[int, ...] = _field(
        M.PER_LAUNCH, "1-based lines where an environment block starts", (), pieces=M.CONCAT, lines=True
    )
    # -- how it was read ---------------------------------------------------------------
    log_lines: int = _field(M.PER_LAUNCH, "logger lines of a text log (0: not a training log)", 0, pieces=M.SUM)
    fast_train_rows: int = _field(M.PER_LAUNCH, "train rows the vectorised paths read", 0, pieces=M.SUM)
    train_lane: bool = _field(
        M.PER_LAUNCH, "a json log's train rows came through the train lane", False, pieces=M.LATEST
    )
    val_lines: ValLines = _field(
        M.PER_LAUNCH, "how the val/test record lines were read", factory=ValLines, pieces=M.SUM
    )
    skipped: dict = _field(M.SUM, "{reason: count} of lines (or fields) not read", factory=dict)
    skipped_lines: dict = _field(
        M.PER_LAUNCH, "{reason: (1-based line, …)}, the first few of each", factory=dict, pieces=M.CONCAT, lines=True
    )
    # -- a text log and its json twin (parsers.twins) --------------------------------------
    twins_read: tuple[str, ...] = _field(M.CONCAT, "json twins whose exact values refined the rows", ())
    twins_not_read: tuple[str, ...] = _field(M.CONCAT, "twin files found but not read", ())
    twin_values_refined: int | None = _field(M.PER_LAUNCH, "values the twin refined", pieces=M.LATEST)

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))
        if isinstance(self.skipped, Counter):
            object.__setattr__(self, "skipped", dict(self.skipped))

    @property
    def rows(self) -> int:
        return len(self.values)


FIELDS = {f.name: f for f in fields(Segment)}
ROW_FIELDS = tuple(n for n, f in FIELDS.items() if f.metadata["pieces"] is Merge.ROWS)
EVAL_FIELDS = tuple(n for n, f in FIELDS.items() if f.metadata["pieces"] is Merge.EVALS)
LINE_FIELDS = tuple(n for n, f in FIELDS.items() if f.metadata["lines"])


def stated(value: Any) -> bool:
    """A value that says something: not None and not an empty string or container."""
    if value is None:
        return False
    if isinstance(value, (str, tuple, list, dict)):
        return len(value) > 0
    return True


def combine(segments: Sequence[Segment], name: str) -> Any:
    """The run's value of field `name`: its segments' values (in time order) combined by the
    field's declared merge policy."""
    f = FIELDS[name]
    return _combine([getattr(s, name) for s in segments], f.metadata["merge"], f, name)


def _combine(values: list, policy: Merge, f: Any, name: str) -> Any:
    default = f.default_factory() if callable(f.default_factory) else f.default
    if policy is Merge.LATEST:
        return next((v for v in reversed(values) if stated(v)), default)
    if policy is Merge.FIRST:
        return next((v for v in values if stated(v)), default)
    if policy is Merge.LAST:
        return values[-1] if values else default
    if policy is Merge.CONCAT:
        if values and isinstance(values[0], Mapping):
            out: dict = {}
            for v in values:
                for k, items in v.items():
                    kept = out.setdefault(k, [])
                    kept.extend(list(items)[: max(0, SKIPPED_LINES_KEPT - len(kept))])
            return {k: tuple(v) for k, v in out.items()}
        return tuple(x for v in values for x in v)
    if policy is Merge.SUM:
        if values and isinstance(values[0], Mapping):
            total: dict = {}
            for v in values:
                for k, c in v.items():
                    total[k] = total.get(k, 0) + c
            return total
        stated_values = [v for v in values if v is not None]
        return sum(stated_values[1:], stated_values[0]) if stated_values else default
    if policy is Merge.UPDATE:
        merged: dict = {}
        for v in values:
            merged.update(v)
        return merged
    raise ValueError(f"Segment.{name} is not combined across launches ({policy.value})")


def concat_pieces(pieces: Sequence[Segment]) -> Segment:
    """Consecutive pieces of ONE launch (line numbers already counted from the file's first
    line, `shift_lines`) as one Segment: what reading the launch whole gives."""
    pieces = list(pieces)
    if len(pieces) == 1:
        return pieces[0]
    out: dict[str, Any] = {}
    for name, f in FIELDS.items():
        policy = f.metadata["pieces"]
        if policy in (Merge.ROWS, Merge.EVALS):
            continue
        out[name] = _combine([getattr(p, name) for p in pieces], policy, f, name)
    out.update(_rows_of(pieces))
    out.update(_evals_of(pieces))
    dropped = out.pop("dropped", 0)
    if dropped:  # the pieces' keys together pass the bound (parsers.bounds)
        out["skipped"] = {**out["skipped"], KEYS_PAST_BOUND: out["skipped"].get(KEYS_PAST_BOUND, 0) + dropped}
    return Segment(**out)


def _rows_of(pieces: list[Segment]) -> dict[str, Any]:
    with_rows = [p for p in pieces if p.rows]
    if not with_rows:
        return {name: getattr(pieces[0], name) for name in ROW_FIELDS}
    if len(with_rows) == 1:
        return {name: getattr(with_rows[0], name) for name in ROW_FIELDS}
    out: dict[str, Any] = {
        name: np.concatenate([getattr(p, name) for p in with_rows])
        for name in ("epoch", "iter", "n", "step", "ts", "eta_s")
    }
    names, values, present, dropped = stack_values([_Part(p) for p in with_rows], lambda part: len(part.values))
    out.update(keys=tuple(names), values=values, present=present)
    if dropped:
        out["dropped"] = dropped  # counted in `skipped` by concat_pieces
    return out


class _Part:
    """A piece's matrix as `stack_values` takes it."""

    def __init__(self, seg: Segment):
        self.names, self.values, self.present = list(seg.keys), seg.values, seg.present


def _evals_of(pieces: list[Segment]) -> dict[str, Any]:
    out: dict[str, list] = {name: [] for name in EVAL_FIELDS}
    rows_before = 0
    for p in pieces:
        for name in EVAL_FIELDS:
            values = getattr(p, name)
            if name == "eval_after_row":  # -1 (before the piece's first row): after the rows before it
                values = [rows_before + int(r) for r in values]
            elif name == "empty_evals":
                values = [replace(e, after_row=rows_before + e.after_row) for e in values]
            out[name].extend(values)
        rows_before += p.rows
    return {name: tuple(v) for name, v in out.items()}


def with_skipped(seg: Segment, reason: str, count: int = 1) -> Segment:
    """The segment with `count` more lines (or fields) not read for `reason`."""
    return replace(seg, skipped={**seg.skipped, reason: seg.skipped.get(reason, 0) + count})


def shift_lines(seg: Segment, by: int) -> Segment:
    """The segment with every line number (the fields declared `lines`) moved by `by`: the
    lines of a piece or a launch read on its own, counted from its file's first line."""
    if not by:
        return seg
    return replace(seg, **{name: _shifted(getattr(seg, name), by) for name in LINE_FIELDS})


def _shifted(value: Any, by: int) -> Any:
    if isinstance(value, Mapping):  # {reason: (line, …)}
        return {k: tuple(n + by for n in v) for k, v in value.items()}
    return tuple(replace(x, line=x.line + by) if hasattr(x, "line") else x + by for x in value)


def slice_rows(seg: Segment, start: int) -> Segment:
    """The segment's train rows from `start` on (views), its facts, no evaluations."""
    changes: dict[str, Any] = {name: getattr(seg, name)[start:] for name in ROW_FIELDS if name != "keys"}
    changes.update({name: () for name in EVAL_FIELDS}, test_metrics={})
    return replace(seg, **changes)


class Draft:
    """A Segment being built: set any of the Segment's fields (nothing else), count skipped
    lines with `skip`, then `freeze()`. Unset fields read as their defaults."""

    def __init__(self, source: str, format: str, library: str, **values: Any):
        self.__dict__["_values"] = {}
        self.source, self.format, self.library = source, format, library
        for name, value in values.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in FIELDS:
            raise AttributeError(f"a Segment has no field {name!r}")
        self._values[name] = value

    def __getattr__(self, name: str) -> Any:
        if name not in FIELDS:
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        f = FIELDS[name]
        value = f.default_factory() if callable(f.default_factory) else f.default
        if isinstance(value, (tuple, dict)):  # a container the builder fills in place
            value = list(value) if isinstance(value, tuple) else value
            self._values[name] = value
        return value

    @property
    def rows(self) -> int:
        values = self._values.get("values")
        return 0 if values is None else len(values)

    def skip(self, reason: str, count: int = 1, lines: Any = ()) -> None:
        """`count` lines (or fields) not read, for `reason`; the first few line numbers kept."""
        if count <= 0:
            return
        skipped = self.skipped
        skipped[reason] = skipped.get(reason, 0) + int(count)
        if len(lines):
            by_reason = self.skipped_lines
            seen = list(by_reason.get(reason, ()))
            seen.extend(int(x) for x in list(lines)[: max(0, SKIPPED_LINES_KEPT - len(seen))])
            by_reason[reason] = seen  # the draft's own dict: changed in place

    def empty_train(self) -> None:
        """No train rows (the fields of an empty segment)."""
        for name in ROW_FIELDS:
            self._values.pop(name, None)

    def freeze(self) -> Segment:
        values = dict(self._values)
        if "skipped_lines" in values:
            values["skipped_lines"] = {r: tuple(ls) for r, ls in values["skipped_lines"].items()}
        return Segment(**values)
