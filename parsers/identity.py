"""Which segments are one run: identity from evidence, never from file names alone.

Segments (one per launch; a file yields one or more, see `parsers.reader.read_file`) whose
files share a run directory and name (`parsers.discovery.run_key`) are *candidates* for one
run. Taken in time order, a segment continues an earlier run only on evidence:

- a resume record: a `resumed epoch E, iter I` / `resumed from epoch: E, iter I` line
  (mmcv, printed by `runner.resume()` after `resume_from` / `load_from`; mmengine
  `resumed epoch: E, iter: I` after `resume=True` / auto-resume), or an mmcv json whose
  first line is checkpoint meta (it carries the checkpoint's `epoch`);
- continuation: its first step follows the previous segment's last step by at most two
  logging intervals, with the same config (ignoring resume_from / load_from / resume /
  work_dir, which a restart may change).

A resumed segment joins, among the earlier runs of the same model type (when the configs
say it) — preferring those whose work dir holds the checkpoint it resumed from — the latest
whose rows reach the resume point (the checkpoint must have been written by it), else the
latest such run with rows, else the latest such run; with no run of its model type it
starts its own (a resume of a checkpoint this log does not hold). Anything else starts a separate run: two attempts of one config in one work dir,
both starting at step 50, are two runs with all their rows.

Names: a candidate group that is one run keeps its name; when it splits, each run is named
`<name>@<launch stamp>` (the `YYYYmmdd_HHMMSS` of its first file, else of its first line),
with `#k` added only when stamps are missing or equal.
"""
from __future__ import annotations

import datetime as _dt
import re

import numpy as np

from parsers.discovery import TIMESTAMP

# config keys a restart of the same run may change
RESTART_KEYS = ("resume_from", "load_from", "resume", "auto_resume", "work_dir", "gpu_ids")
_STAMP = re.compile(TIMESTAMP)


def resume_point(seg, config=None) -> tuple[bool, float | None]:
    """(the segment carries a resume record, the global iteration it resumed from or None).

    `config`: the segment's config (a dict) when known; a json log without resume lines
    counts as resumed when its config asks to resume and its rows start past the first
    logging points (a resume that found no checkpoint starts from scratch).
    """
    resumes = seg.header.get("resumes") or []
    if resumes:
        return True, _number(resumes[0].get("iter"))
    jm = seg.header.get("json_meta") or {}
    if seg.format == "mmcv-json" and jm.get("epoch") is not None:
        return True, _number(jm.get("iter"))
    if seg.format.endswith("json") and isinstance(config, dict) and _asks_to_resume(config) and _starts_late(seg):
        return True, None
    return False, None


def split_runs(segments) -> list[list]:
    """Candidate segments -> runs (lists of segments, each in time order), in time order."""
    from parsers.assemble import segment_order

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
            last = _last_step(run[-1])
            if point is None or (last is not None and last >= point):
                return run
        return with_rows[-1] if with_rows else runs[-1]
    prev = runs[-1][-1]
    if _continues(prev, seg) and _same_config(configs.get(id(prev)), configs.get(id(seg))):
        return runs[-1]
    return None


def _continues(prev, seg) -> bool:
    """`seg`'s first row is the next logging point (at most two) after `prev`'s last."""
    if not prev.rows or not seg.rows:
        return False
    a, b = _positions(prev), _positions(seg)
    if a is None or b is None or a[0] != b[0]:
        return False
    last, first = a[1][-1], b[1][0]
    interval = _interval(a[1]) or _interval(b[1])
    return interval is not None and 0 < first - last <= 2 * interval


def _starts_late(seg) -> bool:
    pos = _positions(seg) if seg.rows else None
    if pos is None:
        return False
    if pos[0] == "epoch-iter":
        return pos[1][0] >= 2e9  # epoch 2 or later
    interval = _interval(pos[1])
    return interval is not None and pos[1][0] > 2 * interval


def _asks_to_resume(cfg: dict) -> bool:
    return cfg.get("resume") is True or cfg.get("auto_resume") is True or bool(cfg.get("resume_from"))


def _positions(seg):
    """(kind, increasing position per row): global steps when the log gives or implies
    them, else (epoch, iter) folded into one number for json rows without `[i/n]`."""
    n = seg.rows
    step = seg.step if seg.step is not None and len(seg.step) == n else None
    if step is not None and not np.isnan(step).any():
        return "step", step
    epoch = seg.epoch if seg.epoch is not None and len(seg.epoch) == n else None
    it = seg.iter if seg.iter is not None and len(seg.iter) == n else None
    if it is None or np.isnan(it).any():
        return None
    if seg.runner == "iter" or epoch is None or np.isnan(epoch).all():
        return "step", it
    per = seg.n if seg.n is not None and len(seg.n) == n else None
    if per is not None and not np.isnan(per).any():
        return "step", (epoch - 1) * per + it
    return "epoch-iter", epoch * 1e9 + it


def _last_step(seg) -> float | None:
    pos = _positions(seg) if seg.rows else None
    return float(pos[1][-1]) if pos is not None and pos[0] == "step" else None


def _interval(x) -> float | None:
    d = np.diff(np.asarray(x, float))
    d = d[d > 0]
    return float(np.median(d)) if len(d) else None


def _config(seg):
    from parsers.config import read_config

    text = seg.header.get("config_text")
    cfg = read_config(text) if text else seg.header.get("config")
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


def launch_stamp(seg) -> str | None:
    """`YYYYmmdd_HHMMSS` of a segment's launch: from its file name, else its first line."""
    parts = str(seg.source).replace("\\", "/").split("/")
    for part in reversed(parts[-3:]):  # <ts>.log, <ts>/<ts>.log, <ts>/vis_data/scalars.json
        m = _STAMP.search(part)
        if m:
            return m.group(0)
    if seg.header.get("year_unknown"):
        return None  # a console launch without a year: its clock counts from a stand-in year
    from parsers.assemble import _parse_date

    start = _parse_date(seg.header.get("start_date"))
    if start is None and seg.ts is not None and len(seg.ts) and np.isfinite(seg.ts[0]):
        start = float(seg.ts[0])
    return None if start is None else _dt.datetime.fromtimestamp(start, _dt.timezone.utc).strftime("%Y%m%d_%H%M%S")


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
