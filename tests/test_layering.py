"""Package boundaries (docs/architecture.md): import-linter's contracts in pyproject.toml
hold (bevlog -> parsers; parsers and bevdetr import neither; bevlog imports bevdetr only
from its validate modules; outside parsers only `parsers` itself is imported; no import
circles inside parsers), and what must load lazily does."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# `lint-imports`, run on this tree (the current directory goes first on the path)
LINT = f"""
import sys
from importlinter.cli import lint_imports
sys.exit(lint_imports(config_filename={str(REPO / "pyproject.toml")!r}, no_cache=True, no_logo=True))
"""


def test_import_contracts_are_kept():
    proc = subprocess.run([sys.executable, "-c", LINT], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


LAZY = """
import sys
from bevlog.cli import cli, COMMANDS
for args in [["--help"]] + [[name, "--help"] for name in COMMANDS]:
    try:
        cli(args, prog_name="bevlog")
    except SystemExit as e:
        assert e.code == 0, (args, e.code)
import bevlog.commands.validate
print("LOADED", sorted(m for m in ("bevdetr", "torch", "bevlog.validate") if m in sys.modules))
"""


def test_bevdetr_is_loaded_only_when_validate_runs():
    """`bevlog validate` imports bevlog.validate (and with it bevdetr) when it runs, not when
    bevlog or the command is loaded: help of every command loads neither."""
    out = subprocess.run([sys.executable, "-c", LAZY], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in out, out
