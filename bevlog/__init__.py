"""bevlog: read, compare and diagnose training logs of DETR-family detectors."""

__version__ = "0.1.0"
