"""bevlog.smooth: TensorBoard's debiased EMA and the robust statistics helpers."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bevlog.smooth import ema, residual_noise, rolling_median


def tensorboard_ema(values, weight):
    """TensorBoard's scalar-dashboard smoothing, transcribed loop for loop (vz_line_chart):
    non-finite points are passed through unsmoothed and do not advance the average."""
    last, n, out = 0.0, 0, []
    for v in values:
        if not math.isfinite(v):
            out.append(float("nan"))
            continue
        last = last * weight + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight**n))
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.floats(0.0, 0.99))
def test_ema_is_pandas_ewm_adjusted(values, weight):
    expected = pd.Series(values).ewm(alpha=1 - weight, adjust=True).mean().to_numpy()
    np.testing.assert_allclose(ema(values, weight), expected, rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(-1e3, 1e3), st.sampled_from([math.nan, math.inf, -math.inf])), min_size=1, max_size=120
    ),
    st.sampled_from([0.0, 0.3, 0.6, 0.9]),
)
def test_ema_matches_tensorboard_and_keeps_non_finite_out(values, weight):
    got = ema(values, weight)
    expected = tensorboard_ema(values, weight)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, equal_nan=True)
    bad = ~np.isfinite(np.asarray(values, dtype=float))
    assert np.isnan(got[bad]).all()
    assert np.isfinite(got[~bad]).all()


def test_ema_first_value_is_unbiased_and_weight_zero_is_identity():
    # Debiasing: the first smoothed value is the first value, not (1-w) times it.
    assert ema([10.0, 0.0], 0.6)[0] == pytest.approx(10.0)
    assert ema([10.0, 0.0], 0.6)[1] == pytest.approx((0.6 * 0.4 * 10) / (1 - 0.36))
    np.testing.assert_array_equal(ema([1.0, 2.0, 3.0], 0.0), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        ema([1.0], 1.0)


def test_rolling_median_is_centred_and_skips_non_finite():
    np.testing.assert_allclose(rolling_median([1, 100, 3, 4, 5], 3), [50.5, 3, 4, 4, 4.5])
    out = rolling_median([1, math.nan, 100, 3, math.inf, 4, 5], 3)
    assert math.isnan(out[1]) and math.isnan(out[4])
    np.testing.assert_allclose(out[[0, 2, 3, 5, 6]], [50.5, 3, 4, 4, 4.5])


def test_residual_noise_measures_scatter_not_trend():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 4000)
    trend = 5 * np.exp(-4 * x)
    noisy = trend + rng.normal(0, 0.1, x.size)
    # a centred median of 9 removes the trend; the estimate recovers sigma within ~10%
    # (the median shares the point itself, which shrinks residuals a little)
    assert 0.08 < residual_noise(noisy) < 0.11
    assert residual_noise(trend) < 1e-3
    # twice the scatter reads twice the noise, and one inf changes nothing
    assert residual_noise(trend + 2 * (noisy - trend)) == pytest.approx(2 * residual_noise(noisy), rel=0.05)
    spiked = noisy.copy()
    spiked[100] = math.inf
    assert residual_noise(spiked) == pytest.approx(residual_noise(noisy), rel=0.02)
    assert math.isnan(residual_noise([1.0, math.nan]))
