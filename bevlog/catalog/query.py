"""`bevlog runs`: the catalog's runs by verdict, rule, model, name, date and metric.

Filters combine with AND; a repeated --verdict is any of them, a repeated --rule or
--metric must all hold. A metric filter is `NAME OP VALUE` with OP one of > >= < <= = !=,
on the run's last evaluation of that metric (`max(NAME)` / `min(NAME)`: its highest or
lowest); NAME is a metric's full name or its part after the last '/' (`bbox_mAP` finds
`coco/bbox_mAP`, `NDS` finds `pts_bbox_NuScenes/NDS`). A run's date is its launch stamp
from the log, else its first log file's modification time.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from bevlog.catalog.store import connect

OPS = (">=", "<=", "!=", "==", "=", ">", "<")
_METRIC = re.compile(r"^\s*(?:(max|min|last)\((.+?)\)|(.+?))\s*(>=|<=|!=|==|=|>|<)\s*(\S+)\s*$")
DATE_SQL = "coalesce(r.started, make_timestamp(r.modified_ns // 1000))"
COLUMNS = (
    "name",
    "verdict",
    "worst_rule",
    "n_errors",
    "n_warnings",
    "model",
    "date",
    "total_batch",
    "lr",
    "max_epochs",
    "max_iters",
    "last_loss",
    "run_dir",
    "run_id",
)


class FilterError(ValueError):
    """A filter that cannot be understood; str() says which and how to write it."""


@dataclass(frozen=True)
class MetricFilter:
    name: str
    op: str
    value: float
    agg: str = "last"  # last | max | min

    @property
    def column(self) -> str:
        return {"last": "value", "max": "best", "min": "lowest"}[self.agg]

    @property
    def label(self) -> str:
        return self.name if self.agg == "last" else f"{self.agg}({self.name})"


def parse_metric(text: str) -> MetricFilter:
    m = _METRIC.match(text)
    if not m:
        raise FilterError(f"--metric {text!r}: expected NAME OP VALUE, e.g. 'bbox_mAP>0.3' or 'max(NDS)>=0.4'")
    agg, inner, bare, op, value = m.groups()
    try:
        number = float(value)
    except ValueError:
        raise FilterError(f"--metric {text!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise FilterError(f"--metric {text!r}: compare with a finite number")
    return MetricFilter((inner or bare).strip(), "=" if op == "==" else op, number, agg or "last")


def parse_date(text: str, option: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(f"{option} {text!r}: expected a date like 2024-01-31 (or 2024-01-31T12:00)") from None


def query_runs(
    catalog_dir: str, verdicts=(), rules=(), models=(), name=None, since=None, until=None, metrics=(), limit=None
) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of the runs that pass every filter, newest first."""
    where, params = [], []
    if verdicts:
        where.append(f"r.verdict IN ({', '.join('?' for _ in verdicts)})")
        params += list(verdicts)
    for rule in rules:
        where.append("EXISTS (SELECT 1 FROM findings f WHERE f.run_id = r.run_id AND f.rule = ?)")
        params.append(rule)
    if models:
        where.append("(" + " OR ".join("r.model ILIKE ? ESCAPE '\\'" for _ in models) + ")")
        params += [f"%{_like(m)}%" for m in models]
    if name:
        where.append("r.name ILIKE ? ESCAPE '\\'")
        params.append(f"%{_like(name)}%")
    if since:
        where.append(f"{DATE_SQL} >= ?")
        params.append(parse_date(since, "--since"))
    if until:
        end = parse_date(until, "--until")
        if len(until) == 10:  # a day: through its end
            end += dt.timedelta(days=1)
            where.append(f"{DATE_SQL} < ?")
        else:
            where.append(f"{DATE_SQL} <= ?")
        params.append(end)
    parsed = [m if isinstance(m, MetricFilter) else parse_metric(m) for m in metrics]
    selects = []
    for m in parsed:
        match = "(e.metric = ? OR ends_with(e.metric, '/' || ?))"
        where.append(
            f"EXISTS (SELECT 1 FROM last_evaluations e WHERE e.run_id = r.run_id AND {match} AND e.{m.column} {m.op} ?)"
        )
        params += [m.name, m.name, m.value]
        selects.append(
            (
                f"(SELECT max(e.{m.column}) FROM last_evaluations e WHERE e.run_id = r.run_id AND {match})",
                [m.name, m.name],
                m.label,
            )
        )
    cols = [f"{DATE_SQL} AS date" if c == "date" else f"r.{c}" for c in COLUMNS]
    select_params = [p for _, ps, _ in selects for p in ps]
    sql = (
        f"SELECT {', '.join(cols + [s for s, _, _ in selects])} FROM runs r"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY date DESC NULLS LAST, r.name"
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    con = connect(catalog_dir, read_only=True)
    try:
        rows = con.execute(sql, select_params + params).fetchall()
    finally:
        con.close()
    return list(COLUMNS) + [label for _, _, label in selects], rows


def problems(catalog_dir: str) -> list[str]:
    """Every input the last index could not read or diagnose, one line each."""
    con = connect(catalog_dir, read_only=True)
    try:
        return [m for (m,) in con.execute("SELECT message FROM problems ORDER BY message").fetchall()]
    finally:
        con.close()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
