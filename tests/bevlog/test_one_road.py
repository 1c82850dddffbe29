"""One road from paths to runs: every command reads the same frames as `parsers.read`.

`parsers.reader.observers` sees every Run the reader hands out; each command runs for
real (click's CliRunner, in this process) and the runs it read are compared with
`parsers.read_paths` of the same PATHs. The `parse` CSV is also compared value by value.
"""
import io
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REAL_SET1

import parsers
from bevlog.cli import cli
from parsers import reader

REPO_LOGS = REAL_SET1.parents[1] / "logs"
STREAMPETR = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def seen():
    got = []
    reader.observers.append(got.append)
    yield got
    reader.observers.remove(got.append)


@pytest.fixture
def work(tmp_path):
    """Two work dirs: a text log with its json twin (the issue's 16.0101 vs 16.01008), and
    an mmengine run resumed once (two launches, vis_data twins)."""
    a = shutil.copytree(REPO_LOGS / "mmcv_epoch", tmp_path / "mmcv_epoch")
    b = shutil.copytree(REPO_LOGS / "mmengine_resume", tmp_path / "mmengine_resume")
    return [str(a), str(b)]


def assert_same_runs(got, expected):
    assert [r.name for r in got] == [r.name for r in expected]
    for g, e in zip(got, expected):
        pd.testing.assert_frame_equal(g.train, e.train)
        pd.testing.assert_frame_equal(g.evals, e.evals)
        for key in ("sources", "twins", "segments", "replaced_rows", "format"):
            assert g.meta[key] == e.meta[key], key


def test_every_command_reads_what_parsers_read_paths_reads(work, seen, tmp_path):
    expected, problems = parsers.read_paths(work)
    assert problems == [] and [len(r.meta["segments"]) for r in expected] == [1, 2]
    assert expected[0].meta["twins"]  # the twin was read with its text log
    commands = {
        "parse csv": ["parse", *work, "--format", "csv"],
        "parse json": ["parse", *work, "--format", "json"],
        "compare": ["compare", *work],
        "report": ["report", *work, "-o", tmp_path / "r.html"],
        "diagnose": ["diagnose", *work, "-j", "1"],
    }
    for name, args in commands.items():
        seen.clear()
        result = invoke(*args)
        assert result.exit_code == 0, (name, result.output)
        assert_same_runs(seen, expected)
    for k, wd in enumerate(work):  # watch and validate take one run
        seen.clear()
        assert invoke("watch", "--once", wd).exit_code == 0
        assert_same_runs([r for r in seen if r.name == expected[k].name], [expected[k]])
        assert_same_runs([parsers.read(wd)], [expected[k]])
        assert_same_runs(_validate_reads(wd), [expected[k]])


class _Stop(BaseException):  # not an error: passes through the reader's per-job isolation
    pass


def _validate_reads(path):
    """The run `bevlog validate` reads, stopped right after reading (before any training)."""
    from bevlog.validate import validate

    got = []

    def stop(run):
        got.append(run)
        raise _Stop

    reader.observers.append(stop)
    try:
        with pytest.raises(_Stop):
            validate(path, budget_minutes=0.1, preset="tiny")
    finally:
        reader.observers.remove(stop)
    return got


def test_parse_csv_carries_the_json_twins_digits(work):
    """`bevlog parse DIR --format csv` and `parsers.read(DIR)`: the same numbers, with the
    json twin's extra digit (the text log says 16.0101)."""
    out = invoke("parse", work[0], "--format", "csv").output
    csv = pd.read_csv(io.StringIO(out))
    run = parsers.read(work[0])
    assert list(csv.columns) == list(run.train.columns)
    for col in run.train.columns[1:]:
        assert np.array_equal(csv[col].to_numpy(float), run.train[col].to_numpy(float), equal_nan=True), col
    twin = next(p for p in (REPO_LOGS / "mmcv_epoch").glob("*.log.json"))
    first = next(json.loads(line) for line in twin.read_text().splitlines() if '"mode": "train"' in line)
    text = (REPO_LOGS / "mmcv_epoch" / twin.name.removesuffix(".json")).read_text()
    assert csv["loss"].iloc[0] == first["loss"] != float(re.search(r"loss: ([0-9.]+)", text).group(1))


def _clean_copy(tmp_path):
    """The StreamPETR log with every non-finite grad_norm replaced: no grad-nonfinite finding."""
    data = re.sub(rb"grad_norm: (?:nan|inf|-inf)", b"grad_norm: 1.0000", STREAMPETR.read_bytes())
    dst = tmp_path / "clean" / STREAMPETR.name
    dst.parent.mkdir()
    dst.write_bytes(data)
    return dst


def test_report_places_each_finding_on_its_own_run(tmp_path):
    clean = _clean_copy(tmp_path)
    out = tmp_path / "r.html"
    result = invoke("report", clean, STREAMPETR, "-o", out, "--align", "iters")
    assert result.exit_code == 0, result.output
    html = out.read_text()
    table = html[html.index('id="findings-table"'):]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<tr data-run="([^"]*)"><td class="sev-\w+">\w+</td><td class="name">([^<]*)</td>'
                      r'<td class="nw">([^<]*)</td>', table)
    names = ["clean/PrymceQ__BEVModel_StreamPETR", "set1/PrymceQ__BEVModel_StreamPETR"]
    assert {run for run, _, _ in rows} <= set(names)
    assert all(run == label for run, label, _ in rows)
    nonfinite = [run for run, _, rule in rows if rule == "grad-nonfinite"]
    assert nonfinite == [names[1]]  # only the real log has non-finite grad norms
    # the marker drawn on the loss curve names the same run
    assert re.search(r"info · set1/PrymceQ__BEVModel_StreamPETR · grad-nonfinite", html)
    assert not re.search(r"clean/PrymceQ__BEVModel_StreamPETR · grad-nonfinite", html)


def test_findings_carry_their_runs_name_in_diagnose_json(tmp_path):
    clean = _clean_copy(tmp_path)
    result = invoke("diagnose", clean, STREAMPETR, "--format", "json", "-j", "1")
    runs = json.loads(result.output)["runs"]
    assert sorted(r["run"] for r in runs) == ["clean/PrymceQ__BEVModel_StreamPETR", "set1/PrymceQ__BEVModel_StreamPETR"]
    for r in runs:
        assert all(f["run"] == r["run"] for f in r["findings"])
    by_run = {r["run"]: {f["rule"] for f in r["findings"]} for r in runs}
    assert "grad-nonfinite" in by_run["set1/PrymceQ__BEVModel_StreamPETR"]
    assert "grad-nonfinite" not in by_run["clean/PrymceQ__BEVModel_StreamPETR"]


@pytest.mark.parametrize("command", ["compare", "report"])
def test_default_align_falls_back_to_iters_when_a_run_has_no_epochs(command, tmp_path):
    log = REPO_LOGS / "mmcv_iter"
    extra = ["-o", tmp_path / "r.html"] if command == "report" else []
    run = parsers.read(log)
    assert not np.isfinite(run.train["epoch_f"]).any()  # an iteration-based log
    default = invoke(command, log, *extra)
    assert default.exit_code == 0, default.output
    assert "mmcv_iter logs no epochs" in default.stderr and "aligning by iterations" in default.stderr
    if command == "compare":
        assert "by iteration" in default.stdout
    explicit = invoke(command, log, "--align", "epochs", *extra)
    assert explicit.exit_code == 2
    assert "mmcv_iter" in explicit.stderr and "--align iters" in explicit.stderr


def test_replaced_rows_are_said_on_stderr(work):
    result = invoke("parse", work[1])
    run = parsers.read(work[1])
    n = run.meta["replaced_rows"]
    assert n > 0
    assert f"note: mmengine_resume: {n} row(s) of " in result.stderr
