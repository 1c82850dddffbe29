"""Where a suggested lr comes from: the run's own config intent, else a published recipe.

Order of evidence: the run's own config says which total batch its lr was set for
(`total_batch_size = 48`, mmengine `auto_scale_lr = dict(base_batch_size=16)` not enabled;
comments are not evidence) > a published recipe for the same model type, named with the config
file it comes from > nothing (then no rule may call the lr wrong above info).

How a reference moves with the batch (`SCALING`): linearly, as mmengine's `auto_scale_lr` does
and as every recipe here was published (mmdet's configs state `base_batch_size`; the linear
scaling rule is Goyal et al. 2017, "Accurate, Large Minibatch SGD", made for SGD). For AdamW
nobody measured it down to a batch of 1 or 2: the square-root rule (Malladi et al. 2022, "On the
SDEs and Scaling Rules for Adaptive Gradient Algorithms") gives a higher lr there. When a
reference is scaled by more than `EXTRAPOLATE` (either way) from its recipe's batch, the finding
says it is an extrapolation and names the square-root value too.

bevdetr's recipe is measured, not published: bevdetr/recipe.py holds it, and bevlog keeps a copy
here as data (`BEVDETR_RECIPE`; the analysis never imports the detector): a test asserts the two
agree. A log that declares bevdetr's recipe in its config (`bevdetr_recipe = dict(lr=...,
total_batch=..., optimizer=..., healthy_lr_range=[lo, hi])`) is judged against what it declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from bevlog.config_keys import layout
from bevlog.findings import is_number

# a reference scaled by more than this factor from its recipe's batch is an extrapolation
EXTRAPOLATE = 4.0
SCALING = (
    "linear in the total batch, as mmengine's auto_scale_lr and the recipes' base_batch_size "
    "state it (Goyal et al. 2017)"
)


@dataclass(frozen=True)
class Recipe:
    name: str
    model_types: tuple  # config `type` names (anywhere under `model`) that identify the model
    lr: float  # base lr of the published config (low end of a measured range)
    total_batch: int  # GPUs × samples per GPU it was published for
    source: str  # the config file it comes from
    lr_high: float | None = None  # top of a measured healthy range (None: one published value)
    optimizers: tuple = ("adamw",)
    peak_ratio: float = 1.0  # peak lr / base lr of its schedule (cyclic: target_ratio)
    family: str = "detr"  # detr | dense | two-stage | bev-conv: how a too-high lr shows (fix wording)
    group0: str = ""  # what the logged lr (parameter group 0) is, when it is not the base lr
    group0_lr: float | None = None  # that group's lr in the recipe (at its total batch)

    def lr_at(self, total_batch: float) -> tuple[float, float]:
        """(low, high) lr at this total batch, linear scaling."""
        scale = total_batch / self.total_batch
        return self.lr * scale, (self.lr_high or self.lr) * scale


MMDET = "checked against the configs shipped in the mmdet 3.3.0 package"
# Published configs (lr, total batch = GPUs × samples per GPU), each with the file it comes from.
RECIPES = (
    Recipe(
        "StreamPETR",
        ("StreamPETRHead",),
        4e-4,
        16,
        "StreamPETR stream_petr_r50_flash_704_bs2_seq_24e.py (exiawsh/StreamPETR): AdamW 4e-4, 8 GPUs × 2",
    ),
    Recipe(
        "PETR",
        ("Petr3D", "PETRHead", "PETRv2Head"),
        2e-4,
        8,
        "PETR petr_r50dcn_gridmask_p4.py (megvii-research/PETR): AdamW 2e-4, 8 GPUs × 1",
    ),
    Recipe(
        "DETR3D",
        ("Detr3D", "Detr3DHead"),
        2e-4,
        8,
        "DETR3D detr3d_res101_gridmask.py (WangYueFt/detr3d): AdamW 2e-4, 8 GPUs × 1",
    ),
    Recipe(
        "BEVFormer",
        ("BEVFormer", "BEVFormerHead"),
        2e-4,
        8,
        "BEVFormer projects/configs/bevformer/bevformer_base.py (fundamentalvision/BEVFormer): AdamW 2e-4, "
        "img_backbone lr_mult 0.1, 8 GPUs × 1",
    ),
    Recipe(
        "Sparse4D",
        ("Sparse4D", "Sparse4DHead"),
        6e-4,
        48,
        "Sparse4D v3 projects/configs/sparse4dv3_temporal_r50_1x8_bs6_256x704.py (HorizonRobotics/Sparse4D): "
        "AdamW 6e-4, total_batch_size 48 (8 GPUs × 6)",
    ),
    Recipe(
        "Co-DINO",
        ("CoDETR", "CoDINOHead"),
        2e-4,
        16,
        "Co-DETR co_dino_5scale_r50_1x_coco.py (Sense-X/Co-DETR): AdamW 2e-4, 8 GPUs × 2",
    ),
    Recipe(
        "DINO",
        ("DINO", "DINOHead"),
        1e-4,
        16,
        f"mmdet configs/dino/dino-4scale_r50_8xb2-12e_coco.py: AdamW 1e-4, 8 GPUs × 2 ({MMDET})",
    ),
    Recipe(
        "Deformable DETR",
        ("DeformableDETR", "DeformableDETRHead"),
        2e-4,
        32,
        f"mmdet configs/deformable_detr/deformable-detr_r50_16xb2-50e_coco.py: AdamW 2e-4, 16 GPUs × 2 ({MMDET})",
    ),
    Recipe(
        "DAB-DETR",
        ("DABDETR", "DABDETRHead"),
        1e-4,
        16,
        f"mmdet configs/dab_detr/dab-detr_r50_8xb2-50e_coco.py: AdamW 1e-4, 8 GPUs × 2 ({MMDET})",
    ),
    Recipe(
        "Conditional DETR",
        ("ConditionalDETR", "ConditionalDETRHead"),
        1e-4,
        16,
        f"mmdet configs/conditional_detr/conditional-detr_r50_8xb2-50e_coco.py (from detr_r50_8xb2-150e_coco.py): "
        f"AdamW 1e-4, 8 GPUs × 2 ({MMDET})",
    ),
    Recipe(
        "DETR",
        ("DETR", "DETRHead"),
        1e-4,
        16,
        f"mmdet configs/detr/detr_r50_8xb2-150e_coco.py: AdamW 1e-4, 8 GPUs × 2 ({MMDET})",
    ),
    Recipe(
        "TransFusion-L",
        ("TransFusionHead", "TransFusionDetector"),
        1e-4,
        16,
        "TransFusion configs/transfusion_nusc_voxel_L.py (XuyangBai/TransFusion): AdamW 1e-4 for 8 GPUs × 2, "
        "cyclic (peak ×10)",
        peak_ratio=10.0,
        family="bev-conv",
    ),
    Recipe(
        "BEVFusion",
        ("BEVFusion", "BEVFusionHead"),
        2e-4,
        32,
        "BEVFusion configs/nuscenes/default.yaml (mit-han-lab/bevfusion): AdamW 2e-4, 8 GPUs × 4",
        family="bev-conv",
    ),
    Recipe(
        "PointPillars",
        ("PointPillarsScatter",),
        1e-3,
        48,
        "mmdet3d hv_pointpillars_secfpn_6x8_160e_kitti-3d-3class.py: AdamW 1e-3 (cyclic, peak ×10), 8 GPUs × 6",
        peak_ratio=10.0,
        family="bev-conv",
    ),
    Recipe(
        "RetinaNet",
        ("RetinaNet", "RetinaHead"),
        0.01,
        16,
        f"mmdet configs/retinanet/retinanet_r50_fpn_1x_coco.py: SGD 0.01, 8 GPUs × 2 ({MMDET})",
        optimizers=("sgd",),
        family="dense",
    ),
    Recipe(
        "mmdet R-CNN",
        ("FasterRCNN", "MaskRCNN", "CascadeRCNN"),
        0.02,
        16,
        f"mmdet configs/_base_/schedules/schedule_1x.py (faster-rcnn_r50_fpn_1x_coco.py): SGD 0.02, 8 GPUs × 2 "
        f"({MMDET})",
        optimizers=("sgd",),
        family="two-stage",
    ),
)
# Recipes of runs that have no mmcv/mmengine config: the DETR lineage's own trainers. Their logs carry
# the arguments (facebookresearch/detr-style `Namespace(...)`, identified by `detr_args_recipe`) or
# nothing (a log.txt: identified by its loss terms, `recipe_from_terms`).
DETR_MAIN = Recipe(
    "DETR",
    ("DETR",),
    1e-4,
    16,
    "facebookresearch/detr main.py defaults (AdamW lr 1e-4, lr_backbone 1e-5, batch_size 2 per GPU, weight_decay "
    "1e-4, epochs 300, lr_drop 200, clip_max_norm 0.1) with its README's 8 GPUs: total batch 16; the paper trained "
    "at 64 (16 GPUs × 4) with the same lr, so the lr was not scaled with the batch there (not re-read here: as the "
    "repository's defaults are commonly quoted)",
)
DEFORMABLE_MAIN = Recipe(
    "Deformable DETR",
    ("DeformableDETR",),
    2e-4,
    32,
    "fundamentalvision/Deformable-DETR main.py defaults (AdamW lr 2e-4, lr_backbone 2e-5, batch_size 2 per GPU, "
    "epochs 50, lr_drop 40, clip_max_norm 0.1) at the total batch 32 its README states and mmdet's port names "
    "(deformable-detr_r50_16xb2-50e_coco.py, 16 GPUs × 2); the README's single-node command runs 8 × 2 = 16 "
    "(not re-read here)",
)
RT_DETR = Recipe(
    "RT-DETR",
    ("RTDETR", "RTDETRTransformer"),
    1e-4,
    16,
    "lyuwenyu/RT-DETR rtdetr_pytorch configs (AdamW lr 1e-4, backbone 1e-5, 4 GPUs × 4, 72 epochs for 6x, "
    "clip_max_norm 0.1; not re-read here)",
    group0="the backbone's: RT-DETR's first parameter group, at a tenth of the base lr in its recipe",
    group0_lr=1e-5,
)
RF_DETR = Recipe(
    "RF-DETR",
    ("RFDETR", "LWDETR"),
    1e-4,
    16,
    "rfdetr 1.11.2 (PyPI) rfdetr/config.py TrainConfig: AdamW lr 1e-4, lr_encoder 1.5e-4, batch_size 4 × "
    "grad_accum_steps (4 before 1.11: an effective batch of 16, still its auto_batch_target_effective), "
    "weight_decay 1e-4, epochs 100, clip_max_norm 0.1, EMA on",
)

# bevdetr's own measured recipe as data (bevdetr/recipe.py: HEALTHY_RANGE, HEALTHY_BATCH, SOURCE;
# tests/bevlog/test_recipes.py asserts they agree)
BEVDETR_RECIPE = Recipe(
    "bevdetr",
    ("BEVDETR",),
    1e-3,
    8,
    "bevdetr's seeded lr sweep (docs/experiments.md, tiny preset at batch 8)",
    lr_high=2e-3,
)

# config variables that state the total batch the lr was set for (per-GPU `batch_size` is not one)
TOTAL_BATCH_KEYS = ("total_batch_size", "total_batch", "global_batch_size")


@dataclass(frozen=True)
class LrReference:
    """What the lr should be at the run's total batch, and why."""

    kind: str  # "config" (the run's own intent) | "recipe" (published for the model type)
    low: float  # lr at the run's batch (low end)
    high: float  # lr at the run's batch (high end; == low for one published value)
    batch: float  # the run's total batch
    text: str  # the evidence, for people: "the config's total_batch_size = 48 with lr 6e-4"
    name: str  # recipe name or "config"
    peak_ratio: float = 1.0  # the reference schedule's peak / base lr (cyclic recipes: ×10)
    note: str = ""  # how far the scaling is trusted ("an extrapolation …"), "" when it is not stretched
    own_batch: float | None = None  # the total batch its lr was set for (the config's, the recipe's)
    own_lr_high: float | None = None  # that lr (the top of a measured range), before any scaling

    @property
    def short(self) -> str:
        """'the DETR3D recipe at total batch 4' / "the config's own intent at total batch 6"."""
        what = f"the {self.name} recipe" if self.kind == "recipe" else "the config's own intent"
        return f"{what} at total batch {self.batch:g}"

    def target(self, lr: float) -> float:
        """The nearest lr inside the reference range."""
        return min(max(lr, self.low), self.high)

    def ratio(self, lr: float) -> float:
        """lr against the range: > 1 above its top, < 1 below its bottom, 1 inside."""
        if lr > self.high:
            return lr / self.high
        if lr < self.low:
            return lr / self.low
        return 1.0


def _num(v):
    return v if is_number(v) and v > 0 else None


def model_types(cfg) -> set[str]:
    """Every `type` string under the config's `model` (bounded walk)."""
    found: set[str] = set()

    def walk(node, depth):
        if depth > 12 or len(found) > 500:
            return
        if isinstance(node, dict):
            t = node.get("type")
            if isinstance(t, str):
                found.add(t)
            for v in node.values():
                walk(v, depth + 1)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v, depth + 1)

    walk(cfg.get("model") if isinstance(cfg, dict) else None, 0)
    return found


def recipe_for(cfg) -> Recipe | None:
    """The published recipe of the run's model type (bevdetr: its declared or measured one)."""
    if not isinstance(cfg, dict):
        return None
    declared = cfg.get("bevdetr_recipe")
    if isinstance(declared, dict):
        lr, batch = _num(declared.get("lr")), _num(declared.get("total_batch"))
        band = declared.get("healthy_lr_range")
        low, high = (
            band if isinstance(band, (list, tuple)) and len(band) == 2 and all(_num(v) for v in band) else (lr, lr)
        )
        optimizer = str(declared.get("optimizer") or "AdamW").lower()
        if lr and batch:
            return Recipe(
                "bevdetr",
                BEVDETR_RECIPE.model_types,
                float(min(low, lr)),
                int(batch),
                "as the log declares it in its config, bevdetr_recipe",
                lr_high=float(max(high, lr)),
                optimizers=(optimizer,),
            )
    args = detr_args_recipe(cfg)
    if args is not None:
        return args
    types = model_types(cfg)
    if BEVDETR_RECIPE.model_types[0] in types:
        return BEVDETR_RECIPE
    for recipe in RECIPES:
        if types & set(recipe.model_types):
            return recipe
    return None


def detr_args_recipe(cfg) -> Recipe | None:
    """The recipe of a DETR `main.py` whose arguments are the config: Deformable DETR when they name
    its multi-scale deformable attention (`num_feature_levels`, `dec_n_points`), else DETR; None for
    anything that is no such argument dump."""
    if layout(cfg) != "detr-args":
        return None
    if "num_feature_levels" in cfg or "dec_n_points" in cfg:
        return DEFORMABLE_MAIN
    if "lr_drop" in cfg and "lr_backbone" in cfg:
        return DETR_MAIN
    return None


def recipe_from_terms(columns) -> Recipe | None:
    """A recipe told by the loss terms a log writes, for a log without config or arguments: RT-DETR's
    varifocal loss (`loss_vfl`, its own); None when the terms do not tell."""
    if any("loss_vfl" in str(c) for c in columns):
        return RT_DETR
    return None


def config_intent(cfg, lr: float | None) -> tuple[float, str] | None:
    """(total batch the config's lr was set for, why) from the config's own batch variables."""
    if not isinstance(cfg, dict) or not lr:
        return None
    for key in TOTAL_BATCH_KEYS:
        v = _num(cfg.get(key))
        if v:
            return float(v), f"the config's own {key} = {v:g} with lr {lr:.2g}"
    scale = cfg.get("auto_scale_lr")
    if isinstance(scale, dict) and _num(scale.get("base_batch_size")) and scale.get("enable") is False:
        # enable=True: mmengine already scaled the lr to the real batch, nothing to check
        v = _num(scale["base_batch_size"])
        return float(v), f"the config's auto_scale_lr base_batch_size = {v:g} (not enabled) with lr {lr:.2g}"
    return None


def family(cfg) -> str | None:
    """detr | dense | two-stage | bev-conv from the model's types; None when unknown."""
    recipe = recipe_for(cfg)
    if recipe is not None:
        return "detr" if recipe.name == "bevdetr" else recipe.family
    types = " ".join(model_types(cfg)).lower()
    if "detr" in types or "dino" in types:
        return "detr"
    if any(k in types for k in ("retina", "fcos", "atss", "yolo", "gfl")):
        return "dense"
    if "rcnn" in types or "rpn" in types:
        return "two-stage"
    return None


def lr_reference(meta) -> LrReference | None:
    """The best-grounded lr for the run's total batch (on the scale of its configured base lr),
    or None when neither its config nor a published recipe says one."""
    if type(meta) is dict:  # a plain mapping (bevlog.validate's own copy of the facts): read it the same way
        meta = SimpleNamespace(**{k: meta.get(k) for k in ("config", "total_batch", "lr", "optimizer")})
    cfg = meta.config if isinstance(meta.config, dict) else None
    batch, lr = _num(meta.total_batch), _num(meta.lr)
    if not cfg or not batch:
        return None
    intent = config_intent(cfg, lr)
    if intent and abs(intent[0] / batch - 1) > 0.01:
        want = lr * batch / intent[0]
        return LrReference(
            "config",
            want,
            want,
            batch,
            f"{intent[1]}, scaled to the real total batch {batch:g}",
            "config",
            own_batch=intent[0],
            own_lr_high=lr,
        )
    recipe = recipe_for(cfg)
    if recipe is None or str(meta.optimizer or "").lower() not in recipe.optimizers:
        return None
    low, high = recipe.lr_at(batch)
    factor = batch / recipe.total_batch
    text = f"the {recipe.name} recipe ({recipe.source}), scaled linearly to total batch {batch:g}"
    note = ""
    if (factor < 1 / EXTRAPOLATE or factor > EXTRAPOLATE) and "adam" in str(meta.optimizer or "").lower():
        sqrt_lr = (recipe.lr_high or recipe.lr) * factor**0.5
        note = (
            f"linear scaling ×{factor:.3g} from the recipe's batch {recipe.total_batch} is an extrapolation; "
            f"the square-root rule for Adam (Malladi et al. 2022) gives {sqrt_lr:.2g}"
        )
    return LrReference(
        "recipe",
        low,
        high,
        batch,
        text,
        recipe.name,
        recipe.peak_ratio,
        note,
        own_batch=recipe.total_batch,
        own_lr_high=recipe.lr_high or recipe.lr,
    )
