"""The public surface (parsers/__init__.py): every name it lists resolves (its heavy parts on
first use), and nothing else is offered; `import parsers` alone stays light
(tests/parsers/test_parsers_inputs.py)."""

import subprocess
import sys

import pytest

import parsers


@pytest.mark.parametrize("name", parsers.__all__)
def test_every_public_name_resolves(name):
    assert getattr(parsers, name) is not None
    assert name in dir(parsers)


def test_a_name_it_does_not_offer_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'assemble_everything'"):
        parsers.assemble_everything  # noqa: B018


def test_a_lazy_name_loads_its_module_on_first_use():
    code = (
        "import sys, parsers; before = 'parsers.reader' in sys.modules; parsers.read_paths; "
        "print(before, 'parsers.reader' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_import_parsers_leaves_the_run_types_for_their_first_use():
    """`bevlog --help` imports the surface for `signals_held`; the run's dataclasses (parsers.run,
    parsers.meta) load only when a name of theirs is used."""
    code = (
        "import sys, parsers; before = [m in sys.modules for m in ('parsers.run', 'parsers.meta')]; "
        "parsers.Run; print(*before, 'parsers.run' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]
