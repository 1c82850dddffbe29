"""`AttentionStatsHook` for mmcv 1.x runners (see `bevlog.hooks`). Imports mmcv."""

from __future__ import annotations

from mmcv.runner import HOOKS, Hook

from attnstats.recorder import DEFAULT_EVERY, DEFAULT_QUERIES, DEFAULT_SAMPLES, AttentionRecorder


@HOOKS.register_module(force=True)
class AttentionStatsHook(Hook):
    """Logs the decoder cross-attention's entropy and max |logit| per layer.

    mmcv's logger hooks average `runner.log_buffer` over their interval; this hook (priority
    NORMAL, the default of `custom_hooks`) runs before them (VERY_LOW) and adds each measured
    iteration's values with count 1, so a logged row is the mean of the iterations measured in
    its interval. Keep `every` at most the log interval, or some rows carry no statistics.
    """

    def __init__(
        self, every: int = DEFAULT_EVERY, max_samples: int = DEFAULT_SAMPLES, max_queries: int = DEFAULT_QUERIES
    ):
        self.recorder = AttentionRecorder(every, max_samples, max_queries)

    def before_run(self, runner) -> None:
        self.recorder.install_on_runner(runner)

    def after_train_iter(self, runner) -> None:
        stats = self.recorder.pop()
        if stats:
            runner.log_buffer.update(stats, 1)

    def after_run(self, runner) -> None:
        self.recorder.remove()
