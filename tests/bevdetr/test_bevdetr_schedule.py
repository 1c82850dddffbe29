"""mmcv LrUpdaterHook arithmetic: linear warmup from 1/3, step by epoch, cosine by iteration."""

import pytest

from bevdetr.schedule import Schedule


def test_linear_warmup_from_a_third():
    s = Schedule(base_lr=1e-3, warmup_iters=100)
    assert s.lr(0, 0) == pytest.approx(1e-3 / 3)
    assert s.lr(50, 0) == pytest.approx(1e-3 * (1 - 0.5 * (2 / 3)))
    assert s.lr(100, 0) == pytest.approx(1e-3)


def test_step_by_epoch():
    s = Schedule(base_lr=1e-3, steps=(6, 8), max_iters=1000)
    assert [s.lr(0, e) for e in (5, 6, 7, 8)] == pytest.approx([1e-3, 1e-4, 1e-4, 1e-5])


def test_cosine_by_iteration():
    s = Schedule(base_lr=1e-3, policy="cosine", max_iters=1000, min_lr_ratio=1e-3)
    assert s.lr(0, 0) == pytest.approx(1e-3)
    assert s.lr(500, 3) == pytest.approx(0.5 * (1e-3 + 1e-6))
    assert s.lr(1000, 9) == pytest.approx(1e-6)


def test_mmcv_config_shape():
    assert Schedule(base_lr=1, warmup_iters=5, steps=(3,)).mmcv_config() == dict(
        policy="step", warmup="linear", warmup_iters=5, warmup_ratio=1 / 3, step=[3], gamma=0.1
    )


def test_cyclic_climbs_then_anneals_like_mmcv():
    """mmcv CyclicLrUpdaterHook, one cycle by iteration: cosine up from lr to lr x target over
    step_ratio_up of the run, then cosine down to lr x 1e-4."""
    s = Schedule(base_lr=1e-3, policy="cyclic", max_iters=1000, target_ratio=5.0, step_ratio_up=0.4)
    assert s.lr(0, 0) == pytest.approx(1e-3)
    assert s.lr(200, 2) == pytest.approx(3e-3)  # half-way up: the mean of 1e-3 and 5e-3
    assert s.lr(400, 4) == pytest.approx(5e-3)
    assert s.lr(700, 7) == pytest.approx(0.5 * (5e-3 + 1e-7))
    ups = [s.lr(i, 0) for i in range(0, 400, 10)]
    assert ups == sorted(ups)
    assert s.mmcv_config() == dict(
        policy="cyclic", by_epoch=False, target_ratio=(5.0, 1e-4), cyclic_times=1, step_ratio_up=0.4
    )
