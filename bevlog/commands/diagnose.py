"""`bevlog diagnose RUN...`: findings with evidence and a fix, a verdict per run.

Imports stay inside functions: `bevlog --help` loads this module and must not pay for pandas.
"""

from __future__ import annotations

import io
import shutil
import textwrap
from collections import Counter

import click

from bevlog import envelope
from bevlog.diagnose import diagnose_paths
from bevlog.escape import clean, markdown_cell
from bevlog.findings import SEVERITY_RANK
from bevlog.options import Loaded, collect_notes, jobs_option, nothing_read, report_errors, report_notes, use_color
from bevlog.output import open_output
from bevlog.rules import RULE_IDS, explain, get_rule, select
from bevlog.where import finding_where

ICONS = {"error": "✗", "warning": "⚠", "info": "ℹ"}
STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}
FORMATS = ("text", "json", "markdown")


def split_ids(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def choose_rules(rules: str | None, skip: str | None) -> list[str]:
    """--rules/--skip -> rule ids; unknown ids are a usage error (exit 2)."""
    try:
        return select(split_ids(rules), split_ids(skip))
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="--rules/--skip") from None


def fails(diagnoses, fail_on: str | None) -> bool:
    if not fail_on:
        return False
    return any(f.rank >= SEVERITY_RANK[fail_on] for d in diagnoses for f in d.findings)


@click.command(name="diagnose")
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for programs, markdown for PRs and issues.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "error"]),
    default=None,
    help="Exit 1 when any finding is at least this severe (CI gates); an input that "
    "could not be read is exit 2 whatever the findings.",
)
@click.option("--rules", default=None, metavar="IDS", help="Comma-separated rule ids to run (default: all).")
@click.option("--skip", default=None, metavar="IDS", help="Comma-separated rule ids not to run.")
@click.option(
    "--explain",
    default=None,
    metavar="RULE",
    help="Print what RULE looks at, its thresholds and why ('all' lists the rules), then exit.",
)
@click.option("--with-config", is_flag=True, help="With --format json: each run's config in its meta.")
@jobs_option
@click.pass_context
def command(ctx, paths, fmt, fail_on, rules, skip, explain, with_config, jobs):
    """Find what went wrong in each run and say how to fix it.

    Exit codes: 0 fine, 1 a finding at or above --fail-on, 2 bad usage or unreadable input.
    """
    if explain:
        with open_output(None, "text") as f:
            f.write(explain_text(explain) + "\n")
        return
    if not paths:
        raise click.UsageError("give at least one PATH (a log file, a work dir, a glob or '-')")
    chosen = choose_rules(rules, skip)

    skipped: list[str] = []
    diagnoses, errors = diagnose_paths(paths, chosen, jobs=jobs, notes=skipped, with_config=with_config)
    notes = collect_notes((d.meta for d in diagnoses), skipped)
    report_errors(errors)
    report_notes(notes)
    loaded = Loaded(diagnoses, errors, notes)
    if fmt == "json":
        envelope.write(envelope.envelope("diagnose", {"runs": [d.to_dict() for d in diagnoses]}, errors, notes))
    nothing_read(ctx, loaded)
    if fmt == "markdown":
        with open_output(None, "markdown") as f:
            f.write(render_markdown(diagnoses) + "\n")
    elif fmt == "text":
        with open_output(None, "text") as f:
            f.write(render_text(diagnoses) + "\n")
    if errors:
        ctx.exit(2)
    if fails(diagnoses, fail_on):
        ctx.exit(1)


def explain_text(rule_id: str) -> str:
    if rule_id == "all":
        width = max(map(len, RULE_IDS))
        return "\n".join(f"{r:<{width}}  {get_rule(r).summary}" for r in RULE_IDS)
    try:
        return explain(rule_id)
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="--explain") from None


# ---- rendering -------------------------------------------------------------------------

VERDICT_STYLES = {
    "broken": "bold red",
    "needs attention": "bold yellow",
    "stopped": "bold cyan",
    "healthy": "bold green",
}
# a summary lists at most this many broken runs by name, in at most SUMMARY_LINES lines on a terminal
# (one screen), each run's headline folded into at most ENTRY_LINES lines
SUMMARY_NAMES = 12
SUMMARY_LINES = 14
ENTRY_LINES = 2


def where_text(finding, runner: str | None, sep: str = " · ") -> str:
    """The where column (bevlog.where.finding_where: 'epochs 6.2–9.8 · Epoch [7][…]–[10][…]', 'whole run')."""
    return finding_where(finding, runner, sep)


def verdict_hint(diagnosis) -> str:
    """The verdict line after its status: the root, then the fix (bevlog.verdict.Verdict.line)."""
    return diagnosis.judged.line.split(" — ", 1)[1]


def finding_text(f) -> str:
    """A finding's message, with the cause it follows from for a consequence."""
    text = clean(f.message)
    if f.role == "consequence" and f.because:
        text += f" [because of {clean(f.because)}]"
    return text


def render_text(diagnoses, color: bool | None = None, width: int | None = None) -> str:
    """Grouped by run, worst first; colour only on a TTY and never with NO_COLOR; with more than one
    run, a one-screen summary at the end (runs by verdict, the broken ones named, each headline folded
    under its run's name at the terminal's own width — `width`, else its columns — even where the table
    is laid out wider)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    color = use_color() if color is None else color
    columns = width or shutil.get_terminal_size((120, 24)).columns
    width = width or max(100, columns)
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        width=width,
        soft_wrap=False,
    )
    for k, d in enumerate(diagnoses):
        if k:
            console.print()
        console.print(Text(clean(d.summary), style="bold"))
        if d.findings:
            grid = Table.grid(padding=(0, 2))
            for _ in range(3):
                grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            runner = d.meta.runner
            for f in d.findings:
                label = Text(f"  {ICONS[f.severity]} {f.severity:<7}", style=STYLES[f.severity])
                body = Text(finding_text(f))
                if f.fix and f.fix.text and f.severity != "info":
                    body.append(f"\nfix: {clean(f.fix.text)}")
                grid.add_row(label, f.rule, where_text(f, runner, "\n"), body)
            console.print(grid)
        line = Text("verdict: ")
        line.append(d.verdict, style=VERDICT_STYLES[d.verdict])
        line.append(f" — {clean(verdict_hint(d))}")
        console.print(line)
    if len(diagnoses) > 1:
        console.print()
        for text in summary_lines(diagnoses, columns):
            console.print(Text(text))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def summary_lines(diagnoses, width: int | None = None) -> list[str]:
    """'summary: 110 runs — 3 broken, 12 needs attention, 95 healthy' and the broken runs by name.

    With a `width` (a terminal's columns) each run's headline is folded under its name, at most
    ENTRY_LINES lines (the rest cut with '…': its full verdict line is printed above), and as many runs
    are named as fit in SUMMARY_LINES lines; without one (markdown) one line per run, SUMMARY_NAMES runs."""
    counts = Counter(d.verdict for d in diagnoses)
    order = ("broken", "needs attention", "stopped", "healthy")
    head = f"summary: {len(diagnoses)} runs — " + ", ".join(f"{counts[v]} {v}" for v in order if counts[v])
    lines = _fold(head, width, "  ") if width else [head]
    broken = [d for d in diagnoses if d.verdict == "broken"]
    named = 0
    for d in broken[:SUMMARY_NAMES]:
        entry = f"  ✗ {clean(d.run)}: {clean(d.judged.headline)}"
        folded = _fold(entry, width, "    ")[:ENTRY_LINES] if width else [entry]
        if width and len(_fold(entry, width, "    ")) > ENTRY_LINES:
            folded[-1] = _cut(folded[-1], width)
        room = SUMMARY_LINES - len(lines) - (1 if named + 1 < len(broken) else 0)
        if width and len(folded) > room:
            break
        lines += folded
        named += 1
    if len(broken) > named:
        lines.append(f"  … and {len(broken) - named} more broken runs above")
    return lines


def _fold(text: str, width: int, indent: str) -> list[str]:
    """`text` folded at `width` columns, continuation lines indented by `indent`."""
    return textwrap.wrap(
        text, width=max(40, width), subsequent_indent=indent, break_long_words=True, break_on_hyphens=False
    ) or [text]


def _cut(line: str, width: int) -> str:
    """The last line of a folded entry, marked as cut ('…') within `width` columns."""
    width = max(40, width)
    return (line if len(line) < width else line[: width - 1].rstrip()) + "…"


def render_markdown(diagnoses) -> str:
    cell = markdown_cell  # a log's text: one line, `|` escaped, no raw HTML

    out = []
    for d in diagnoses:
        out += [f"## {cell(d.run)}", "", cell(d.summary), ""]
        if d.findings:
            out += ["| severity | rule | where | finding | fix |", "|---|---|---|---|---|"]
            for f in d.findings:
                fix = f.fix.text if f.fix else ""
                out.append(
                    f"| {ICONS[f.severity]} {f.severity} | `{f.rule}` | "
                    f"{cell(where_text(f, d.meta.runner))} | {cell(finding_text(f))} | {cell(fix)} |"
                )
            out.append("")
        out += [f"**verdict: {d.verdict}** — {cell(verdict_hint(d))}", ""]
    if len(diagnoses) > 1:
        out += [
            cell(line) if not line.startswith("  ") else f"- {cell(line.strip())}" for line in summary_lines(diagnoses)
        ]
    return "\n".join(out).rstrip() + "\n"
