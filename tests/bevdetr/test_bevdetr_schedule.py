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
        policy="step", warmup="linear", warmup_iters=5, warmup_ratio=1 / 3, step=[3], gamma=0.1)
