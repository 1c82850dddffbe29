"""Facts stated by the non-record lines of a text log (or the env text of a json meta line).

mmcv:     `Environment info:` block (`GPU 0,1,2,3: NVIDIA …`), `Distributed training: True`,
          `Config:` block, `workflow: [('train', 1)], max: 24 epochs`, `Exp name: …`,
          `resumed epoch 7, iter 49231` / `resumed from epoch: 7, iter 49231`,
          `Saving checkpoint at 1758 iterations`.
mmengine: `System environment:` / `Runtime environment:` blocks (`GPU number: 8`,
          `Distributed training: True`), `Config:` block, `resumed epoch: 7, iter: 4923`.

The environment and Config blocks are recognised by their content, not by the label of
the line before them (teams log `配置:` for `Config:`, `环境信息:` for `Environment info:`):
an environment block lists `sys.platform: …`; a config dump is Python assignments at the
left margin (`optimizer = dict(type='AdamW', …)`).
"""

from __future__ import annotations

import re

import numpy as np

from parsers.patterns import prefix
from parsers.segment import Checkpoint, Resume

MAX_BLOCK_LINES = 20000  # a Config dump or model repr is a few thousand lines
BLOCK_KIND_LINES = 200  # lines of a block looked at to tell what it is

GPU_LIST = re.compile(r"^\s*GPU ([0-9][0-9,]*): ")
DISTRIBUTED = re.compile(r"Distributed training: (True|False)")
GPU_NUMBER = re.compile(r"GPU number: ([0-9]+)")
WORKFLOW_MAX = re.compile(r"workflow: .*max: ([0-9]+) (epochs|iters)")
RESUMED = re.compile(r"resumed (?:from )?epoch:? ([0-9]+), iter:? ([0-9]+)")
CHECKPOINT_ITERS = re.compile(r"Saving checkpoint at ([0-9]+) (iterations|epochs)")
EXP_NAME = re.compile(r"Exp name: (.*)$")
SEED = re.compile(r"(?:Set random seed to|seed:) (-?[0-9]+)")


def read_env(text_lines, draft) -> None:
    """An environment block's facts into `draft` (a `parsers.segment.Draft`): GPUs listed
    (added up over the block's `GPU i,j: name` lines), GPU number, distributed, the first seed."""
    for line in text_lines:
        m = GPU_LIST.match(line)
        if m:
            draft.env_gpus = (draft.env_gpus or 0) + len([g for g in m.group(1).split(",") if g])
        m = GPU_NUMBER.search(line)
        if m:
            draft.gpu_number = int(m.group(1))
        m = DISTRIBUTED.search(line)
        if m:
            draft.distributed = m.group(1) == "True"
        m = SEED.search(line)
        if m and draft.seed is None:
            draft.seed = int(m.group(1))


_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]* = \S")
_ENV_LINE = re.compile(r"^\s*sys\.platform: ")


def block_kind(lines) -> str | None:
    """'env', 'config' or None for the lines that follow a logged message (its first
    lines are enough)."""
    if any(_ENV_LINE.match(line) for line in lines[:20]):
        return "env"
    first = next((line for line in lines if line.strip()), "")
    if _ASSIGNMENT.match(first):
        assignments = sum(1 for line in lines if _ASSIGNMENT.match(line))
        if assignments >= 2 or "dict(" in first:
            return "config"
    return None


def read_messages(draft, msgs, blocks: dict) -> None:
    """The facts of a launch's messages into `draft`. msgs: [(line_index, date, message)] in
    file order; blocks: line_index -> (kind, lines) of the messages followed by an
    environment block or a config dump. Lists grow in file order; `Exp name`, the seed and
    the config dump keep their first statement; anything else its last one."""
    for i, date, msg in msgs:
        if i in blocks:
            kind, block = blocks[i]
            if kind == "config":
                draft.config_lines.append(i + 1)  # 1-based: each dump is a launch
                if draft.config_text is None:
                    draft.config_text = "\n".join(block)
            else:
                draft.env_lines.append(i + 1)  # each environment block starts a launch
                read_env(block, draft)
            continue
        _read_message(draft, i, date, msg)


def _read_message(draft, i: int, date, msg: str) -> None:
    m = DISTRIBUTED.search(msg)
    if m:
        draft.distributed = m.group(1) == "True"
        return
    m = WORKFLOW_MAX.search(msg)
    if m:
        if m.group(2) == "epochs":
            draft.max_epochs = int(m.group(1))
        else:
            draft.max_iters = int(m.group(1))
        return
    m = RESUMED.search(msg)
    if m:
        draft.resumes.append(Resume(line=i + 1, date=date, epoch=int(m.group(1)), iter=int(m.group(2))))
        return
    m = CHECKPOINT_ITERS.search(msg)
    if m:
        draft.checkpoints.append(Checkpoint(line=i + 1, count=int(m.group(1)), unit=m.group(2)))
        return
    m = EXP_NAME.search(msg)
    if m:
        if draft.exp_name is None:
            draft.exp_name = m.group(1).strip()
        return
    m = SEED.search(msg)
    if m and draft.seed is None:
        draft.seed = int(m.group(1))


def read_header(draft, f, prefixed, others, other_lines, dialect: str, year: int | None = None) -> None:
    """Facts from the logger lines of TextFile `f` that are not records (`others`: their
    indices, `other_lines`: their Arrow texts), from the blocks of text that follow some of
    them (recognised by their content), and the launch's first logger line's date."""
    prefixed_idx = np.flatnonzero(prefixed)
    prefix_re = re.compile(prefix(dialect))
    msgs = []
    for i, text in zip(others, other_lines.to_pylist()):
        m = prefix_re.match(text)
        msgs.append((int(i), m.group("date") if m else None, text[m.end() :] if m else text))
    blocks = {}
    nxt = np.searchsorted(prefixed_idx, others, side="right")
    for (i, _, _), n in zip(msgs, nxt):
        end = int(prefixed_idx[n]) if n < len(prefixed_idx) else f.nlines
        if end > i + 1:
            kind = block_kind(f.texts(range(i + 1, min(end, i + 1 + BLOCK_KIND_LINES))))
            if kind:
                blocks[i] = (kind, f.texts(range(i + 1, min(end, i + 1 + MAX_BLOCK_LINES))))
    read_messages(draft, msgs, blocks)
    m = prefix_re.match(f.text(int(prefixed_idx[0]))) if len(prefixed_idx) else None
    if m:
        date = m.group("date")
        # with the year found (parsers.formats.text.clock), in mmengine's file-log form
        draft.start_date = f"{year}/{date}" if year and dialect == "mmengine-console" else date
        ms = m.groupdict().get("ms")
        draft.start_ms = int(ms) if ms else 0
