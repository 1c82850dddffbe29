"""How bevlog writes numbers in sentences: short, with their sign, lrs at two significant digits."""

from __future__ import annotations

from bevlog.findings import is_number


def fmt(x, digits: int = 3) -> str:
    """Short human number: 3.91, 0.0123, 1.0e-03."""
    if not is_number(x):
        return str(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.1e}"
    return f"{x:.{digits}g}"


def pct(x) -> str:
    """+9.4%, −12.0%, or ×21 for changes beyond +100%."""
    if not is_number(x):
        return "?"
    return f"×{1 + x:.3g}" if x > 1 else f"{x * 100:+.1f}%"


def nice_lr(x):
    """Round a suggested lr to two significant digits (2.0e-04, not 1.9999e-04)."""
    if not x or not is_number(x):
        return x
    return float(f"{x:.2g}")


def plain(value) -> str:
    """A config value as it is written in a config: 0.0025, 1000, [3, 4], True."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    if isinstance(value, float):
        return fmt(value) if (abs(value) < 1e-3 or abs(value) >= 1e5) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(plain(v) for v in value) + "]"
    return str(value)
