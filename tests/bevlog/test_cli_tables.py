"""`parse` and `compare` tables on a terminal of 80 and 120 columns, `--wide`, and colour.

Readable means: no line wider than the terminal (a wider line wraps and the table falls
apart), one line per run, the most wanted columns kept and the others named under the
table. Colour follows FORCE_COLOR and NO_COLOR (NO_COLOR wins), else the terminal.
"""

import re

import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1, REAL_SET2
from rich.cells import cell_len

from bevlog.cli import cli
from bevlog.commands.parse import PRIORITY

REAL = [str(REAL_SET1), str(REAL_SET2 / "CVIU-CSU__EPCPE__20240310_192200.log")]
PAIR = [
    str(REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"),
    str(REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"),
]
SGR = re.compile(r"\x1b\[[0-9;]*m")


def _run(*args, **env):
    result = CliRunner().invoke(cli, list(args), env={"NO_COLOR": "", "FORCE_COLOR": "", **env})
    assert result.exit_code == 0, result.output
    return result.stdout


def _header(out: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith("run "))
    return [c.strip() for c in line.split("┃")]


@pytest.mark.parametrize("width", [80, 120])
def test_parse_table_fits_the_terminal(width):
    out = _run("parse", *REAL, COLUMNS=str(width))
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= width, out
    rows = [line for line in lines if "│" in line]
    assert len(rows) == 6  # one line per run: five in set1, one more
    for name in ("PrymceQ__3DDetection_DETR3D", "CVIU-CSU__EPCPE"):
        assert sum(name in line for line in lines) == 1
    header = _header(out)
    assert set(header) == set(PRIORITY[: len(header)]) and len(header) >= 4  # the most wanted ones
    left_out = out.split("more with --wide: ")[1]
    assert [c.strip() for c in " ".join(left_out.split()).rstrip(")").split(",")] == PRIORITY[len(header) :]


def test_parse_shows_more_at_120_than_at_80_and_everything_with_wide():
    narrow, medium = (_header(_run("parse", *REAL, COLUMNS=str(w))) for w in (80, 120))
    wide = _header(_run("parse", *REAL, "--wide", COLUMNS="80"))
    assert set(narrow) < set(medium) < set(wide)
    assert wide == [
        "run",
        "format",
        "runner",
        "length",
        "rows",
        "evals",
        "batch",
        "lr range",
        "last loss",
        "best loss",
        "s/iter",
        "layers",
        "aux",
        "ended",
        "skipped",
    ]


@pytest.mark.parametrize("width", [80, pytest.param(120, marks=pytest.mark.slow)])
def test_compare_table_fits_the_terminal(width):
    out = _run("compare", *PAIR, "--align", "samples", "-m", "loss", "-m", "NDS", COLUMNS=str(width))
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= width, out
    for name in ("PrymceQ__3DDetection_DETR3D", "PrymceQ__BEVModel_StreamPETR"):
        assert sum(line.startswith(name[:20]) and "│" in line for line in lines) == 2  # a row per metric
    header = _header(out)
    assert header[:2] == ["run", "batch"] and {"final", "best", "lr"} <= set(header)


@pytest.mark.slow
def test_compare_wide_has_every_column():
    header = _header(_run("compare", *PAIR, "--align", "samples", "--wide", COLUMNS="80"))
    for column in ("batch", "lr", "lr/sample", "rows", "final", "best", "noise", "noise·√(B·n)", "slope/smp", "curve"):
        assert column in header


@pytest.mark.parametrize(
    "command",
    [
        ["parse", *REAL],
        pytest.param(["compare", *PAIR], marks=pytest.mark.slow),
        pytest.param(["diagnose", *PAIR], marks=pytest.mark.slow),
    ],
)
def test_colour_follows_force_color_and_no_color(command):
    assert not SGR.search(_run(*command))  # not a terminal: plain text
    assert SGR.search(_run(*command, FORCE_COLOR="1"))
    assert not SGR.search(_run(*command, FORCE_COLOR="1", NO_COLOR="1"))  # NO_COLOR wins
