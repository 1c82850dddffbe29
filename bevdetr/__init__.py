"""bevdetr: a small PETR-style BEV 3D detector that regenerates training runs with mmcv-format logs."""

__version__ = "0.1.0"
