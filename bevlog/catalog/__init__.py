"""A run catalog that scales: an embedded DuckDB database of runs, verdicts, findings and
evaluations, with every run's tidy frames in a hive-partitioned Parquet dataset beside it.

    <catalog>/catalog.duckdb                              runs, findings, evaluations, files, problems
    <catalog>/frames/{train,layers,evals}/run_id=<id>/part-0.parquet   the tidy frames
    <catalog>/tables/{runs,findings}.parquet              the catalog tables as plain Parquet

`index(roots, catalog_dir)` re-reads only files that changed since the last index (size,
mtime, head fingerprint; removed files drop out); `query_runs(catalog_dir, filters)` lists
runs by verdict, rule, model, date and metric. The Parquet files are the interface for
tools beyond one machine: DuckDB, Spark and Polars read them as they are.

duckdb is an optional extra (`pip install 'bevlog[catalog]'`); `require_duckdb()` says so
in one line when it is missing.

The indexer (pandas, pyarrow) is imported when `index` runs: `bevlog runs` needs only duckdb.
"""

from __future__ import annotations

from bevlog.catalog.query import FilterError, problems
from bevlog.catalog.query import query_runs as _query
from bevlog.catalog.store import CatalogError

DEFAULT_CATALOG = "bevlog-catalog"
EXTRA = "catalog"


class CatalogUnavailable(RuntimeError):
    """duckdb is not installed; str() names the extra that brings it."""


def require_duckdb() -> None:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        raise CatalogUnavailable(f"the run catalog needs duckdb: pip install 'bevlog[{EXTRA}]'") from None


def index(roots, catalog_dir: str = DEFAULT_CATALOG, jobs: int | None = None, say=None):
    """See bevlog.catalog.indexer.index."""
    require_duckdb()
    from bevlog.catalog.indexer import index as _index

    return _index(roots, catalog_dir, jobs, say)


def query_runs(catalog_dir: str = DEFAULT_CATALOG, **filters):
    """See bevlog.catalog.query.query_runs."""
    require_duckdb()

    return _query(catalog_dir, **filters)


def index_problems(catalog_dir: str = DEFAULT_CATALOG) -> list[str]:
    """See bevlog.catalog.query.problems."""
    require_duckdb()

    return problems(catalog_dir)


__all__ = [
    "DEFAULT_CATALOG",
    "CatalogError",
    "CatalogUnavailable",
    "FilterError",
    "index",
    "index_problems",
    "query_runs",
    "require_duckdb",
]
