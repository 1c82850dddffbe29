"""The `bevlog` command group.

Each subcommand lives in `bevlog/commands/<name>.py` and exposes `command`. Modules are
imported only when click asks for them, and they import pandas/plotly/torch inside their
functions, so `bevlog --help` stays fast.
"""
from __future__ import annotations

import importlib

import click

from bevlog import __version__

# name -> module; the order here is the order in `bevlog --help`.
COMMANDS = {
    "parse": "bevlog.commands.parse",
    "compare": "bevlog.commands.compare",
    "diagnose": "bevlog.commands.diagnose",
    "report": "bevlog.commands.report",
    "watch": "bevlog.commands.watch",
    "validate": "bevlog.commands.validate",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        return importlib.import_module(COMMANDS[name]).command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bevlog")
def cli():
    """Read, compare and diagnose training logs of DETR-family 3D detectors
    (mmcv 1.x and mmengine runners)."""
