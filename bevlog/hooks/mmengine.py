"""`AttentionStatsHook` for mmengine runners (see `bevlog.hooks`). Imports mmengine."""

from __future__ import annotations

from collections import defaultdict, deque

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from attnstats.recorder import DEFAULT_EVERY, DEFAULT_QUERIES, DEFAULT_SAMPLES, AttentionRecorder


@HOOKS.register_module(force=True)
class AttentionStatsHook(Hook):
    """Logs the decoder cross-attention's entropy and max |logit| per layer.

    Runs before mmengine's LoggerHook (priority NORMAL < BELOW_NORMAL). mmengine's LogProcessor
    averages only keys named like losses (and time, grad_norm) over its window and logs the
    *current* value of any other scalar, so the hook pushes the mean of the values measured in
    the last `window_size` iterations itself: what the log shows is that window's mean, like
    the losses beside it.
    """

    priority = "NORMAL"

    def __init__(
        self, every: int = DEFAULT_EVERY, max_samples: int = DEFAULT_SAMPLES, max_queries: int = DEFAULT_QUERIES
    ):
        self.recorder = AttentionRecorder(every, max_samples, max_queries)
        self.window = defaultdict(deque)  # key -> (iteration, value) measured in the window
        self.window_size = 1

    def before_run(self, runner) -> None:
        size = getattr(runner.log_processor, "window_size", 10)
        self.window_size = size if isinstance(size, int) and size > 0 else 10  # 'epoch'/'global': 10
        self.recorder.install_on_runner(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        iteration = self.recorder.iteration
        for key, value in self.recorder.pop().items():
            window = self.window[key]
            window.append((iteration, value))
            while window[0][0] <= iteration - self.window_size:
                window.popleft()
            runner.message_hub.update_scalar(f"train/{key}", sum(v for _, v in window) / len(window))

    def after_run(self, runner) -> None:
        self.recorder.remove()
