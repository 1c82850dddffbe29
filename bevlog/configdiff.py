"""The settings that differ between runs: what a reviewer reads before any curve.

Two kinds of rows, in this order:
- facts: what bevlog knows of every run whatever its log format (`Run.meta`: total batch,
  lr, optimizer, schedule, length, decoder layers, aux losses, grad clip, fp16, seed);
- config keys: the run's config (`run.meta.config`, read with `ast`, never executed),
  nested keys flattened with dots (`model.pts_bbox_head.transformer.decoder.num_layers`),
  items of a list of dicts by index (`param_scheduler[1].T_max`).
A row is shown only when its values are not all equal; a key one run lacks differs
("—"). Values are shortened for display (`short`); the texts come from logs, so every
printer cleans (terminal) or escapes (HTML) them.

A config is bounded before it sizes anything: at most MAX_DEPTH levels and MAX_KEYS
keys per run are read (a deeper or larger config is cut, and the diff says so).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from bevlog.findings import json_safe

MAX_DEPTH = 12
MAX_KEYS = 5000
SHORT = 40  # characters of a value shown in a table cell
MISSING = "—"

# (row name, how to read it from Run.meta). Names are not config keys: they never collide.
FACTS = (
    ("batch (total)", lambda m: m.total_batch),
    ("lr", lambda m: m.lr),
    ("optimizer", lambda m: m.optimizer),
    ("weight decay", lambda m: m.weight_decay),
    ("lr schedule", lambda m: m.lr_schedule.policy if m.lr_schedule else None),
    ("lr steps", lambda m: list(m.lr_schedule.steps) if m.lr_schedule and m.lr_schedule.steps else None),
    ("warmup iters", lambda m: m.lr_schedule.warmup_iters if m.lr_schedule else None),
    ("epochs", lambda m: m.max_epochs),
    ("iters", lambda m: m.max_iters),
    ("iters/epoch", lambda m: m.iters_per_epoch),
    ("decoder layers", lambda m: m.num_decoder_layers),
    ("aux losses", lambda m: m.has_aux_loss),
    ("grad clip", lambda m: m.grad_clip),
    ("fp16", lambda m: m.fp16),
    ("seed", lambda m: m.seed),
)
FACT_NAMES = tuple(name for name, _ in FACTS)


def is_seed_key(key: str) -> bool:
    """Keys that only choose randomness or where a run writes: runs differing only in
    these are repeats of one experiment (`seed`, `bevdetr.seed`, `data_seed`,
    `randomness.seed`, `randomness.diff_rank_seed`, `work_dir`)."""
    last = key.rsplit(".", 1)[-1].split("[", 1)[0].lower()
    return last == "seed" or last.endswith("_seed") or key.lower().startswith("randomness.") or last == "work_dir"


@dataclass
class Row:
    """One differing setting: its key, one value per run (MISSING where a run lacks it)."""

    key: str
    kind: str  # 'fact' or 'config'
    values: list

    @property
    def seed_only(self) -> bool:
        """Only randomness or the output place differs in this row."""
        return is_seed_key(self.key)


@dataclass
class ConfigDiff:
    """What differs between `labels` (one value per run in every row), facts first."""

    labels: list
    rows: list = field(default_factory=list)
    without_config: list = field(default_factory=list)  # labels of runs whose log holds no config
    truncated: list = field(default_factory=list)  # labels of runs whose config was cut (too deep/large)

    def keys(self) -> list[str]:
        return [r.key for r in self.rows]

    def value(self, key: str, label: str):
        row = next(r for r in self.rows if r.key == key)
        return row.values[self.labels.index(label)]

    def to_dict(self) -> dict:
        """JSON shape: {"runs": [...], "rows": [{"key", "kind", "values": {run: value}}], …};
        a run that lacks the key is absent from its row's values."""
        return json_safe(
            {
                "runs": self.labels,
                "rows": [
                    {
                        "key": r.key,
                        "kind": r.kind,
                        "values": {
                            lab: _json_value(v) for lab, v in zip(self.labels, r.values) if v is not MISSING_VALUE
                        },
                    }
                    for r in self.rows
                ],
                "without_config": self.without_config,
                "truncated": self.truncated,
            }
        )


def _json_value(value):
    if isinstance(value, Varies):
        return {"varies": list(value.values)}
    return value


class _Missing:
    """A key the run does not have (distinct from a value of None)."""

    def __repr__(self):
        return MISSING


MISSING_VALUE = _Missing()


def flatten(config, max_depth: int = MAX_DEPTH, max_keys: int = MAX_KEYS) -> tuple[dict, bool]:
    """Nested config -> ({dotted key: value}, truncated). Lists of dicts are indexed
    (`hooks[0].type`); other lists stay values. Stops at max_depth / max_keys."""
    out: dict = {}
    truncated = False

    def walk(value, prefix: str, depth: int) -> None:
        nonlocal truncated
        if len(out) >= max_keys:
            truncated = True
            return
        if isinstance(value, dict) and value:
            if depth >= max_depth:
                truncated = True
                return
            for k, v in value.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k), depth + 1)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
            if depth >= max_depth:
                truncated = True
                return
            for i, v in enumerate(value):
                walk(v, f"{prefix}[{i}]", depth + 1)
        else:
            out[prefix] = value

    if isinstance(config, dict):
        walk(config, "", 0)
    return out, truncated


def facts(meta) -> dict:
    """The FACTS of one run's Meta: {name: value} (None where the log does not say)."""
    out = {}
    for name, read in FACTS:
        try:
            out[name] = read(meta)
        except (AttributeError, TypeError):
            out[name] = None
    return out


def config_diff(runs, labels) -> ConfigDiff:
    """Rows of every fact and config key whose values are not all equal across `runs`."""
    diff = ConfigDiff(list(labels))
    run_facts = [facts(run.meta) for run in runs]
    for name in FACT_NAMES:
        values = [f[name] for f in run_facts]
        if not all_equal(values):
            diff.rows.append(Row(name, "fact", values))
    flat = []
    for run, label in zip(runs, labels):
        config = run.meta.config
        if not isinstance(config, dict) or not config:
            diff.without_config.append(label)
            flat.append(None)
            continue
        keys, cut = flatten(config)
        if cut:
            diff.truncated.append(label)
        flat.append(keys)
    with_config = [f for f in flat if f is not None]
    if len(with_config) < 2:
        return diff  # nothing to diff: one config or none
    order: dict = {}
    for f in with_config:
        for key in f:
            order.setdefault(key, len(order))
    for key in order:
        values = [MISSING_VALUE if f is None or key not in f else f[key] for f in flat]
        present = [v for v, f in zip(values, flat) if f is not None]
        if not all_equal(present):
            diff.rows.append(Row(key, "config", values))
    return diff


def all_equal(values) -> bool:
    first = comparable(values[0]) if values else None
    return all(comparable(v) == first for v in values[1:])


def comparable(value):
    """Comparable form: 1 == 1.0, tuples == lists, NaN == NaN."""
    if isinstance(value, bool) or value is None or value is MISSING_VALUE:
        return ("atom", repr(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        return ("num", "nan" if math.isnan(v) else v)
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(comparable(v) for v in value))
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(k), comparable(v)) for k, v in value.items())))
    return ("str", str(value))


def text(value) -> str:
    """A value as one line: numbers compact (`0.001`, `1e-05`), lists `[10, 11]`."""
    if value is MISSING_VALUE:
        return MISSING
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Varies):
        return str(value)
    return " ".join(str(value).split())  # one line


def short(value, width: int = SHORT) -> str:
    """`text(value)` cut to `width` characters, the middle elided (a path keeps its end)."""
    s = text(value)
    if len(s) <= width:
        return s
    head = (width - 1) * 2 // 3
    return s[:head] + "…" + s[len(s) - (width - 1 - head) :]


def group_values(values) -> object:
    """The one value a group of runs shares, or a short list of what varies."""
    if all_equal(values):
        return values[0]
    distinct = []
    for v in values:
        if all(comparable(v) != comparable(d) for d in distinct):
            distinct.append(v)
    return Varies(distinct)


@dataclass
class Varies:
    """The members of a group disagree on a setting (the seed, the work dir)."""

    values: list

    def __str__(self) -> str:
        shown = ", ".join(text(v) for v in self.values[:4])
        more = f", … ({len(self.values)} values)" if len(self.values) > 4 else ""
        return f"varies: {shown}{more}"


def by_groups(diff: ConfigDiff, groups) -> ConfigDiff:
    """The diff with one column per group (bevlog.groups.Group): a group's cell is the value
    its runs share, or `Varies`. Rows that only differ in seeds and work dirs are left out
    (they are what makes a group); rows equal across the groups are dropped."""
    out = ConfigDiff([g.name for g in groups], without_config=list(diff.without_config), truncated=list(diff.truncated))
    for row in diff.rows:
        if row.seed_only:
            continue
        values = [group_values([row.values[i] for i in g.members]) for g in groups]
        if not all_equal([str(v) if isinstance(v, Varies) else v for v in values]):
            out.rows.append(Row(row.key, row.kind, values))
    return out
