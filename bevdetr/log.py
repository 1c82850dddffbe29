"""Training logs exactly as mmcv 1.x writes them (logging.Logger + TextLoggerHook + JsonLogger part).

Text `<work_dir>/<YYYYmmdd_HHMMSS>.log`, every record prefixed
`2024-04-07 18:21:18,692 - mmdet - INFO - `; train lines
`Epoch [e][i/n]\tlr: 1.000e-03, eta: 1 day, 2:03:04, time: 0.123, data_time: 0.004, [memory: 123, ]k: v.vvvv, ...`;
val lines `Epoch(val) [e][n]\tk: v, ...`. JSON `<ts>.log.json`: first line the run meta,
then one dict per logged line with floats rounded to 5 decimals.

Values are interval means kept by `LogBuffer` (mmcv.runner.LogBuffer): the mean of the
last `interval` entries of the epoch, weighted by batch size.

`environment_info` imports torch and scipy when it is called: the logger itself needs neither.
"""

from __future__ import annotations

import datetime
import getpass
import json
import os
import platform
import socket
import sys
import time
from collections import OrderedDict

import numpy

from bevdetr import __version__

DASH_LINE = "-" * 60 + "\n"
SKIPPED_KEYS = ("mode", "Epoch", "iter", "lr", "time", "data_time", "memory", "epoch")


def record_prefix(t: float, logger_name: str = "mmdet") -> str:
    """Python logging's `%(asctime)s - %(name)s - %(levelname)s - ` with asctime's `,mmm`."""
    ms = int((t - int(t)) * 1000)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t))},{ms:03d} - {logger_name} - INFO - "


class TextLog:
    """The `.log` file of one run. Records are flushed at once so a killed run keeps its lines."""

    def __init__(self, path: str | None, logger_name: str = "mmdet"):
        self.path = path
        self.logger_name = logger_name
        self._file = open(path, "a", encoding="utf-8") if path else None

    def info(self, message: str) -> None:
        if self._file is None:
            return
        self._file.write(record_prefix(time.time(), self.logger_name) + message + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class LogBuffer:
    """mmcv.runner.LogBuffer: histories per key; average(n) = weighted mean of the last n."""

    def __init__(self):
        self.val_history: OrderedDict[str, list] = OrderedDict()
        self.n_history: OrderedDict[str, list] = OrderedDict()
        self.output: OrderedDict[str, object] = OrderedDict()
        self.ready = False

    def clear(self) -> None:
        self.val_history.clear()
        self.n_history.clear()
        self.clear_output()

    def clear_output(self) -> None:
        self.output.clear()
        self.ready = False

    def update(self, vars: dict, count: int = 1) -> None:
        for key, var in vars.items():
            self.val_history.setdefault(key, []).append(var)
            self.n_history.setdefault(key, []).append(count)

    def average(self, n: int = 0) -> None:
        for key in self.val_history:
            values = self.val_history[key][-n:]
            nums = self.n_history[key][-n:]
            self.output[key] = sum(v * c for v, c in zip(values, nums)) / sum(nums)
        self.ready = True


def round_float(value):
    """JsonLoggerHook._round_float: floats to 5 decimals, recursively through lists."""
    if isinstance(value, list):
        return [round_float(v) for v in value]
    if isinstance(value, float):
        return round(value, 5)
    return value


def json_dumps(obj) -> str:
    """json.dumps as mmcv.dump does (NaN / Infinity bare tokens allowed)."""
    return json.dumps(obj)


def format_value(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else f"{value}"


def format_train_line(log_dict: dict, iters_per_epoch: int, eta: str | None) -> str:
    """TextLoggerHook._log_info for mode 'train' (epoch runner, one param group)."""
    line = f"Epoch [{log_dict['epoch']}][{log_dict['iter']}/{iters_per_epoch}]\t"
    line += f"lr: {log_dict['lr']:.3e}, "
    if "time" in log_dict:
        line += f"eta: {eta}, "
        line += f"time: {log_dict['time']:.3f}, data_time: {log_dict['data_time']:.3f}, "
        if "memory" in log_dict:
            line += f"memory: {log_dict['memory']}, "
    items = [f"{k}: {format_value(v)}" for k, v in log_dict.items() if k not in SKIPPED_KEYS]
    return line + ", ".join(items)


def format_val_line(log_dict: dict) -> str:
    """TextLoggerHook._log_info for mode 'val' (epoch runner)."""
    line = f"Epoch({log_dict['mode']}) [{log_dict['epoch']}][{log_dict['iter']}]\t"
    items = [f"{k}: {format_value(v)}" for k, v in log_dict.items() if k not in SKIPPED_KEYS]
    return line + ", ".join(items)


def eta_string(seconds: float) -> str:
    """str(timedelta) of whole seconds: `0:01:02`, `2 days, 7:04:24`."""
    return str(datetime.timedelta(seconds=int(seconds)))


class MMCVLogger:
    """TextLoggerHook (by_epoch, ignore_last) writing `.log` and `.log.json` on rank 0.

    The caller drives it like mmcv's runner: `before_run(meta)`, `after_train_iter(...)`
    after every iteration, `log_val(...)` after an evaluation, `text.info(...)` for other records.
    """

    def __init__(
        self,
        work_dir: str,
        timestamp: str,
        rank: int,
        interval: int,
        max_iters: int,
        iters_per_epoch: int,
        exp_name: str,
        start_iter: int = 0,
        logger_name: str = "mmdet",
        interval_exp_name: int = 1000,
    ):
        self.rank = rank
        self.interval = interval
        self.max_iters = max_iters
        self.iters_per_epoch = iters_per_epoch
        self.exp_name = exp_name
        self.interval_exp_name = interval_exp_name
        self.start_iter = start_iter
        self.time_sec_tot = 0.0
        self.buffer = LogBuffer()
        self.log_path = os.path.join(work_dir, f"{timestamp}.log") if rank == 0 else None
        self.json_path = os.path.join(work_dir, f"{timestamp}.log.json") if rank == 0 else None
        self.text = TextLog(self.log_path, logger_name)

    # -- records ----------------------------------------------------------------------------
    def before_run(self, meta: dict) -> None:
        self._dump_json(meta)

    def before_epoch(self) -> None:
        self.buffer.clear()

    def update(self, values: dict, count: int) -> None:
        self.buffer.update(values, count)

    def after_train_iter(
        self, global_iter: int, inner_iter: int, epoch: int, lr: float, memory_mb: int | None = None
    ) -> dict | None:
        """Log when the inner iteration closes an interval. Returns the logged dict, or None.

        global_iter, inner_iter: 0-based index of the iteration just finished; epoch 1-based.
        memory_mb: max CUDA memory in MB (only when CUDA is available).
        """
        if (inner_iter + 1) % self.interval != 0:
            return None  # ignore_last=True: a trailing partial interval is never logged
        self.buffer.average(self.interval)
        log_dict = OrderedDict(mode="train", epoch=epoch, iter=inner_iter + 1, lr=lr)
        if memory_mb is not None:
            log_dict["memory"] = memory_mb
        log_dict.update(self.buffer.output)
        self.time_sec_tot += log_dict["time"] * self.interval
        time_sec_avg = self.time_sec_tot / (global_iter - self.start_iter + 1)
        eta = eta_string(time_sec_avg * (self.max_iters - global_iter - 1))
        self._exp_name_record(global_iter, end_of_epoch=inner_iter + 1 == self.iters_per_epoch)
        self.text.info(format_train_line(log_dict, self.iters_per_epoch, eta))
        self._dump_json(log_dict)
        self.buffer.clear_output()
        return log_dict

    def log_val(self, global_iter: int, epoch: int, lr: float, eval_iters: int, metrics: dict) -> dict:
        """After-epoch evaluation record (mode 'val'); global_iter = iterations done so far."""
        log_dict = OrderedDict(mode="val", epoch=epoch, iter=eval_iters, lr=lr)
        log_dict.update(metrics)
        self._exp_name_record(global_iter, end_of_epoch=True)
        self.text.info(format_val_line(log_dict))
        self._dump_json(log_dict)
        return log_dict

    def close(self) -> None:
        self.text.close()

    # -- helpers ----------------------------------------------------------------------------
    def _exp_name_record(self, global_iter: int, end_of_epoch: bool) -> None:
        if (global_iter + 1) % self.interval_exp_name == 0 or end_of_epoch:
            self.text.info(f"Exp name: {self.exp_name}")

    def _dump_json(self, log_dict: dict) -> None:
        if self.json_path is None:
            return
        row = OrderedDict((k, round_float(v)) for k, v in log_dict.items())
        with open(self.json_path, "a+", encoding="utf-8") as f:
            f.write(json_dumps(row) + "\n")


# -- header ---------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment_info(device_type: str) -> str:
    """mmcv.utils.collect_env-like block: `key: value` lines."""
    import scipy
    import torch

    info = OrderedDict()
    info["sys.platform"] = sys.platform
    info["Python"] = sys.version.replace("\n", "")
    cuda = torch.cuda.is_available()
    info["CUDA available"] = cuda
    if cuda:
        names: dict[str, list[str]] = {}
        for k in range(torch.cuda.device_count()):
            names.setdefault(torch.cuda.get_device_name(k), []).append(str(k))
        for name, ids in names.items():
            info["GPU " + ",".join(ids)] = name
        info["CUDA Runtime"] = torch.version.cuda
    info["Machine"] = platform.machine()
    info["CPU"] = cpu_model()
    info["CPU cores"] = os.cpu_count()
    # the instruction set torch's CPU kernels dispatch to: runs differ in their last bits between,
    # say, AVX2 and AVX512 machines, so a log says which one it came from
    info["CPU capability"] = torch.backends.cpu.get_cpu_capability()
    info["PyTorch"] = torch.__version__
    info["PyTorch compiling details"] = torch.__config__.show()
    info["NumPy"] = numpy.__version__
    info["SciPy"] = scipy.__version__
    info["bevdetr"] = __version__
    info["Device"] = device_type
    return "\n".join(f"{k}: {v}" for k, v in info.items())


def environment_record(env_info: str) -> str:
    """The message mmdet's train.py logs (ends in a newline: the log shows a blank line after)."""
    return "Environment info:\n" + DASH_LINE + env_info + "\n" + DASH_LINE


def _is_identifier_dict(value) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and k.isidentifier() for k in value)


def _one_line(value) -> str:
    if _is_identifier_dict(value):
        return "dict(" + ", ".join(f"{k}={_one_line(v)}" for k, v in value.items()) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_one_line(k)}: {_one_line(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_one_line(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_one_line(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _pretty(value, indent: int, width: int = 79) -> str:
    """mmcv Config.pretty_text style (yapf, pep8): one line when it fits, else one item a line."""
    flat = _one_line(value)
    if indent + len(flat) <= width or not isinstance(value, (dict, list, tuple)) or not value:
        return flat
    pad = " " * (indent + 4)
    if _is_identifier_dict(value):
        items = [f"{pad}{k}={_pretty(v, indent + 4 + len(k) + 1, width)}" for k, v in value.items()]
        return "dict(\n" + ",\n".join(items) + ")"
    if isinstance(value, dict):
        items = [f"{pad}{_one_line(k)}: {_pretty(v, indent + 4, width)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
    items = [f"{pad}{_pretty(v, indent + 4, width)}" for v in value]
    return open_ + "\n" + ",\n".join(items) + "\n" + " " * indent + close


def pretty_config(config: dict) -> str:
    """`name = value` lines in Python syntax, readable with `ast`; ends with a newline."""
    lines = []
    for key, value in config.items():
        text = value if isinstance(value, RawPython) else _pretty(value, len(key) + 3)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


class RawPython(str):
    """Config text emitted verbatim (e.g. `range(0, 2)`, as mmcv prints gpu_ids)."""


def hook_table(hooks_by_stage: dict[str, list[tuple[str, str]]]) -> str:
    """BaseRunner.get_hook_info: stage, then `(PRIORITY  ) HookName` lines, then a separator."""
    stages = []
    for stage, hooks in hooks_by_stage.items():
        if not hooks:
            continue
        info = f"{stage}:\n"
        info += "\n".join(f"({priority:<12}) {name:<35}" for priority, name in hooks)
        info += "\n -------------------- "
        stages.append(info)
    return "\n".join(stages)


def host_info() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no user name in some containers
        return socket.gethostname()
