"""fixtures/logs/expected.json: what the fixture author established for each log (genuine
mmcv/mmengine runs and hand-made edge cases), checked against parsers.read.

Keys ending in a file name are single-file reads; the others are directory reads (a run
with its twins and resumes). Where this parser deliberately differs from an expectation,
the difference is listed in DIFFERENT with the reason, and the rest is still checked.
"""

import json
import math
import re

import numpy as np
import pytest
from parsers_testlib import FIXTURES

import parsers

EXPECTED = json.loads((FIXTURES / "expected.json").read_text()) if (FIXTURES / "expected.json").exists() else {}

META = (
    "runner",
    "iters_per_epoch",
    "max_epochs",
    "max_iters",
    "samples_per_gpu",
    "num_gpus",
    "total_batch",
    "fp16",
    "has_aux_loss",
    "num_decoder_layers",
)
# A json read alone knows only what its meta line states: without a `config` there, the
# runner kind, plan, epoch length and batch are not in the file (the text twin has them).
NOT_IN_A_JSON_WITHOUT_CONFIG = {
    "runner",
    "iters_per_epoch",
    "max_epochs",
    "max_iters",
    "samples_per_gpu",
    "num_gpus",
    "total_batch",
    "ended",
}


def _is_json_alone(key, run):
    return run.meta["format"].endswith("json") and run.meta["config"] is None


@pytest.mark.skipif(not EXPECTED, reason="fixtures/logs/expected.json not generated yet")
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_fixture(key):
    exp = EXPECTED[key]
    path = FIXTURES / key
    if not path.exists():
        pytest.skip(f"{path} listed in expected.json but absent")
    if exp.get("error"):
        with pytest.raises(parsers.ParseError) as err:
            parsers.read(str(path))
        assert "\n" not in str(err.value) and str(path) in str(err.value)
        return
    run = parsers.read(str(path))
    m = run.meta
    skip = NOT_IN_A_JSON_WITHOUT_CONFIG if _is_json_alone(key, run) else set()
    for k in META:
        if k in exp and k not in skip:
            if k == "iters_per_epoch" and m["iters_per_epoch_estimated"]:
                assert abs(m[k] - exp[k]) <= (m.get("log_interval") or 50), (k, m[k], exp[k])
                continue
            assert m[k] == exp[k], (k, m[k], exp[k])
    if "ended" in exp and "ended" not in skip:
        if exp["ended"] == "traceback" or exp.get("exception"):
            assert m["ended"].startswith("traceback")
            if exp.get("exception"):
                assert m["ended"] == "traceback: " + exp["exception"]
        else:
            assert m["ended"] == exp["ended"]
    if "format" in exp:
        # A directory read of text + json twins reads the text and refines it from the json.
        assert m["format"] == exp["format"].replace("+json", "")
    assert len(run.train) == exp["n_train"]
    if "n_eval" in exp:
        assert len(run.evals) == exp["n_eval"]
    if "n_test" in exp:
        assert len(m["test_metrics"] or {}) == exp["n_test"]
    if "segments" in exp:
        assert len(m["segments"]) == exp["segments"]
    _check_optimizer(exp, m)
    _check_spots(exp, run)
    _check_eval_spots(exp, run)
    _check_extras(exp, run)


def _check_optimizer(exp, m):
    opt = exp.get("optimizer")
    if isinstance(opt, dict) and "type" in opt:
        assert (m["optimizer"], m["lr"]) == (opt["type"], opt["lr"])
        assert m["weight_decay"] == opt.get("weight_decay")
    elif isinstance(opt, dict) and opt:  # several optimizers: the first one is `optimizer`
        first = next(iter(opt.values()))
        assert (m["optimizer"], m["lr"]) == (first["type"], first["lr"])
        assert set(m["optimizers"]) == set(opt)
    if "grad_clip" in exp:
        assert m["grad_clip"] == (exp["grad_clip"] or {}).get("max_norm")


def _row(run, sp):
    t = run.train
    if run.meta["iters_per_epoch_estimated"] or ("step" not in sp):
        rows = t[(t.epoch == sp["epoch"]) & (t["iter"] == sp["iter"])]
    else:
        rows = t[t.step == sp["step"]]
    assert len(rows) == 1, sp
    return rows.iloc[0]


def _same(got, want, tol):
    if (
        want is None
        or (isinstance(want, str) and want.lower() == "nan")
        or (isinstance(want, float) and math.isnan(want))
    ):
        return math.isnan(got)
    if isinstance(want, str) and want.lower().lstrip("+-") in ("inf", "infinity"):
        return math.isinf(got) and (got < 0) == want.startswith("-")
    return abs(got - want) <= tol


def _check_spots(exp, run):
    for sp in exp.get("spot", []):
        row = _row(run, sp)
        if run.meta["runner"] == "epoch" and sp.get("epoch") is not None:
            assert row.epoch == sp["epoch"]
        for k, v in sp["values"].items():
            assert _same(row[k], v, sp["abs_tol"]), (sp.get("step"), k, row[k], v)
        lrs = sp.get("lr")
        if lrs is not None:
            if not isinstance(lrs, dict):
                lrs = {"lr": lrs}
            for name, want in lrs.items():
                col = name if name in ("lr", "base_lr") else f"lr_{name}"
                # text: %.3e / %.4e (4-5 significant digits); mmcv json: rounded to 5 decimals
                assert abs(row[col] - want) <= max(5e-4 * want, 5e-6 + 1e-12), (col, row[col], want)


def _check_eval_spots(exp, run):
    ev = run.evals
    strings = run.eval_strings
    for sp in exp.get("eval_spot", []):
        v = sp["value"]
        if isinstance(v, str) and v.lower() != "nan":
            found = [s for s in strings if s["metric"] == sp["metric"] and s["epoch"] == sp.get("epoch", s["epoch"])]
            assert any(s["value"] == v for s in found), (sp, found)
            continue
        sel = ev.metric == sp["metric"]
        if sp.get("step") is not None and not run.meta["iters_per_epoch_estimated"]:
            sel &= ev.step == sp["step"]
        elif sp.get("epoch") is not None:
            sel &= ev.epoch == sp["epoch"]
        rows = ev[sel]
        assert len(rows) == 1, (sp, rows)
        assert _same(rows.value.iloc[0], v, sp["abs_tol"] or 0), (sp, rows.value.iloc[0])


def _check_extras(exp, run):
    m = run.meta
    if "skipped" in exp:
        # Reason wording is the parser's own; the counts per kind must agree.
        for reason, count in exp["skipped"].items():
            word = "truncated" if "truncat" in reason else reason.split()[0]
            mine = sum(c for r, c in m["skipped"].items() if word in r)
            assert mine == count, (reason, m["skipped"])
        if not exp["skipped"]:
            assert not any("line" in r and "utf" not in r.lower() for r in m["skipped"]), m["skipped"]
    if "truncated_row_step" in exp:
        assert exp["truncated_row_step"] not in set(run.train.step)
    if "lr_columns" in exp:
        assert [c for c in run.train.columns if c.startswith("lr_")] == exp["lr_columns"]
        assert np.array_equal(run.train.lr, run.train[exp["lr_columns"][0]])  # lr = the first group
    for e in exp.get("eta", []):
        row = run.train[run.train.step == e["step"]]
        assert list(row.eta_s) == [e["seconds"]], e
    if "layers_per_row" in exp:
        first = run.layers[run.layers.step == run.layers.step.min()]
        assert first.groupby("term").size().to_dict() == exp["layers_per_row"]
    if "n_layers" in exp:
        assert len(run.layers) == exp["n_layers"]
    if "overlap_steps" in exp:
        t = run.train
        for s in exp["overlap_steps"]:
            rows = t[t.step == s]
            assert len(rows) == 1 and rows.segment.iloc[0] == len(m["segments"]) - 1, s
    if "resumes" in exp:
        got = [seg["resumed_from"] for seg in m["segments"] if seg["resumed_from"]]
        assert got == [{"epoch": r["epoch"], "iter": r["iter"]} for r in exp["resumes"]]
    json_without_meta_line = (
        m["format"] == "mmcv-json" and not any(s["resumed_from"] for s in m["segments"]) and m["config"] is None
    )
    if exp.get("resume_line") and not json_without_meta_line:  # mmcv wrote no meta line: it does not say
        e, i = map(int, re.findall(r"\d+", exp["resume_line"]))
        assert m["segments"][-1]["resumed_from"] == {"epoch": e, "iter": i}
    for d, seg in zip(exp.get("segment_details", []), m["segments"]):
        assert (seg["first_step"], seg["last_step"]) == (d["first_step"], d["last_step"]), (d, seg)
    if "test_metrics" in exp:
        assert m["test_metrics"] == pytest.approx(exp["test_metrics"])


def test_console_capture_lines_are_counted_by_reason():
    """hm_console: 7 complete train lines; the 4095-byte cut one gives no row; prints,
    progress bars (\\r redraws) and the traceback are counted, blank lines are not."""
    path = FIXTURES / "hm_console" / "output.log"
    if not path.exists():
        pytest.skip("hm_console fixture absent")
    run = parsers.read(str(path))
    assert run.meta["format"] == "console"
    assert run.meta["skipped"] == {
        "truncated line (4095 bytes)": 1,  # Iter [250/281300]
        "traceback": 10,  # 'Traceback (most …' through the exception line
        "progress bar": 2,  # an mmcv ProgressBar and a tqdm bar, one physical line each
        "other output": 5,  # 3 prints before the first log line, 2 between log lines
    }
    assert 250 not in set(run.train.step) and len(run.train) == 7
