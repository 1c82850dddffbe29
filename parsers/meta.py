"""`Run.meta`: what a run's logs say about it, typed and frozen.

Every fact a module writes about a run is a field of `Meta` (or of its nested `LrSchedule`,
`Segments`/`SegmentInfo`, `ResumePoint`), declared here once with its meaning; None means
"the log does not say". A `Meta` is built once (parsers.assemble) and never written after:
a changed copy is `dataclasses.replace(meta, total_batch=16)`.

Two ways to read it:
- attributes, typed (preferred): `meta.total_batch`, `meta.lr_schedule.warmup_iters`,
  `meta.segments[1].resumed_from.epoch`;
- read-only mapping access, the JSON-shaped view (`meta["lr_schedule"]`, `meta.get("x")`,
  `dict(meta)`, `meta.items()`): nested records come back as plain dicts and tuples as
  lists, exactly as `bevlog diagnose --format json` prints them. Fresh objects, so editing
  them never changes the Meta.

Dict-valued fields (`config`, `skipped`, `skipped_lines`, `optimizers`, `test_metrics`) are
plain dicts for speed and pickling; treat them as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any


def _frozen_set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)  # normalising in __post_init__ of a frozen dataclass


@dataclass(frozen=True)
class LrSchedule:
    """The lr schedule of the config (mmcv `lr_config` or mmengine `param_scheduler`)."""

    policy: str | None = None  # mmcv policy ('step', 'CosineAnnealing' …) or mmengine scheduler type
    steps: tuple | None = None  # epochs (by_epoch) or iterations where a step schedule decays
    warmup: str | None = None  # warmup kind ('linear', 'constant', 'exp' …), None without warmup
    warmup_iters: float | None = None  # length of the warmup in iterations
    warmup_ratio: float | None = None  # lr at the start of warmup / base lr
    by_epoch: bool | None = None  # the schedule counts epochs (True) or iterations (False)

    def __post_init__(self):
        if isinstance(self.steps, list):
            _frozen_set(self, "steps", tuple(self.steps))

    def as_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v, tuple) else v) for f in fields(self) for v in [getattr(self, f.name)]}


@dataclass(frozen=True)
class ResumePoint:
    """Where a segment resumed: the checkpoint's epoch and iteration, as the log states them."""

    epoch: int | float | None = None
    iter: int | float | None = None

    def as_dict(self) -> dict:
        return {"epoch": self.epoch, "iter": self.iter}


@dataclass(frozen=True)
class EmptyEvaluation:
    """An evaluation that ran and produced no metric: where the log puts it, and the error the
    launch logged just before it (None: none logged)."""

    epoch: float | None  # the epoch it evaluated (None for iteration runners)
    step: float | None  # the global iteration it was run at (None when unknown)
    where: str  # `file:line` of its `Epoch(val)` / `Iter(val)` record
    error: str | None  # the ERROR message logged just before it, as logged

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SegmentInfo:
    """One file of a run (a launch: the first one or a resume)."""

    index: int  # position in time order; equals the `segment` column of `Run.train`
    source: str  # the file it was read from (display name)
    format: str  # a row name of parsers.formats (mmcv-text, mmengine-json, detr-json …)
    rows: int  # train rows of this file kept in the run (after overlap with the next file)
    first_step: float | None  # first global step logged in this file (before any overlap is dropped)
    last_step: float | None  # last global step logged in this file
    start: str | None  # launch time from the header ('YYYY-mm-dd HH:MM:SS'), None if not logged
    resumed_from: ResumePoint | None  # the checkpoint this launch resumed from, None for a fresh start
    dropped_rows: int  # rows of this launch re-run by a later launch (a resume of an earlier checkpoint)
    ended: str = "unknown"  # how this launch ended, as Meta.ended reads for the run (`traceback: …` …)

    def __post_init__(self):
        if isinstance(self.resumed_from, Mapping):
            _frozen_set(self, "resumed_from", ResumePoint(**self.resumed_from))

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.resumed_from is not None:
            out["resumed_from"] = self.resumed_from.as_dict()
        return out


@dataclass(frozen=True)
class Segments(Sequence):
    """The files of a run in time order (one for a run without resumes); a sequence of
    `SegmentInfo`. Row k of `Run.train` belongs to `self[train.segment[k]]`."""

    parts: tuple = ()  # SegmentInfo, in time order

    def __post_init__(self):
        _frozen_set(self, "parts", tuple(p if isinstance(p, SegmentInfo) else SegmentInfo(**p) for p in self.parts))

    def __getitem__(self, k):
        return self.parts[k]

    def __len__(self) -> int:
        return len(self.parts)

    @property
    def dropped_rows(self) -> int:
        """Rows replaced by a later segment that re-ran their steps, over all segments."""
        return sum(p.dropped_rows for p in self.parts)

    def as_list(self) -> list[dict]:
        return [p.as_dict() for p in self.parts]


@dataclass(frozen=True)
class Meta(Mapping):
    """Facts about one run (see the module docstring for the two ways to read them)."""

    name: str = ""  # display name: the work dir, wandb run dir, else the file name without suffixes
    sources: tuple = ()  # the files read, one per segment, in time order (display names)
    format: str | None = None  # a row name of parsers.formats (mmcv-text, detr-json …), 'a+b' when mixed
    library: str | None = None  # mmcv | mmengine | detr | detectron2 | tensorboard
    runner: str | None = None  # epoch | iter
    max_epochs: int | None = None  # planned epochs (the latest segment's plan wins)
    max_iters: int | None = None  # planned iterations (iter runners; `Iter [i/n]`'s n when not in the config)
    iters_per_epoch: int | None = None  # `[i/n]` of epoch-runner lines, the config's, or an estimate
    iters_per_epoch_estimated: bool | None = None  # iters_per_epoch is an estimate (json logs without `[i/n]`)
    # the config, read with `ast` (never executed), latest segment's; else the printed arguments (Segment.args)
    config: dict | None = None
    samples_per_gpu: int | None = None  # `data.samples_per_gpu` / `train_dataloader.batch_size`
    num_gpus: int | None = None  # from the header (GPU number, Distributed training, GPU list) or config
    total_batch: int | None = None  # samples_per_gpu × num_gpus
    optimizer: str | None = None  # optimizer type of param group 0's optimizer ('AdamW' …)
    optimizers: dict | None = None  # {name: optimizer config} when the config defines several
    lr: float | None = None  # base lr of the config's (first) optimizer
    weight_decay: float | None = None  # of the (first) optimizer
    grad_clip: float | None = None  # max_norm of gradient clipping, None when off or unknown
    lr_schedule: LrSchedule | None = None  # the lr schedule of the config
    fp16: bool | None = None  # mixed precision (fp16 config, Fp16/Amp optimizer wrapper)
    num_decoder_layers: int | None = None  # from the config, else counted from logged per-layer losses
    has_aux_loss: bool | None = None  # intermediate decoder layers carry their own losses
    segments: Segments = field(default_factory=Segments)  # the files of the run (resumes) in time order
    skipped: dict = field(default_factory=dict)  # {reason: count} of lines (or fields) not read
    skipped_lines: dict = field(default_factory=dict)  # {reason: ['file:line', …]}, the first few of each
    ended: str = "unknown"  # finished | stopped | traceback: <exception line> | before first iteration | unknown
    log_interval: int | None = None  # iterations between logged train rows (config, else median)
    exp_name: str | None = None  # mmcv's exp_name (the config file name)
    seed: int | None = None  # the random seed logged by the runner
    test_metrics: dict | None = None  # {metric: value} of `runner.test()` (Epoch(test) line / test dump)
    wall_s_estimated: bool | None = None  # wall_s summed from `time` (json logs carry no clock)
    lr_key: str | None = None  # the logged key behind the `lr` column ('lr', or the first 'lr_<name>')
    twins: tuple = ()  # json twins whose exact values refined the text rows
    twins_not_read: tuple = ()  # twin files found but not read (unreadable, or not needed)
    replaced_rows: int = 0  # rows of earlier segments replaced by a resume's re-run of the same steps
    started: str | None = None  # the launch stamp (YYYYmmdd_HHMMSS) of the run's first segment
    tail: tuple = ()  # the last lines of the run's last text launch (how it ended), as logged
    starts_mid_run: bool = False  # its first row lies past the run's first logging points and no resume is logged
    empty_evaluations: tuple = ()  # EmptyEvaluation: evaluations that ran and produced no metric
    num_gpus_from: str | None = None  # the evidence for num_gpus (see parsers.config_facts.num_gpus)
    gpus_listed: int | None = None  # GPUs the environment block lists: visible, not necessarily used
    capture: str | None = None  # digest of the train rows (steps, loss, time of day) that captures of one run share
    copies: tuple = ()  # other files that hold this very run (a console copy of its log): read once, not twice
    # the log counts epochs (and iterations in them) from this number, not 1 (DETR: 0): log's = epoch - 1 + base
    epoch_base: int | None = None
    # each logged loss is already the median of this many iterations (detectron2: 20); None: as it came
    loss_median_of: int | None = None
    step_unit: str = "iteration"  # what `step` counts: "iteration", or "epoch" (one row per epoch, no iterations)

    def __post_init__(self):
        if isinstance(self.lr_schedule, Mapping):
            _frozen_set(self, "lr_schedule", LrSchedule(**self.lr_schedule))
        if not isinstance(self.segments, Segments):
            _frozen_set(self, "segments", Segments(tuple(self.segments or ())))
        empty = tuple(e if isinstance(e, EmptyEvaluation) else EmptyEvaluation(**e) for e in self.empty_evaluations)
        _frozen_set(self, "empty_evaluations", empty)
        for name in ("sources", "twins", "twins_not_read", "tail", "copies"):
            if not isinstance(getattr(self, name), tuple):
                _frozen_set(self, name, tuple(getattr(self, name) or ()))
        if self.skipped is None:
            _frozen_set(self, "skipped", {})
        if self.skipped_lines is None:
            _frozen_set(self, "skipped_lines", {})

    # -- read-only mapping access: the JSON-shaped view --------------------------------
    def __getitem__(self, key: str) -> Any:
        if key not in _FIELD_NAMES:
            raise KeyError(key)
        return _plain(getattr(self, key))

    def __contains__(self, key) -> bool:
        return key in _FIELD_NAMES

    def __iter__(self):
        return iter(_FIELD_NAMES)

    def __len__(self) -> int:
        return len(_FIELD_NAMES)

    __hash__ = None  # type: ignore[assignment]  # holds dicts (config); equality is field by field


def _plain(value):
    """Typed records -> the dicts/lists they are printed as."""
    if isinstance(value, Segments):
        return value.as_list()
    if isinstance(value, (LrSchedule, ResumePoint, SegmentInfo)):
        return value.as_dict()
    if isinstance(value, tuple):
        return [v.as_dict() if isinstance(v, EmptyEvaluation) else v for v in value]
    return value


_FIELD_NAMES = tuple(f.name for f in fields(Meta))
META_KEYS = list(_FIELD_NAMES)
