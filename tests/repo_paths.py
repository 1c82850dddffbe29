"""The one place that knows where the repository and its real logs lie.

Real logs written by other people's runs are committed under `fixtures/real/` (set1, set2, set3;
provenance in fixtures/real/README.md). Test modules import these paths from here, not from a
conftest.py: every conftest.py outside a package is the module `conftest`, so which one an
import finds would depend on the folders pytest collected last.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_LOGS = REPO / "fixtures" / "real"
REAL_SET1 = REAL_LOGS / "set1"
REAL_SET2 = REAL_LOGS / "set2"
REAL_SET3 = REAL_LOGS / "set3"
