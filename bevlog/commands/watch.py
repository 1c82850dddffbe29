"""`bevlog watch LOG`: follow a log that is still being written and print each finding once.

Every --interval seconds what was appended since the last check is read and judged
(`bevlog.live.Watcher`: which file, what to read, which rules run when), and findings not
printed before are printed. A finding is the same finding while its rule, severity and kind
stay the same (an event rule such as grad-spike or lr-drop: also its step), so a plateau
whose window moves is printed once. Ctrl-C exits cleanly; --once reads, prints and exits
(for scripts). A file that can never be a log (a device, one over the input cap) stops the
command at once.
"""

from __future__ import annotations

import json
import os
import time

import click

from bevlog.commands.diagnose import ICONS, choose_rules, finding_text
from bevlog.escape import clean
from bevlog.findings import SEVERITY_RANK
from bevlog.live import Watcher
from bevlog.options import report_errors
from bevlog.output import open_output, say
from bevlog.where import finding_where


def format_line(finding, runner: str | None = None) -> str:
    """One finding as watch prints it: where it is on bevlog's axis and in the log's own terms
    (bevlog.where, the one formatter every output uses), the message, the fix."""
    stamp = time.strftime("%H:%M:%S")
    where = finding_where(finding, runner)
    text = (
        f"[{stamp}] {ICONS[finding.severity]} {finding.severity:<7} {finding.rule:<15} {where}  {finding_text(finding)}"
    )
    if finding.fix and finding.fix.text and finding.severity != "info":
        text += f"\n{'':>11}fix: {clean(finding.fix.text)}"
    return text


@click.command(name="watch")
@click.argument("log", type=click.Path())
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="Seconds between checks of the log.",
)
@click.option("--once", is_flag=True, help="Read the log once, print its findings and exit.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one finding per line (JSON Lines).",
)
@click.option("--rules", default=None, metavar="IDS", help="Comma-separated rule ids to run (default: all).")
@click.option("--skip", default=None, metavar="IDS", help="Comma-separated rule ids not to run.")
@click.option("--no-rotation", is_flag=True, help="Stay on LOG even when a newer log appears beside it.")
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "error"]),
    default=None,
    help="With --once: exit 1 when any finding is at least this severe.",
)
@click.pass_context
def command(ctx, log, interval, once, fmt, rules, skip, no_rotation, fail_on):
    """Follow LOG while it is being written; print each new finding once (Ctrl-C to stop).

    LOG is a log file, or a work dir (its newest log is followed, and the next one when the
    run restarts into a new timestamped log).
    """
    chosen = choose_rules(rules, skip)
    if once and not os.path.exists(log):
        report_errors([f"{log}: no such file or directory"])
        ctx.exit(2)
    watcher = Watcher(log, chosen, follow_rotation=not no_rotation, background=not once)
    printed, last_error = [], None
    try:
        with open_output(None, "json" if fmt == "json" else "text") as out:
            while True:
                fresh, notes, error = watcher.read_once() if once else watcher.poll()
                for line in notes:
                    say(line)
                if error and (once or watcher.refused):
                    report_errors([error])
                    ctx.exit(2)
                if error and error != last_error:  # a log not yet written (or half written): wait
                    say(f"waiting: {error}")
                last_error = error
                for f in fresh:
                    printed.append(f)
                    out.write(_line(f, fmt) + "\n")
                out.flush()  # each finding as it is found
                if once:
                    break
                time.sleep(interval)
    except KeyboardInterrupt:
        say(f"stopped watching {watcher.path}")
        ctx.exit(130)  # interrupted, as every command
    if once and fail_on:
        if any(f.rank >= SEVERITY_RANK[fail_on] for f in printed):
            ctx.exit(1)


def _line(finding, fmt: str) -> str:
    if fmt == "json":  # JSON Lines: one finding per line (docs/schema/finding.json)
        return json.dumps(finding.to_dict(), ensure_ascii=False, allow_nan=False)
    return format_line(finding)
