"""The one exception type for bad input.

Every check of user input (configuration values, names, tables, paths) raises
:class:`InputError`. The command line turns it into one short message and exit code 2;
library callers can catch it and read ``field``, ``value`` and ``allowed``.
"""

from __future__ import annotations

import math
from typing import Any


class InputError(ValueError):
    """Bad input: names the field, the value given and what is allowed.

    Parameters
    ----------
    field
        Dotted name of the offending setting or table part, e.g. ``"shock.region"``.
    value
        The value that was given.
    allowed
        Plain-language description of what would be accepted.
    """

    def __init__(self, field: str, value: Any, allowed: str):
        allowed = " ".join(str(allowed).split())  # one line on stderr, whatever a library's message holds
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}={value!r} is not allowed: {allowed}")

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from its parts (a Dask worker's error reaches the driver this way)
        return (type(self), (self.field, self.value, self.allowed))


def check_range(
    field: str,
    value: float,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    finite: bool = False,
) -> None:
    """Raise :class:`InputError` unless ``lo (<|<=) value (<|<=) hi`` (and, with ``finite``, not +-inf)."""
    import numbers

    # not a number at all (a name, null, true/false), or NaN
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value
    if not bad:
        if finite:
            bad |= value in (math.inf, -math.inf)
        if lo is not None:
            bad |= value <= lo if lo_open else value < lo
        if hi is not None:
            bad |= value >= hi if hi_open else value > hi
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        if finite:
            left, right = ("(" if lo is None else left), (")" if hi is None else right)
        raise InputError(field, value, f"a {'finite ' if finite else ''}number in {left}{lo_s}, {hi_s}{right}")


def check_names(field: str, names: list[str], allowed: list[str]) -> None:
    """Raise :class:`InputError` if any of ``names`` is not in ``allowed``."""
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise InputError(
            field,
            unknown[0] if len(unknown) == 1 else unknown,
            "one of " + ", ".join(allowed),
        )
