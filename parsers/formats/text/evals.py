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
    # the metric fields of every record at once (row-major: one record's fields together, in
    # key order); a record's string fields (`bbox_mAP_copypaste`) follow its numbers
    metric = np.array([k not in NOT_METRICS for k in p.keys], bool)
    rows, cols = np.nonzero(p.present & metric)
    names = np.asarray(p.keys, dtype=object)[cols] if len(p.keys) else np.zeros(0, object)
    values = p.values[rows, cols]
    bounds = np.searchsorted(rows, np.arange(len(ev) + 1))
    epochs = np.where(np.asarray(kinds, dtype=object) == "Epoch", x, np.nan)
    out = (draft.eval_epoch, draft.eval_after_row, draft.eval_step, draft.eval_metric, draft.eval_value)
    progress = results = empty = 0
    for j in range(len(ev)):
        if not np.isnan(p.eta_s[j]):
            progress += 1
            continue
        a, b = int(bounds[j]), int(bounds[j + 1])
        if a == b and j not in texts:
            empty += 1
            if modes[j] != "test":
                line = int(rec_idx[ev][j])
                error = _error_before(line, errors, train_line_idx, rec_idx)
                draft.empty_evals.append(EmptyEval(line + 1, float(epochs[j]), int(after[j]), error))
            continue
        results += 1
        row_names, row_values = names[a:b].tolist(), values[a:b].tolist()
        if modes[j] == "test":
            draft.test_metrics.update(zip(row_names, row_values))
            continue
        strings = string_fields(texts[j]) if j in texts else {}
        strings = {k: v for k, v in strings.items() if k not in row_names}
        n = len(row_names) + len(strings)
        out[0].extend([float(epochs[j])] * n)
        out[1].extend([int(after[j])] * n)
        out[2].extend([np.nan] * n)
        out[3].extend(row_names + list(strings))
        out[4].extend(row_values + list(strings.values()))
    draft.val_lines = draft.val_lines + ValLines(progress, results, empty)


def string_fields(body: str) -> dict:
    """The fields of one body whose values are not numbers, as strings."""
    parts = _FIELD.split(body)
    out = {}
    for k, v in zip(parts[1::2], parts[2::2]):
        if not re.match(NUMBER, v.strip()):
            out[k] = v.strip()
    return out


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
