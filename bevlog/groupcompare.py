"""A comparison by groups of seeded runs: mean ± sd per group, and each group against the
first one with a 95% CI of the difference (paired by seed where the seeds match).

Values are the compare table's (`bevlog.comparestats.run_stats`): a train metric's smoothed
value, an evaluation as logged. The difference between two groups is taken at the last
checkpoint every member of both reached, so both means stand at the same x.
"""

from __future__ import annotations

import pandas as pd

from bevlog.causes import cause_clause
from bevlog.comparestats import NOUN, common_checkpoints, fmt_value, fmt_x, pair_verdict, value_at
from bevlog.groupstats import difference, summarize

STAT_COLUMNS = ("final", "best")


def group_table(comp):
    """One row per group: n, seeds, and mean/sd of final, best and every shown checkpoint."""
    checkpoint_cols = [c for c in comp.stats.columns if c.startswith("@")]
    rows = []
    for g in comp.groups:
        sub = comp.stats.iloc[g.members]
        row = {"group": g.name, "n": g.n, "seeds": g.seeds_text(), "runs": list(g.labels)}
        for col in list(STAT_COLUMNS) + checkpoint_cols:
            s = summarize(sub[col].tolist())
            row[f"{col}_mean"], row[f"{col}_sd"], row[f"{col}_n"] = s.mean, s.sd, s.n
        rows.append(row)
    return pd.DataFrame(rows)


def compare_point(comp, a, b):
    """The last checkpoint at which every member of groups a and b has a value (the
    checkpoints of these two groups: other, shorter runs do not cut it short)."""
    members = [comp.curves[i] for i in a.members + b.members]
    if any(c is None or not len(c.x) for c in members):
        return None
    points = [x for x in common_checkpoints(members, comp.align) if all(value_at(c, x) is not None for c in members)]
    return points[-1] if points else None


def group_verdicts(comp, runs) -> tuple[list[str], list[dict]]:
    """A sentence and a record per group after the first: its difference from the first."""
    first = comp.groups[0]
    sentences, records = [], []
    for g in comp.groups[1:]:
        if first.n == 1 and g.n == 1:
            sentences.append(pair_verdict(comp, first.members[0], g.members[0], runs))
            records.append({"a": first.name, "b": g.name, "kind": "runs"})
            continue
        text, record = group_verdict(comp, first, g, runs)
        sentences.append(text)
        records.append(record)
    return sentences, records


def group_verdict(comp, a, b, runs) -> tuple[str, dict]:
    noun = NOUN[comp.align]
    record = {"a": a.name, "b": b.name, "kind": "groups", "at": None, "difference": None}
    x = compare_point(comp, a, b)
    if x is None:
        return f"{_name(b)} vs {_name(a)}: no common {noun} that every run of both reached", record
    va = [value_at(comp.curves[i], x) for i in a.members]
    vb = [value_at(comp.curves[i], x) for i in b.members]
    d = difference(a.keyed(va), b.keyed(vb))
    sa, sb = summarize(va), summarize(vb)
    record.update(at=x, a_mean=sa.mean, a_sd=sa.sd, b_mean=sb.mean, b_sd=sb.sd, difference=d.to_dict() if d else None)
    where = fmt_x(x, comp.align)
    values = f"{_mean_sd(sb)} vs {_mean_sd(sa)}"
    if d is None:
        return f"{_name(b)} vs {_name(a)} at {where}: {values}", record
    ci = (f"95% CI {fmt_signed(d.lo)} to {fmt_signed(d.hi)}, " if d.lo is not None else "") + d.how
    if d.lo is None:
        text = f"{_name(b)} vs {_name(a)} at {where}: {values}; difference {fmt_signed(d.mean)} ({ci})"
    elif d.excludes_zero:
        word = "higher" if d.mean > 0 else "lower"
        text = f"{_name(b)} is {word} than {_name(a)} at {where}: {values}; difference {fmt_signed(d.mean)} ({ci})"
    else:
        text = (
            f"{_name(b)} and {_name(a)} do not differ beyond seed noise at {where}: {values}; "
            f"difference {fmt_signed(d.mean)} ({ci})"
        )
    worse = None
    if d.excludes_zero:
        worse = (d.mean > 0) != comp.higher_is_better

    ia, ib = a.members[0], b.members[0]
    row_a, row_b = comp.stats.iloc[ia].copy(), comp.stats.iloc[ib].copy()
    row_a["run"], row_b["run"] = a.name, b.name
    cause = cause_clause(
        runs[ia], runs[ib], row_a, row_b, comp.align, worse, comp.totals_differ, replicated=a.n > 1 and b.n > 1
    )
    if cause:
        text += f"; {cause}"
    return text, record


def _name(g) -> str:
    return f"{g.name} (n={g.n})"


def _mean_sd(s) -> str:
    return mean_sd_text(s.mean, s.sd)


def mean_sd_text(mean, sd) -> str:
    """'4.937 ± 0.72': the mean to 4 significant digits, the sd to 2."""
    if mean is None or mean != mean:
        return "–"
    return fmt_value(mean) + (f" ± {sd:.2g}" if sd is not None and sd == sd else "")


def fmt_signed(v) -> str:
    if v is None:
        return "–"
    text = f"{abs(v):.3g}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{abs(v):.2e}"
    return ("−" if v < 0 else "+") + text
