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

GPU_LIST = re.compile(r"^\s*GPU ([0-9][0-9,]*): ")
DISTRIBUTED = re.compile(r"Distributed training: (True|False)")
GPU_NUMBER = re.compile(r"GPU number: ([0-9]+)")
WORKFLOW_MAX = re.compile(r"workflow: .*max: ([0-9]+) (epochs|iters)")
RESUMED = re.compile(r"resumed (?:from )?epoch:? ([0-9]+), iter:? ([0-9]+)")
CHECKPOINT_ITERS = re.compile(r"Saving checkpoint at ([0-9]+) (iterations|epochs)")
EXP_NAME = re.compile(r"Exp name: (.*)$")
SEED = re.compile(r"(?:Set random seed to|seed:) (-?[0-9]+)")


def read_env(text_lines, out: dict) -> None:
    for line in text_lines:
        m = GPU_LIST.match(line)
        if m:
            out["env_gpus"] = out.get("env_gpus", 0) + len([g for g in m.group(1).split(",") if g])
        m = GPU_NUMBER.search(line)
        if m:
            out["gpu_number"] = int(m.group(1))
        m = DISTRIBUTED.search(line)
        if m:
            out["distributed"] = m.group(1) == "True"
        m = SEED.search(line)
        if m:
            out.setdefault("seed", int(m.group(1)))


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


def read_messages(msgs, blocks: dict, dialect: str) -> dict:
    """msgs: [(line_index, date, message)] in file order; blocks: line_index -> (kind,
    lines) of the messages followed by an environment block or a config dump."""
    out: dict = {"resumes": [], "checkpoints": [], "config_lines": [], "env_lines": []}
    for i, date, msg in msgs:
        if i in blocks:
            kind, block = blocks[i]
            if kind == "config":
                out["config_lines"].append(i + 1)  # 1-based: each dump is a launch
                out.setdefault("config_text", "\n".join(block))
            else:
                out["env_lines"].append(i + 1)  # each environment block starts a launch
                read_env(block, out)
            continue
        m = DISTRIBUTED.search(msg)
        if m:
            out["distributed"] = m.group(1) == "True"
            continue
        m = WORKFLOW_MAX.search(msg)
        if m:
            out["max_epochs" if m.group(2) == "epochs" else "max_iters"] = int(m.group(1))
            continue
        m = RESUMED.search(msg)
        if m:
            out["resumes"].append({"line": i + 1, "date": date, "epoch": int(m.group(1)), "iter": int(m.group(2))})
            continue
        m = CHECKPOINT_ITERS.search(msg)
        if m:
            out["checkpoints"].append((i, int(m.group(1)), m.group(2)))
            continue
        m = EXP_NAME.search(msg)
        if m:
            out.setdefault("exp_name", m.group(1).strip())
            continue
        m = SEED.search(msg)
        if m:
            out.setdefault("seed", int(m.group(1)))
    return out
