"""One job of the index, in a worker process: read its runs, diagnose them, write their tidy
frames into the Parquet dataset, and return only rows for the catalog.

A job is a candidate group of files as discovery forms it (`parsers.plan`); it is
read and diagnosed by `bevlog.diagnose.diagnose_job` (through `parsers.read_job`, the
road every command takes), so the catalog holds the same runs, names, verdicts and findings
as `bevlog parse` and `bevlog diagnose`. The frames never
cross the process boundary: they go straight to disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from bevlog.diagnose import diagnose_job
from bevlog.summary import describe_run, run_summary
from parsers import exception_line

FRAMES = ("train", "layers", "evals")


@dataclass
class JobResult:
    """What the catalog stores of one job: a record per run, its findings and evaluations,
    and one line per problem (an unreadable file, a run that could not be diagnosed)."""

    job_key: str
    files: list
    runs: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    problems: list = field(default_factory=list)


def job_key(job) -> str:
    """Identifies a job by its name and files: a new resume file, a removed twin, a renamed
    run make a new key (the job is read again); the same files keep it."""
    files = sorted(p for unit in job.units for p in unit)
    return hashlib.sha1("\0".join([job.name, *files]).encode()).hexdigest()[:20]


def run_id(run) -> str:
    """Stable across re-indexing and resumes: the run's first launch file (absolute) and name."""
    first = run.meta.sources[0] if run.meta.sources else run.name
    return hashlib.sha1(f"{os.path.abspath(first)}\0{run.name}".encode()).hexdigest()[:16]


def index_job(job, frames_dir: str) -> JobResult:
    """Read and diagnose one job exactly as `bevlog diagnose` does (`bevlog.diagnose.diagnose_job`:
    the same Diagnosis, hence the same verdict and findings), with the runs it read, to write
    their frames."""
    key = job_key(job)
    result = JobResult(key, sorted(p for unit in job.units for p in unit))
    _, problems, pairs = diagnose_job(job, with_runs=True)
    result.problems.extend(str(p) for p in problems)
    for run, diagnosis in pairs:  # a run that could not be diagnosed has its problem line already
        try:
            _add_run(result, run, diagnosis.to_dict(), key, frames_dir)
        except Exception as exc:  # noqa: BLE001 - one run's failure is its own problem row
            result.problems.append(
                f"{run.meta.sources[0] if run.meta.sources else run.name}: could not be indexed ({exception_line(exc)})"
            )
    return result


def job_crashed(job, why: str) -> JobResult:
    """A job whose worker raised or died: one problem naming its first file."""
    first = job.units[0][0] if job.units and job.units[0] else job.name
    return JobResult(
        job_key(job), sorted(p for unit in job.units for p in unit), problems=[f"{first}: could not be read ({why})"]
    )


def _add_run(result: JobResult, run, diagnosis: dict, key: str, frames_dir: str) -> None:
    """The catalog rows of one run from its Diagnosis.to_dict(), and its frames to Parquet."""
    rid = run_id(run)
    findings = diagnosis["findings"]
    summary = run_summary(run)
    meta = run.meta
    config = meta.config if isinstance(meta.config, dict) else {}
    model = config.get("model", {}).get("type") if isinstance(config.get("model"), dict) else None
    sources = [os.path.abspath(s) for s in meta.sources]
    worst = next((f for f in findings if f["severity"] == "error"), None) or next(
        (f for f in findings if f["severity"] == "warning"), None
    )
    result.runs.append(
        {
            "run_id": rid,
            "name": run.name,
            "job_key": key,
            "run_dir": os.path.dirname(sources[0]) if sources else None,
            "sources": sources,
            "format": meta.format,
            "library": meta.library,
            "runner": meta.runner,
            "model": str(model) if model is not None else None,
            "exp_name": meta.exp_name,
            "started": _stamp(meta.started),
            "modified_ns": _mtime(sources),
            "ended": meta.ended,
            "verdict": diagnosis["verdict"],
            "worst_rule": worst["rule"] if worst else None,
            "n_errors": sum(f["severity"] == "error" for f in findings),
            "n_warnings": sum(f["severity"] == "warning" for f in findings),
            "n_info": sum(f["severity"] == "info" for f in findings),
            "fix_plan": json.dumps(diagnosis.get("plan"), ensure_ascii=False, allow_nan=False),
            "total_batch": meta.total_batch,
            "lr": meta.lr,
            "optimizer": meta.optimizer,
            "max_epochs": meta.max_epochs,
            "max_iters": meta.max_iters,
            "decoder_layers": meta.num_decoder_layers,
            "aux_loss": meta.has_aux_loss,
            "seed": _int(meta.seed),
            "train_rows": summary["rows"],
            "evaluations": int(run.evals["step"].nunique()) if len(run.evals) else 0,
            "last_loss": summary["last_loss"],
            "best_loss": summary["best_loss"],
            "summary": describe_run(run),
        }
    )
    for f in findings:
        fix = f.get("fix") or {}
        result.findings.append(
            (
                rid,
                f["rule"],
                f["severity"],
                f["start_step"],
                f["end_step"],
                f["start_epoch"],
                f["end_epoch"],
                f["message"],
                fix.get("text"),
            )
        )
    evals = run.evals
    if len(evals):
        for metric, epoch, step, value in zip(
            evals["metric"].tolist(), evals["epoch"].tolist(), evals["step"].tolist(), evals["value"].tolist()
        ):
            result.evals.append((rid, metric, _num(epoch), _num(step), _num(value)))
    write_frames(run, rid, frames_dir)


def write_frames(run, rid: str, frames_dir: str) -> None:
    """`<frames_dir>/<frame>/run_id=<id>/part-0.parquet` for train, layers and evals; each
    file appears whole (written beside, then renamed). An empty frame writes no file."""
    for frame in FRAMES:
        df = getattr(run, frame)
        folder = os.path.join(frames_dir, frame, f"run_id={rid}")
        path = os.path.join(folder, "part-0.parquet")
        if not len(df):
            if os.path.exists(path):
                os.unlink(path)
            continue
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".part-0.{os.getpid()}.tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)


def _stamp(started):
    """'20261203_144446' -> '2026-12-03 14:44:46' (a TIMESTAMP literal), None if absent."""
    if not started or len(str(started)) != 15:
        return None
    s = str(started)
    return f"{s[0:4]}-{s[4:6]}-{s[6:8]} {s[9:11]}:{s[11:13]}:{s[13:15]}"


def _mtime(sources):
    try:
        return os.stat(sources[0]).st_mtime_ns if sources else None
    except OSError:
        return None


def _num(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def _int(v):
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None
