"""The `Namespace(...)` line of an argparse script (DETR's `main.py` prints its args) -> dict.

Read with `ast`, never executed: literal values become Python values, anything else
(`device(type='cuda')`, `PosixPath('x')`) keeps its source text, exactly as a config dump is
read (parsers.config.literal, with the same bounds on numbers).
"""

from __future__ import annotations

import ast
import re

from parsers.config import literal

MAX_TEXT = 200_000  # an args dump is a few KB; refuse to feed megabytes to ast
START = re.compile(r"Namespace\(")


def read_namespace(line: str) -> dict | None:
    """The keyword arguments of the first `Namespace(...)` in `line`, None when there is
    none or it does not parse (cut short, not a call of keywords)."""
    m = START.search(line)
    if m is None:
        return None
    text = line[m.start() :].strip()
    if len(text) > MAX_TEXT:
        return None
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Namespace"
        and not node.args
        and all(k.arg is not None for k in node.keywords)
    ):
        return None
    return {k.arg: literal(k.value, text) for k in node.keywords}
