"""Per-decoder-layer losses: which train columns are they, and the long `layers` frame.

Key grammar (checked in this order):
- mmdet DETR heads: `[frame_K_][dN.][dn_|enc_…]loss_TERM` — `dN.` is intermediate layer N,
  the unprefixed key is the final layer. `frame_0_d1.dn_loss_cls` -> group `frame_0_dn`,
  term `cls`, layer 1.
- DETR family (facebookresearch/detr and descendants, detectron2/detrex, RT-DETR, D-FINE):
  `loss_TERM` is the final layer, `loss_TERM_N` intermediate layer N, and a suffix names
  the group: `_aux_N` (RT-DETR, D-FINE: intermediate layer N of the main queries), `_dn` /
  `_dn_N` (denoising queries), `_enc` / `_enc_N` and `_interm` (encoder proposals of
  two-stage models), `_pre` (D-FINE's predictions before the first decoder layer).
  `loss_ce_0_unscaled` (DETR's unweighted copy) is no layer loss: only weighted terms are.
  RT-DETR v1 appends the encoder's query-selection output to its aux list: with 6 decoder
  layers it logs `_aux_0`…`_aux_5` beside `_dn_0`…`_dn_5` (denoising on every layer, no
  unsuffixed dn term). Where the aux list is as long as the dn list in that shape, its last
  entry is the encoder (group `enc`), not a decoder layer; without dn terms this cannot be
  told from the log, and every aux entry counts as a decoder layer.
- Sparse4D: `loss_TERM_N` (every layer numbered), optionally with a `_dn` before the number:
  `loss_cls_dn_3` -> group `dn`.
- TransFusion/BEVFusion: `loss/object/layer_N_loss_TERM`, `layer_-1` = final layer;
  group is the path part (`object`).
- Attention statistics (bevdetr, the attention hook): `[dN.]attn_TERM` (`attn_entropy`,
  `attn_logit_max`) -> group `attn`, term TERM; they are not losses, so the layer-loss rules
  leave the group alone (`is_stats_group`).
Groups are '' (main queries), `dn` (denoising), `enc` (encoder proposals), `pre` (D-FINE),
prefixed by the frame (`frame_0`) or head path (`object`), joined with '_'. `enc` and `pre`
are not decoder layers (`is_decoder_group`).

Layer numbering: per group, L = number of layers logged (intermediate + final); for
decoder groups (not `enc`) L is raised to the config's decoder depth when that is larger
(aux losses off: only the final layer is logged, and it is layer L-1).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from parsers.frames import category_series
from parsers.run import LAYERS_COLUMNS

DETR_SUFFIX = re.compile(r"^loss_(?P<term>[A-Za-z0-9]+)_(?P<grp>aux|dn|enc|interm|pre)(?:_(?P<k>\d+))?$")
DETR_GROUP = {"aux": "", "dn": "dn", "enc": "enc", "interm": "enc", "pre": "pre"}
MMDET = re.compile(r"^(?P<frame>frame_\d+_)?(?:d(?P<d>\d+)\.)?(?P<grp>(?:[a-z0-9]+_)*?)loss_(?P<term>[A-Za-z0-9]+)$")
SPARSE4D = re.compile(r"^(?P<frame>frame_\d+_)?loss_(?P<term>[A-Za-z0-9]+)(?P<dn>_dn)?_(?P<k>\d+)$")
TRANSFUSION = re.compile(r"^(?:loss/)?(?P<path>[^/]+)/layer_(?P<k>-?\d+)_loss_(?P<term>[A-Za-z0-9]+)$")
ATTENTION = re.compile(r"^(?:d(?P<d>\d+)\.)?attn_(?P<term>entropy|logit_max)$")
GROUP_WORDS = ("dn", "enc", "aux", "one2many", "o2m", "denoise")
MAX_LAYER = 999  # a key numbering a layer beyond this is a plain column, not a decoder layer
STATS_GROUP = "attn"


def is_stats_group(group: str) -> bool:
    """A group of per-layer statistics (attention), not of losses."""
    return group == STATS_GROUP


def is_decoder_group(group: str) -> bool:
    """A group of decoder layers: not encoder proposals (`enc`), not D-FINE's `pre`."""
    return not group.endswith("enc") and not group.endswith("pre")


def classify(key: str):
    """(group, term, layer) where layer is an int (intermediate / Sparse4D), 'final', or
    -1 (TransFusion's last layer); None when the key is not a decoder-layer loss or statistic."""
    found = _classify(key)
    if found is not None and isinstance(found[2], int) and not -1 <= found[2] <= MAX_LAYER:
        return None  # `d99999999999999999999.loss_cls`: the number comes from a log; bound it
    return found


def _classify(key: str):
    m = ATTENTION.match(key)
    if m:
        return STATS_GROUP, m.group("term"), (int(m.group("d")) if m.group("d") is not None else "final")
    m = DETR_SUFFIX.match(key)
    if m:
        k = m.group("k")
        return DETR_GROUP[m.group("grp")], m.group("term"), (int(k) if k is not None else "final")
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
        g["explicit"] |= bool(
            TRANSFUSION.match(key) or SPARSE4D.match(key) or ATTENTION.match(key) or DETR_SUFFIX.match(key)
        )
        if layer == "final":
            g["final"] = True
        else:
            g["numbered"].add(layer)
        g["items"].append((key, term, layer))
    _encoder_in_aux_list(groups)
    out = []
    any_numbered = any(g["numbered"] for g in groups.values())
    for group, g in groups.items():
        if not g["numbered"] and not g["explicit"]:
            if not (any_numbered or config_layers):
                continue
            if not any(t in ("cls", "bbox", "iou", "box") for _, t, _ in g["items"]):
                continue
        count = (max(g["numbered"]) + 1 if g["numbered"] else 0) + (1 if g["final"] else 0)
        is_decoder = is_decoder_group(group)
        if is_decoder and config_layers and config_layers > count:
            count = config_layers
        for key, term, layer in g["items"]:
            out.append((key, group, term, count - 1 if layer == "final" else layer))
    return out


def _encoder_in_aux_list(groups: dict) -> None:
    """RT-DETR v1 (see the module docstring): per term, when `_aux_0`…`_aux_K` sit beside
    `_dn_0`…`_dn_K` (same K, no unsuffixed dn term) and no `_enc` term, `_aux_K` is the
    encoder's output. Moves those keys from the main group to `enc` (as its one layer)."""
    main, dn = groups.get(""), groups.get("dn")
    if not main or not dn or "enc" in groups:
        return
    moved = []
    for term in {t for _, t, _ in main["items"]}:
        aux = {lay: key for key, t, lay in main["items"] if t == term and "_aux_" in key}
        dn_layers = {lay for key, t, lay in dn["items"] if t == term}
        if not aux or "final" in dn_layers or not dn_layers:
            continue
        top = max(aux)
        if top == max(dn_layers) and len(dn_layers) == top + 1:
            moved.append((aux[top], term))
    if not moved:
        return
    keys = {k for k, _ in moved}
    main["items"] = [it for it in main["items"] if it[0] not in keys]
    main["numbered"] = {lay for _, _, lay in main["items"] if lay != "final"}
    groups["enc"] = {"numbered": set(), "final": True, "items": [(k, t, "final") for k, t in moved], "explicit": True}


def has_aux(keys) -> bool:
    """Intermediate-layer losses are logged (a numbered layer in a decoder group)."""
    for k in keys:
        c = classify(k)
        if c is not None and is_decoder_group(c[0]) and not is_stats_group(c[0]) and c[2] != "final":
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

    def part(self, since_step: float | None = None, group_term: tuple | None = None):
        """The rows of the whole frame with step ≥ `since_step` and of one (group, term),
        built from those train rows and columns only (same rows, order and dtypes as
        filtering the whole frame)."""
        cols = [
            c
            for c in layer_columns(list(self.train.columns), self.config_layers)
            if group_term is None or (c[1], c[2]) == tuple(group_term)
        ]
        keys = [c[0] for c in cols]
        train = self.train
        rows = None
        if since_step is not None:
            rows = train["step"].to_numpy(dtype=float) >= since_step
        sub = train[["step", "epoch_f"] + keys]
        present = {k: self.present[k] for k in keys if k in self.present}
        if rows is not None and not rows.all():
            sub = sub[rows]
            present = {k: v[rows] for k, v in present.items()}
        # the columns as classified among all of them (numbering: L-1 for the final layer)
        return long_frame(sub, present, self.run_name, self.config_layers, cols)

    def logged_layers(self) -> dict:
        """{group: number of distinct layers with at least one row}: what
        `layers.groupby("group")["layer"].nunique()` gives, from the column names."""
        out: dict = {}
        for key, group, _, layer in layer_columns(list(self.train.columns), self.config_layers):
            if self._has_rows(key):
                out.setdefault(group, set()).add(layer)
        return {g: len(v) for g, v in out.items()}

    def _has_rows(self, key) -> bool:
        if key in self.present:
            return bool(self.present[key].any())
        return bool(self.train[key].notna().any())


def layers_part(run, since_step: float | None = None, group_term: tuple | None = None):
    """Rows of `run.layers` from `since_step` on and/or of one (group, term). While the
    long frame is not built (see `parsers.run`) only those rows are built: the rules and
    the report read windows and one term at a time, so the whole long frame (about the
    size of the log file for a six-layer decoder) never has to exist."""
    builder = run.__dict__.get("_layers")
    if isinstance(builder, LazyLayers):
        return builder.part(since_step, group_term)
    L = run.layers
    if L is None or not len(L):
        return L
    keep = np.ones(len(L), bool)
    if since_step is not None:
        keep &= L["step"].to_numpy(dtype=float) >= since_step
    if group_term is not None:
        keep &= (L["group"] == group_term[0]).to_numpy(bool) & (L["term"] == group_term[1]).to_numpy(bool)
    return L if keep.all() else L[keep]


def layers_wide(run, since_step: float):
    """step × (group, term, layer) table of the finite layer losses from `since_step` on:
    `pivot_last(layers_part(run, since_step))` with non-finite rows dropped, read
    straight from the train columns while the long frame is not built."""
    builder = run.__dict__.get("_layers")
    if not isinstance(builder, LazyLayers):
        L = layers_part(run, since_step)
        if L is None or not len(L):
            return pd.DataFrame()
        return pivot_last(L[np.isfinite(L["value"].to_numpy(dtype=float))])
    cols = sorted(layer_columns(list(builder.train.columns), builder.config_layers), key=lambda c: (c[1], c[2], c[3]))
    train = builder.train
    rows = np.flatnonzero(train["step"].to_numpy(dtype=float) >= since_step)
    if not cols or not len(rows):
        return pd.DataFrame()
    steps, row = np.unique(train["step"].to_numpy(dtype=float)[rows], return_inverse=True)
    table = np.full((len(steps), len(cols)), np.nan)
    for j, (key, _, _, _) in enumerate(cols):
        v = train[key].to_numpy(dtype=float)[rows]
        ok = np.isfinite(v)
        if key in builder.present:
            ok &= builder.present[key][rows]
        table[row[ok], j] = v[ok]  # in row order: the later row of a step wins
    keep_col = ~np.all(np.isnan(table), axis=0)
    keep_row = ~np.all(np.isnan(table), axis=1)
    columns = pd.MultiIndex.from_tuples(
        [(g, t, np.int64(lay)) for _, g, t, lay in cols], names=["group", "term", "layer"]
    )
    return pd.DataFrame(
        table[keep_row][:, keep_col], index=pd.Index(steps[keep_row], name="step"), columns=columns[keep_col]
    )


def term_wide(run, group_term: tuple):
    """One (group, term) of `run.layers` in wide form: (step, epoch_f, layer of each column,
    values rows × columns, present rows × columns). While the long frame is not built it
    is read straight from the train columns (rows = train rows); else each long row is a
    row with one present column. Either way, a column's present values in row order are
    the long frame's values of that layer in its order."""
    builder = run.__dict__.get("_layers")
    if isinstance(builder, LazyLayers):
        train = builder.train
        cols = sorted(
            (c for c in layer_columns(list(train.columns), builder.config_layers) if (c[1], c[2]) == tuple(group_term)),
            key=lambda c: c[3],
        )
        n = len(train)
        values = np.empty((n, len(cols)))
        present = np.empty((n, len(cols)), bool)
        for j, (key, _, _, _) in enumerate(cols):
            values[:, j] = train[key].to_numpy(dtype=float)
            present[:, j] = builder.present[key] if key in builder.present else ~np.isnan(values[:, j])
        return (
            train["step"].to_numpy(dtype=float),
            train["epoch_f"].to_numpy(dtype=float),
            [c[3] for c in cols],
            values,
            present,
        )
    part = layers_part(run, group_term=group_term)
    layer = part["layer"].to_numpy().astype(int)
    ids = sorted(set(layer.tolist()))
    present = layer[:, None] == np.asarray(ids, dtype=int)[None, :]
    values = np.where(present, part["value"].to_numpy(dtype=float)[:, None], np.nan)
    return part["step"].to_numpy(dtype=float), part["epoch_f"].to_numpy(dtype=float), ids, values, present


def pivot_last(window):
    """`window.pivot_table(index="step", columns=["group", "term", "layer"], values="value",
    aggfunc="last")` for finite values, by filling one matrix in row order (the later row
    wins): pivot_table's groupby needs about ten times the window's memory."""
    steps, row = np.unique(window["step"].to_numpy(dtype=float), return_inverse=True)
    parts = [pd.factorize(window[c], sort=True) for c in ("group", "term", "layer")]
    sizes = [len(uniq) for _, uniq in parts]
    code = (parts[0][0].astype(np.int64) * sizes[1] + parts[1][0]) * sizes[2] + parts[2][0]
    used, col = np.unique(code, return_inverse=True)
    table = np.full((len(steps), len(used)), np.nan)
    table[row, col] = window["value"].to_numpy(dtype=float)
    g, rest = np.divmod(used, sizes[1] * sizes[2])
    t, lay = np.divmod(rest, sizes[2])
    columns = pd.MultiIndex.from_arrays(
        [np.asarray(parts[0][1])[g], np.asarray(parts[1][1])[t], np.asarray(parts[2][1])[lay]],
        names=["group", "term", "layer"],
    )
    return pd.DataFrame(table, index=pd.Index(steps, name="step"), columns=columns)


def logged_layer_counts(run) -> dict:
    """{group: distinct layers logged}, without building the long frame."""
    builder = run.__dict__.get("_layers")
    if isinstance(builder, LazyLayers):
        return builder.logged_layers()
    L = run.layers
    if L is None or not len(L):
        return {}
    return {str(g): int(n) for g, n in L.groupby("group", observed=True)["layer"].nunique().items()}


def group_terms(run) -> list[tuple[str, str]]:
    """The (group, term) pairs of `run.layers` that have rows, in the frame's order."""
    builder = run.__dict__.get("_layers")
    if isinstance(builder, LazyLayers):
        cols = layer_columns(list(builder.train.columns), builder.config_layers)
        cols.sort(key=lambda c: (c[1], c[2], c[3]))
        return list(dict.fromkeys((g, t) for k, g, t, _ in cols if builder._has_rows(k)))
    L = run.layers
    if L is None or not len(L):
        return []
    return [(str(g), str(t)) for g, t in L.groupby(["group", "term"], sort=False, observed=True).indices]


def long_frame(train, present: dict, run_name: str, config_layers: int | None, cols: list | None = None):
    """The `layers` frame from a built train frame, ordered by step, group, term, layer.

    `present[key]`: bool per row, the line carried the key (a logged `nan` stays as a
    NaN row; an absent key gives no row). `cols`: the (column, group, term, layer) to use,
    when `train` holds only some of the layer columns (see `LazyLayers.part`)."""
    cols = list(cols) if cols is not None else layer_columns(list(train.columns), config_layers)
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
    kept = np.empty((n, ncols), bool)
    for j, k in enumerate(keys):
        view[2, :, j] = train[k].to_numpy(dtype=float)
        kept[:, j] = present[k] if k in present else ~np.isnan(view[2, :, j])
    keep = kept.ravel()
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
