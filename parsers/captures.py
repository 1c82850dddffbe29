"""One run captured twice: a runner's log file and the terminal's copy of it.

A run writes its `<ts>.log`, and the scheduler keeps what the terminal showed (slurm-*.out,
nohup.out): the same logger lines, the console's without the year (mmengine), with the
tracebacks and prints the file never gets. Read apart they are two runs, every finding
printed twice. What they share is the rows themselves: the same steps, the same losses, at
the same times of the same days — `capture_digest` of a Run (Meta.capture) — which two different runs
never do, even of one config and seed (their clocks differ).

`drop_copies` reads such a pair once: of runs with one digest, the console captures and the
runner's log files are one run; the side that says more of how it ended is kept (a
traceback, which only a console captures), else the log file; the other side is named in a
note and in the kept run's `Meta.copies`. Runs of one digest and one kind (a log copied to
another folder: the same bytes) are left as they are: a copy made on purpose is not a second
capture, and nothing tells which one the user means.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from parsers.run import Run

DAY = 86400


def capture_digest(train, segments, pos, keep, config=None) -> str | None:
    """A digest of the run as logged — its config, the keys it logs, each train row's global
    step, loss at the text's 4 decimals and the second (and day) of its line — or None for
    rows without a clock (JSON logs) or without a loss."""
    steps, losses, seconds = [], [], []
    for s, p, kp in zip(segments, pos, keep):
        if not s.rows or "loss" not in s.keys or len(s.ts) != s.rows:
            continue
        steps.append(p["step"][kp])
        losses.append(s.values[kp, s.keys.index("loss")])
        seconds.append(s.ts[kp])
    if not steps or not len(train):
        return None
    ts = np.concatenate(seconds)
    if not np.isfinite(ts).any():
        return None
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(sorted((config or {}).items(), key=lambda kv: str(kv[0]))).encode())
    h.update("\n".join(sorted(train.columns)).encode())
    for column in (np.concatenate(steps), np.concatenate(losses) * 1e4, _date_without_year(ts)):
        # rounded, hashed as floats: a huge loss (1e300) has no int64
        h.update(np.where(np.isfinite(column), np.round(column), -1.0).tobytes())
    return h.hexdigest()


def _date_without_year(ts: np.ndarray) -> np.ndarray:
    """Each unix time as MMDDhhmmss (a console line without a year was dated in a stand-in
    year: the month, day and time of day are what two captures share); NaN stays NaN."""
    finite = np.isfinite(ts)
    t = np.where(finite, np.floor(ts), 0).astype("datetime64[s]")
    month = (t.astype("datetime64[M]") - t.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (t.astype("datetime64[D]") - t.astype("datetime64[M]")).astype(np.int64) + 1
    second = (t - t.astype("datetime64[D]")).astype(np.int64)
    return np.where(finite, (month * 100 + day) * DAY + second, np.nan)


def drop_copies(items: Sequence[Any], meta_of: Callable[[Any], Any] = lambda run: run.meta) -> tuple[list, list[str]]:
    """(`items` with one item per capture digest, notes naming the copies left out). Items are
    Runs, or anything whose `meta_of(item)` is a Meta (or its mapping view); a kept Run gets
    the copies in `Meta.copies`."""
    groups: dict[str, list[int]] = {}
    for k, item in enumerate(items):
        digest = meta_of(item).get("capture")
        if digest:
            groups.setdefault(digest, []).append(k)
    drop: set[int] = set()
    copies: dict[int, list[str]] = {}
    notes = []
    for members in groups.values():
        consoles = [k for k in members if meta_of(items[k]).get("format") == "console"]
        files = [k for k in members if k not in consoles]
        if not consoles or not files:
            continue
        kept = max(members, key=lambda k: _says_more(meta_of(items[k]), -k))
        for k in files if kept in consoles else consoles:
            if k != kept:
                drop.add(k)
                sources = list(meta_of(items[k]).get("sources") or [])
                copies.setdefault(kept, []).extend(sources)
                mine = meta_of(items[kept])
                where = ", ".join(mine.get("sources") or [])
                notes.append(
                    f"{', '.join(sources)}: the same run as {mine.get('name')} ({where}), a copy of its log: read once"
                )
    out = []
    for k, item in enumerate(items):
        if k in drop:
            continue
        out.append(_with_copies(item, copies[k]) if k in copies and isinstance(item, Run) else item)
    return out, notes


def _says_more(meta, tie: int) -> tuple:
    ended = str(meta.get("ended") or "")
    fmt = str(meta.get("format") or "")
    return (ended.startswith("traceback"), fmt != "console", tie)


def _with_copies(run: Run, copies: list[str]) -> Run:
    """The Run with `Meta.copies` (its frames shared, its layers still built on first use)."""
    return Run(
        meta=replace(run.meta, copies=tuple(copies)),
        train=run.train,
        layers=run.__dict__["_layers"],
        evals=run.evals,
        eval_strings=run.eval_strings,
        superseded=run.superseded,
    )
