"""Real JSON outputs of parse, diagnose, compare and watch validate against docs/schema/.

The inputs are real logs (fixtures/real), bevdetr runs and fixtures, with an unreadable
file beside them (so `problems` is not empty) and a FIFO in a work dir (a note).
"""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1, REAL_SET2

from bevlog.cli import cli

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "docs" / "schema"
LOGS = REPO / "fixtures" / "logs"
CRASHED = REAL_SET1 / "eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output.log"


def validator(name: str):
    docs = [json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.json"))]
    registry = referencing.Registry().with_resources((d["$id"], referencing.Resource.from_contents(d)) for d in docs)
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _errors(name: str, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator(name).iter_errors(doc)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Real runs, an unreadable file, and a work dir with a FIFO named like a log."""
    root = tmp_path_factory.mktemp("schema")
    bad = root / "broken.log"
    bad.write_bytes(b"\x00\x01 not a log\n")
    wd = root / "work"
    (wd / "run").mkdir(parents=True)
    (wd / "run" / "20230725_174411.log").write_bytes(
        (REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log").read_bytes()
    )
    os.mkfifo(wd / "run" / "20230801_000000.log")
    return [str(REAL_SET1), str(LOGS / "mmcv_resume_epoch"), str(wd), str(bad)]


def _json(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, json.loads(result.stdout)


def test_diagnose_json_validates_and_lists_problems_and_notes(inputs):
    code, doc = _json("diagnose", "--format", "json", *inputs)
    assert code == 2  # the broken file
    assert _errors("diagnose", doc) == []
    assert [p["path"] for p in doc["problems"]] == [inputs[-1]] and doc["problems"][0]["line"] is None
    assert any("not a regular file (a named pipe)" in n for n in doc["notes"])  # the FIFO, also on stderr
    assert any("were logged again after the resume" in n for n in doc["notes"])  # mmcv_resume_epoch
    crashed = next(r for r in doc["runs"] if r["run"].startswith("eb45__"))
    assert crashed["meta"]["crash_lines"][0].startswith("Traceback (most recent call last)")
    assert "RuntimeError" in crashed["meta"]["crash_lines"][-1]
    assert all("config" not in r["meta"] for r in doc["runs"])
    assert len(json.dumps(doc)) < 200_000  # the logs' tails stay out (they were up to 256 KB each)


def test_diagnose_json_with_config_validates(inputs):
    code, doc = _json("diagnose", "--format", "json", "--with-config", str(REAL_SET1))
    assert code == 0 and _errors("diagnose", doc) == []
    detr3d = next(r for r in doc["runs"] if r["run"] == "PrymceQ__3DDetection_DETR3D")
    assert detr3d["meta"]["config"]["data"]["samples_per_gpu"] == 1


@pytest.mark.parametrize(
    "frame", ["train", pytest.param("layers", marks=pytest.mark.slow), pytest.param("evals", marks=pytest.mark.slow)]
)
def test_parse_json_validates(inputs, frame):
    code, doc = _json("parse", "--format", "json", "--frame", frame, *inputs)
    assert code == 2 and _errors("parse", doc) == []
    assert doc["frame"] == frame and len(doc["runs"]) >= 5 and doc["rows"]
    assert {r["run"] for r in doc["rows"]} <= {r["run"] for r in doc["runs"]}


def test_compare_json_validates():
    code, doc = _json(
        "compare",
        "--format",
        "json",
        "-m",
        "loss",
        "-m",
        "grad_norm",
        str(REPO / "fixtures/compare/b8"),
        str(REPO / "fixtures/compare/b20"),
        str(REPO / "fixtures/compare/nobatch"),
    )
    assert code == 0 and _errors("compare", doc) == []
    assert [c["metric"] for c in doc["comparisons"]] == ["loss", "grad_norm"]


def test_runs_json_validates(tmp_path):
    """`bevlog runs --format json` over a catalog indexed from real runs and an unreadable
    file, with a --metric column; a catalog that is not there is a problem of the document."""
    pytest.importorskip("duckdb")
    catalog = tmp_path / "catalog"
    bad = tmp_path / "broken.log"
    bad.write_bytes(b"\x00\x01 not a log\n")
    result = CliRunner().invoke(cli, ["index", str(REAL_SET1), str(bad), "--catalog", str(catalog), "-j", "1"])
    assert result.exit_code == 2, result.output
    code, doc = _json("runs", "--catalog", catalog, "--format", "json", "--metric", "max(NDS)>0")
    assert code == 0 and _errors("runs", doc) == []
    assert doc["runs"] and all(r["max(NDS)"] > 0 for r in doc["runs"])
    assert len(doc["index_problems"]) == 1 and str(bad) in doc["index_problems"][0]
    code, doc = _json("runs", "--catalog", tmp_path / "nothing", "--format", "json")
    assert code == 2 and _errors("runs", doc) == [] and doc["runs"] == []
    assert doc["problems"][0]["path"] == str(tmp_path / "nothing")


def test_the_envelope_is_there_when_nothing_could_be_read(tmp_path):
    bad = tmp_path / "x.log"
    bad.write_bytes(b"\x00")
    for command, body in (("diagnose", "runs"), ("parse", "rows"), ("compare", "comparisons")):
        code, doc = _json(command, "--format", "json", bad)
        assert code == 2 and _errors(command, doc) == [] and doc[body] == []
        assert doc["problems"][0]["path"] == str(bad)


@pytest.mark.parametrize(
    "path",
    [
        CRASHED,
        pytest.param(REAL_SET2 / "CVIU-CSU__EPCPE__20240310_192200.log", marks=pytest.mark.slow),
        pytest.param(LOGS / "mmcv_nonfinite_grad", marks=pytest.mark.slow),
    ],
    ids=lambda p: p.name[:24],
)
def test_watch_json_lines_are_findings(path):
    result = CliRunner().invoke(cli, ["watch", "--once", "--format", "json", str(path)])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines
    for finding in lines:
        assert _errors("finding", finding) == []


def test_a_wrong_document_is_refused():
    """The schemas can fail: a finding without its severity, a problem without a path, a
    diagnose document still carrying a tail."""
    finding = {
        "run": "r",
        "rule": "x",
        "start_step": 1,
        "end_step": 1,
        "start_epoch": None,
        "end_epoch": None,
        "message": "m",
        "evidence": {},
        "fix": None,
    }
    assert _errors("finding", finding)
    assert not _errors("finding", {**finding, "severity": "warning"})
    doc = {
        "schema": "bevlog.diagnose/1",
        "runs": [],
        "problems": [{"line": 3, "reason": "r", "message": "m"}],
        "notes": [],
    }
    assert _errors("diagnose", doc)
    meta = {
        "name": "r",
        "sources": [],
        "format": None,
        "runner": None,
        "segments": [],
        "skipped": {},
        "ended": "unknown",
        "crash_lines": [],
    }
    run = {
        "run": "r",
        "verdict": "healthy",
        "headline": "nothing to fix",
        "verdict_line": "healthy — nothing to fix",
        "root": None,
        "summary": "r",
        "meta": meta,
        "plan": [],
        "plan_text": "",
        "findings": [],
    }
    ok = {"schema": "bevlog.diagnose/1", "runs": [run], "problems": [], "notes": []}
    assert not _errors("diagnose", ok)
    assert _errors("diagnose", {**ok, "runs": [{**run, "meta": {**meta, "tail": ["…"]}}]})
    runs = {"schema": "bevlog.runs/1", "catalog": "c", "runs": [], "index_problems": [], "problems": [], "notes": []}
    assert not _errors("runs", runs)
    assert _errors("runs", {**runs, "runs": [{"name": "r", "verdict": "fine"}]})
