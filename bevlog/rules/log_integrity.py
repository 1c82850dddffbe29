"""log-integrity: resumes, repeated or backwards steps, iters/epoch changing, and how the log ended.

A run that ended in a Python traceback is an error naming the exception (type and message of
the last traceback, and the frame that raised it); a log with a full header and not one
train row died before its first iteration (an error quoting its last lines); a log that stops
before its planned end (or in the middle of an epoch when the plan is unknown) is a warning
— unless the log is still being written (`bevlog watch`). Resumes are noted (info): the
run is stitched from segments, and rows of an earlier segment that a later one re-ran are
dropped. Unparseable lines are counted by reason by the parser and noted here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import column, doc, finding, signals, where

RULE_ID = "log-integrity"
SUMMARY = "resumes, repeated/backwards steps, iters/epoch changing, a run that stopped early or crashed"

@dataclass(frozen=True)
class Thresholds:
    skipped_note: int = doc(1, "unparseable lines (of reasons other than known noise) that earn a note")


def find_log_integrity(run, th: Thresholds = Thresholds(), live: bool = False):
    """`live`: the log is still being written (`bevlog watch`): a log that stops is not news."""
    meta = run.meta
    sig = signals(run)
    n = len(sig.step)
    last = n - 1 if n else None
    out = []
    ended = str(meta.get("ended") or "")
    total = _planned_steps(meta)
    progress = _progress(sig, total)

    never = n == 0 and (run.evals is None or not len(run.evals)) and _has_header(meta)
    if never:
        out.append(_never_trained(run, sig, ended, live))
    elif ended.startswith("traceback"):
        out.append(_died(run, sig, ended, progress, total))
    elif ended == "stopped" and not live:
        msg = f"the log stops {progress}without an error: killed, out of time, or still running"
        out.append(finding(run, RULE_ID, "warning", sig, last, last, msg,
                           {"kind": "stopped", "last_step": _int(sig.step[-1]) if n else None,
                            "planned_steps": total},
                           "resume from the last checkpoint (resume_from / --resume) if it was cut off", []))

    segments = meta.get("segments") or []
    resumed = [s for s in segments if isinstance(s, dict) and s.get("resumed_from")]
    if len(segments) > 1 or resumed:
        parts = []
        for s in resumed:
            r = s["resumed_from"]
            parts.append(f"epoch {r.get('epoch')}, iter {r.get('iter')}")
        dropped = sum(int(s.get("dropped_rows") or 0) for s in segments if isinstance(s, dict))
        msg = ((f"the log has {len(segments)} segments" if len(segments) > 1 else "the log starts at a resume")
               + (f", resumed from {'; '.join(parts)}" if parts else "")
               + (f"; {dropped} rows re-run after a resume were replaced by the later segment" if dropped else "")
               + ": the run is stitched at the resume")
        first = _row_of(sig.step, resumed[0].get("first_step")) if resumed else None
        out.append(finding(run, RULE_ID, "info", sig, first, first, msg,
                           {"kind": "resume", "segments": len(segments), "resumed_from": [s["resumed_from"] for s in resumed],
                            "dropped_rows": dropped},
                           "compare across the resume with care (optimizer state, data order, lr phase)", []))

    raw = run.train
    if raw is not None and len(raw) and "step" in raw:
        steps = np.asarray(raw["step"], dtype=float)
        steps = steps[np.isfinite(steps)]
        dup = int(len(steps) - len(np.unique(steps)))
        back = int((np.diff(steps) < 0).sum())
        if dup or back:
            parts = ([f"{dup} row{'s' if dup > 1 else ''} repeat{'' if dup > 1 else 's'} a step"] if dup else []) + \
                    ([f"the step goes backwards {back} time{'s' if back > 1 else ''}"] if back else [])
            msg = " and ".join(parts) + ": the log mixes runs, or a resume was not stitched"
            out.append(finding(run, RULE_ID, "warning", sig, None, None, msg,
                               {"kind": "steps", "duplicated": dup, "backwards": back},
                               "read each run's logs separately, or the segments of one run together", []))

    ipe = column(sig.t, "iters_per_epoch")
    values = np.unique(ipe[np.isfinite(ipe)])
    if len(values) > 1:
        changes = np.flatnonzero(np.diff(ipe) != 0)
        changes = [int(i) + 1 for i in changes if np.isfinite(ipe[i]) and np.isfinite(ipe[i + 1])]
        at = changes[0] if changes else 0
        msg = (f"iterations per epoch change during the run ({', '.join(str(int(v)) for v in values)}), "
               f"first at {where(sig, at)}: the batch, GPU count or dataset changed")
        out.append(finding(run, RULE_ID, "warning", sig, at, at, msg,
                           {"kind": "iters_per_epoch", "values": [int(v) for v in values]},
                           "compare the parts by samples seen (--align samples), not by epoch", []))

    skipped = meta.get("skipped") or {}
    worth = {k: v for k, v in skipped.items() if v and _worth_noting(k)}
    if sum(worth.values()) >= th.skipped_note:
        msg = "lines the parser could not read: " + ", ".join(f"{v} {k}" for k, v in worth.items())
        out.append(finding(run, RULE_ID, "info", sig, None, None, msg,
                           {"kind": "skipped", "skipped": worth},
                           "nothing to change in training; check the log was not cut or interleaved", []))
    return out


def _crash(meta, ended):
    """The last traceback of the run's last launch (type, message, raising frame, from the
    tail lines the parser kept); the parser's one-line reading of it otherwise."""
    from parsers import Crash, last_traceback

    crash = last_traceback(list(meta.get("tail") or [])) if ended.startswith("traceback") else None
    if crash is None and ended.startswith("traceback"):
        exc = ended.split(":", 1)[1].strip() if ":" in ended else ""
        kind, _, message = exc.partition(":")
        crash = Crash(kind.strip() or "an exception", message.strip(), None, None, None)
    return crash


def _died(run, sig, ended, progress, total):
    crash = _crash(run.meta, ended)
    n = len(sig.step)
    raised = f", raised in {crash.where}" if crash.file else ""
    raised += f" (called from {crash.caller})" if crash.caller else ""
    msg = f"the run died {progress}with {crash.exception}{raised}"
    at = f" raised at {_short(crash.file)}:{crash.line}" if crash.file else " at the end of the log"
    if crash.caller:
        own = crash.caller.split('"')[1] if crash.caller.count('"') >= 2 else crash.caller
        at += f" (called from the run's own {_short(own)})"
    return finding(run, RULE_ID, "error", sig, n - 1 if n else None, n - 1 if n else None, msg,
                   {"kind": "traceback", "exception": crash.exception, "exception_type": crash.type,
                    "exception_message": crash.message, "raised_at": crash.where, "called_from": crash.caller,
                    "last_step": _int(sig.step[-1]) if n else None, "planned_steps": total},
                   f"fix the {crash.type}{at}, then resume from the last checkpoint", [])


def _short(path: str) -> str:
    """An installed package's file from its package name on (mmcv/runner/hooks/logger/text.py),
    any other file by its last three parts: enough to find it, short enough to read."""
    parts = path.replace("\\", "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(marker):])
    return "/".join(parts[-3:])


def _has_header(meta) -> bool:
    """The log says what it was going to train: a header with a plan or a config."""
    return bool(meta.get("max_epochs") or meta.get("max_iters") or meta.get("config"))


def _never_trained(run, sig, ended, live):
    """A header and not one train row: the run died (or is still starting) before iteration 1."""
    from parsers import last_lines

    lines = list(run.meta.get("tail") or [])  # the last lines of this run's own launch
    crash = _crash(run.meta, ended)
    ends = last_lines(lines, 3)
    quoted = " / ".join(f"“{line.strip()}”" for line in ends)
    cause = f" with {crash.exception}" if crash else " without an error"
    severity = "info" if live and not crash else "error"
    msg = (f"the log has a full header but not one train row: the run died before its first iteration{cause}"
           + (f"; it ends with {quoted}" if quoted else ""))
    evidence = {"kind": "never_trained", "last_lines": ends, "segments": len(run.meta.get("segments") or []) or 1}
    if crash:
        evidence.update(exception=crash.exception, exception_type=crash.type, raised_at=crash.where)
        fix = f"fix the {crash.type} it died of, then start again"
    else:
        fix = ("see what the launch did after its last line (out of memory, killed by the scheduler, a data "
               "loader that hangs): run it in the foreground with one worker (workers_per_gpu=0) to see the error")
    return finding(run, RULE_ID, severity, sig, None, None, msg, evidence, fix, [])


def _worth_noting(reason: str) -> bool:
    """Tracebacks, prints and progress bars in a console capture are expected noise."""
    r = reason.lower()
    return any(w in r for w in ("truncat", "malformed", "without", "bad", "invalid", "unparse", "garbled"))


def _planned_steps(meta):
    if meta.get("runner") == "iter" and meta.get("max_iters"):
        return int(meta["max_iters"])
    if meta.get("max_epochs") and meta.get("iters_per_epoch"):
        return int(meta["max_epochs"] * meta["iters_per_epoch"])
    return None


def _progress(sig, total):
    if not len(sig.step):
        return ""
    at = where(sig, len(sig.step) - 1)
    if total:
        return f"at {at} (step {int(sig.step[-1]):,} of {total:,}, {sig.step[-1] / total:.0%}) "
    return f"at {at} (step {int(sig.step[-1]):,}) "


def _row_of(steps, s):
    if s is None or not len(steps):
        return None
    return int(np.clip(np.searchsorted(steps, float(s)), 0, len(steps) - 1))


def _int(x):
    return int(x) if np.isfinite(x) else None
