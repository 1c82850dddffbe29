"""Text from a log, made harmless for each output format: the one place that knows how.

A log is written by someone else's program: a run directory name, a loss key, an
exception line or a metric name can carry control characters (`ESC[2J` clears the
screen, an OSC sequence sets the window title, U+009B is a one-character CSI for
terminals that honour 8-bit controls, a bare CR rewrites the line) or markup (`<img
onerror=…>` in a markdown table that GitHub renders). Every byte bevlog prints or writes
passes through `ESCAPE[fmt]` on its way out (`bevlog.output.open_output`), so no
printer can forget; printers also apply `clean` to log text before they add their own
colours, which is what lets the text pass tell our colour codes from a log's.

- text: control characters made visible (`ESC` -> `^[`, others `\\xNN`), except TAB,
  LF and our own colour codes (SGR, `ESC[…m`: a log's were made visible earlier).
- csv: the same, without exceptions for colour (a CSV has none): lossy, but a CSV is
  read in terminals and spreadsheets; parquet keeps a log's exact text.
- json: control characters \\u-escaped. `json.dumps` escapes C0 already but leaves DEL
  and C1 raw; a `\\u009b` is the same string to every JSON reader, so nothing is lost.
- markdown: visible, and `&`, `<`, `>` as entities (renderers pass raw HTML through);
  `markdown_cell` also escapes the table's `|` and joins lines.
- html: the report escapes its own text with `html_text`; the final pass \\u-escapes
  what a log could put into its JSON data block (see bevlog/report/html.py).
"""

from __future__ import annotations

import re

# C0 controls except TAB and LF, DEL, and the C1 controls (U+0080-U+009F)
_CONTROL_KEEP_LF = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# our colour codes (rich's SGR sequences), or any other control character
_SGR_OR_CONTROL = re.compile(r"\x1b\[[0-9;]*m|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# what JSON leaves unescaped: DEL and C1 (C0 is always escaped inside JSON strings)
_JSON_RAW = re.compile(r"[\x7f-\x9f]")


def _visible(m: re.Match) -> str:
    c = m.group(0)
    return "^[" if c == "\x1b" else f"\\x{ord(c):02x}"


def clean(text, newlines: bool = False) -> str:
    """`text` with control characters replaced by a visible escape (`ESC` -> `^[`, others
    `\\xNN`). TAB is kept; LF is kept only with `newlines=True` (a multi-line block)."""
    return (_CONTROL_KEEP_LF if newlines else _CONTROL).sub(_visible, str(text))


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def _html_escape(text: str, quote: bool) -> str:
    """html.escape without importing html (bevlog --help stays light)."""
    return text.translate(_HTML) if quote else text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_text(text) -> str:
    """Log text for markdown prose: visible controls, HTML as literal text."""
    return _html_escape(clean(text, newlines=True), quote=False)


def markdown_cell(text) -> str:
    """Log text for one markdown table cell: one line, `|` escaped, HTML as literal text."""
    return markdown_text(str(text).replace("\n", " ")).replace("|", "\\|")


def html_text(text) -> str:
    """Log text for HTML text or an attribute value: visible controls (LF is whitespace
    there, kept), escaped markup."""
    return _html_escape(clean(text, newlines=True), quote=True)


def _text_pass(s: str) -> str:
    return _SGR_OR_CONTROL.sub(lambda m: m.group(0) if len(m.group(0)) > 1 else _visible(m), s)


def _csv_pass(s: str) -> str:
    return _CONTROL_KEEP_LF.sub(_visible, s)


def json_pass(s: str) -> str:
    """A JSON document (or part) with DEL and C1 \\u-escaped; they only occur in strings."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group(0)):04x}", s)


def _markdown_pass(s: str) -> str:
    return _CONTROL_KEEP_LF.sub(_visible, s)


# the final pass of every output format, applied to everything written (bevlog.output)
ESCAPE = {
    "text": _text_pass,
    "table": _text_pass,
    "csv": _csv_pass,
    "json": json_pass,
    "markdown": _markdown_pass,
    "html": json_pass,  # the page's text is escaped by html_text; this covers its data block
}
