"""bevlog.align on logs whose batch sizes and counters are known, so x is checked exactly.

fixtures/compare (see tools/make_compare_fixtures.py): one 800-sample dataset trained 3 epochs
  b8:  2 GPUs × 4 = batch 8, 100 iters/epoch, a row every 20 iters, row k at 30·k s
  b20: 4 GPUs × 5 = batch 20, 40 iters/epoch, a row every 10 iters, row k at 30·k s
  nobatch: b20's lines without a header (batch unknown)
"""

from pathlib import Path

import numpy as np
import pytest

import parsers
from bevlog.align import (
    AlignError,
    evals_x,
    frame_x,
    log_interval,
    parse_batch_overrides,
    step_to_x,
    total_batch,
    train_x,
)

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "fixtures" / "compare"


@pytest.fixture(scope="module")
def b8():
    return parsers.read(str(FIX / "b8"))


@pytest.fixture(scope="module")
def b20():
    return parsers.read(str(FIX / "b20"))


@pytest.fixture(scope="module")
def nobatch():
    return parsers.read(str(FIX / "nobatch"))


def test_fixture_facts(b8, b20):
    assert (total_batch(b8), total_batch(b20)) == (8, 20)
    assert (log_interval(b8), log_interval(b20)) == (20, 10)
    assert (len(b8.train), len(b20.train)) == (15, 12)


def test_epochs_are_fractional_epochs(b8, b20):
    k8, k20 = np.arange(1, 16), np.arange(1, 13)
    np.testing.assert_allclose(train_x(b8, "epochs"), k8 * 20 / 100, rtol=0, atol=1e-12)
    np.testing.assert_allclose(train_x(b20, "epochs"), k20 * 10 / 40, rtol=0, atol=1e-12)


def test_iters_are_global_steps(b8, b20):
    np.testing.assert_array_equal(train_x(b8, "iters"), np.arange(1, 16) * 20)
    np.testing.assert_array_equal(train_x(b20, "iters"), np.arange(1, 13) * 10)


def test_samples_are_step_times_total_batch(b8, b20):
    x8, x20 = train_x(b8, "samples"), train_x(b20, "samples")
    np.testing.assert_array_equal(x8, np.arange(1, 16) * 20 * 8)
    np.testing.assert_array_equal(x20, np.arange(1, 13) * 10 * 20)
    # same dataset, same 3 epochs: both runs end at 3 × 800 samples although their
    # iteration counts differ 2.5×
    assert x8[-1] == x20[-1] == 2400
    assert train_x(b8, "iters")[-1] == 300 and train_x(b20, "iters")[-1] == 120


def test_time_is_wall_hours(b8, b20):
    np.testing.assert_allclose(train_x(b8, "time"), np.arange(1, 16) * 30 / 3600, atol=1e-12)
    np.testing.assert_allclose(train_x(b20, "time"), np.arange(1, 13) * 30 / 3600, atol=1e-12)


def test_evaluations_sit_at_epoch_ends(b8, b20):
    for run, ipe, batch in ((b8, 100, 8), (b20, 40, 20)):
        epochs = run.evals["epoch"].to_numpy()
        np.testing.assert_array_equal(evals_x(run, "epochs"), epochs)
        np.testing.assert_array_equal(evals_x(run, "iters"), epochs * ipe)
        np.testing.assert_array_equal(evals_x(run, "samples"), epochs * ipe * batch)
    np.testing.assert_array_equal(np.unique(evals_x(b8, "samples")), [800, 1600, 2400])


def test_any_step_converts_by_interpolation(b20):
    # step 60 is between logged rows 50 and 60… exactly on row 6: epoch 1.5
    np.testing.assert_allclose(step_to_x(b20, [60, 65, 120], "epochs"), [1.5, 1.625, 3.0])
    np.testing.assert_allclose(step_to_x(b20, [65], "samples"), [1300])
    np.testing.assert_allclose(step_to_x(b20, [65], "time"), [(6.5 * 30) / 3600])
    # past the last row, epochs extrapolate with the run's iters per epoch
    np.testing.assert_allclose(step_to_x(b20, [140], "epochs"), [3.5])


def test_layers_frame_aligns_like_train(b8):
    layers = b8.layers
    x = frame_x(b8, layers, "samples")
    np.testing.assert_array_equal(x, layers["step"].to_numpy() * 8)
    xt = frame_x(b8, layers, "time")
    assert np.isfinite(xt).all() and xt.max() == pytest.approx(15 * 30 / 3600)


def test_unknown_batch_is_an_error_naming_run_and_override(nobatch):
    assert total_batch(nobatch) is None
    with pytest.raises(AlignError) as err:
        train_x(nobatch, "samples")
    message = str(err.value)
    assert "nobatch" in message and "--batch nobatch=N" in message
    np.testing.assert_array_equal(train_x(nobatch, "samples", {"nobatch": 20}), np.arange(1, 13) * 200)
    # epochs and iterations need no batch
    assert train_x(nobatch, "epochs")[-1] == 3.0


def test_resumed_run_lands_on_one_axis():
    """A run resumed at epoch 2 (fixture written by mmcv's own runner): one continuous axis."""
    run = parsers.read(str(REPO / "fixtures" / "logs" / "mmcv_resume_epoch"))
    assert run.train["segment"].nunique() == 2
    x = train_x(run, "epochs")
    expected = (run.train["epoch"] - 1 + run.train["iter"] / 33).to_numpy()
    np.testing.assert_allclose(x, expected, atol=1e-12)
    assert (np.diff(x) > 0).all()
    np.testing.assert_array_equal(train_x(run, "samples"), run.train["step"].to_numpy() * 4)


def test_batch_override_parsing():
    assert parse_batch_overrides(["a=8", "run=b=20"]) == {"a": 8, "run=b": 20}
    for bad in ["a", "a=", "=8", "a=0", "a=x"]:
        with pytest.raises(AlignError):
            parse_batch_overrides([bad])
    with pytest.raises(AlignError):
        train_x(None, "parsecs")
