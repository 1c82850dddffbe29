"""Statistics of groups of seeded runs: mean ± sample sd, and the difference between two
groups with a 95% confidence interval.

A difference is *paired* when the two groups share seeds (arm B at seed s minus arm A at
seed s, then a one-sample t interval over the pairs): seed-to-seed variation that both
arms share cancels. Without two shared seeds it is *unpaired* (Welch's t interval); when
one side is a single run its spread is unknown and the other group's sd stands in for it
(said in `how`). The t quantile is computed here (regularised incomplete beta), so the
core install needs no scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVEL = 0.95


@dataclass
class Summary:
    """mean ± sd over n values (sd: the sample sd, None when n < 2)."""

    mean: float | None
    sd: float | None
    n: int


@dataclass
class Difference:
    """B − A: its mean and 95% CI; `paired` tells how it was taken, `how` says it in words."""

    mean: float
    lo: float | None
    hi: float | None
    n: int  # pairs when paired, else n_a + n_b
    paired: bool
    how: str

    @property
    def excludes_zero(self) -> bool:
        return self.lo is not None and self.hi is not None and (self.lo > 0 or self.hi < 0)

    def to_dict(self) -> dict:
        return {"mean": self.mean, "ci95": [self.lo, self.hi], "n": self.n, "paired": self.paired, "how": self.how}


def summarize(values) -> Summary:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(vals)
    if not n:
        return Summary(None, None, 0)
    mean = math.fsum(vals) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
    return Summary(mean, sd, n)


def difference(a: dict, b: dict) -> Difference | None:
    """B − A from {seed or member key: value} of each group; keys that are seeds in both
    groups pair the values. None when either side has no finite value."""
    a = {k: float(v) for k, v in a.items() if v is not None and math.isfinite(float(v))}
    b = {k: float(v) for k, v in b.items() if v is not None and math.isfinite(float(v))}
    if not a or not b:
        return None
    shared = [k for k in a if k in b and _is_seed(k)]
    if len(shared) >= 2:
        d = summarize([b[k] - a[k] for k in shared])
        half = t_quantile(0.5 + LEVEL / 2, d.n - 1) * d.sd / math.sqrt(d.n) if d.sd is not None else None
        left_out = (len(a) - len(shared)) + (len(b) - len(shared))
        how = f"paired by seed over {d.n} seeds"
        if left_out:
            how += f" ({left_out} run(s) without a partner left out)"
        return Difference(d.mean, _lo(d.mean, half), _hi(d.mean, half), d.n, True, how)
    sa, sb = summarize(a.values()), summarize(b.values())
    mean = sb.mean - sa.mean
    why = "the groups share no seed" if not shared else "they share only one seed"
    if sa.n < 2 and sb.n < 2:
        return Difference(mean, None, None, sa.n + sb.n, False, "unpaired, one run each: no interval")
    if sa.n < 2 or sb.n < 2:
        big = sa if sa.n >= 2 else sb
        half = t_quantile(0.5 + LEVEL / 2, big.n - 1) * big.sd * math.sqrt(1 / sa.n + 1 / sb.n)
        return Difference(
            mean,
            mean - half,
            mean + half,
            sa.n + sb.n,
            False,
            f"unpaired ({why}); the single run's spread taken as the group's",
        )
    va, vb = sa.sd**2 / sa.n, sb.sd**2 / sb.n
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(mean, mean, mean, sa.n + sb.n, False, f"unpaired ({why}), Welch; no spread")
    df = (va + vb) ** 2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))
    half = t_quantile(0.5 + LEVEL / 2, df) * se
    return Difference(mean, mean - half, mean + half, sa.n + sb.n, False, f"unpaired ({why}), Welch")


def _is_seed(key) -> bool:
    return not (isinstance(key, str) and key.startswith("#"))  # '#k': a member without a known seed


def _lo(mean, half):
    return None if half is None else mean - half


def _hi(mean, half):
    return None if half is None else mean + half


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with `df` degrees of freedom (df > 0, not necessarily whole)."""
    x = df / (df + t * t)
    tail = 0.5 * betainc(df / 2, 0.5, x)
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t value below which a fraction p lies (0 < p < 1), by bisection on t_cdf."""
    if not 0 < p < 1 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0 (p={p}, df={df})")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) (continued fraction, Numerical Recipes §6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), evaluated by the modified Lentz method."""
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, _nonzero(1 - qab * x / qap)
    d = 1 / d
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 / _nonzero(1 + aa * d)
            c = _nonzero(1 + aa / c)
            h *= d * c
        if abs(d * c - 1) < 3e-16:
            break
    return h


def _nonzero(v: float, tiny: float = 1e-300) -> float:
    return v if abs(v) > tiny else tiny
