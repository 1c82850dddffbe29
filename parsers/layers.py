"""Per-decoder-layer losses: which train columns are they, and the long `layers` frame.

Key grammar (checked in this order):
- mmdet DETR heads: `[frame_K_][dN.][dn_|enc_…]loss_TERM` — `dN.` is intermediate layer N,
  the unprefixed key is the final layer. `frame_0_d1.dn_loss_cls` -> group `frame_0_dn`,
  term `cls`, layer 1.
- Sparse4D: `loss_TERM_N` (every layer numbered), optionally with a `_dn` before the number:
  `loss_cls_dn_3` -> group `dn`.
- TransFusion/BEVFusion: `loss/object/layer_N_loss_TERM`, `layer_-1` = final layer;
  group is the path part (`object`).
- Attention statistics (bevdetr, the attention hook): `[dN.]attn_TERM` (`attn_entropy`,
  `attn_logit_max`) -> group `attn`, term TERM; they are not losses, so the layer-loss rules
  leave the group alone (`is_stats_group`).
Groups are '' (main queries), `dn` (denoising), `enc` (encoder proposals), prefixed by the
frame (`frame_0`) or head path (`object`), joined with '_'.

Layer numbering: per group, L = number of layers logged (intermediate + final); for
decoder groups (not `enc`) L is raised to the config's decoder depth when that is larger
(aux losses off: only the final layer is logged, and it is layer L-1).
"""
from __future__ import annotations

import re

MMDET = re.compile(r"^(?P<frame>frame_\d+_)?(?:d(?P<d>\d+)\.)?(?P<grp>(?:[a-z0-9]+_)*?)loss_(?P<term>[A-Za-z0-9]+)$")
SPARSE4D = re.compile(r"^(?P<frame>frame_\d+_)?loss_(?P<term>[A-Za-z0-9]+)(?P<dn>_dn)?_(?P<k>\d+)$")
TRANSFUSION = re.compile(r"^(?:loss/)?(?P<path>[^/]+)/layer_(?P<k>-?\d+)_loss_(?P<term>[A-Za-z0-9]+)$")
ATTENTION = re.compile(r"^(?:d(?P<d>\d+)\.)?attn_(?P<term>entropy|logit_max)$")
GROUP_WORDS = ("dn", "enc", "aux", "one2many", "o2m", "denoise")
STATS_GROUP = "attn"


def is_stats_group(group: str) -> bool:
    """A group of per-layer statistics (attention), not of losses."""
    return group == STATS_GROUP


def classify(key: str):
    """(group, term, layer) where layer is an int (intermediate / Sparse4D), 'final', or
    -1 (TransFusion's last layer); None when the key is not a decoder-layer loss or statistic."""
    m = ATTENTION.match(key)
    if m:
        return STATS_GROUP, m.group("term"), (int(m.group("d")) if m.group("d") is not None else "final")
    m = SPARSE4D.match(key)
    if m:
        group = _join((m.group("frame") or "").rstrip("_"), "dn" if m.group("dn") else "")
        return group, m.group("term"), int(m.group("k"))
    m = TRANSFUSION.match(key)
    if m:
        k = int(m.group("k"))
        return m.group("path"), m.group("term"), ("final" if k == -1 else k)
    m = MMDET.match(key)
    if m:
        grp = m.group("grp").rstrip("_")
        if grp and grp not in GROUP_WORDS:
            return None  # e.g. `centers2d_loss_x`: another head's loss, not a decoder layer
        group = _join((m.group("frame") or "").rstrip("_"), grp)
        return group, m.group("term"), (int(m.group("d")) if m.group("d") is not None else "final")
    return None


def _join(*parts: str) -> str:
    return "_".join(p for p in parts if p)


def layer_columns(keys, config_layers: int | None) -> list[tuple[str, str, str, int]]:
    """[(column, group, term, layer)] for the train columns that are decoder-layer losses.

    A group counts as layered when it has at least one numbered layer; a group with only
    an unprefixed final loss counts when its term also appears numbered in another group
    or the config states a decoder depth (then it is the final layer L-1)."""
    parsed = {k: classify(k) for k in keys}
    parsed = {k: v for k, v in parsed.items() if v is not None}
    groups: dict[str, dict] = {}
    for key, (group, term, layer) in parsed.items():
        g = groups.setdefault(group, {"numbered": set(), "final": False, "items": [], "explicit": False})
        g["explicit"] |= bool(TRANSFUSION.match(key) or SPARSE4D.match(key) or ATTENTION.match(key))
        if layer == "final":
            g["final"] = True
        else:
            g["numbered"].add(layer)
        g["items"].append((key, term, layer))
    out = []
    any_numbered = any(g["numbered"] for g in groups.values())
    for group, g in groups.items():
        if not g["numbered"] and not g["explicit"]:
            if not (any_numbered or config_layers):
                continue
            if not any(t in ("cls", "bbox", "iou", "box") for _, t, _ in g["items"]):
                continue
        count = (max(g["numbered"]) + 1 if g["numbered"] else 0) + (1 if g["final"] else 0)
        is_decoder = not group.endswith("enc")
        if is_decoder and config_layers and config_layers > count:
            count = config_layers
        for key, term, layer in g["items"]:
            out.append((key, group, term, count - 1 if layer == "final" else layer))
    return out


def has_aux(keys) -> bool:
    """Intermediate-layer losses are logged (a numbered layer in a decoder group)."""
    for k in keys:
        c = classify(k)
        if c is not None and not c[0].endswith("enc") and not is_stats_group(c[0]) and c[2] != "final":
            return True
    return False


class LazyLayers:
    """A picklable builder of the `layers` frame, called on the first read of `Run.layers`
    (see parsers.run). It keeps a reference to the train frame as parsed (`run.train` may
    be replaced, not changed in place) and the `present` masks of the layer columns only."""

    def __init__(self, train, present: dict, run_name: str, config_layers: int | None):
        keys = {c[0] for c in layer_columns(list(train.columns), config_layers)}
        self.train, self.run_name, self.config_layers = train, run_name, config_layers
        self.present = {k: v for k, v in present.items() if k in keys}

    def __call__(self):
        return long_frame(self.train, self.present, self.run_name, self.config_layers)


def long_frame(train, present: dict, run_name: str, config_layers: int | None):
    """The `layers` frame from a built train frame, ordered by step, group, term, layer.

    `present[key]`: bool per row, the line carried the key (a logged `nan` stays as a
    NaN row; an absent key gives no row)."""
    import numpy as np
    import pandas as pd

    from parsers.frames import category_series

    cols = layer_columns(list(train.columns), config_layers)
    if not cols or len(train) == 0:
        return empty_layers()
    cols.sort(key=lambda c: (c[1], c[2], c[3]))
    keys = [c[0] for c in cols]
    groups = sorted({c[1] for c in cols})
    terms = sorted({c[2] for c in cols})
    n, ncols = len(train), len(keys)
    # One float block (step, epoch_f, value) of rows x layer-columns, flattened row-major:
    # already in (step, group, term, layer) order. Filled in place, handed to pandas as is.
    block = np.empty((3, n * ncols))
    view = block.reshape(3, n, ncols)
    view[0] = train["step"].to_numpy(dtype=float)[:, None]
    view[1] = train["epoch_f"].to_numpy(dtype=float)[:, None]
    keep = np.empty((n, ncols), bool)
    for j, k in enumerate(keys):
        view[2, :, j] = train[k].to_numpy(dtype=float)
        keep[:, j] = present[k] if k in present else ~np.isnan(view[2, :, j])
    keep = keep.ravel()
    g_code = np.tile(np.array([groups.index(c[1]) for c in cols], np.int8 if len(groups) < 128 else np.int32), n)
    t_code = np.tile(np.array([terms.index(c[2]) for c in cols], np.int8 if len(terms) < 128 else np.int32), n)
    layer = np.tile(np.array([c[3] for c in cols], np.int64), n)
    if not keep.all():
        block, g_code, t_code, layer = block[:, keep], g_code[keep], t_code[keep], layer[keep]
    df = pd.DataFrame(block.T, columns=["step", "epoch_f", "value"], copy=False)
    df.insert(0, "run", category_series(np.zeros(len(df), np.int8), [run_name]))
    df.insert(3, "group", category_series(g_code, groups))
    df.insert(4, "term", category_series(t_code, terms))
    df.insert(5, "layer", layer)
    return df


def empty_layers():
    import numpy as np
    import pandas as pd

    from parsers.frames import category_series
    from parsers.run import LAYERS_COLUMNS

    return pd.DataFrame(
        {
            "run": category_series([], []),
            "step": np.zeros(0),
            "epoch_f": np.zeros(0),
            "group": category_series([], []),
            "term": category_series([], []),
            "layer": np.zeros(0, np.int64),
            "value": np.zeros(0),
        },
        columns=LAYERS_COLUMNS,
    )
