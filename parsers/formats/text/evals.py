"""Evaluation records of a text launch (`Epoch(val) [e][n]`, `Iter(val) [n]`,
`Epoch(test) [n/n]`): their metrics, long, into the draft.

Every val/test line is accounted for (`ValLines`): an mmengine evaluation's progress line
(`eta: …`), a result, or a result line without metrics (`Epoch(val) [6][3750]` after a
failed evaluation). NaN metrics are real results (`nan` in the log) and are kept; fields
that are not numbers (`bbox_mAP_copypaste: 0.374 0.581 …`) are kept as strings.
"""

from __future__ import annotations

import re

import numpy as np

from parsers.formats.text.clock import floats
from parsers.formats.text.kv import NON_NUMERIC, NUMBER, parse_bodies
from parsers.formats.text.train import arrow_indices, rtrim
from parsers.segment import EmptyEval, ValLines

NOT_METRICS = ("time", "data_time", "memory", "lr")
_FIELD = re.compile(r"(?:,? +|^)([^ :,\x1f]+): ")


def fill_evals(draft, rec, ev, rec_idx, train_line_idx, errors=None) -> None:
    """The evaluation records `ev` of the extracted records `rec` (lines `rec_idx`); each
    placed after the last train row logged before it (`train_line_idx`: each row's line). An
    evaluation that produced no metric is kept as one (`EmptyEval`) with the ERROR logged just
    before it (`errors`: their lines and messages), after the record before it."""
    if len(ev) == 0:
        return
    body = rec.field("body")
    take = arrow_indices(ev)
    r = rec.take(take)
    modes = r.field("mode").to_pylist()
    kinds = r.field("kind").to_pylist()
    x = floats(r.field("x"))
    p = parse_bodies(rtrim(body.take(take)))
    after = np.searchsorted(train_line_idx, rec_idx[ev]) - 1
    for reason, count in p.skipped.items():
        draft.skip(reason, count, rec_idx[ev][p.bad_rows.get(reason, [])] + 1)
    str_rows: set[int] = set()
    for reason, rows in p.bad_rows.items():
        if reason.startswith(NON_NUMERIC):
            str_rows.update(int(x) for x in rows)
    texts = {j: body[int(ev[j])].as_py() for j in sorted(str_rows)}
    progress = results = empty = 0
    for j in range(len(ev)):
        if not np.isnan(p.eta_s[j]):
            progress += 1
            continue
        row = {k: v for k, v in _line_fields(p, j).items() if k not in NOT_METRICS}
        if row or j in texts:
            results += 1
        else:
            empty += 1
            if modes[j] != "test":
                line = int(rec_idx[ev][j])
                epoch = float(x[j]) if kinds[j] == "Epoch" else np.nan
                error = _error_before(line, errors, train_line_idx, rec_idx)
                draft.empty_evals.append(EmptyEval(line + 1, epoch, int(after[j]), error))
            continue
        if modes[j] == "test":
            draft.test_metrics.update({k: (v if isinstance(v, str) else float(v)) for k, v in row.items()})
            continue
        if j in texts:
            for k, v in string_fields(texts[j]).items():
                row.setdefault(k, v)
        _append(draft, x[j] if kinds[j] == "Epoch" else np.nan, int(after[j]), row)
    draft.val_lines = draft.val_lines + ValLines(progress, results, empty)


def _append(draft, epoch: float, after: int, row: dict) -> None:
    for k, v in row.items():
        draft.eval_epoch.append(epoch)
        draft.eval_after_row.append(after)
        draft.eval_step.append(np.nan)
        draft.eval_metric.append(k)
        draft.eval_value.append(v if isinstance(v, str) else float(v))


def string_fields(body: str) -> dict:
    """The fields of one body whose values are not numbers, as strings."""
    parts = _FIELD.split(body)
    out = {}
    for k, v in zip(parts[1::2], parts[2::2]):
        if not re.match(NUMBER, v.strip()):
            out[k] = v.strip()
    return out


def _line_fields(p, j) -> dict:
    return {p.keys[c]: p.values[j, c] for c in np.flatnonzero(p.present[j])}


def _error_before(line: int, errors, train_line_idx, rec_idx) -> str | None:
    """The last ERROR message between the record before `line` and `line` (None: none)."""
    if errors is None or not len(errors[0]):
        return None
    lines, texts = errors
    before = max(_last_below(train_line_idx, line), _last_below(rec_idx, line))
    k = int(np.searchsorted(lines, line)) - 1
    return texts[k] if k >= 0 and lines[k] > before else None


def _last_below(sorted_lines, line: int) -> int:
    k = int(np.searchsorted(sorted_lines, line)) - 1
    return int(sorted_lines[k]) if k >= 0 else -1
