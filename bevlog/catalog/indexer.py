"""`bevlog index`: bring the catalog up to date with the work dirs, reading only what changed.

1. Walk the roots and stat every file (`snapshot.walk`); compare size, mtime and — for the
   files read as logs — the head fingerprint with the catalog's record. Nothing changed:
   done, without reading a log.
2. Otherwise plan the roots as every command does (`parsers.plan`: discovery and
   candidate runs). A job (candidate run) whose files are all unchanged and whose key
   (name + files) the catalog holds keeps its rows; the rows of jobs that are gone or
   changed are dropped, with their Parquet partitions.
3. Read, diagnose and write the changed jobs in worker processes (`parsers.map_jobs`: parallel,
   and isolated — a file that cannot be read is one problem row, never the end of the
   index), committing every BATCH jobs so that an index cut short keeps its work.

`_preload` imports what the workers need before they fork, on purpose.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from functools import partial

from bevlog.catalog import snapshot, store
from bevlog.catalog.store import under
from bevlog.catalog.worker import index_job, job_crashed, job_key
from parsers import map_jobs, plan

BATCH = 400


@dataclass
class IndexSummary:
    roots: list
    files: int = 0  # regular files under the roots
    changed_files: int = 0
    read: int = 0  # jobs (candidate runs) read and diagnosed
    read_names: list = field(default_factory=list)  # names of the runs read in this index, sorted
    kept: int = 0  # jobs whose rows were kept as they were
    removed_runs: int = 0
    runs: int = 0  # runs in the catalog under the roots after the index
    problems: list = field(default_factory=list)  # one line per unreadable input
    seconds: float = 0.0

    @property
    def up_to_date(self) -> bool:
        return self.changed_files == 0


def index(roots, catalog_dir: str, jobs: int | None = None, say=None) -> IndexSummary:
    """Index `roots` (work dirs or log files) into the catalog at `catalog_dir`. `say(line)`
    gets progress lines (None: silent)."""
    started = time.perf_counter()
    roots = [os.path.abspath(r) for r in roots]
    catalog_dir = os.path.abspath(catalog_dir)
    os.makedirs(catalog_dir, exist_ok=True)
    frames_dir = os.path.join(catalog_dir, "frames")
    summary = IndexSummary(roots)
    con = store.connect(catalog_dir)
    try:
        now = {p: s for p, s in snapshot.walk(roots).items() if not store.under(p, [catalog_dir])}
        before = store.known_files(con, roots)
        logs_before = {p for p, (_, key) in before.items() if key}
        changed = snapshot.changed(now, {p: s for p, (s, _) in before.items()}, logs_before)
        summary.files, summary.changed_files = len(now), len(changed)
        when = time.strftime("%Y-%m-%d %H:%M:%S")
        if changed:
            _reindex(con, roots, now, before, changed, frames_dir, jobs, say, summary, when)
        store.record_roots(con, roots, when)
        summary.runs = _runs_under(con, roots)
        summary.problems = [
            m
            for (m,) in con.execute(
                "SELECT message FROM problems WHERE root IN (SELECT unnest(?::VARCHAR[])) ORDER BY message", [roots]
            ).fetchall()
        ]
    finally:
        con.close()
    if changed:
        export_tables(catalog_dir)
    summary.seconds = time.perf_counter() - started
    return summary


def _reindex(con, roots, now, before, changed, frames_dir, jobs, say, summary, when) -> None:
    if say:
        say(f"{len(changed)} file(s) new, changed or gone under {', '.join(roots)}; planning")
    work, plan_problems = plan(roots)
    current = {job_key(j): j for j in work}
    indexed = {key for _, key in before.values() if key}
    clean = {k for k, j in current.items() if k in indexed and not any(p in changed for unit in j.units for p in unit)}
    dirty = [j for k, j in current.items() if k not in clean]
    summary.kept = len(clean)
    removed = store.drop_jobs(con, indexed - clean)
    for rid in removed:
        for frame in ("train", "layers", "evals"):
            shutil.rmtree(os.path.join(frames_dir, frame, f"run_id={rid}"), ignore_errors=True)
    store.record_plan_problems(con, roots, [(_root_of(p.path, roots), str(p)) for p in plan_problems])
    fn = partial(index_job, frames_dir=frames_dir)
    done, new_ids = 0, set()
    for start in range(0, len(dirty), BATCH):
        chunk = dirty[start : start + BATCH]
        results = map_jobs(fn, chunk, jobs, False, "indexing", preload=_preload, on_crash=job_crashed)
        store.write_results(con, results, now, when, lambda path: _root_of(path, roots))
        new_ids.update(r["run_id"] for res in results for r in res.runs)
        summary.read_names.extend(r["name"] for res in results for r in res.runs)
        done += len(chunk)
        if say:
            say(f"read {done}/{len(dirty)} changed run(s)")
    summary.read = len(dirty)
    summary.read_names.sort()
    summary.removed_runs = len(set(removed) - new_ids)
    log_files = {p for j in work for unit in j.units for p in unit}
    store.record_other_files(con, now, log_files, roots)


def _root_of(path: str, roots) -> str:
    path = os.path.abspath(path)
    return next((r for r in roots if under(path, [r])), roots[0])


def _runs_under(con, roots) -> int:
    return sum(
        1
        for (sources,) in con.execute("SELECT sources FROM runs").fetchall()
        if any(under(s, roots) for s in sources or ())
    )


def export_tables(catalog_dir: str) -> None:
    """`tables/runs.parquet` and `tables/findings.parquet` beside the frames: the catalog
    as plain Parquet for tools that do not read DuckDB files (Spark, Polars)."""
    folder = os.path.join(catalog_dir, "tables")
    os.makedirs(folder, exist_ok=True)
    con = store.connect(catalog_dir)
    try:
        for table in ("runs", "findings"):
            final = os.path.join(folder, f"{table}.parquet")
            tmp = os.path.join(folder, f".{table}.{os.getpid()}.tmp")
            con.execute(f"COPY {table} TO '{_sql_path(tmp)}' (FORMAT parquet)")
            os.replace(tmp, final)
    finally:
        con.close()


def _sql_path(path: str) -> str:
    return path.replace("'", "''")


def _preload() -> None:
    # forked workers inherit these instead of each paying the imports
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import bevlog.rules as rules_pkg
    import parsers  # noqa: F401
    from bevlog import diagnose  # noqa: F401
    from bevlog.catalog import worker  # noqa: F401

    for rule_id in rules_pkg.RULE_IDS:
        rules_pkg.get_rule(rule_id)
