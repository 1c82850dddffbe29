"""bevlog.hooks: the attention statistics users add to their own mmcv / mmengine runs.

The logs under fixtures/hooks were written by the genuine mmcv 1.7.2 and mmengine 0.10.7
runners with the hook imported through `custom_imports` and built from `custom_hooks`
(fixtures/generate/gen_attention_hook.py); expected.json holds the window means of what the
hook measured each iteration, recorded by the generator.
"""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import parsers

REPO = Path(__file__).resolve().parents[2]
HOOKS = REPO / "fixtures" / "hooks"
EXPECTED = json.loads((HOOKS / "expected.json").read_text())


@pytest.mark.parametrize("flavor,path,tol", [
    ("mmcv", "mmcv", 6e-5),  # text 4 decimals (the json twin refines to 5)
    ("mmengine", "mmengine", 6e-5),
])
def test_genuine_runner_logs_carry_the_hook_values(flavor, path, tol):
    run = parsers.read(HOOKS / path)
    layers = EXPECTED["layers"]
    keys = [f"d{k}.{name}" for k in range(layers) for name in ("attn_entropy", "attn_logit_max")]
    assert set(keys) <= set(run.train.columns)
    rows = EXPECTED["runs"][flavor]
    assert len(run.train) == len(rows) == 8
    for row, (_, got) in zip(rows, run.train.iterrows()):
        assert (got["epoch"], got["iter"]) == (row["epoch"], row["iter"])
        for key in keys:
            assert got[key] == pytest.approx(row["values"][key], abs=tol), (flavor, row["iter"], key)
    entropy = run.train[[k for k in keys if k.endswith("entropy")]].to_numpy()
    assert ((entropy > 0) & (entropy <= 1)).all()


def _mha_and_inputs(batch_first=False, kdim=None):
    import torch

    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=batch_first, kdim=kdim, vdim=kdim).train()
    q = torch.randn(5, 3, 16) * 3
    k = torch.randn(11, 3, kdim or 16) * 3
    if batch_first:
        q, k = q.transpose(0, 1), k.transpose(0, 1)
    return mha, q, k


@pytest.mark.parametrize("batch_first,kdim", [(False, None), (True, None), (False, 12)])
def test_statistics_match_the_modules_own_attention_weights(batch_first, kdim):
    import torch

    from bevlog.hooks.attention_stats import attention_logits, attention_stats

    mha, q, k = _mha_and_inputs(batch_first, kdim)
    with torch.no_grad():
        _, weights = mha(q, k, k, need_weights=True, average_attn_weights=False)  # (B, H, L, S)
    logits = attention_logits(mha, q, k)
    assert torch.allclose(torch.softmax(logits, -1), weights[0], atol=1e-6)
    entropy, logit_max = attention_stats(mha, q, k)
    p = weights[0].double()
    want_entropy = float((-(p * p.clamp_min(1e-300).log()).sum(-1) / math.log(p.shape[-1])).mean())
    assert entropy == pytest.approx(want_entropy, rel=1e-5)
    assert logit_max == pytest.approx(float(logits.abs().max()))
    assert logit_max > 1  # inputs scaled ×3: logits well away from 0


def test_the_recorder_hooks_only_decoder_cross_attention_and_reports_per_layer():
    import torch
    from torch import nn

    from bevlog.hooks.attention_stats import AttentionRecorder, cross_attentions

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 4)

        def forward(self, q, k):
            return self.attn(q, k, k)[0]

    class Layer(nn.Module):  # mmdet 3.x naming
        def __init__(self):
            super().__init__()
            self.self_attn, self.cross_attn = Wrapped(), Wrapped()

        def forward(self, q, memory):
            q = q + self.self_attn(q, q)
            return q + self.cross_attn(q, memory)

    class MmcvLayer(nn.Module):  # mmcv 1.x BaseTransformerLayer naming
        operation_order = ("self_attn", "norm", "cross_attn", "norm", "ffn", "norm")

        def __init__(self):
            super().__init__()
            self.attentions = nn.ModuleList([Wrapped(), Wrapped()])

    class Model(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.encoder = nn.Module()
            self.encoder.layers = nn.ModuleList([Layer()])  # not the decoder: never measured
            self.decoder = nn.Module()
            self.decoder.layers = nn.ModuleList([layer() for _ in range(2)])

    mmcv_model = Model(MmcvLayer)
    found = cross_attentions(mmcv_model)
    assert [k for k, _ in found] == [0, 1]
    assert all(m is layer.attentions[1].attn for (_, m), layer in zip(found, mmcv_model.decoder.layers))
    model = Model(Layer).train()
    recorder = AttentionRecorder()
    assert recorder.install(model) == [0, 1]
    q, memory = torch.randn(6, 2, 16), torch.randn(9, 2, 16)
    for layer in model.decoder.layers:
        q = layer(q, memory)
    stats = recorder.pop()
    assert sorted(stats) == ["d0.attn_entropy", "d0.attn_logit_max", "d1.attn_entropy", "d1.attn_logit_max"]
    assert recorder.pop() == {}
    model.eval()  # evaluation forwards are not measured
    model.decoder.layers[0](q, memory)
    assert recorder.pop() == {}
    recorder.remove()


def test_models_without_multihead_attention_expose_nothing():
    from torch import nn

    from bevlog.hooks.attention_stats import cross_attentions

    class FlashLike(nn.Module):  # e.g. FlashMHA: projections, no nn.MultiheadAttention
        def __init__(self):
            super().__init__()
            self.Wqkv = nn.Linear(16, 48)

    model = nn.Module()
    model.decoder = nn.Module()
    model.decoder.layers = nn.ModuleList([FlashLike()])
    assert cross_attentions(model) == []


def test_importing_bevlog_never_imports_the_training_libraries():
    code = ("import sys, bevlog, bevlog.cli, bevlog.hooks, bevlog.hooks.attention_stats, parsers; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('mmcv', 'mmengine', 'mmdet', 'torch')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
