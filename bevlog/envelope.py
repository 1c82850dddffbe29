"""The one JSON convention of `parse`, `diagnose`, `compare` and `runs` (`--format json`).

Every document is one object:

    {"schema": "bevlog.<command>/<version>", …the command's body…,
     "problems": [{"path", "line", "reason", "message"}, …], "notes": ["…", …]}

- `schema` names the command and the version of the document's shape; its JSON Schema is
  `docs/schema/<command>.json`. The version changes when a field changes meaning or goes
  away, never for a new field.
- `problems`: one object per input that could not be read (the exit code is then 2);
  `message` is the line printed on stderr, `line` null when no line is to blame.
- `notes`: the lines printed on stderr as `note: …` (files skipped, resumes that replaced
  rows, an axis chosen for you), so that a program misses nothing a person would see.

Numbers that are NaN or infinite are null (JSON has neither). Text from a log is exact:
control characters are \\u-escaped on the way out (bevlog.escape), never dropped.
"""

from __future__ import annotations

import json

from bevlog.findings import json_safe
from bevlog.output import open_output

VERSION = 1


def schema_id(command: str) -> str:
    return f"bevlog.{command}/{VERSION}"


def problem(p) -> dict:
    """A ParseError (or any one-line problem) as a JSON object."""
    return {
        "path": getattr(p, "path", None),
        "line": getattr(p, "line", None),
        "reason": getattr(p, "reason", str(p)),
        "message": str(p),
    }


def envelope(command: str, body: dict, problems=(), notes=()) -> dict:
    return {
        "schema": schema_id(command),
        **body,
        "problems": [problem(p) for p in problems],
        "notes": [str(n) for n in notes],
    }


def dumps(doc) -> str:
    return json.dumps(json_safe(doc), indent=1, ensure_ascii=False, allow_nan=False)


def write(doc: dict, out=None, rows=None) -> None:
    """`doc` as JSON on stdout (or `out`). `rows`: JSON texts, one per element, written as
    the array `"rows"` at the end of the object, one element per line (a big frame is
    streamed, not held twice)."""
    with open_output(out, "json") as f:
        if rows is None:
            f.write(dumps(doc) + "\n")
            return
        head = dumps({**doc, "rows": []})
        f.write(head[: head.rindex("[]")] + "[")
        for k, row in enumerate(rows):
            f.write(("\n" if k == 0 else ",\n") + row)
        f.write("\n ]\n}\n")
