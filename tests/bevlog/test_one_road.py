"""One road from paths to runs: every command reads the same frames as `parsers.read`.

Each command runs for real (click's CliRunner, in this process) and what it printed is
compared with the same facts computed from `parsers.read_paths` of the same PATHs: the
frames `parse` writes (value by value), the runs' files, twins, segments and replaced rows
and the findings `diagnose` reports (through the worker pool too), the findings `watch`,
`report` and `validate` report, the rows `compare` counts. The work dirs are chosen so that
another road would show: a text log whose json twin carries an extra digit, and a run
resumed once (two launches, rows re-run after the resume).
"""

import html
import io
import json
import re
import shutil
import tempfile

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1

import parsers
from bevlog.cli import cli
from bevlog.diagnose import diagnose_run
from bevlog.findings import json_safe

REPO_LOGS = REAL_SET1.parents[1] / "logs"
STREAMPETR = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def work(tmp_path):
    """Two work dirs: a text log with its json twin (the issue's 16.0101 vs 16.01008), and
    an mmengine run resumed once (two launches, vis_data twins)."""
    a = shutil.copytree(REPO_LOGS / "mmcv_epoch", tmp_path / "mmcv_epoch")
    b = shutil.copytree(REPO_LOGS / "mmengine_resume", tmp_path / "mmengine_resume")
    return [str(a), str(b)]


def assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame, atol: float = 0.0):
    """A frame as a command wrote it (csv / JSON lines) holds the expected frame's values
    (JSON lines: to the 10 decimals `parse` writes)."""
    assert list(got.columns) == list(expected.columns) and len(got) == len(expected)
    for col in expected.columns:
        if col in ("run", "metric"):
            assert got[col].astype(str).tolist() == expected[col].astype(str).tolist(), col
        else:
            a, b = got[col].to_numpy(float), expected[col].to_numpy(float)
            assert np.allclose(a, b, rtol=0.0, atol=atol, equal_nan=True), col


def findings_of(run, live=False):
    return [(f.rule, f.severity, f.start_step, f.message) for f in diagnose_run(run, live=live)]


def test_parse_writes_the_frames_parsers_read_paths_reads(work):
    expected, problems = parsers.read_paths(work)
    assert problems == [] and [len(r.meta["segments"]) for r in expected] == [1, 2]
    assert expected[0].meta["twins"] and expected[1].meta["replaced_rows"] > 0  # the roads that could differ
    for frame in ("train", "evals"):
        want = pd.concat([getattr(r, frame) for r in expected], ignore_index=True)
        csv = invoke("parse", *work, "--format", "csv", "--frame", frame)
        assert csv.exit_code == 0, csv.output
        assert_same_frame(pd.read_csv(io.StringIO(csv.stdout)), want)
        lines = invoke("parse", *work, "--format", "json", "--frame", frame)
        assert lines.exit_code == 0, lines.output
        rows = pd.DataFrame(json.loads(lines.stdout)["rows"])
        assert_same_frame(rows, want, atol=1e-10)


@pytest.mark.parametrize("jobs", ["1", "2"])  # in this process, and through the worker pool
def test_diagnose_reports_the_runs_parsers_read_paths_reads(work, jobs):
    expected, _ = parsers.read_paths(work)
    result = invoke("diagnose", *work, "-j", jobs, "--format", "json")
    assert result.exit_code == 0, result.output
    runs = {r["run"]: r for r in json.loads(result.stdout)["runs"]}
    assert sorted(runs) == sorted(r.name for r in expected)
    for run in expected:
        got = runs[run.name]
        for key in ("sources", "twins", "segments", "replaced_rows", "format"):
            assert got["meta"][key] == json_safe(run.meta[key]), key
        assert [(f["rule"], f["severity"], f["start_step"], f["message"]) for f in got["findings"]] == findings_of(run)


def test_watch_reads_the_run_parsers_read_reads(work):
    for wd in work:
        run = parsers.read(wd)
        result = invoke("watch", "--once", "--format", "json", wd)
        assert result.exit_code == 0, result.output
        got = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(f["rule"], f["severity"], f["start_step"], f["message"]) for f in got] == findings_of(run, live=True)


def test_report_and_compare_show_the_runs_parsers_read_paths_reads(work, tmp_path):
    expected, _ = parsers.read_paths(work)
    out = tmp_path / "r.html"
    assert invoke("report", *work, "-o", out).exit_code == 0
    page = out.read_text()
    table = page[page.index('id="findings-table"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(
        r'<tr data-run="([^"]*)"><td class="sev-(\w+)">\w+</td><td class="name">[^<]*</td>'
        r'<td class="nw">([^<]*)</td><td class="num">[^<]*</td><td>([^<]*)</td>',
        table,
    )
    want = sorted((r.name, sev, rule, msg) for r in expected for rule, sev, _, msg in findings_of(r))
    assert sorted((run, sev, rule, html.unescape(msg)) for run, sev, rule, msg in rows) == want
    compare = invoke("compare", *work, "--format", "csv")
    assert compare.exit_code == 0, compare.output
    table = pd.read_csv(io.StringIO(compare.stdout))
    assert dict(zip(table["run"], table["rows"])) == {r.name: len(r.train) for r in expected}


class _Stop(BaseException):  # not an error: nothing catches it before the test does
    pass


class _FirstLine(io.StringIO):
    """What `validate` writes to its stream, up to its first line: the run it read and its
    findings, written before any training starts (which this stream then stops)."""

    def write(self, text):
        super().write(text)
        if "\n" in self.getvalue():
            raise _Stop


def test_validate_reads_the_run_parsers_read_reads(work, tmp_path, monkeypatch):
    from bevlog.validate import validate

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where validate makes its work folder
    for wd in work:
        run = parsers.read(wd)
        stream = _FirstLine()
        with pytest.raises(_Stop):
            validate(wd, budget_minutes=0.1, preset="tiny", stream=stream)
        line = stream.getvalue()
        assert line.startswith(f"validate {run.name}: {len(diagnose_run(run))} finding(s); "), line
        assert list(scratch.iterdir()) == []  # stopped, it still took its temporary work folder away


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
    table = html[html.index('id="findings-table"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(
        r'<tr data-run="([^"]*)"><td class="sev-\w+">\w+</td><td class="name">([^<]*)</td>'
        r'<td class="nw">([^<]*)</td>',
        table,
    )
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
