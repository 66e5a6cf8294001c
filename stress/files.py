"""Files written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from stress.errors import InputError


def replace_atomic(path: Path, write: Any, *, field: str, value: str, allowed: str) -> Path:
    """``write(tmp)`` a file under a temporary name in ``path``'s folder, then rename it to
    ``path`` (permissions as the umask gives a new file). A folder that cannot be written is an
    :class:`InputError` naming ``field`` and ``value`` (``allowed``, and the system's reason)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(field, value, f"{allowed} ({exc.strerror or exc})") from None
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
