"""Training-time hooks that users add to their own mmcv / mmengine runs.

Nothing here is imported by `bevlog` itself: `bevlog.hooks.mmengine` imports mmengine and
`bevlog.hooks.mmcv` imports mmcv, only when a training config asks for them.

mmengine (mmdet 3.x, mmdet3d 1.x)::

    custom_imports = dict(imports=['bevlog.hooks.mmengine'], allow_failed_imports=False)
    custom_hooks = [dict(type='AttentionStatsHook')]          # every=10, max_samples=2, max_queries=128

mmcv 1.x (mmdet 2.x, mmdet3d 0.x/1.0rc, PETR, StreamPETR, DETR3D code bases)::

    custom_imports = dict(imports=['bevlog.hooks.mmcv'], allow_failed_imports=False)
    custom_hooks = [dict(type='AttentionStatsHook')]

Both log `d{k}.attn_entropy` and `d{k}.attn_logit_max` per decoder layer into the normal
text and json logs, averaged over the logging interval like the losses. What they mean is in
`attnstats`; what is measured (every `every`-th iteration, the first `max_samples` samples of
the batch, up to `max_queries` queries, all keys, masks honoured), how, and which attentions
can be measured, in `attnstats.recorder`. torch 1.9 or later; older torch is refused at the
start of the run with one line naming its version.
"""
