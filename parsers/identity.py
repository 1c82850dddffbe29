"""Which segments are one run: identity from evidence, never from file names alone.

Segments (one per launch; a file yields one or more, `parsers.read_file`) whose
files share a run directory and name (`parsers.discovery.run_key`) are *candidates* for one
run. Taken in time order (`parsers.launches.segment_order`), a segment continues an earlier
run only on evidence:

- it is a resume (`resume_point`): it carries a resume record (`parsers.launches.
  resume_record`), or it is a json log whose config asks to resume and whose rows start
  late;
- continuation: its first step follows the previous segment's last step by at most two
  logging intervals (`parsers.positions`), with the same config (ignoring resume_from /
  load_from / resume / work_dir, which a restart may change) — across files only: two
  launches of one file are two processes, and one that did not resume started afresh.

A resumed segment joins, among the earlier runs of the same model type (when the configs
say it) — preferring those whose work dir holds the checkpoint it resumed from — the latest
whose rows reach the resume point (the checkpoint must have been written by it), else the
latest such run with rows, else the latest such run; with no run of its model type it
starts its own (a resume of a checkpoint this log does not hold). Anything else starts a
separate run: two attempts of one config in one work dir, both starting at step 50, are two
runs with all their rows.

Names: a candidate group that is one run keeps its name; when it splits, each run is named
`<name>@<launch stamp>` (the `YYYYmmdd_HHMMSS` of its first file, else of its first line),
with `#k` added only when stamps are missing or equal.
"""

from __future__ import annotations

import numpy as np

from parsers.config import read_config
from parsers.launches import EPOCH_SCALE, launch_stamp, resume_record, segment_order
from parsers.positions import last_step, launch_positions, median_step
from parsers.segment import Segment

# config keys a restart of the same run may change
RESTART_KEYS = ("resume_from", "load_from", "resume", "auto_resume", "work_dir", "gpu_ids")
EPOCH_TWO = 2 * EPOCH_SCALE  # `launch_positions` of epoch 2, iter 0: (epoch, iter) folded


def resume_point(seg: Segment, config=None) -> tuple[bool, float | None]:
    """(the launch is a resume, the global iteration it resumed from or None).

    `config`: the segment's config (a dict) when known; a json log without a resume record
    counts as resumed when its config asks to resume and its rows start past the first
    logging points (a resume that found no checkpoint starts from scratch).
    """
    record = resume_record(seg)
    if record is not None:
        return True, _number(record.iter)
    if seg.format.endswith("json") and isinstance(config, dict) and _asks_to_resume(config) and _starts_late(seg):
        return True, None
    return False, None


def split_runs(segments) -> list[list]:
    """Candidate segments -> runs (lists of segments, each in time order), in time order."""
    ordered = sorted(segments, key=segment_order)
    configs = {id(s): _config(s) for s in ordered} if len(ordered) > 1 else {}
    runs: list[list] = []
    for seg in ordered:
        target = _run_to_join(runs, seg, configs)
        if target is None:
            runs.append([seg])
        else:
            target.append(seg)
    return runs


def _run_to_join(runs, seg, configs):
    if not runs:
        return None
    resumed, point = resume_point(seg, configs.get(id(seg)))
    if resumed:
        mine = configs.get(id(seg))
        compatible = [r for r in runs if _same_model(configs.get(id(r[-1])), mine)]
        if not compatible:
            return None  # a checkpoint of another model than any earlier launch's
        runs = [r for r in compatible if _same_place(configs.get(id(r[-1])), mine)] or compatible
        with_rows = [r for r in runs if any(s.rows for s in r)]
        for run in reversed(with_rows):
            last = last_step(run[-1])
            if point is None or (last is not None and last >= point):
                return run
        return with_rows[-1] if with_rows else runs[-1]
    prev = runs[-1][-1]
    if _continues(prev, seg) and _same_config(configs.get(id(prev)), configs.get(id(seg))):
        return runs[-1]
    return None


def _continues(prev, seg) -> bool:
    """`seg`'s first row is the next logging point (at most two) after `prev`'s last. Not
    for two launches of one file: the file itself says a new process began there, and one
    that did not resume started afresh (detectron2 logs iteration 19 first: after a crash at
    iteration 2, the next launch's steps only look continued)."""
    if not prev.rows or not seg.rows:
        return False
    if prev.source == seg.source and prev.launch is not None and seg.launch is not None:
        return False
    a, b = launch_positions(prev), launch_positions(seg)
    if a is None or b is None or a[0] != b[0]:
        return False
    last, first = a[1][-1], b[1][0]
    interval = median_step(a[1]) or median_step(b[1])
    return interval is not None and 0 < first - last <= 2 * interval


def _starts_late(seg: Segment) -> bool:
    pos = launch_positions(seg) if seg.rows else None
    if pos is None:
        return False
    if pos[0] == "epoch-iter":
        return pos[1][0] >= EPOCH_TWO  # epoch 2 or later
    interval = median_step(pos[1])
    return interval is not None and pos[1][0] > 2 * interval


def _asks_to_resume(cfg: dict) -> bool:
    return cfg.get("resume") is True or cfg.get("auto_resume") is True or bool(cfg.get("resume_from"))


def _config(seg: Segment):
    cfg = read_config(seg.config_text) if seg.config_text else None
    return cfg if isinstance(cfg, dict) else None


def _same_config(a, b) -> bool:
    """Equal configs but for what a restart of the same run may change; two logs without a
    config count as the same (nothing says otherwise, and their steps continue)."""
    if a is None or b is None:
        return a is None and b is None
    strip = lambda cfg: {k: v for k, v in cfg.items() if k not in RESTART_KEYS}  # noqa: E731
    return repr(sorted(strip(a).items(), key=lambda kv: kv[0])) == repr(sorted(strip(b).items(), key=lambda kv: kv[0]))


def _same_model(a, b) -> bool:
    """Could a checkpoint of the run with config `a` be resumed by the launch with config `b`?
    Not when the model types differ; unknown (a config or the key missing) does not say no."""
    if a is None or b is None:
        return True
    x, y = _get(a, ("model", "type")), _get(b, ("model", "type"))
    return x is None or y is None or x == y


def _same_place(a, b) -> bool:
    """Does the launch with config `b` resume from where the run with config `a` saved? Its
    explicit checkpoint (`resume_from` / `load_from`) lies in `a`'s work dir, or, resuming
    automatically (mmengine `resume=True` without a path), it has the same work dir.
    Checkpoints copied elsewhere happen: this only prefers a run, it never excludes one."""
    if a is None or b is None:
        return False
    wd = _get(a, ("work_dir",))
    if not isinstance(wd, str) or not wd.strip("./"):
        return False
    path = next((p for p in (_get(b, ("resume_from",)), _get(b, ("load_from",))) if isinstance(p, str) and p), None)
    if path is None:
        return wd == _get(b, ("work_dir",))
    name = wd.rstrip("/").split("/")[-1]
    return f"/{name}/" in f"/{path}"


def _get(cfg: dict, path: tuple):
    for key in path:
        if not isinstance(cfg, dict) or key not in cfg:
            return None
        cfg = cfg[key]
    return cfg


def run_names(base: str, runs) -> list[str]:
    """Names of the runs one candidate group split into (see the module doc)."""
    if len(runs) == 1:
        return [base]
    names = [f"{base}@{launch_stamp(r[0])}" if launch_stamp(r[0]) else base for r in runs]
    return dedupe(names)


def dedupe(names: list[str]) -> list[str]:
    """`#k` on every name that occurs more than once (k = 1, 2 … in order)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if names.count(name) > 1:
            seen[name] = seen.get(name, 0) + 1
            name = f"{name}#{seen[name]}"
        out.append(name)
    return out


def _number(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None
