"""The `bevdetr` command group (train, sweep)."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """bevdetr: a small PETR-style BEV detector that writes mmcv-format training logs."""
