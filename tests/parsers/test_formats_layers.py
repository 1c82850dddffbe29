"""Per-decoder-layer loss keys of the DETR family (parsers.layers), on the key sets of the
real files in fixtures/real/set3 (after `train_` is dropped) and on the suffix styles no real
file here has (DINO's `_dn`/`_interm`, RT-DETR v2's `_enc_0`, D-FINE's `_pre`)."""

import json

import pytest
from repo_paths import REAL_SET3

from parsers.layers import classify, has_aux, is_decoder_group, layer_columns


def _train_keys(name):
    keys = {}
    for line in (REAL_SET3 / name).read_text().splitlines():
        keys.update(dict.fromkeys(k[len("train_") :] for k in json.loads(line) if k.startswith("train_")))
    return list(keys)


def _layers(keys):
    out = {}
    for _, group, term, layer in layer_columns(keys, None):
        out.setdefault((group, term), set()).add(layer)
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize(
    "name,expected,aux",
    [
        # set3/README.md: aux suffixes _0.._4 -> 6 layers (DETR), _0,_1 + _enc (RF-DETR),
        # none (DePerceiver), _0 (rarefin)
        ("holtin__detr__outputs_log.txt", {("", t): list(range(6)) for t in ("ce", "bbox", "giou")}, True),
        (
            "lele56__swin---detr__outputs_log.txt",
            {
                **{("", t): [0, 1, 2] for t in ("ce", "bbox", "giou")},
                **{("enc", t): [0] for t in ("ce", "bbox", "giou")},
            },
            True,
        ),
        ("maxploter__DePerceiver__de_perceiver_r50_log.txt", {}, False),
        ("rarefin__detr__outputs_log.txt", {("", t): [0, 1] for t in ("ce", "bbox", "giou")}, True),
        # RT-DETR v1: _aux_0.._aux_4 are decoder layers 0-4, the final term layer 5, _aux_5 the encoder
        (
            "Hammer-888__rtdetr-pytorch__output_rtdetr_pvt_small_6x_coco_improved_log.txt",
            {
                **{("", t): list(range(6)) for t in ("vfl", "bbox", "giou")},
                **{("dn", t): list(range(6)) for t in ("vfl", "bbox", "giou")},
                **{("enc", t): [0] for t in ("vfl", "bbox", "giou")},
            },
            True,
        ),
    ],
)
def test_real_key_sets(name, expected, aux):
    keys = _train_keys(name)
    assert _layers(keys) == expected
    assert has_aux(keys) is aux
    assert not any(c[0].endswith("_unscaled") for c in layer_columns(keys, None))


def test_rtdetr_encoder_entry_is_that_of_the_aux_list():
    cols = {
        key: (g, layer)
        for key, g, _, layer in layer_columns(
            _train_keys("Hammer-888__rtdetr-pytorch__output_rtdetr_pvt_small_6x_coco_improved_log.txt"), None
        )
    }
    assert cols["loss_vfl_aux_5"] == ("enc", 0) and cols["loss_vfl_aux_4"] == ("", 4) and cols["loss_vfl"] == ("", 5)
    # without the dn list the log cannot say: every aux entry counts as a decoder layer
    plain = ["loss_vfl"] + [f"loss_vfl_aux_{k}" for k in range(6)]
    assert _layers(plain) == {("", "vfl"): list(range(7))}


@pytest.mark.parametrize(
    "key,expected",
    [
        ("loss_ce_dn", ("dn", "ce", "final")),
        ("loss_ce_dn_3", ("dn", "ce", 3)),
        ("loss_ce_interm", ("enc", "ce", "final")),
        ("loss_vfl_enc_0", ("enc", "vfl", 0)),
        ("loss_fgl_pre", ("pre", "fgl", "final")),
        ("loss_ce_0_unscaled", None),
        ("cardinality_error_0", None),
        ("loss_class_aux_2", ("", "class", 2)),
    ],
)
def test_suffixes(key, expected):
    assert classify(key) == expected


def test_dino_style_groups():
    """DINO: main and dn both `_0`…`_4` plus an unsuffixed final term, and the encoder's
    `_interm`: 6 decoder layers in each decoder group, the encoder apart."""
    keys = [
        f"loss_ce{s}" for s in ["", "_dn", "_interm"] + [f"_{k}" for k in range(5)] + [f"_dn_{k}" for k in range(5)]
    ]
    assert _layers(keys) == {("", "ce"): list(range(6)), ("dn", "ce"): list(range(6)), ("enc", "ce"): [0]}
    assert is_decoder_group("dn") and not is_decoder_group("enc") and not is_decoder_group("pre")
