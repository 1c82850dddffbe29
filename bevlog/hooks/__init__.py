"""Training-time hooks that users add to their own mmcv / mmengine runs.

Nothing here is imported by `bevlog` itself: `bevlog.hooks.mmengine` imports mmengine and
`bevlog.hooks.mmcv` imports mmcv, only when a training config asks for them.

mmengine (mmdet 3.x, mmdet3d 1.x)::

    custom_imports = dict(imports=['bevlog.hooks.mmengine'], allow_failed_imports=False)
    custom_hooks = [dict(type='AttentionStatsHook')]

mmcv 1.x (mmdet 2.x, mmdet3d 0.x/1.0rc, PETR, StreamPETR, DETR3D code bases)::

    custom_imports = dict(imports=['bevlog.hooks.mmcv'], allow_failed_imports=False)
    custom_hooks = [dict(type='AttentionStatsHook')]

Both log `d{k}.attn_entropy` and `d{k}.attn_logit_max` per decoder layer into the normal
text and json logs, averaged over the logging interval like the losses
(`bevlog.hooks.attention_stats` says what they mean and which attentions can be measured).
"""
