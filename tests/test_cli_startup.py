"""`bevlog --help` must stay light: no pandas, plotly or torch at start-up."""

import subprocess
import sys

import click
import pytest
from repo_paths import REPO

from bevlog.cli import cli

HEAVY = ("pandas", "plotly", "torch", "pyarrow", "numpy")


def test_help_imports_nothing_heavy_and_no_command_module():
    code = (
        "import sys\n"
        "from bevlog.cli import cli\n"
        "try:\n"
        "    cli(['--help'], prog_name='bevlog')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])\n"
        "print('COMMAND MODULES', sorted(m for m in sys.modules if m.startswith('bevlog.commands')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out
    assert "COMMAND MODULES []" in out, out
    assert "parse" in out


@pytest.mark.parametrize("width", [30, 45, 60, 80, 120, 200, 500])
def test_the_command_list_is_what_the_commands_own_help_gives(width):
    """`bevlog --help` lists the commands from the sentences in bevlog.cli.COMMANDS; click
    itself would list them from each command's help. The two must read the same at any width."""
    ctx = click.Context(cli, info_name="bevlog", terminal_width=width, max_content_width=width)
    ours, clicks = ctx.make_formatter(), ctx.make_formatter()
    cli.format_commands(ctx, ours)
    click.Group.format_commands(cli, ctx, clicks)
    assert ours.getvalue() == clicks.getvalue()


def test_every_subcommand_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from bevlog.cli import cli, COMMANDS\n"
        "for name in COMMANDS:\n"
        "    try:\n"
        "        cli([name, '--help'], prog_name='bevlog')\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (name, e.code)\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out


def test_installed_entry_point_answers():
    proc = subprocess.run(["bevlog", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: bevlog" in proc.stdout
    version = subprocess.run(["bevlog", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "bevlog, version" in version.stdout


def test_the_startup_benchmark_compares_a_checkout_round_by_round():
    """benchmarks/startup_bench.py --old: old and new `bevlog --help` in alternating rounds, next
    to the bare interpreter, with their ratio (here both sides are this checkout)."""
    bench = REPO / "benchmarks" / "startup_bench.py"
    args = [sys.executable, str(bench), "--old", str(REPO), "--repeat", "1", "--rounds", "2"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].split()[:2] == ["round", "python"], out
    rounds = [line.split() for line in out[1:]]
    assert [r[0] for r in rounds] == ["1", "2"], out
    for r in rounds:
        base, old, new, ratio = float(r[1]), float(r[3]), float(r[5]), float(r[7].rstrip("x"))
        assert 0 < base and 0 < old and 0 < new
        assert abs(ratio - new / old) < 0.01, r
