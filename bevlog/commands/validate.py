"""`bevlog validate RUN`: check a diagnosis by training the run and the fixed run on bevdetr.

torch and bevdetr are imported only when the command runs (`bevlog --help` stays fast).
"""

from __future__ import annotations

import json

import click

from bevlog.output import BadInput, open_output
from parsers import ParseError


@click.command(name="validate")
@click.argument("path", metavar="RUN")
@click.option(
    "--budget-minutes",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Wall-clock budget for all training; the replica is shortened to fit it.",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=None,
    help="Seeds per variant (as diagnosed, fixed); verdicts go by the majority. "
    "Default: 3 when the budget allows it, else 1.",
)
@click.option(
    "--preset",
    type=click.Choice(["tiny", "small"]),
    default=None,
    help="bevdetr preset of the replica (default: small when the budget allows it, else tiny).",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the replicas' logs here (and skip finished ones on a rerun); default: a temporary dir.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(path, budget_minutes, seeds, preset, work_dir, fmt):
    """Regenerate RUN and the suggested fix on bevdetr (a proxy of your model), diagnose both,
    and say per finding: confirmed, not reproduced, fix did not help, or inconclusive."""
    from bevlog.validate import render_text, validate

    try:
        result = validate(path, budget_minutes, seeds, work_dir, preset)
    except ParseError as exc:
        raise BadInput(str(exc)) from None
    except (FileNotFoundError, ValueError, OverflowError) as exc:
        raise BadInput(f"{path}: {exc}") from None
    with open_output(None, fmt) as out:
        out.write(
            (
                json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False)
                if fmt == "json"
                else render_text(result)
            )
            + "\n"
        )
