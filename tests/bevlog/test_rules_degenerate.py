"""Every rule is total on degenerate runs (issue 19): constant, zero, alternating, one row, huge, tiny,
all-NaN losses, and an lr ≤ 0 or of 1e308 — written as real mmcv log files, read through the
parsers, and taken through diagnose (text and JSON), the report and watch --once. Nothing may raise;
an invalid lr is flagged."""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SERIES = {
    "constant": lambda n, rng: np.full(n, 1.5),
    "zero": lambda n, rng: np.zeros(n),
    "alternating": lambda n, rng: np.where(np.arange(n) % 2, 0.5, 2.5),
    "huge": lambda n, rng: np.full(n, 1e30) * (1 + 0.01 * rng.random(n)),
    "tiny": lambda n, rng: np.full(n, 1e-30) * (1 + rng.random(n)),
    "all-nan": lambda n, rng: np.full(n, np.nan),
    "falling": lambda n, rng: 3.0 * np.exp(-np.arange(n) / max(1, n / 3)) + 0.1 * rng.random(n),
}
LRS = {"normal": 2e-4, "zero": 0.0, "negative": -1e-3, "huge": 1e308}


def _num(x: float) -> str:
    if math.isnan(x):
        return "nan"
    return f"{x:.4f}" if 1e-4 <= abs(x) < 1e6 or x == 0 else f"{x:.4e}"


def write_log(path, loss, lr, grad, maps, ipe=50):
    lines = ["2026-11-28 05:01:06,052 - mmdet - INFO - Environment info:", "-" * 60]
    for k, v in enumerate(loss):
        e, i = k // (ipe // 5) + 1, (k % (ipe // 5) + 1) * 5
        lines.append(
            f"2026-11-28 05:01:{k % 60:02d},121 - mmdet - INFO - Epoch [{e}][{i}/{ipe}]\t"
            f"lr: {lr:.3e}, eta: 0:00:38, time: 0.406, data_time: 0.101, loss_cls: {_num(v / 2)}, "
            f"loss_bbox: {_num(v / 2)}, loss: {_num(v)}, grad_norm: {_num(grad[k])}"
        )
        if i == ipe and e - 1 < len(maps):
            lines.append(
                f"2026-11-28 05:01:{k % 60:02d},200 - mmdet - INFO - Epoch(val) [{e}][10]\tbbox_mAP: {maps[e - 1]:.4f}"
            )
    path.write_text("\n".join(lines) + "\n")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(sorted(SERIES)),
    grad_kind=st.sampled_from(sorted(SERIES)),
    lr=st.sampled_from(sorted(LRS)),
    n=st.sampled_from([1, 2, 7, 60]),
    evals=st.sampled_from([0, 1, 3]),
    seed=st.integers(0, 3),
)
def test_every_rule_is_total_on_degenerate_runs(tmp_path_factory, kind, grad_kind, lr, n, evals, seed):
    import parsers
    from bevlog.commands.diagnose import render_markdown, render_text
    from bevlog.consistency import contradictions
    from bevlog.diagnose import diagnose
    from bevlog.live import Watcher
    from bevlog.report import build_report

    rng = np.random.default_rng(seed)
    d = tmp_path_factory.mktemp("run")
    loss = SERIES[kind](n, rng)
    write_log(
        d / "20261128_050106.log",
        loss,
        LRS[lr],
        np.abs(SERIES[grad_kind](n, rng)),
        [float(m) for m in rng.random(evals) * 0.3],
    )
    run = parsers.read(str(d))
    dg = diagnose(run)
    render_text([dg], color=False, width=120)
    render_markdown([dg])
    json.dumps(dg.to_dict(), allow_nan=False)
    assert contradictions(run, dg) == []
    build_report([run], findings=dg.findings)
    _found, _notes, error = Watcher(str(d / "20261128_050106.log"), None, follow_rotation=False).read_once()
    assert error is None
    if lr in ("negative", "huge") or (lr == "zero" and n >= 2):
        assert "lr-invalid" in {f.rule for f in dg.findings}
        assert dg.verdict == "broken"
    if dg.findings == [] or dg.verdict == "healthy":
        assert len(run.train) > 0  # nothing understood is never healthy


@pytest.mark.parametrize("lr", [-1e-3, 1e308])
def test_an_impossible_lr_is_flagged_with_its_value(tmp_path, lr):
    import parsers
    from bevlog.rules import get_rule

    write_log(tmp_path / "20261128_050106.log", np.linspace(2, 1, 30), lr, np.full(30, 3.0), [])
    (f,) = get_rule("lr-invalid")(parsers.read(str(tmp_path)))
    assert f.severity == "error" and ("negative" in f.message or "1.0e+308" in f.message)
