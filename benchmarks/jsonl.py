"""One measurement as a JSON line: printed, and appended to ``path`` when given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit(row: dict[str, Any], path: Path | None) -> None:
    line = json.dumps(row)
    print(line, flush=True)
    if path:
        with Path(path).open("a") as fh:
            fh.write(line + "\n")
