"""Training-log parsers: `read(path) -> Run`. Knows formats, nothing about diagnosis."""
from parsers.run import EVALS_COLUMNS, LAYERS_COLUMNS, META_KEYS, TRAIN_COLUMNS, ParseError, Run

__all__ = ["Run", "ParseError", "TRAIN_COLUMNS", "LAYERS_COLUMNS", "EVALS_COLUMNS", "META_KEYS"]
