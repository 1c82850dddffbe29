"""Seed groups: runs that are repeats of one experiment, compared as one arm.

Automatically, runs whose settings differ only in their seed (every fact and config key of
`bevlog.configdiff` equal except `seed`, `*.seed`, `*_seed`, `randomness.*` and
`work_dir`) and whose seeds are all different form one group. A run without a config, or
without a known seed, is never grouped automatically: bevlog cannot tell a repeat from a
copy. With a pattern (`--group REGEX`, searched in each run's name), runs whose names give
the same key form a group: the key is the regex's capture groups joined, or the name with
the match removed when it has none (`-s\\d+$` groups `base-s0`, `base-s1` as `base`); runs
it does not match stay alone. Every run is in exactly one group (alone: a group of one),
groups in the order of their first run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from bevlog.configdiff import FACT_NAMES, comparable, config_diff, facts, flatten, is_seed_key


class GroupError(ValueError):
    """A --group pattern that is not a regular expression."""


@dataclass
class Group:
    name: str
    members: list  # indices into the runs, in their order
    labels: list
    seeds: list  # one per member: its seed, None when the log does not say
    how: str  # 'seed' | 'pattern' | 'single'
    notes: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.members)

    def keyed(self, values) -> dict:
        """{seed: value} for the members' values (a member without a seed: '#k')."""
        out = {}
        for k, (seed, value) in enumerate(zip(self.seeds, values)):
            key = seed if seed is not None and seed not in out else f"#{k}"
            out[key] = value
        return out

    def seeds_text(self) -> str:
        known = [s for s in self.seeds if s is not None]
        if not known:
            return "?"
        return ", ".join(str(s) for s in known) + (" …" if len(known) < len(self.seeds) else "")


def seed_of(run):
    """The run's seed: the runner's logged seed, else the config's `seed` keys; None if unknown."""
    if run.meta.seed is not None:
        return run.meta.seed
    keys, _ = flatten(run.meta.config or {})
    values = [v for k, v in keys.items() if is_seed_key(k) and not k.endswith("work_dir") and v is not None]
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def find_groups(runs, labels, pattern: str | None = None, auto: bool = True) -> list[Group]:
    """Groups of `runs` (see the module docstring); singletons for the rest."""
    keys = _pattern_keys(labels, pattern) if pattern else (_auto_keys(runs) if auto else [None] * len(runs))
    seeds = [seed_of(run) for run in runs]
    groups: list[Group] = []
    open_groups: dict = {}
    for i, (key, label) in enumerate(zip(keys, labels)):
        if key is None:
            groups.append(Group(label, [i], [label], [seeds[i]], "single"))
            continue
        candidates = open_groups.setdefault(key, [])
        home = None
        for g in candidates:  # a seed already in the group: a copy, not a repeat
            if pattern or seeds[i] not in g.seeds:
                home = g
                break
        if home is None:
            home = Group("", [], [], [], "pattern" if pattern else "seed")
            candidates.append(home)
            groups.append(home)
        home.members.append(i)
        home.labels.append(label)
        home.seeds.append(seeds[i])
    out = []
    for g in groups:
        if g.how != "single" and g.n == 1:
            g.how, g.name = "single", g.labels[0]
        elif g.how == "pattern":
            g.name = next(k for k, gs in open_groups.items() if any(x is g for x in gs)) or pattern
        elif g.how == "seed":
            g.name = _common_name(g.labels)
        out.append(g)
    _dedupe_names(out)
    if pattern:
        for g in out:
            if g.n > 1:
                g.notes.extend(_differences_beyond_seed(g, runs))
    return out


def has_groups(groups) -> bool:
    return any(g.n > 1 for g in groups)


def _pattern_keys(labels, pattern: str) -> list:
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise GroupError(f"--group {pattern!r} is not a regular expression: {exc}") from None
    keys = []
    for label in labels:
        m = rx.search(label)
        if m is None:
            keys.append(None)
        elif rx.groups:
            keys.append("".join(g or "" for g in m.groups()))
        else:
            keys.append(label[: m.start()] + label[m.end() :])
    return keys


def _auto_keys(runs) -> list:
    """A run's settings except its seed, as a hashable key; None when it has no config
    or no seed (never grouped automatically)."""
    keys = []
    for run in runs:
        config = run.meta.config
        if not isinstance(config, dict) or not config or seed_of(run) is None:
            keys.append(None)
            continue
        flat, cut = flatten(config)
        if cut:
            keys.append(None)  # not read whole: cannot claim the rest is equal
            continue
        fact = facts(run.meta)
        key = tuple((name, comparable(fact[name])) for name in FACT_NAMES if not is_seed_key(name))
        key += tuple(sorted((k, comparable(v)) for k, v in flat.items() if not is_seed_key(k)))
        keys.append(key)
    return keys


def _common_name(labels) -> str:
    """`base-s0`, `base-s1` -> `base-s*`; the digits of the seed never stay in the name."""
    prefix = os.path.commonprefix(labels)
    suffix = os.path.commonprefix([lab[::-1] for lab in labels])[::-1]
    if len(prefix) + len(suffix) > min(len(lab) for lab in labels):
        suffix = ""
    prefix = prefix.rstrip("0123456789")
    suffix = suffix.lstrip("0123456789")
    if not prefix and not suffix:
        return f"{labels[0]} +{len(labels) - 1}"
    return f"{prefix}*{suffix}"


def _dedupe_names(groups) -> None:
    seen: dict = {}
    for g in groups:
        seen[g.name] = seen.get(g.name, 0) + 1
        if seen[g.name] > 1:
            g.name = f"{g.name}#{seen[g.name]}"


def _differences_beyond_seed(group, runs) -> list[str]:
    """A pattern group whose members differ in more than the seed: say in what."""
    members = [runs[i] for i in group.members]
    diff = config_diff(members, group.labels)
    keys = [r.key for r in diff.rows if not r.seed_only]
    if not keys:
        return []
    shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
    return [f"group {group.name}: its runs differ in more than the seed ({shown}); its spread is not seed noise alone"]
