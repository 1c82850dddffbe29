"""`bevlog diagnose`: exit codes, output formats, json schema, --fail-on, --rules/--skip, --explain."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from labelled_runs import BEVFUSION_JSON, CONSOLE, MMENGINE_JSON, STREAMPETR_TEXT, VARIANTS

from bevlog.cli import cli
from bevlog.rules import RULE_IDS

FINDING_KEYS = {
    "run",
    "rule",
    "severity",
    "start_step",
    "end_step",
    "start_epoch",
    "end_epoch",
    "message",
    "evidence",
    "fix",
    "at",
    "headline",
    "span",
    "stage",
    "role",
    "because",
}


def diagnose(*args, env=None):
    return CliRunner().invoke(cli, ["diagnose", *args], env=env or {"NO_COLOR": "1"})


def _strict(text):
    def no_nan(token):
        raise ValueError(f"non-JSON number {token}")

    return json.loads(text, parse_constant=no_nan)


def test_text_output_grouped_by_run_worst_first_with_verdicts():
    res = diagnose(STREAMPETR_TEXT, CONSOLE, MMENGINE_JSON)
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    first, second, third = (
        out.index(n) for n in ("eb45__StreamPETR_TTC_Head", "jasoni4399", "PrymceQ__BEVModel_StreamPETR")
    )
    assert first < second < third  # broken, stopped (the log stops without an error), healthy
    assert "verdict: broken — it crashed at" in out and "fix the RuntimeError it died of first" in out
    assert "verdict: stopped — the log stops at epoch 17.8" in out and "verdict: healthy" in out
    assert "✗ error" in out and "⚠ warning" in out and "ℹ info" in out
    assert "\x1b[" not in out  # not a TTY: no colour


def test_colour_only_on_a_tty_and_never_with_no_color(monkeypatch):
    from bevlog.commands.diagnose import render_text
    from bevlog.diagnose import diagnose_paths

    diagnoses, _ = diagnose_paths([CONSOLE])
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in render_text(diagnoses)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in render_text(diagnoses)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    monkeypatch.delenv("NO_COLOR")
    assert "\x1b[" not in render_text(diagnoses)


def test_json_schema_and_json_safe_meta():
    res = diagnose(BEVFUSION_JSON, CONSOLE, "--format", "json")
    assert res.exit_code == 0, res.stderr
    doc = _strict(res.stdout)  # NaN/Infinity would raise: meta is JSON-safe
    assert set(doc) == {"schema", "runs", "problems", "notes"} and doc["schema"] == "bevlog.diagnose/1"
    runs = {r["run"]: r for r in doc["runs"]}
    assert len(runs) == 2
    for r in doc["runs"]:
        assert {"run", "meta", "findings", "verdict", "headline", "verdict_line", "plan"} <= set(r)
        assert r["meta"]["format"] in ("mmcv-json", "console")
        for f in r["findings"]:
            assert set(f) == FINDING_KEYS
            assert f["severity"] in ("info", "warning", "error")
            assert set(f["fix"]) == {"text", "advice", "changes", "alternative"}
            assert f["role"] in ("cause", "consequence") and f["stage"]
            assert isinstance(f["fix"]["changes"], list)
    console = runs["eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output"]
    assert console["verdict"] == "broken"
    assert console["findings"][0]["evidence"]["exception_type"] == "RuntimeError"


def test_markdown_output_is_a_table_per_run():
    res = diagnose(CONSOLE, "--format", "markdown")
    assert res.exit_code == 0
    assert res.stdout.startswith("## eb45__StreamPETR_TTC_Head")
    assert "| severity | rule | where | finding | fix |" in res.stdout
    assert "| ✗ error | `log-integrity` |" in res.stdout
    assert "**verdict: broken**" in res.stdout


@pytest.mark.parametrize(
    "paths,fail_on,code",
    [
        ([MMENGINE_JSON], "warning", 1),  # stops mid-epoch: a warning
        ([MMENGINE_JSON], "error", 0),
        ([CONSOLE], "error", 1),  # died in a traceback
        ([STREAMPETR_TEXT], "warning", 0),  # fp16 overflow note is info only
    ],
)
def test_fail_on_sets_the_exit_code(paths, fail_on, code):
    res = diagnose(*paths, "--fail-on", fail_on)
    assert res.exit_code == code, res.stdout + res.stderr


def test_rules_and_skip_select_rules():
    only = _strict(diagnose(BEVFUSION_JSON, "--rules", "grad-nonfinite", "--format", "json").stdout)
    assert {f["rule"] for f in only["runs"][0]["findings"]} == {"grad-nonfinite"}
    skipped = _strict(diagnose(BEVFUSION_JSON, "--skip", "lr-drop,log-integrity", "--format", "json").stdout)
    assert {f["rule"] for f in skipped["runs"][0]["findings"]} == {"grad-nonfinite"}
    res = diagnose(BEVFUSION_JSON, "--rules", "divergance")
    assert res.exit_code == 2 and "unknown rule 'divergance'" in res.stderr


def test_explain_prints_what_a_rule_looks_at_and_its_thresholds():
    res = diagnose("--explain", "grad-nonfinite")
    assert res.exit_code == 0
    assert "fp16" in res.stdout and "persistent_rows = 5" in res.stdout
    listing = diagnose("--explain", "all").stdout.splitlines()
    assert len(listing) == len(RULE_IDS) == 25 and listing[0].startswith("lr-invalid")
    assert any(line.startswith("no-takeoff") for line in listing)
    assert diagnose("--explain", "nope").exit_code == 2


def test_bad_input_exit_2_with_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "20240101_000000.log"
    bad.write_text("this is not a training log\nnor is this\n")
    res = diagnose(str(bad), CONSOLE)
    assert res.exit_code == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0]
    assert "Traceback" not in res.stderr
    assert "eb45__StreamPETR_TTC_Head" in res.stdout  # the readable run is still diagnosed
    missing = diagnose(str(tmp_path / "nope.log"))
    assert missing.exit_code == 2 and "nope.log" in missing.stderr
    assert diagnose().exit_code == 2


def test_a_work_dir_is_one_run():
    res = diagnose(os.path.join(VARIANTS, "detr3d_resumed"), "--format", "json")
    (run,) = _strict(res.stdout)["runs"]
    assert run["run"] == "detr3d_resumed" and len(run["meta"]["segments"]) == 2


def test_installed_entry_point_end_to_end():
    proc = subprocess.run(
        ["bevlog", "diagnose", CONSOLE, "--format", "json", "--fail-on", "error"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 1
    assert _strict(proc.stdout)["runs"][0]["verdict"] == "broken"


def test_command_modules_do_not_import_pandas():
    code = (
        "import sys; import bevlog.commands.diagnose, bevlog.commands.watch; "
        "bad = [m for m in ('pandas', 'plotly', 'torch', 'numpy') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
