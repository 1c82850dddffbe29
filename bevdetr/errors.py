"""The one error a bevdetr run raises for the user (the CLI turns it into one line and exit 2)."""

from __future__ import annotations


class TrainingError(Exception):
    """A run that cannot start (bad resume file, no CUDA ...); str() is one line."""


def first_line(e: Exception) -> str:
    """`Type: first line of the message`, for wrapping an exception in a TrainingError."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__
