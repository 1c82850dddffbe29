"""The run's settings as an mmdet-style config (what the log's `Config:` block shows).

Keys follow mmdet/mmdet3d configs (model, data.samples_per_gpu, optimizer,
optimizer_config.grad_clip, lr_config, runner, evaluation, log_config, gpu_ids ...)
so a log reader finds the facts where it finds them in real logs; `bevdetr` holds
the complete flat settings, enough to regenerate the run.
"""

from __future__ import annotations

from bevdetr.log import RawPython
from bevdetr.presets import Settings
from bevdetr.recipe import recipe_record
from bevdetr.schedule import Schedule


def make_schedule(settings: Settings, iters_per_epoch: int) -> Schedule:
    return Schedule(
        base_lr=settings.lr,
        policy=settings.schedule,
        max_iters=iters_per_epoch * settings.epochs,
        steps=tuple(settings.steps),
        gamma=settings.gamma,
        min_lr_ratio=settings.min_lr_ratio,
        warmup_iters=settings.warmup_iters,
        warmup_ratio=settings.warmup_ratio,
        target_ratio=settings.target_ratio,
        step_ratio_up=settings.step_ratio_up,
    )


def mmdet_config(
    settings: Settings, work_dir: str, world_size: int, device_type: str, iters_per_epoch: int, resume_from: str | None
) -> dict:
    scene = settings.scene()
    z0, z1 = -1.5, 3.5
    dataset = dict(type="SyntheticBEVDataset", seed=settings.data_seed, scene=scene.to_dict())
    return {
        "point_cloud_range": [-settings.extent, -settings.extent, z0, settings.extent, settings.extent, z1],
        "class_names": list(scene.class_names),
        "dataset_type": "SyntheticBEVDataset",
        "model": dict(
            type="BEVDETR",
            bev_encoder=dict(
                type="BEVEncoder", in_channels=6, embed_dims=settings.d_model, stride=2, norm_cfg=dict(type="GN")
            ),
            pts_bbox_head=dict(
                type="BEVDETRHead",
                num_classes=settings.num_classes,
                num_query=settings.queries,
                share_pe=settings.share_pe,
                aux_loss=settings.aux,
                transformer=dict(
                    type="PETRTransformer",
                    decoder=dict(
                        type="PETRTransformerDecoder",
                        num_layers=settings.layers,
                        post_norm=True,
                        transformerlayers=dict(
                            embed_dims=settings.d_model,
                            num_heads=settings.nhead,
                            feedforward_channels=settings.dim_ff,
                            dropout=settings.dropout,
                        ),
                        post_norm_cfg=dict(type="LN"),
                    ),
                ),
                loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                loss_bbox=dict(type="L1Loss", loss_weight=0.25),
            ),
            train_cfg=dict(
                assigner=dict(
                    type="HungarianAssigner3D",
                    cls_cost=dict(type="FocalLossCost", weight=2.0),
                    reg_cost=dict(type="BBox3DL1Cost", weight=0.25),
                )
            ),
        ),
        "data": dict(
            samples_per_gpu=settings.batch,
            workers_per_gpu=0,
            train=dict(dataset, split="train", length=settings.train_samples),
            val=dict(dataset, split="val", length=settings.val_samples),
        ),
        "evaluation": dict(interval=settings.eval_interval),
        "optimizer": dict(
            type="AdamW",
            lr=settings.lr,
            weight_decay=settings.weight_decay,
            paramwise_cfg=dict(custom_keys={"bev_encoder": dict(lr_mult=settings.stem_lr_mult)}),
        ),
        "optimizer_config": dict(grad_clip=dict(max_norm=settings.clip, norm_type=2) if settings.clip > 0 else None),
        "lr_config": make_schedule(settings, iters_per_epoch).mmcv_config(),
        "total_epochs": settings.epochs,
        "runner": dict(type="EpochBasedRunner", max_epochs=settings.epochs),
        "checkpoint_config": dict(interval=settings.checkpoint_interval),
        "log_config": dict(interval=settings.interval, hooks=[dict(type="TextLoggerHook")]),
        "dist_params": dict(backend="nccl" if device_type == "cuda" else "gloo"),
        "log_level": "INFO",
        "work_dir": work_dir,
        "load_from": None,
        "resume_from": resume_from,
        "workflow": [("train", 1)],
        "mixed_precision": "bf16" if device_type == "cuda" else None,  # autocast; not mmcv's fp16 loss scaling
        "total_batch_size": settings.batch * world_size,
        "bevdetr": settings.to_dict(),
        "bevdetr_recipe": recipe_record(),
        "gpu_ids": RawPython(f"range(0, {world_size})"),
        "device": device_type,
    }
