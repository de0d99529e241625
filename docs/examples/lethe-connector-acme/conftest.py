"""Lets Lethe's own test run (which collects docs/examples) import lethe_acme and fake_acme
without installing the example; inside the example, pyproject's ``pythonpath`` does this."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
