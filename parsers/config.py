"""A `Config:` dump (Python source of `name = value` statements) -> dict, with `ast`.

Nothing from a log is executed: literals (numbers, strings, lists, tuples, dicts,
`dict(a=1)` calls, `-1`, `True`, `None`) become Python values; anything else
(`range(0, 4)`, `2 * 12`, a name) keeps its source text as a string, and so does a
number no recipe states (an int beyond parsers.bounds.MAX_COUNT, `1e999`): later code sizes and converts
these values, so a hostile dump must not hand it `1<400 zeros>` or infinity. A dump that does
not parse as a whole (cut short, odd lines) is read statement by statement, keeping
every top-level assignment that parses.
"""

from __future__ import annotations

import ast
import copy
import functools
import math
import re

from parsers.bounds import MAX_COUNT

_MAX_TEXT = 2_000_000  # a config dump is tens of KB; refuse to feed megabytes to ast


def read_config(text: str | None) -> dict | None:
    if not text or not text.strip() or len(text) > _MAX_TEXT:
        return None
    config = _read_cached(text)
    return copy.deepcopy(config) if config is not None else None


@functools.lru_cache(maxsize=8)
def _read_cached(text: str) -> dict | None:
    """A run's dump is read by several steps of its assembly (its plan, its identity, its
    launches' endings); each caller gets its own copy, and `ast.parse` runs once."""
    try:
        tree = ast.parse(text)
        return _assignments(tree.body, _Source(text)) or None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    out: dict = {}
    for chunk in _top_level_chunks(text):
        try:
            tree = ast.parse(chunk)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        out.update(_assignments(tree.body, _Source(chunk)))
    return out or None


def _top_level_chunks(text: str):
    """Split source into statements: a new one starts at an unindented `name =` line."""
    chunk: list[str] = []
    for line in text.splitlines():
        if chunk and line[:1].isalpha() and "=" in line:
            yield "\n".join(chunk)
            chunk = []
        chunk.append(line)
    if chunk:
        yield "\n".join(chunk)


def _assignments(body, source: _Source) -> dict:
    out: dict = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = _value(node.value, source)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            out[node.target.id] = _value(node.value, source)
    return out


def literal(node, source: str):
    """The value of a literal expression node, or its source text when not a literal."""
    return _value(node, _Source(source))


def _value(node, source: _Source):
    try:
        return _literal(node, source, 0)
    except RecursionError:
        return _source(node, source)


def _literal(node, source: _Source, depth: int):
    if depth > 200:
        return _source(node, source)
    d = depth + 1
    if isinstance(node, ast.Constant):
        return node.value if _sane(node.value) else _source(node, source)
    if isinstance(node, ast.List):
        return [_literal(e, source, d) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e, source, d) for e in node.elts)
    if isinstance(node, ast.Set):
        return [_literal(e, source, d) for e in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):  # {**other}
            return _source(node, source)
        keys = [_literal(k, source, d) for k in node.keys]
        try:
            return {k: _literal(v, source, d) for k, v in zip(keys, node.values)}
        except TypeError:  # unhashable key
            return _source(node, source)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
        and all(k.arg is not None for k in node.keywords)
    ):
        return {k.arg: _literal(k.value, source, d) for k in node.keywords}
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
    ):
        v = node.operand.value
        if isinstance(v, (int, float)) and not isinstance(v, bool) and _sane(v):
            return -v if isinstance(node.op, ast.USub) else v
    return _source(node, source)


def _sane(value) -> bool:
    """A number a config can mean: finite, and an int within ±MAX_COUNT."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    if isinstance(value, int):
        return -MAX_COUNT <= value <= MAX_COUNT
    return math.isfinite(value)


def _source(node, source: _Source) -> str:
    text = source.segment(node)
    return text if text is not None else ast.dump(node)


# A line as the Python parser splits source: ended by \r\n, \r or \n (not by \f or \v).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class _Source:
    """Source text split into lines once, to cut out what a node spans, the way
    `ast.get_source_segment` does: that splits the whole text again, character by
    character, on every call, which made a dump of many non-literal values quadratic."""

    def __init__(self, text: str):
        self.text = text
        self._lines: list[str] | None = None

    def segment(self, node) -> str | None:
        end_lineno, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if end_lineno is None or end_col is None:
            return None
        if self._lines is None:
            self._lines = _LINE.findall(self.text)
        lines, first, last = self._lines, node.lineno - 1, end_lineno - 1
        if first == last:  # column offsets count UTF-8 bytes
            return lines[first].encode()[node.col_offset : end_col].decode()
        head = lines[first].encode()[node.col_offset :].decode()
        tail = lines[last].encode()[:end_col].decode()
        return "".join([head, *lines[first + 1 : last], tail])
