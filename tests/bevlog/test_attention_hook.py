"""bevlog.hooks: the attention statistics users add to their own mmcv / mmengine runs.

The logs under fixtures/hooks were written by the genuine mmcv 1.7.2 and mmengine 0.10.7
runners with the hook imported through `custom_imports` and built from `custom_hooks`
(tools/generate/gen_attention_hook.py); expected.json holds the window means of what the
hook measured each iteration, recorded by the generator. They were written by the hook's first
version (every iteration, the first sample of the batch); they check that what such a hook logs
reaches bevlog intact. The recorder itself (masks, sampling, torch 1.x) is checked below on
`nn.MultiheadAttention` against the weights the module returns.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import parsers

try:
    import torch

    from attnstats.recorder import AttentionRecorder, TorchTooOld, cross_attentions
except ImportError:  # the logs and the import rule are checked without torch too
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="the recorder needs torch")

REPO = Path(__file__).resolve().parents[2]
HOOKS = REPO / "fixtures" / "hooks"
EXPECTED = json.loads((HOOKS / "expected.json").read_text())


@pytest.mark.parametrize(
    "flavor,path,tol",
    [
        ("mmcv", "mmcv", 6e-5),  # text 4 decimals (the json twin refines to 5)
        ("mmengine", "mmengine", 6e-5),
    ],
)
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


def _mha_and_inputs(batch_first=False, kdim=None, batch=3, queries=5, keys=11):
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=batch_first, kdim=kdim, vdim=kdim).train()
    q = torch.randn(queries, batch, 16) * 3
    k = torch.randn(keys, batch, kdim or 16) * 3
    if batch_first:
        q, k = q.transpose(0, 1), k.transpose(0, 1)
    return mha, q, k


def _decoder_of(mha):
    """mha as the cross-attention of decoder layer 0 (where the recorder looks for it)."""
    model = torch.nn.Module()
    model.decoder = torch.nn.Module()
    model.decoder.layers = torch.nn.ModuleList([torch.nn.Module()])
    model.decoder.layers[0].cross_attn = mha
    return model


def _entropy_over_allowed(weights, allowed=None):
    """Mean over (sample, head, query) of entropy / log(keys the query may attend to): the reference."""
    p = weights.double()
    if allowed is None:
        allowed = torch.ones_like(p, dtype=torch.bool)
    allowed = allowed.expand_as(p)
    h = -(torch.where(allowed, p * p.clamp_min(1e-300).log(), torch.zeros_like(p))).sum(-1)
    n = allowed.sum(-1).double()
    return float((h / n.log()).mean()), p


def _recorded(mha, *args, recorder_kwargs=None, **kwargs):
    recorder = AttentionRecorder(every=1, max_samples=64, max_queries=10_000, **(recorder_kwargs or {}))
    assert recorder.install(_decoder_of(mha)) == [0]
    out = mha(*args, **kwargs)
    stats = recorder.pop()
    recorder.remove()
    return stats, out


@needs_torch
@pytest.mark.parametrize("batch_first,kdim", [(False, None), (True, None), (False, 12)])
def test_statistics_match_the_modules_own_attention_weights(batch_first, kdim):
    mha, q, k = _mha_and_inputs(batch_first, kdim)
    with torch.no_grad():
        _, weights = mha.eval()(q, k, k, need_weights=True, average_attn_weights=False)  # (B, H, L, S)
    mha.train()
    stats, _ = _recorded(mha, q, k, k)
    want, _ = _entropy_over_allowed(weights)
    assert stats["d0.attn_entropy"] == pytest.approx(want, rel=1e-5)
    assert stats["d0.attn_logit_max"] > 1  # inputs scaled x3: logits well away from 0


@needs_torch
@pytest.mark.parametrize("mask_kind", ["bool", "float"])
def test_a_key_padding_mask_hides_keys_from_the_entropy(mask_kind):
    """12 of 20 keys padded in every sample: the entropy is over the 8 valid keys, / log 8 (the mask
    used to be ignored: entropy over all 20)."""
    mha, q, k = _mha_and_inputs(keys=20)
    pad = torch.zeros(3, 20, dtype=torch.bool)
    pad[:, 8:] = True
    mask = pad if mask_kind == "bool" else torch.zeros(3, 20).masked_fill(pad, float("-inf"))
    with torch.no_grad():
        _, weights = mha.eval()(q, k, k, key_padding_mask=mask, need_weights=True, average_attn_weights=False)
    mha.train()
    stats, _ = _recorded(mha, q, k, k, key_padding_mask=mask)
    want, p = _entropy_over_allowed(weights, ~pad[:, None, None, :])
    assert float(p[..., 8:].max()) == 0.0  # the module itself ignores the padded keys
    assert stats["d0.attn_entropy"] == pytest.approx(want, rel=1e-5)
    unmasked, _ = _recorded(mha, q, k, k)
    assert unmasked["d0.attn_entropy"] != pytest.approx(want, rel=1e-3)  # what ignoring the mask said


@needs_torch
@pytest.mark.parametrize("shape", ["2d-bool", "3d-float"])
def test_an_attn_mask_hides_keys_per_query(shape):
    mha, q, k = _mha_and_inputs(keys=11)
    hide = torch.zeros(5, 11, dtype=torch.bool)
    hide[:, ::2] = True
    hide[0, :] = True
    hide[0, 1] = False  # query 0 sees a single key: skipped
    if shape == "2d-bool":
        mask = hide
    else:
        mask = torch.zeros(3 * 4, 5, 11).masked_fill(hide, float("-inf"))  # (B * heads, L, S)
    with torch.no_grad():
        _, weights = mha.eval()(q, k, k, attn_mask=mask, need_weights=True, average_attn_weights=False)
    mha.train()
    stats, _ = _recorded(mha, q, k, k, attn_mask=mask)
    want, _ = _entropy_over_allowed(weights[:, :, 1:], ~hide[None, None, 1:])
    assert stats["d0.attn_entropy"] == pytest.approx(want, rel=1e-5)


@needs_torch
def test_unbatched_input_is_measured_and_the_step_still_runs():
    mha, q, k = _mha_and_inputs(batch=1)
    q, k = q[:, 0], k[:, 0]  # (L, E), (S, E): no batch dimension
    with torch.no_grad():
        _, weights = mha.eval()(q, k, k, need_weights=True, average_attn_weights=False)  # (H, L, S)
    mha.train()
    stats, (out, _) = _recorded(mha, q, k, k)
    assert out.shape == (5, 16)
    out.sum().backward()
    want, _ = _entropy_over_allowed(weights[None])
    assert stats["d0.attn_entropy"] == pytest.approx(want, rel=1e-5)


@needs_torch
def test_the_sample_is_the_first_samples_and_every_kth_query_over_all_keys():
    mha, q, k = _mha_and_inputs(batch=5, queries=9, keys=30)
    with torch.no_grad():
        _, weights = mha.eval()(q, k, k, need_weights=True, average_attn_weights=False)
    mha.train()
    recorder = AttentionRecorder(every=1, max_samples=2, max_queries=4, block=2)
    recorder.install(_decoder_of(mha))
    mha(q, k, k)
    stats = recorder.pop()
    recorder.remove()
    want, _ = _entropy_over_allowed(weights[:2, :, ::3])  # ceil(9 / 4) = 3: queries 0, 3, 6
    assert stats["d0.attn_entropy"] == pytest.approx(want, rel=1e-5)


@needs_torch
def test_measured_every_nth_iteration_and_never_in_eval():
    mha, q, k = _mha_and_inputs()
    recorder = AttentionRecorder(every=3)
    recorder.install(_decoder_of(mha))
    measured = []
    for _ in range(7):
        mha(q, k, k)
        measured.append(bool(recorder.pop()))
    assert measured == [True, False, False, True, False, False, True]
    mha.eval()
    for _ in range(3):
        mha(q, k, k)
    assert recorder.pop() == {}  # iteration 7 would be off anyway
    mha(q, k, k)
    assert recorder.pop() == {}  # eval at a measured iteration: nothing
    recorder.remove()
    assert "forward" not in mha.__dict__


@needs_torch
def test_torch_1x_hooks_and_keyword_calls_are_measured(monkeypatch):
    """torch 1.9-1.13: forward pre-hooks take no `with_kwargs` and see no keyword arguments, while
    mmcv calls the attention with query=, key=, value=. The recorder relies on neither."""

    def torch_1x_pre_hook(self, hook):  # torch 1.13's signature
        raise AssertionError("the recorder must not need forward pre-hooks")

    monkeypatch.setattr(torch.nn.Module, "register_forward_pre_hook", torch_1x_pre_hook)
    mha, q, k = _mha_and_inputs()
    stats, _ = _recorded(mha, query=q, key=k, value=k, need_weights=False)
    assert set(stats) == {"d0.attn_entropy", "d0.attn_logit_max"}


@needs_torch
@pytest.mark.parametrize("version", ["1.8.1", "1.4.0+cu101"])
def test_torch_older_than_1_9_is_refused_with_one_line_naming_it(monkeypatch, version):
    monkeypatch.setattr(torch, "__version__", version)
    mha, _, _ = _mha_and_inputs()
    with pytest.raises(TorchTooOld) as err:
        AttentionRecorder().install(_decoder_of(mha))
    (line,) = str(err.value).splitlines()
    assert version in line and "1.9" in line


@needs_torch
def test_a_deep_copy_of_the_model_measures_itself_not_the_original():
    import copy

    mha, q, k = _mha_and_inputs()
    recorder = AttentionRecorder(every=1)
    model = _decoder_of(mha)
    recorder.install(model)
    twin = copy.deepcopy(model)  # an EMA copy, as mmdet's EMA hooks make
    with torch.no_grad():
        twin.decoder.layers[0].cross_attn.in_proj_weight.mul_(5.0)
    twin.decoder.layers[0].cross_attn(q, k, k)
    assert recorder.pop() == {}  # the copy does not report to this recorder
    mha(q, k, k)
    assert recorder.pop()
    recorder.remove()


@needs_torch
def test_the_recorder_hooks_only_decoder_cross_attention_and_reports_per_layer():
    from torch import nn

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
    recorder = AttentionRecorder(every=1)
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


@needs_torch
def test_models_without_multihead_attention_expose_nothing():
    from torch import nn

    class FlashLike(nn.Module):  # e.g. FlashMHA: projections, no nn.MultiheadAttention
        def __init__(self):
            super().__init__()
            self.Wqkv = nn.Linear(16, 48)

    model = nn.Module()
    model.decoder = nn.Module()
    model.decoder.layers = nn.ModuleList([FlashLike()])
    assert cross_attentions(model) == []


def test_importing_bevlog_never_imports_the_training_libraries():
    code = (
        "import sys, bevlog, bevlog.cli, bevlog.hooks, attnstats, parsers; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('mmcv', 'mmengine', 'mmdet', 'torch')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
