"""aux-missing, layer-inversion, layer-flat, layer-unstable, layer-redundant."""

import pytest
from labelled_runs import core, findings

LAYER_RULES = ["layer-inversion", "layer-flat", "layer-unstable", "layer-redundant"]


def test_aux_missing_six_layers_without_intermediate_losses():
    (f,) = findings("variant/detr3d_noaux", "aux-missing")
    assert f.evidence["num_decoder_layers"] == 6
    assert core(f.fix.changes) == [{"param": "aux_loss", "from": False, "to": True}]


@pytest.mark.parametrize(
    "run_id", ["real/detr3d-text", "real/streampetr-text", "real/bevfusion-resumed", "real/console-traceback"]
)
def test_aux_missing_silent_with_aux_or_a_single_layer_head(run_id):
    assert findings(run_id, "aux-missing") == []


def test_layer_inversion_final_layer_worse_than_first():
    (f,) = findings("variant/detr3d_inversion", "layer-inversion")
    assert f.evidence["ratio"] > 1.05 and f.evidence["final_layer"] > f.evidence["first_layer"]


def test_layer_flat_all_layers_equal_on_a_plateau():
    (f,) = findings("variant/detr3d_flat", "layer-flat")
    assert f.evidence["spread"] < 0.02 and len(f.evidence["per_layer"]) == 6


def test_layer_unstable_noisy_final_layer():
    (f,) = findings("variant/detr3d_unstable", "layer-unstable")
    assert f.evidence["ratio"] > 2


def test_layer_redundant_suggests_the_computed_depth():
    (f,) = findings("variant/detr3d_redundant", "layer-redundant")
    assert f.severity == "info"
    assert core(f.fix.changes) == [{"param": "num_decoder_layers", "from": 6, "to": 2}]


def test_layer_redundant_waits_for_training_to_mature():
    """Early in training every decoder layer is close to the others; judging then is premature."""
    assert findings("variant/detr3d_diverge_after_warmup", "layer-redundant") == []


@pytest.mark.parametrize("rule", LAYER_RULES)
@pytest.mark.parametrize(
    "run_id",
    [
        "real/detr3d-text",
        "real/streampetr-text",
        "real/conditional-detr-mmengine",
        "real/console-traceback",
        "variant/detr3d_noaux",
    ],
)
def test_layer_rules_silent_on_healthy_decoders(rule, run_id):
    """Healthy 6-layer decoders: the last layer adds ~1%, deep layers scatter ≈1.2× more, zeros are frozen heads."""
    assert findings(run_id, rule) == []


@pytest.mark.parametrize(
    "run_id,rule",
    [
        ("variant/detr3d_inversion", "layer-flat"),
        ("variant/detr3d_inversion", "layer-redundant"),
        ("variant/detr3d_flat", "layer-redundant"),
        ("variant/detr3d_flat", "layer-inversion"),
        ("variant/detr3d_redundant", "layer-flat"),
    ],
)
def test_layer_rules_do_not_confuse_each_other(run_id, rule):
    assert findings(run_id, rule) == []
