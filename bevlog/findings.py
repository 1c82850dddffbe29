"""A Finding: one thing a rule noticed in a run, with its evidence and a fix.

Rules (`bevlog/rules/<id>.py`) return lists of these; `bevlog diagnose` prints them,
`bevlog report` draws them on the curves over [start_step, end_step] /
[start_epoch, end_epoch]. The shape is a contract: keep field names stable.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "error")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass
class Fix:
    """What to change: a sentence for people and `changes` for machines.

    `changes` items look like {"param": "lr", "from": 0.001, "to": 0.0002},
    {"param": "aux_loss", "to": True} or {"param": "warmup_iters", "to": 1000};
    "from" is present only when the run says what the value was.
    """

    text: str
    changes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Finding:
    """One problem (or notable normal event) in one run.

    `start_step`/`end_step` are global iterations, `start_epoch`/`end_epoch` fractional
    epochs (`epoch_f`); None for whole-run findings (e.g. lr-batch). `message` is one
    sentence with the numbers; `evidence` holds the figures that triggered the rule.
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

    def __post_init__(self):
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    @property
    def rank(self) -> int:
        """0 info, 1 warning, 2 error: sort key for 'worst first'."""
        return SEVERITY_RANK[self.severity]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN/inf -> None, numpy scalars -> Python numbers)."""
        return json_safe(asdict(self))


def json_safe(value: Any) -> Any:
    """Recursively turn NaN/inf into None and numpy/pandas scalars into plain Python."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
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
