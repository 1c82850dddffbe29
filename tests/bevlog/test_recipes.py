"""bevlog/recipes.py: published recipes with their sources, bevdetr's measured one kept as data
(the analysis never imports the detector), the batch-scaling rule stated, family-aware words."""

import ast
import dataclasses
from pathlib import Path

import pytest

from bevlog.recipes import BEVDETR_RECIPE, RECIPES, family, lr_reference, recipe_for

REPO = Path(__file__).resolve().parents[2]


def test_bevlog_recipes_does_not_import_the_detector():
    tree = ast.parse((REPO / "bevlog" / "recipes.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not [m for m in imported if m.split(".")[0] == "bevdetr"]


def test_bevdetr_recipe_as_data_equals_bevdetrs_own_measurement():
    """bevdetr/recipe.py is the one place that measures it; bevlog keeps a copy as data. When the
    detector is installed (it needs torch to train, not to be read), the two must agree."""
    pytest.importorskip("torch")
    import bevdetr.recipe as measured

    assert (BEVDETR_RECIPE.lr, BEVDETR_RECIPE.lr_high) == measured.HEALTHY_RANGE
    assert BEVDETR_RECIPE.total_batch == measured.HEALTHY_BATCH and BEVDETR_RECIPE.source == measured.SOURCE


@pytest.mark.parametrize(
    "name",
    [
        "BEVFormer",
        "Sparse4D",
        "DINO",
        "Deformable DETR",
        "Conditional DETR",
        "DAB-DETR",
        "TransFusion-L",
        "BEVFusion",
        "RetinaNet",
        "mmdet R-CNN",
    ],
)
def test_every_family_the_issue_names_has_a_recipe_with_its_config_file(name):
    (r,) = [r for r in RECIPES if r.name == name]
    assert r.source.count(".py") + r.source.count(".yaml") >= 1, r.source  # the config file it comes from
    assert r.lr > 0 and r.total_batch >= 8


def test_mmdet_standard_detectors_sgd_recipes():
    by_name = {r.name: r for r in RECIPES}
    assert (by_name["mmdet R-CNN"].lr, by_name["mmdet R-CNN"].total_batch, by_name["mmdet R-CNN"].optimizers) == (
        0.02,
        16,
        ("sgd",),
    )
    assert (by_name["RetinaNet"].lr, by_name["RetinaNet"].total_batch) == (0.01, 16)


def _meta(model_type, optimizer="AdamW", lr=1e-4, batch=16):
    from parsers import Meta

    return Meta(name="x", config={"model": {"type": model_type}}, optimizer=optimizer, lr=lr, total_batch=batch)


def test_adamw_reference_far_below_the_recipes_batch_says_it_extrapolates():
    """Linear scaling from batch 16 down to 2 is an extrapolation for AdamW: the reference says so and
    names the square-root rule's value."""
    ref = lr_reference(_meta("DINO", lr=1e-4, batch=2))
    assert ref.low == pytest.approx(1.25e-5) and "extrapolation" in ref.note and "square-root" in ref.note
    assert lr_reference(_meta("DINO", lr=1e-4, batch=16)).note == ""


def test_family_wording_follows_the_model():
    assert family({"model": {"type": "RetinaNet"}}) == "dense"
    assert family({"model": {"type": "DINO"}}) == "detr"
    assert family({"model": {"type": "FasterRCNN"}}) == "two-stage"
    assert recipe_for({"model": {"type": "CascadeRCNN"}}).name == "mmdet R-CNN"
    # an SGD recipe does not judge an AdamW run
    assert lr_reference(_meta("CascadeRCNN", optimizer="AdamW")) is None


def test_no_takeoff_fix_on_a_retinanet_speaks_of_its_classifier_not_of_detr(tmp_path):
    """The no-takeoff fix wording on a dense detector (mmdet RetinaNet)."""
    import numpy as np
    import pandas as pd

    from bevlog.rules import get_rule
    from parsers import Meta, Run

    n = 200
    loss = np.r_[np.linspace(2.0, 1.6, 10), np.full(n - 10, 1.6) + 0.002 * np.sin(np.arange(n - 10))]
    train = pd.DataFrame(
        {
            "step": np.arange(1, n + 1) * 50.0,
            "epoch_f": np.arange(1, n + 1) / 20,
            "loss": loss,
            "lr": np.full(n, 0.01),
            "segment": 0,
        }
    )
    meta = Meta(
        name="r",
        config={"model": {"type": "RetinaNet"}, "optimizer": {"type": "SGD", "lr": 0.01}},
        optimizer="SGD",
        lr=0.01,
        total_batch=16,
        runner="epoch",
    )
    run = Run(meta, train, pd.DataFrame(), pd.DataFrame(columns=["run", "epoch", "step", "metric", "value"]))
    (f,) = get_rule("no-takeoff")(run)
    assert "DETR" not in f.fix.text and "dense detector" in f.fix.text
    assert dataclasses.is_dataclass(f.fix.changes[-1])
