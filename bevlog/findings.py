"""A Finding: one thing a rule noticed in a run, with its evidence and a fix.

Rules (`bevlog/rules/<id>.py`) return lists of these; `bevlog diagnose` prints them,
`bevlog report` draws them on the curves over [start_step, end_step] /
[start_epoch, end_epoch]. The shape is a contract: keep field names stable.

A fix is data first: `Fix.changes` are `Change`s (the config key, the value there now, the value
to write, the effective value it yields, why), and `Fix.text` is rendered from them and the
rule's advice (`bevlog.fixes.render_fix`) — never the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeGuard

SEVERITIES = ("info", "warning", "error")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
ROLES = ("cause", "consequence")


@dataclass(frozen=True, eq=False)
class Change(Mapping):
    """One config change a rule asks for.

    `param` is the concept the plan merges on (lr, warmup_iters, grad_clip, max_epochs, lr_steps …,
    the names `bevlog validate` maps onto bevdetr); `key` is where it lives in the run's config
    (`optim_wrapper.optimizer.lr`, `lr_config.warmup_iters`), None when the config does not say.
    `to` / `frm` are config values: what to write and what is there. `effective_to` /
    `effective_from` are what the optimizer sees when that differs from the config value
    (auto_scale_lr, the lr multiplier of the logged param group): `scale` says why. `factor` is a
    relative change (the new value = `factor` × the one there now) for a value the log does not
    state: then `to` and `frm` are None (an lr read from a logged param group that may be a
    backbone's is no value to write into the config).

    Read it as a mapping too ({"param", "key", "from", "to", …}; absent values are left out), the
    shape JSON consumers and `bevlog validate` read.
    """

    param: str
    to: Any
    frm: Any = None
    key: str | None = None
    effective_to: Any = None
    effective_from: Any = None
    scale: str | None = None  # why the effective value differs ("auto_scale_lr: base 32, batch 2, ×0.0625")
    reason: str = ""
    factor: float | None = None  # relative change: new = factor × current, when the log does not state it

    @property
    def value(self):
        """What the change writes, for comparing two proposals: `to`, or ('×', factor) when relative."""
        return ("×", self.factor) if self.factor is not None else self.to

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"param": self.param, "to": self.to}
        for name, value in (
            ("from", self.frm),
            ("key", self.key),
            ("effective_to", self.effective_to),
            ("effective_from", self.effective_from),
            ("scale", self.scale),
            ("reason", self.reason or None),
            ("factor", self.factor),
        ):
            if value is not None:
                out[name] = value
        return out

    def __getitem__(self, name: str) -> Any:
        return self.as_dict()[name]

    def __iter__(self):
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def __eq__(self, other) -> bool:
        if isinstance(other, Mapping):
            return self.as_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Alternative:
    """Changes that would do instead of the fix's change to `replaces` (a param: "lr"): one or
    the other, so never merged into the run's plan; `basis` says what they rest on, so that a
    reader can weigh them ("linear lr–batch scaling, an SGD result")."""

    replaces: str
    changes: list[Change]
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return {"replaces": self.replaces, "changes": [c.as_dict() for c in self.changes], "basis": self.basis}


@dataclass
class Fix:
    """What to change: `changes` for machines, `text` for people (rendered from the changes,
    `advice` — the part of the fix that is no config change: "check the data …" — and the
    `alternative`, changes that would do instead)."""

    text: str = ""
    changes: list[Change] = field(default_factory=list)
    advice: str = ""
    alternative: Alternative | None = None

    def __post_init__(self):
        # a change given in its mapping form ({"param", "from", "to", …}) is the same Change
        self.changes = [c if isinstance(c, Change) else change_of(c) for c in self.changes]


def change_of(mapping) -> Change:
    """A Change from its mapping view ({"param": "lr", "from": 1e-3, "to": 5e-4, "key": …})."""
    m = dict(mapping)
    return Change(
        m["param"],
        m.get("to"),
        m.get("from"),
        m.get("key"),
        m.get("effective_to"),
        m.get("effective_from"),
        m.get("scale"),
        m.get("reason") or "",
        m.get("factor"),
    )


@dataclass
class Finding:
    """One problem (or notable normal event) in one run.

    `start_step`/`end_step` are global steps (iterations; epochs in a log of one row per epoch),
    `start_epoch`/`end_epoch` fractional epochs (`epoch_f`); None for whole-run findings (e.g.
    lr-batch). `span` is that place in words on bevlog's axis, in the run's own units ("epochs
    6.2–9.8", "iter 1,200", "epoch 249" for a DETR log.txt); `at` is the same place in the log's own
    terms (`Epoch [6][1050/3750]`, `Iter [1200/90000]`, `Epoch: [7]  [ 9500/30953]`, `iter: 1999`).
    `message` is one sentence with the numbers; `headline` its short form for the verdict line;
    `evidence` holds the figures that triggered the rule. `stage` and `role` place it in the run's
    story (bevlog.verdict): `role` is "cause" or "consequence", and a consequence names its cause in
    `because`.
    """

    run: str
    rule: str
    severity: str  # 'info' | 'warning' | 'error'
    start_step: int | None
    end_step: int | None
    start_epoch: float | None
    end_epoch: float | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: Fix | None = None
    at: str | None = None
    headline: str | None = None
    span: str | None = None
    stage: str | None = None
    role: str | None = None
    because: str | None = None

    def __post_init__(self):
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    @property
    def rank(self) -> int:
        """0 info, 1 warning, 2 error: sort key for 'worst first'."""
        return SEVERITY_RANK[self.severity]

    @property
    def kind(self) -> str | None:
        """The evidence's kind ("nonfinite", "dead", "stopped" …) when the rule says one."""
        kind = self.evidence.get("kind") if isinstance(self.evidence, dict) else None
        return str(kind) if kind is not None else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN/inf -> None, numpy scalars -> Python numbers)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fix"}
        out["fix"] = (
            None
            if self.fix is None
            else {
                "text": self.fix.text,
                "advice": self.fix.advice,
                "changes": [c.as_dict() for c in self.fix.changes],
                "alternative": self.fix.alternative.to_dict() if self.fix.alternative else None,
            }
        )
        return json_safe(out)


def is_number(x: Any) -> TypeGuard[float]:
    """A real, finite number (not a bool): the one test every module uses before arithmetic."""
    if isinstance(x, bool) or x is None:
        return False
    try:
        return math.isfinite(x)
    except TypeError:
        return False


def json_safe(value: Any) -> Any:
    """Recursively turn NaN/inf into None and numpy/pandas scalars into plain Python."""
    if isinstance(value, Change):
        return json_safe(value.as_dict())
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "__dataclass_fields__"):
        return json_safe({f.name: getattr(value, f.name) for f in fields(value)})
    # numpy / pandas scalars without importing either
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return json_safe(item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
