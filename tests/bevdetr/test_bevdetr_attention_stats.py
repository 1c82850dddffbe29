"""bevdetr's cross-attention statistics: measured by the recorder users get (attnstats), logged per
layer under the one set of key names, parsed into the `layers` frame as group `attn` without
counting as losses."""

import math

import pytest
import torch

import parsers
from attnstats import key_names
from attnstats.measure import statistics
from bevdetr.presets import make_settings
from bevdetr.train import attention_recorder, build_model, train

CUT = dict(epochs=1, train_samples=80, val_samples=8, interval=5, threads=1)


def test_entropy_is_normalised_and_logit_max_is_the_largest_magnitude():
    assert statistics(torch.zeros(2, 3, 4, 50)) == pytest.approx((1.0, 0.0))  # uniform over 50 keys
    peaked = torch.zeros(1, 1, 2, 50)
    peaked[..., 7] = 40.0  # all the mass on one key
    peaked[0, 0, 1, 3] = -55.0
    entropy, logit_max = statistics(peaked)
    assert entropy < 1e-3 and logit_max == 55.0
    two = torch.full((1, 1, 1, 50), -1e4)
    two[..., :2] = 0.0  # two keys share the mass: ln 2 / ln 50
    assert statistics(two)[0] == pytest.approx(math.log(2) / math.log(50), rel=1e-5)


def test_the_recorder_measures_what_bevdetrs_cross_attention_computes():
    """The recorded entropy is the entropy of the weights nn.MultiheadAttention itself returns,
    over the whole batch, every query and head."""
    torch.manual_seed(0)
    settings = make_settings("tiny", batch=3)
    model = build_model(settings).train()
    recorder = attention_recorder(model, settings)
    captured = {}

    def keep(module, args, kwargs, output):
        captured[module] = (args, kwargs)

    layers = model.decoder.layers
    handles = [layer.cross_attn.register_forward_hook(keep, with_kwargs=True) for layer in layers]
    model(torch.randn(3, 6, 16, 16))
    stats = recorder.pop()
    for h in handles:
        h.remove()
    assert sorted(stats) == sorted(k for i in range(settings.layers) for k in key_names(i))
    for i, layer in enumerate(layers):
        (q, k, v), _ = captured[layer.cross_attn]
        with torch.no_grad():
            _, weights = layer.cross_attn.eval()(q, k, v, need_weights=True, average_attn_weights=False)
        p = weights.double()  # (B, H, Q, N)
        want = float((-(p * p.clamp_min(1e-300).log()).sum(-1) / math.log(p.shape[-1])).mean())
        assert stats[key_names(i)[0]] == pytest.approx(want, rel=1e-4)
    recorder.remove()


@pytest.fixture(scope="module")
def no_aux_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("attn")
    train(make_settings("tiny", aux=False, **CUT), str(work))
    return parsers.read(str(work))


@pytest.mark.slow  # trains
def test_a_run_logs_both_statistics_for_every_layer_and_they_parse_into_layers(no_aux_run):
    run = no_aux_run
    layers = run.meta["num_decoder_layers"]
    assert layers == make_settings("tiny").layers
    for k in range(layers):
        for key in key_names(k):
            assert key in run.train.columns, key
    assert "attn_entropy" not in run.train.columns  # one way to name a layer: d<k>., the last too
    attn = run.layers[run.layers["group"] == "attn"]
    assert sorted(set(zip(attn["term"], attn["layer"]))) == sorted(
        (t, k) for t in ("entropy", "logit_max") for k in range(layers)
    )
    entropy = attn[attn["term"] == "entropy"]["value"]
    assert ((entropy > 0) & (entropy <= 1)).all()
    assert (attn[attn["term"] == "logit_max"]["value"] > 0).all()


@pytest.mark.slow  # trains
def test_statistics_do_not_count_as_losses_or_aux_layers(no_aux_run):
    run = no_aux_run
    # aux off: only the final layer's losses, so the run has no aux losses although d0.attn_* is logged
    assert run.meta.get("has_aux_loss") is False
    losses = run.layers[run.layers["group"] != "attn"]
    assert sorted(set(losses["term"])) == ["bbox", "cls"] and set(losses["layer"]) == {make_settings("tiny").layers - 1}
    row = run.train.iloc[-1]
    assert row["loss"] == pytest.approx(row["loss_cls"] + row["loss_bbox"], abs=2e-4)
