"""The `bevdetr` command group.

    bevdetr train --preset tiny --work-dir work_dirs/tiny
    bevdetr train --preset small --lr 2e-4 --no-aux --work-dir work_dirs/small_noaux
    bevdetr train --preset small --work-dir work_dirs/small --resume
    torchrun --nproc_per_node 2 -m bevdetr.cli train --preset tiny --work-dir work_dirs/ddp

torch is imported inside the command, so `bevdetr --help` stays fast.
"""

from __future__ import annotations

import os

import click

from bevdetr.errors import TrainingError

PRESET_NAMES = ("tiny", "small", "full")


class BadInput(click.ClickException):
    """A user error: one line on stderr, exit code 2."""

    exit_code = 2


def _steps(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(int(s) for s in value.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated epochs like 6 or 6,8, got {value!r}") from None


def override_options(fn):
    """Options that override a preset; unset ones keep the preset's value."""
    options = [
        click.option("--lr", type=float, help="Peak learning rate (AdamW)."),
        click.option("--batch", type=int, help="Samples per process (mmcv samples_per_gpu)."),
        click.option("--epochs", type=int, help="Training epochs."),
        click.option("--layers", type=int, help="Decoder layers."),
        click.option("--queries", type=int, help="Object queries."),
        click.option("--aux/--no-aux", default=None, help="Auxiliary losses on every decoder layer (dK.loss_*)."),
        click.option("--share-pe", is_flag=True, default=None, help="Keys and queries share one position MLP."),
        click.option("--seed", type=int, help="Seed of the model init and the sample order."),
        click.option("--data-seed", type=int, help="Seed of the synthetic scenes."),
        click.option("--warmup-iters", type=int, help="Linear warmup iterations (ratio 1/3)."),
        click.option(
            "--schedule",
            type=click.Choice(["step", "cosine", "cyclic"]),
            help="LR policy after warmup (cyclic: mmcv's one cycle, up to lr x --target-ratio).",
        ),
        click.option("--target-ratio", type=float, help="cyclic: the peak lr is --lr times this (default 10)."),
        click.option("--step-ratio-up", type=float, help="cyclic: fraction of the run the lr climbs (default 0.4)."),
        click.option(
            "--steps", callback=_steps, help="Step policy: epochs where lr is multiplied by 0.1, e.g. 6 or 6,8."
        ),
        click.option("--clip", type=float, help="Max gradient norm; 0 disables clipping and the grad_norm key."),
        click.option("--weight-decay", type=float, help="AdamW weight decay."),
        click.option("--interval", type=int, help="Log interval in iterations."),
        click.option("--eval-interval", type=int, help="Evaluate every K epochs (and after the last)."),
        click.option("--train-samples", type=int, help="Scenes per training epoch."),
        click.option("--val-samples", type=int, help="Scenes in the validation split."),
        click.option("--difficulty", type=float, help="Scales noise, clutter and dropout of the scenes."),
        click.option("--threads", type=int, help="torch threads per process on CPU (default 1; 0: torch's default)."),
        click.option(
            "--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where to train (auto: CUDA when available)."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """bevdetr: a small DETR over BEV features (PETR-style reference-point queries) that writes mmcv-format logs."""


@cli.command()
@click.option(
    "--preset",
    type=click.Choice(PRESET_NAMES),
    default="small",
    show_default=True,
    help="tiny: seconds on CPU (tests); small: minutes on CPU; full: one GPU.",
)
@click.option("--work-dir", required=True, type=click.Path(file_okay=False), help="Where logs and checkpoints go.")
@override_options
@click.option("--resume", is_flag=True, help="Continue from the latest checkpoint in --work-dir.")
@click.option("--resume-from", type=click.Path(dir_okay=False), help="Continue from this checkpoint.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: only on a terminal).")
def train(preset, work_dir, resume, resume_from, progress, **overrides):
    """Train on synthetic BEV scenes; write <ts>.log, <ts>.log.json and checkpoints in WORK_DIR."""
    from bevdetr.presets import make_settings

    try:
        settings = make_settings(preset, **overrides)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if resume and resume_from:
        raise BadInput("use either --resume or --resume-from, not both")
    if resume:
        from bevdetr.checkpoint import latest_checkpoint

        resume_from = latest_checkpoint(work_dir)
        if resume_from is None:
            raise BadInput(f"{work_dir}: --resume found no checkpoint (latest.pth or epoch_N.pth)")

    from bevdetr.train import train as run_training

    try:
        result = run_training(settings, work_dir, resume_from=resume_from, progress=progress)
    except TrainingError as e:
        raise BadInput(str(e)) from None
    if int(os.environ.get("RANK", "0")) != 0:
        return
    click.echo(f"work_dir: {result.work_dir}")
    click.echo(f"log: {result.log_path}")
    click.echo(
        f"trained {result.iters_trained} iterations (the run is at iteration {result.iters_done}, epoch "
        f"{result.epochs_done}) on {result.world_size} "
        f"{result.device} process(es): {result.train_seconds:.1f} s in train steps, "
        f"{result.samples_per_s:.1f} samples/s"
    )
    if result.metrics:
        click.echo(f"mAP (centre distance 0.5/1/2/4 m): {result.metrics['bevdetr/mAP']:.4f}")


@cli.command()
@click.option(
    "--work-dir", required=True, type=click.Path(file_okay=False), help="One sub-directory per run goes here."
)
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="tiny", show_default=True)
@click.option(
    "--jobs", type=int, default=2, show_default=True, help="Runs trained at the same time (one torch thread each)."
)
@click.option(
    "--only", help="Comma-separated experiments: lr,aux,layers,step,batch,pe,attn,wide-pe,wide-aux (default: all)."
)
@click.option("--seeds", type=int, help="Seeds per run (0..N-1); default: the plan's 3, or 5 where effects are small.")
@click.option("--epochs", type=int, help="Override the preset's epochs for every run.")
@click.option("--train-samples", type=int, help="Override the preset's scenes per epoch for every run.")
@click.option("--val-samples", type=int, help="Override the preset's validation scenes for every run.")
@click.option("--steps", callback=_steps, help="Override the step epochs for every run, e.g. 6.")
@click.option("--list", "list_only", is_flag=True, help="Print the experiments and runs; train nothing.")
def sweep(work_dir, preset, jobs, only, seeds, epochs, train_samples, val_samples, steps, list_only):
    """Run the brief's experiments with seeds, one work dir per run and seed; resumable."""
    from bevdetr import sweep as sweeps

    names = [n.strip() for n in only.split(",") if n.strip()] if only else None
    try:
        chosen, pairs = sweeps.select(names, seeds)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if jobs < 1:
        raise BadInput(f"--jobs must be at least 1, got {jobs}")
    if list_only:
        for e in chosen:
            click.echo(f"{e.name} ({seeds or e.seeds} seeds): {e.question}")
            for label, run in e.runs:
                click.echo(f"  {label:>36}  {run}  {sweeps.RUNS[run]}")
        click.echo(f"{len(pairs)} runs in all")
        return
    common = {
        k: v
        for k, v in {
            "epochs": epochs,
            "train_samples": train_samples,
            "val_samples": val_samples,
            "steps": steps,
        }.items()
        if v is not None
    }
    status = sweeps.sweep(work_dir, preset, names, jobs, seeds, common)
    failed = [n for n, s in status.items() if s == "failed"]
    click.echo(
        f"{sum(s == 'done' for s in status.values())} trained, "
        f"{sum(s == 'skipped' for s in status.values())} skipped, {len(failed)} failed"
    )
    if failed:
        raise click.ClickException("failed runs: " + ", ".join(failed))


if __name__ == "__main__":  # torchrun -m bevdetr.cli train ...
    cli()
