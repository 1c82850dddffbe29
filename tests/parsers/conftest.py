"""Fixtures of the parser tests."""

import pytest

from parsers.formats import ENGINES


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """Every case through both parser engines (like pandas' `all_parsers`): "fast" (the
    vectorised paths) and "python" (the straightforward one) must read the same."""
    return request.param
