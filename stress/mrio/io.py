"""Loaders: every world becomes a validated :class:`~stress.mrio.tables.Mrio`.

- ``ree_world``: the stylised 7-region x 12-sector rare-earth world shipped with the package, or
  the same table read from the folder ``path`` (``Z.csv``, ``Y.csv``, optional ``criticality.csv``).
- ``pymrio_test``: pymrio's bundled test MRIO (6 regions x 8 sectors, "Mill USD"); no ``path``.
- ``pymrio_dir``: any table saved with pymrio (``IOSystem.save_all``), e.g. a parsed EXIOBASE.

pymrio tables are re-ordered lexicographically by (region, sector) and final-demand columns by
(region, category), as BoARIO does, so trajectories line up with BoARIO's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stress.config import WorldConfig
from stress.errors import InputError
from stress.mrio.tables import Mrio, validate


def from_pymrio(io, name: str) -> Mrio:
    """Convert a pymrio ``IOSystem`` (with ``Z`` and ``Y``) into a validated ``Mrio``."""
    if getattr(io, "Z", None) is None or getattr(io, "Y", None) is None:
        raise InputError(f"world[{name}]", "a table without Z or Y", "a pymrio IOSystem holding Z and Y")
    try:
        regions = sorted(str(r) for r in io.Z.index.get_level_values(0).unique())
        sectors = sorted(str(s) for s in io.Z.index.get_level_values(1).unique())
        fd_cats = sorted(str(c) for c in io.Y.columns.get_level_values(1).unique())
        rows = [(r, s) for r in regions for s in sectors]
        cols = [(r, c) for r in regions for c in fd_cats]
        Z = io.Z.reindex(index=rows, columns=rows).to_numpy(dtype=float)
        Y = io.Y.reindex(index=rows, columns=cols).to_numpy(dtype=float)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"world[{name}]",
            f"a malformed table ({exc})",
            "Z indexed by (region, sector) on both axes, Y by (region, sector) x (region, category)",
        ) from None
    x = Z.sum(axis=1) + np.nan_to_num(Y).sum(axis=1)
    unit = "unknown"
    if getattr(io, "unit", None) is not None and len(io.unit):
        unit = str(io.unit.iloc[0, 0])
    return validate(Mrio(name, tuple(regions), tuple(sectors), tuple(fd_cats), Z, Y, x, unit))


def load(cfg: WorldConfig) -> Mrio:
    """Load and validate the world named in ``cfg``."""
    if cfg.name == "ree_world":
        from stress.mrio import ree_world

        return ree_world.load() if cfg.path is None else _load_ree_world_dir(cfg.path)
    import pymrio

    if cfg.name == "pymrio_test":
        return from_pymrio(pymrio.load_test(), "pymrio_test")
    if cfg.name == "pymrio_dir":
        path = Path(str(cfg.path)).expanduser()
        if not path.exists():
            raise InputError("world.path", str(path), "an existing folder or file saved by pymrio")
        try:
            io = pymrio.load_all(path)
        except Exception as exc:  # pymrio raises many kinds on a bad folder
            raise InputError("world.path", str(path), f"a table saved by pymrio's save_all ({type(exc).__name__}: {exc})") from None
        return from_pymrio(io, path.name)
    raise InputError("world.name", cfg.name, "ree_world, pymrio_test or pymrio_dir")


def _load_ree_world_dir(path_: str) -> Mrio:
    """The REE world from a folder of ``Z.csv``, ``Y.csv`` and optionally ``criticality.csv``
    (as written by ``python -m stress.mrio.ree_world.build --out DIR``)."""
    from stress.mrio import ree_world

    allowed = "a folder holding the REE world's Z.csv and Y.csv (and optionally criticality.csv)"
    path = Path(str(path_)).expanduser()
    if not path.is_dir():
        raise InputError("world.path", str(path_), f"{allowed}; {path} is not a folder")
    missing = [name for name in ("Z.csv", "Y.csv") if not (path / name).is_file()]
    if missing:
        raise InputError("world.path", str(path_), f"{allowed}; {' and '.join(missing)} not found in {path}")
    try:
        return ree_world.load(path)
    except InputError:
        raise
    except Exception as exc:  # pandas raises many kinds on a malformed CSV
        raise InputError("world.path", str(path_), f"{allowed} ({type(exc).__name__}: {exc})") from None
