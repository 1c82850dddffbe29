"""Sine encodings (PETR pos2posemb3d) and the position MLPs."""

import math

import pytest
import torch

from bevdetr.model import BEVDETR
from bevdetr.position_encoding import PositionMLP, bev_key_positions, sine_encoding


def test_shape_and_layout():
    pos = torch.rand(5, 3)
    enc = sine_encoding(pos, 8)
    assert enc.shape == (5, 24)
    # coordinate 1 (y), frequency index 2: sin at feature 8 + 4, cos at 8 + 5
    freq = 10000 ** (2 * 2 / 8)
    angle = pos[:, 1] * 2 * math.pi / freq
    assert torch.allclose(enc[:, 8 + 4], angle.sin(), atol=1e-6)
    assert torch.allclose(enc[:, 8 + 5], angle.cos(), atol=1e-6)


def test_origin_is_sin_zero_cos_one():
    enc = sine_encoding(torch.zeros(1, 2), 6)
    assert enc[0].tolist() == pytest.approx([0, 1, 0, 1, 0, 1] * 2)


def test_lowest_frequency_separates_positions():
    a, b = sine_encoding(torch.tensor([[0.2]]), 16), sine_encoding(torch.tensor([[0.7]]), 16)
    assert not torch.allclose(a, b)
    assert ((a.abs() <= 1) & (b.abs() <= 1)).all()


def test_odd_feature_count_is_refused():
    with pytest.raises(ValueError):
        sine_encoding(torch.zeros(1, 3), 5)


def test_key_positions_are_cell_centres():
    pos = bev_key_positions(2, 4)
    assert pos.shape == (8, 3)
    assert pos[0].tolist() == pytest.approx([0.125, 0.25, 0.5])
    assert pos[-1].tolist() == pytest.approx([0.875, 0.75, 0.5])


def test_mlp_output_width():
    assert PositionMLP(32)(torch.rand(7, 3)).shape == (7, 32)


def test_share_pe_uses_one_mlp():
    kwargs = dict(num_classes=3, d_model=32, nhead=2, dim_ff=32, num_layers=1, num_queries=4)
    separate, shared = BEVDETR(**kwargs), BEVDETR(share_pe=True, **kwargs)
    assert shared.query_pe is shared.key_pe and separate.query_pe is not separate.key_pe
    mlp_params = sum(p.numel() for p in separate.query_pe.parameters())
    assert sum(p.numel() for p in separate.parameters()) - sum(p.numel() for p in shared.parameters()) == mlp_params
