from __future__ import annotations

import json
import sys
from typing import Any


def emit(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")
