"""log-integrity: how the log ended, resumes, repeated or backwards steps, iters/epoch changing.

A run that ended in a Python traceback is an error naming the exception (type and message of
the last traceback, and the frame that raised it) — unless the exception is a stop: a
`KeyboardInterrupt` is a person pressing Ctrl-C, a `SignalException` or a SIGTERM/SIGKILL line is a
scheduler (or the OOM killer) ending the job; those are "stopped" (a note, with how far it got),
not an error to fix. A log with a full header and not one train row died before its first
iteration (an error quoting its last lines) — or, while the log is still being written (`bevlog
watch`), is waiting for its first iteration. A run of which no train row was understood at all is
never "healthy": that is a warning of its own. A log that stops before its planned end without a
word (or in the middle of an epoch when the plan is unknown) is a warning — unless the log is still
being written. Only a console capture records tracebacks: a log file the logger writes (`.log`,
`.log.json`) is silent about an exception, so its silence is reported as "no error logged", never as
"without an error". Resumes are noted (info): the run is stitched from segments, and rows of an earlier
segment that a later one re-ran are kept apart (the `earlier-attempt` rule reads them). A log that
starts in the middle of a run without a resume line is noted too: what came before is not in it.
Unparseable lines are counted by reason by the parser and noted here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bevlog.evaluations import headline_series
from bevlog.rules._common import (
    column,
    doc,
    finding,
    fmt,
    loss_columns,
    phase_of,
    resume_words,
    row_terms,
    signals,
    where,
)
from bevlog.schedule import total_iters
from parsers import Crash, last_lines, last_traceback

RULE_ID = "log-integrity"
SUMMARY = "how the run ended (crash, stop, never trained), resumes, repeated/backwards steps, iters/epoch changing"
# a line of the log's tail that says a signal ended the job (torch elastic, slurm, the shell)
SIGNAL_LINE = re.compile(
    r"SIGTERM|SIGKILL|SIGHUP|Signals\.SIG\w+|got signal:? ?\d+|^Killed$|^Terminated$|"
    r"CANCELLED AT|DUE TO TIME LIMIT|oom[-_ ]kill",
    re.IGNORECASE,
)
# exceptions that are a stop, not a failure
STOP_EXCEPTIONS = {
    "KeyboardInterrupt": "by a person (KeyboardInterrupt: Ctrl-C)",
    "SignalException": "by a signal (a scheduler, or the OOM killer)",
    "BdbQuit": "by a person (bdb.BdbQuit: quit from the debugger)",
}
# Python's debugger raises BdbQuit from its own module when a person quits it (`q` at a pdb prompt)
DEBUGGER_FILE = re.compile(r"(^|[/\\])bdb\.py$")
UNNAMED = "an exception"  # the parsers' word for an exception whose name the log does not show


@dataclass(frozen=True)
class Thresholds:
    skipped_note: int = doc(1, "unparseable lines (of reasons other than known noise) that earn a note")


def find_log_integrity(run, th: Thresholds = Thresholds(), live: bool = False):
    """`live`: the log is still being written (`bevlog watch`): a log that stops is not news."""
    sig = signals(run)
    out = _ending(run, sig, live)
    out += _structure(run, sig)
    out += _skipped(run, sig, th)
    return out


def _ending(run, sig, live):
    meta = run.meta
    n = len(sig.step)
    last = n - 1 if n else None
    ended = str(meta.ended or "")
    total = _planned_steps(meta)
    progress = _progress(sig, total)
    has_evals = run.evals is not None and len(run.evals) > 0
    if n == 0 and not has_evals and _has_header(meta):
        return [_never_trained(run, sig, ended, live)]
    out = []
    if n == 0 and has_evals:
        out.append(_evaluation_only(run, sig))
    elif n == 0:
        out.append(_no_rows(run, sig))
    crash = _crash(meta, ended)
    stop = _stop_kind(crash, meta.tail)
    if crash is not None and stop is None:
        out.append(_died(run, sig, crash, progress, total))
    elif stop is not None and not live:
        msg = f"the run was stopped {progress}{stop}" + (
            f" ({crash.exception})" if crash and crash.exception != crash.type and crash.type != UNNAMED else ""
        )
        out.append(
            finding(
                run,
                RULE_ID,
                "info",
                sig,
                last,
                last,
                msg,
                {
                    "kind": "stopped",
                    "by": stop,
                    "last_step": _int(sig.step[-1]) if n else None,
                    "planned_steps": total,
                    "exception_type": crash.type if crash else None,
                },
                "resume from the last checkpoint (resume_from / --resume) to finish it",
                [],
                f"stopped {progress}{stop}",
            )
        )
    elif ended == "stopped" and not live:
        if _records_tracebacks(meta):
            msg = f"the log stops {progress}without an error: killed, out of time, or still running"
            said = "without an error"
        else:
            msg = (
                f"the log stops {progress}with no error in it: killed, out of time, crashed (a log file does not "
                "record tracebacks) or still running"
            )
            said = "with no error logged"
        out.append(
            finding(
                run,
                RULE_ID,
                "warning",
                sig,
                last,
                last,
                msg,
                {"kind": "stopped", "last_step": _int(sig.step[-1]) if n else None, "planned_steps": total},
                "resume from the last checkpoint (resume_from / --resume) if it was cut off",
                [],
                f"the log stops {progress}{said}",
            )
        )
    return out


def _stop_kind(crash, tail) -> str | None:
    """'by a person (…)' / 'by a signal (…)' when the run was stopped rather than failed, else None."""
    if crash is not None:
        name = crash.type.rsplit(".", 1)[-1]
        if name in STOP_EXCEPTIONS:
            return STOP_EXCEPTIONS[name]
        if (
            crash.file
            and DEBUGGER_FILE.search(crash.file)
            or any(str(line).strip().rsplit(".", 1)[-1] == "BdbQuit" for line in list(tail or ())[-20:])
        ):
            return STOP_EXCEPTIONS["BdbQuit"]
    if any(SIGNAL_LINE.search(str(line).strip()) for line in list(tail or ())[-5:]):
        return STOP_EXCEPTIONS["SignalException"]
    return None


def _no_rows(run, sig):
    skipped = {k: v for k, v in (run.meta.skipped or {}).items() if v}
    said = (": " + ", ".join(f"{v} {k}" for k, v in skipped.items())) if skipped else ""
    msg = (
        f"not one train row was understood (lines the parser could not read{said or ': none'}): "
        "nothing about the training can be judged"
    )
    return finding(
        run,
        RULE_ID,
        "warning",
        sig,
        None,
        None,
        msg,
        {"kind": "no_train_rows", "skipped": skipped},
        "check that this is the training log (not a test log), and what the skipped lines are",
        [],
        "no train row was understood",
    )


def _evaluation_only(run, sig):
    """Evaluations and not one train row: a launch that only evaluated (`--eval-only`, a test script),
    not a log bevlog failed to read."""
    series = headline_series(run)
    ev = run.evals
    said = ""
    if series is not None and len(series):
        said = f": {series.name} {series.value[-1]:.4g}" + (
            f" at its last of {len(series)} evaluations" if len(series) > 1 else ""
        )
    msg = (
        f"evaluation only: the log has {len(ev)} evaluation value{'s' if len(ev) != 1 else ''} and no train "
        f"row{said}; nothing was trained in it"
    )
    return finding(
        run,
        RULE_ID,
        "info",
        sig,
        None,
        None,
        msg,
        {
            "kind": "evaluation_only",
            "evaluations": int(len(ev)),
            "metric": series.name if series is not None else None,
            "value": float(series.value[-1]) if series is not None and len(series) else None,
        },
        "nothing to change: read the training launches for how the model was trained",
        [],
        f"evaluation only{said}",
    )


def _no_total_loss(run, sig):
    """Loss terms and no total: the log never wrote one (TensorBoard tags, ultralytics). Rules that
    read the total say nothing; none makes one up from the terms."""
    terms = loss_columns(sig.t)
    listed = ", ".join(terms[:4]) + (f" … ({len(terms)})" if len(terms) > 4 else "")
    msg = (
        f"the log has no total loss, only its terms ({listed})" if terms else "the log has no loss at all"
    ) + ": what the rules read from the total loss is not judged"
    return finding(
        run,
        RULE_ID,
        "info",
        sig,
        None,
        None,
        msg,
        {"kind": "no_total_loss", "terms": terms},
        "log the total loss too (the sum the optimizer minimises) to have it judged",
        [],
    )


def _structure(run, sig):
    out = []
    meta = run.meta
    if len(sig.step) and not sig.loss_logged:
        out.append(_no_total_loss(run, sig))
    segments = meta.segments
    resumed = [s for s in segments if s.resumed_from is not None]
    if len(segments) > 1 or resumed:
        out.append(_resumes(run, sig, segments, resumed))
    elif sig.mid_run:
        first = row_terms(run, sig, 0)
        msg = (
            f"the log starts in the middle of a run, at {where(sig, 0)}{f' ({first})' if first else ''}, "
            f"without a resume line: what came before is not in it (no warmup, no first fall to judge)"
        )
        out.append(
            finding(
                run,
                RULE_ID,
                "info",
                sig,
                0,
                0,
                msg,
                {"kind": "mid_run", "first_step": _int(sig.step[0])},
                "read it with the logs of the run's start to see the whole run",
                [],
            )
        )
    steps_finding = _steps(run, sig)
    if steps_finding is not None:
        out.append(steps_finding)
    ipe = column(sig.t, "iters_per_epoch")
    values = np.unique(ipe[np.isfinite(ipe)])
    if len(values) > 1:
        changed = np.flatnonzero(np.diff(ipe) != 0)
        changes = [int(i) + 1 for i in changed if np.isfinite(ipe[i]) and np.isfinite(ipe[i + 1])]
        at = changes[0] if changes else 0
        msg = (
            f"iterations per epoch change during the run ({', '.join(str(int(v)) for v in values)}), "
            f"first at {where(sig, at)}: the batch, GPU count or dataset changed"
        )
        out.append(
            finding(
                run,
                RULE_ID,
                "warning",
                sig,
                at,
                at,
                msg,
                {"kind": "iters_per_epoch", "values": [int(v) for v in values]},
                "compare the parts by samples seen (--align samples), not by epoch",
                [],
            )
        )
    return out


def _resumes(run, sig, segments, resumed):
    parts = [resume_words(sig, s.resumed_from) for s in resumed]
    superseded = run.superseded
    kept = len(superseded) if superseded is not None else segments.dropped_rows
    msg = (
        (f"the log has {len(segments)} segments" if len(segments) > 1 else "the log starts at a resume")
        + (f", resumed from {'; '.join(parts)}" if parts else "")
        + (
            f"; {kept} rows of an earlier attempt were re-run after a resume (kept apart as its evidence)"
            if kept
            else ""
        )
        + ": the run is stitched at the resume"
    )
    first = _row_of(sig.step, resumed[0].first_step) if resumed else None
    return finding(
        run,
        RULE_ID,
        "info",
        sig,
        first,
        first,
        msg,
        {
            "kind": "resume",
            "segments": len(segments),
            "resumed_from": [s.resumed_from.as_dict() for s in resumed],
            "dropped_rows": kept,
        },
        "compare across the resume with care (optimizer state, data order, lr phase)",
        [],
    )


def _steps(run, sig):
    raw = run.train
    if raw is None or not len(raw) or "step" not in raw:
        return None
    steps = np.asarray(raw["step"], dtype=float)
    steps = steps[np.isfinite(steps)]
    dup = int(len(steps) - len(np.unique(steps)))
    back = int((np.diff(steps) < 0).sum())
    if not (dup or back):
        return None
    parts = ([f"{dup} row{'s' if dup > 1 else ''} repeat{'' if dup > 1 else 's'} a step"] if dup else []) + (
        [f"the step goes backwards {back} time{'s' if back > 1 else ''}"] if back else []
    )
    msg = " and ".join(parts) + ": the log mixes runs, or a resume was not stitched"
    return finding(
        run,
        RULE_ID,
        "warning",
        sig,
        None,
        None,
        msg,
        {"kind": "steps", "duplicated": dup, "backwards": back},
        "read each run's logs separately, or the segments of one run together",
        [],
    )


def _skipped(run, sig, th):
    skipped = run.meta.skipped or {}
    worth = {k: v for k, v in skipped.items() if v and _worth_noting(k)}
    if sum(worth.values()) < th.skipped_note or not len(sig.step):
        return []
    msg = "lines the parser could not read: " + ", ".join(f"{v} {k}" for k, v in worth.items())
    return [
        finding(
            run,
            RULE_ID,
            "info",
            sig,
            None,
            None,
            msg,
            {"kind": "skipped", "skipped": worth},
            "nothing to change in training; check the log was not cut or interleaved",
            [],
        )
    ]


def _crash(meta, ended):
    """The last traceback of the run's last launch (type, message, raising frame, from the
    tail lines the parser kept); the parser's one-line reading of it otherwise."""
    crash = last_traceback(list(meta.tail or [])) if ended.startswith("traceback") else None
    if crash is None and ended.startswith("traceback"):
        exc = ended.split(":", 1)[1].strip() if ":" in ended else ""
        kind, _, message = exc.partition(":")
        crash = Crash(kind.strip() or "Exception", message.strip(), None, None, None)
    return crash


def _died(run, sig, crash, progress, total):
    n = len(sig.step)
    raised = f", raised in {crash.where}" if crash.file else ""
    raised += f" (called from {crash.caller})" if crash.caller else ""
    exception = crash.exception if crash.type != UNNAMED else "an exception whose name the log does not show"
    rose = _loss_rose_before(sig)
    msg = f"the run died {progress}with {exception}{raised}" + (f"; before it, {rose}" if rose else "")
    at = f" raised at {_short(crash.file)}:{crash.line}" if crash.file else " at the end of the log"
    if crash.caller:
        own = crash.caller.split('"')[1] if crash.caller.count('"') >= 2 else crash.caller
        at += f" (called from the run's own {_short(own)})"
    return finding(
        run,
        RULE_ID,
        "error",
        sig,
        n - 1 if n else None,
        n - 1 if n else None,
        msg,
        {
            "kind": "traceback",
            "exception": crash.exception,
            "exception_type": crash.type,
            "exception_message": crash.message,
            "raised_at": crash.where,
            "called_from": crash.caller,
            "last_step": _int(sig.step[-1]) if n else None,
            "planned_steps": total,
        },
        f"fix {exception_noun(crash.type)}{at}, then resume from the last checkpoint",
        [],
        f"it crashed {progress}with {crash.exception}" + (f" after {rose}" if rose else ""),
    )


# the loss at the last row this many times its lowest of the launch: the crash came after a blow-up
CRASH_AFTER_RISE = 1.5


def _loss_rose_before(sig) -> str | None:
    """'the loss rose ×2.1 (82.2 → 173)': the last launch's loss before a crash, when it ended far
    above its lowest (an exception after a blow-up — degenerate boxes, an assertion — is often its
    consequence); None otherwise."""
    n = len(sig.loss)
    if n < 2:
        return None
    lo, hi = phase_of(sig, n - 1)
    loss = sig.loss[lo:hi]
    finite = np.flatnonzero(np.isfinite(loss))
    if len(finite) < 2 or loss[finite[-1]] <= 0:
        return None
    low, last = float(np.min(loss[finite])), float(loss[finite[-1]])
    if not low > 0 or last < CRASH_AFTER_RISE * low:
        return None
    return f"the loss rose ×{last / low:.1f} ({fmt(low)} → {fmt(last)})"


def exception_noun(name: str | None) -> str:
    """'the RuntimeError', or 'the exception' when the log does not name it."""
    return "the exception" if not name or name == UNNAMED else f"the {name}"


def _short(path: str) -> str:
    """An installed package's file from its package name on (mmcv/runner/hooks/logger/text.py),
    any other file by its last three parts: enough to find it, short enough to read."""
    parts = path.replace("\\", "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(marker) :])
    return "/".join(parts[-3:])


def _has_header(meta) -> bool:
    """The log says what it was going to train: a header with a plan or a config."""
    return bool(meta.max_epochs or meta.max_iters or meta.config)


def _never_trained(run, sig, ended, live):
    """A header and not one train row: the run died (or is still starting) before iteration 1."""
    lines = list(run.meta.tail or [])  # the last lines of this run's own launch
    crash = _crash(run.meta, ended)
    ends = last_lines(lines, 3)
    quoted = " / ".join(f"“{line.strip()}”" for line in ends)
    if crash:
        died = f"died before its first iteration with {crash.exception}"
    elif _records_tracebacks(run.meta):
        died = "died before its first iteration without an error"
    else:
        died = (
            "stopped before its first iteration, with no error in its log file (which does not record "
            "tracebacks: the console output says why)"
        )
    if live and not crash:
        msg = "waiting for the first iteration: the log has its header and no train row yet" + (
            f"; it ends with {quoted}" if quoted else ""
        )
        return finding(
            run,
            RULE_ID,
            "info",
            sig,
            None,
            None,
            msg,
            {"kind": "waiting", "last_lines": ends},
            "nothing to do yet",
            [],
            "waiting for the first iteration",
        )
    severity = "error"
    msg = f"the log has a full header but not one train row: the run {died}" + (
        f"; it ends with {quoted}" if quoted else ""
    )
    evidence = {"kind": "never_trained", "last_lines": ends, "segments": len(run.meta.segments) or 1}
    if crash:
        evidence.update(exception=crash.exception, exception_type=crash.type, raised_at=crash.where)
        fix = f"fix {exception_noun(crash.type)} it died of, then start again"
    else:
        fix = (
            "see what the launch did after its last line (out of memory, killed by the scheduler, a data "
            "loader that hangs): run it in the foreground with one worker (workers_per_gpu=0) to see the error"
        )
    return finding(
        run,
        RULE_ID,
        severity,
        sig,
        None,
        None,
        msg,
        evidence,
        fix,
        [],
        f"the run never trained: it {died.split(' (')[0]}",
    )


def _records_tracebacks(meta) -> bool:
    """A console capture (nohup.out, slurm-*.out, a wandb output.log) holds what the process printed,
    tracebacks included; a log file written by the training's logger (mmcv/mmengine `.log`, `.json`)
    holds only the logger's records, so its silence says nothing about an exception."""
    return "console" in str(meta.format or "")


def _worth_noting(reason: str) -> bool:
    """Tracebacks, prints and progress bars in a console capture are expected noise."""
    r = reason.lower()
    return any(w in r for w in ("truncat", "malformed", "without", "bad", "invalid", "unparse", "garbled"))


def _planned_steps(meta):
    total = total_iters(meta)
    return int(total) if total else None


def _progress(sig, total):
    """'at epoch 10.5 (step 20,850 of 159,600, 13%) ', 'at iter 32 ', 'at epoch 299 ': where the log
    ends, with its step only where the place does not already say it."""
    if not len(sig.step):
        return ""
    at = where(sig, len(sig.step) - 1)
    last = int(sig.step[-1])
    if total:
        share = f"{sig.step[-1] / total:.0%}"
        if at == f"iter {last:,}":
            return f"at {at} of {total:,} ({share}) "
        return f"at {at} (step {last:,} of {total:,}, {share}) "
    if at == f"iter {last:,}" or sig.step_unit == "epoch":
        return f"at {at} "
    return f"at {at} (step {last:,}) "


def _row_of(steps, s):
    if s is None or not len(steps):
        return None
    return int(np.clip(np.searchsorted(steps, float(s)), 0, len(steps) - 1))


def _int(x):
    return int(x) if np.isfinite(x) else None
