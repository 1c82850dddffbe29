"""The DuckDB side of the catalog: tables, what the last index saw, and the writes of one index.

    runs          one row per run: identity, facts, verdict, finding counts, last/best loss
    findings      one row per finding (rule, severity, span, message, fix)
    evaluations   every evaluation row (metric, epoch, step, value)
    files         every regular file under the indexed roots: size, mtime_ns, head
                  fingerprint, and the job (candidate run) it was read in (NULL: not a log)
    problems      one row per input that could not be read or diagnosed, with its root
    catalog_info  schema version and when each root was last indexed
    last_evaluations (view)  the last value of each metric of each run

Only `bevlog index` writes, in one transaction per batch of jobs, so an index cut short
keeps the batches it finished and the next one carries on from there.

duckdb (an optional extra) and pyarrow are imported where they are used: `bevlog runs` reads
the catalog without pyarrow, and a missing duckdb is one line (bevlog.catalog.require_duckdb).
"""

from __future__ import annotations

import os

from bevlog.catalog.snapshot import FileState, with_head

SCHEMA_VERSION = "1"
DB_NAME = "catalog.duckdb"

DDL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, name VARCHAR, job_key VARCHAR, run_dir VARCHAR, sources VARCHAR[],
    format VARCHAR, library VARCHAR, runner VARCHAR, model VARCHAR, exp_name VARCHAR,
    started TIMESTAMP, modified_ns BIGINT, ended VARCHAR, verdict VARCHAR, worst_rule VARCHAR,
    n_errors INTEGER, n_warnings INTEGER, n_info INTEGER, fix_plan VARCHAR,
    total_batch INTEGER, lr DOUBLE, optimizer VARCHAR, max_epochs INTEGER, max_iters INTEGER,
    decoder_layers INTEGER, aux_loss BOOLEAN, seed BIGINT, train_rows INTEGER, evaluations INTEGER,
    last_loss DOUBLE, best_loss DOUBLE, summary VARCHAR, indexed_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS findings (
    run_id VARCHAR, rule VARCHAR, severity VARCHAR, start_step DOUBLE, end_step DOUBLE,
    start_epoch DOUBLE, end_epoch DOUBLE, message VARCHAR, fix VARCHAR);
CREATE TABLE IF NOT EXISTS evaluations (run_id VARCHAR, metric VARCHAR, epoch DOUBLE, step DOUBLE, value DOUBLE);
CREATE TABLE IF NOT EXISTS files (path VARCHAR PRIMARY KEY, size BIGINT, mtime_ns BIGINT, head VARCHAR,
                                  job_key VARCHAR);
CREATE TABLE IF NOT EXISTS problems (job_key VARCHAR, root VARCHAR, message VARCHAR);
CREATE TABLE IF NOT EXISTS catalog_info (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE OR REPLACE VIEW last_evaluations AS
    SELECT run_id, metric, arg_max(value, coalesce(step, epoch)) AS value,
           max(coalesce(step, epoch)) AS step, max(value) AS best, min(value) AS lowest
    FROM evaluations GROUP BY run_id, metric;
"""

FINDING_COLUMNS = ("run_id", "rule", "severity", "start_step", "end_step", "start_epoch", "end_epoch", "message", "fix")
EVAL_COLUMNS = ("run_id", "metric", "epoch", "step", "value")


class CatalogError(RuntimeError):
    """The catalog cannot be used (missing, locked by an index in progress, another version)."""


def connect(catalog_dir: str, read_only: bool = False):
    import duckdb

    path = os.path.join(catalog_dir, DB_NAME)
    if read_only and not os.path.exists(path):
        raise CatalogError(
            f"{catalog_dir}: no catalog here; build one with `bevlog index WORK_DIR --catalog {catalog_dir}`"
        )
    try:
        con = duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as exc:
        raise CatalogError(
            f"{path}: cannot open the catalog ({str(exc).splitlines()[0]}); is an index running?"
        ) from None
    if not read_only:
        con.execute(DDL)
        con.execute("INSERT OR REPLACE INTO catalog_info VALUES ('schema', ?)", [SCHEMA_VERSION])
    else:
        found = con.execute("SELECT value FROM catalog_info WHERE key = 'schema'").fetchone()
        if not found or found[0] != SCHEMA_VERSION:
            raise CatalogError(
                f"{path}: written by another version of bevlog (schema "
                f"{found[0] if found else '?'}, this one reads {SCHEMA_VERSION}); run bevlog index again"
            )
    return con


def known_files(con, roots) -> dict:
    """{path: (FileState, job_key)} of the files recorded under `roots`."""
    out = {}
    for path, size, mtime, head, key in con.execute("SELECT path, size, mtime_ns, head, job_key FROM files").fetchall():
        if under(path, roots):
            out[path] = (FileState(size, mtime, head), key)
    return out


def under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def indexed_jobs(con) -> set[str]:
    return {k for (k,) in con.execute("SELECT DISTINCT job_key FROM files WHERE job_key IS NOT NULL").fetchall()}


def drop_jobs(con, keys) -> list[str]:
    """Remove every row of these jobs; returns the run ids removed (their frames go too)."""
    keys = list(keys)
    if not keys:
        return []
    con.execute("CREATE OR REPLACE TEMP TABLE gone_jobs AS SELECT unnest(?::VARCHAR[]) AS job_key", [keys])
    ids = [
        r for (r,) in con.execute("SELECT run_id FROM runs WHERE job_key IN (SELECT job_key FROM gone_jobs)").fetchall()
    ]
    con.execute("CREATE OR REPLACE TEMP TABLE gone_runs AS SELECT unnest(?::VARCHAR[]) AS run_id", [ids])
    for table in ("findings", "evaluations"):
        con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM gone_runs)")
    con.execute("DELETE FROM runs WHERE job_key IN (SELECT job_key FROM gone_jobs)")
    con.execute("DELETE FROM problems WHERE job_key IN (SELECT job_key FROM gone_jobs)")
    con.execute("UPDATE files SET job_key = NULL WHERE job_key IN (SELECT job_key FROM gone_jobs)")
    return ids


def write_results(con, results, files_now: dict, indexed_at: str, root_of) -> None:
    """Insert the rows of finished jobs (and their files' fingerprints) in one transaction;
    `root_of(path)`: the indexed root a problem's job lies under."""
    import pyarrow as pa

    runs = [dict(r, indexed_at=indexed_at) for res in results for r in res.runs]
    findings = [f for res in results for f in res.findings]
    evals = [e for res in results for e in res.evals]
    files = []
    for res in results:
        for path in res.files:
            state = files_now.get(path)
            if state is not None:
                state = with_head(path, state)
                files.append(
                    {
                        "path": path,
                        "size": state.size,
                        "mtime_ns": state.mtime_ns,
                        "head": state.head,
                        "job_key": res.job_key,
                    }
                )
    problems = [
        {"job_key": res.job_key, "root": root_of(res.files[0]) if res.files else None, "message": m}
        for res in results
        for m in res.problems
    ]
    con.execute("BEGIN")
    try:
        keys = [res.job_key for res in results]
        con.execute("DELETE FROM problems WHERE job_key IN (SELECT unnest(?::VARCHAR[]))", [keys])
        if runs:
            ids = pa.table({"run_id": [r["run_id"] for r in runs]})
            con.register("new_ids", ids)
            for table in ("findings", "evaluations", "runs"):
                con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM new_ids)")
            con.unregister("new_ids")
            _insert(con, "runs", pa.Table.from_pylist(runs, schema=_runs_schema()))
        if findings:
            _insert(con, "findings", pa.table({c: [f[i] for f in findings] for i, c in enumerate(FINDING_COLUMNS)}))
        if evals:
            _insert(con, "evaluations", pa.table({c: [e[i] for e in evals] for i, c in enumerate(EVAL_COLUMNS)}))
        if files:
            _upsert_files(con, pa.Table.from_pylist(files))
        if problems:
            _insert(con, "problems", pa.Table.from_pylist(problems))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def record_other_files(con, files_now: dict, log_files: set[str], roots) -> None:
    """Fingerprints of the files that are no log (size and mtime suffice: they are not read),
    and the removal of files that are gone, under `roots`."""
    import pyarrow as pa

    others = [
        {"path": p, "size": s.size, "mtime_ns": s.mtime_ns, "head": None, "job_key": None}
        for p, s in files_now.items()
        if p not in log_files
    ]
    present = pa.table({"path": list(files_now)})
    con.register("present", present)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE gone_files AS SELECT path FROM files WHERE path NOT IN (SELECT path FROM present)"
    )
    gone = [p for (p,) in con.execute("SELECT path FROM gone_files").fetchall() if under(p, roots)]
    con.unregister("present")
    con.execute("BEGIN")
    try:
        if gone:
            con.execute("DELETE FROM files WHERE path IN (SELECT unnest(?::VARCHAR[]))", [gone])
        if others:
            _upsert_files(con, pa.Table.from_pylist(others))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def record_plan_problems(con, roots, problems) -> None:
    con.execute("DELETE FROM problems WHERE job_key IS NULL AND root IN (SELECT unnest(?::VARCHAR[]))", [list(roots)])
    for root, message in problems:
        con.execute("INSERT INTO problems VALUES (NULL, ?, ?)", [root, message])


def record_roots(con, roots, when: str) -> None:
    for root in roots:
        con.execute("INSERT OR REPLACE INTO catalog_info VALUES (?, ?)", [f"indexed:{root}", when])


def _insert(con, table: str, data) -> None:
    con.register("incoming", data)
    cols = ", ".join(f'"{c}"' for c in data.column_names)
    con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming")
    con.unregister("incoming")


def _upsert_files(con, data) -> None:
    con.register("incoming", data)
    con.execute("DELETE FROM files WHERE path IN (SELECT path FROM incoming)")
    con.execute(
        "INSERT INTO files (path, size, mtime_ns, head, job_key) "
        "SELECT path, size, mtime_ns, head, job_key FROM incoming"
    )
    con.unregister("incoming")


def _runs_schema():
    import pyarrow as pa

    s, i, f, b = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    return pa.schema(
        [
            ("run_id", s),
            ("name", s),
            ("job_key", s),
            ("run_dir", s),
            ("sources", pa.list_(s)),
            ("format", s),
            ("library", s),
            ("runner", s),
            ("model", s),
            ("exp_name", s),
            ("started", s),
            ("modified_ns", i),
            ("ended", s),
            ("verdict", s),
            ("worst_rule", s),
            ("n_errors", i),
            ("n_warnings", i),
            ("n_info", i),
            ("fix_plan", s),
            ("total_batch", i),
            ("lr", f),
            ("optimizer", s),
            ("max_epochs", i),
            ("max_iters", i),
            ("decoder_layers", i),
            ("aux_loss", b),
            ("seed", i),
            ("train_rows", i),
            ("evaluations", i),
            ("last_loss", f),
            ("best_loss", f),
            ("summary", s),
            ("indexed_at", s),
        ]
    )
