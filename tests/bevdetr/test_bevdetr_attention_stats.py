"""Cross-attention statistics: what AttentionStats computes, that a real run logs them per layer,
and that they parse into the `layers` frame as group `attn` without counting as losses."""
import math

import pytest
import torch

import parsers
from bevdetr.model import AttentionStats
from bevdetr.presets import make_settings
from bevdetr.train import train

CUT = dict(epochs=1, train_samples=80, val_samples=8, interval=5, threads=1)


def test_entropy_is_normalised_and_logit_max_is_the_largest_magnitude():
    stats = AttentionStats()
    stats.record(torch.zeros(2, 3, 4, 50))                     # uniform over 50 keys
    assert stats.entropy == pytest.approx(1.0) and stats.logit_max == 0.0
    peaked = torch.zeros(1, 1, 2, 50)
    peaked[..., 7] = 40.0                                       # all the mass on one key
    peaked[0, 0, 1, 3] = -55.0
    stats.record(peaked)
    assert stats.entropy < 1e-3 and stats.logit_max == 55.0
    two = torch.full((1, 1, 1, 50), -1e4)
    two[..., :2] = 0.0                                          # two keys share the mass: ln 2 / ln 50
    stats.record(two)
    assert stats.entropy == pytest.approx(math.log(2) / math.log(50), rel=1e-5)


@pytest.fixture(scope="module")
def no_aux_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("attn")
    train(make_settings("tiny", aux=False, **CUT), str(work))
    return parsers.read(str(work))


@pytest.mark.slow  # trains
def test_a_run_logs_both_statistics_for_every_layer_and_they_parse_into_layers(no_aux_run):
    run = no_aux_run
    for key in ("d0.attn_entropy", "d0.attn_logit_max", "attn_entropy", "attn_logit_max"):
        assert key in run.train.columns, key
    attn = run.layers[run.layers["group"] == "attn"]
    layers = run.meta["num_decoder_layers"]
    assert layers == make_settings("tiny").layers
    assert sorted(set(zip(attn["term"], attn["layer"]))) == sorted((t, k) for t in ("entropy", "logit_max")
                                                                   for k in range(layers))
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
