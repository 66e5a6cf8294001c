"""The default world shipped with ``stress``: a stylised rare-earth MRIO (7 regions x 12 sectors).

Regions ``CHN, USA, EU, JPN, KOR, ALLY (AUS, CAN, MYS, VNM), ROW``; sectors from ``ree_mining``
to ``services`` (see :data:`SECTORS`); one final-demand category per region; base year 2024;
yearly flows in billion USD. :func:`load` reads the shipped CSVs, :func:`build` reconstructs the
same table from ``data/provenance.csv`` (see ``README.md`` beside this file for the method).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from stress.errors import InputError
from stress.mrio.ree_world.build import (
    BASE_YEAR,
    DATA_DIR,
    FINAL_DEMAND,
    NAME,
    PROVENANCE,
    REE_SECTORS,
    REGIONS,
    SECTORS,
    UNIT,
    build,
    column_labels,
    final_demand_labels,
    make_mrio,
)
from stress.mrio.tables import Mrio

# The package re-exports build() from its own submodule, so `python -m stress.mrio.ree_world.build`
# finds that submodule already imported and runpy warns; running it twice is harmless (it has no
# import-time side effects), so this one message is silenced.
warnings.filterwarnings("ignore", message="'stress.mrio.ree_world.build' found in sys.modules", category=RuntimeWarning)


def _read_matrix(path: Path, columns: list[str]) -> np.ndarray:
    """Read a labelled CSV (rows ``region,sector``) and check its labels against the table order."""
    frame = pd.read_csv(path, index_col=[0, 1])
    rows = [(r, s) for r in REGIONS for s in SECTORS]
    if list(frame.index) != rows:
        raise InputError(
            f"world[{NAME}].{path.name}.rows",
            list(frame.index)[:3],
            f"rows (region, sector) in the order {rows[:2]}, ...",
        )
    if list(frame.columns) != columns:
        raise InputError(f"world[{NAME}].{path.name}.columns", list(frame.columns)[:3], f"columns {columns[:2]}, ...")
    return frame.to_numpy(dtype=float)


def read_criticality(path: Path) -> np.ndarray:
    """Input criticality, shape ``(products, industries)``, from ``criticality.csv``.

    Each row gives the share of a buying sector's output (in every region) that needs the
    product in fixed proportion; pairs not listed are 1, ARIO's Leontief constraint.
    """
    frame = pd.read_csv(path)
    needed = {"product", "buyer_sector", "share", "tag", "source"}
    if not needed <= set(frame.columns):
        raise InputError(f"world[{NAME}].{path.name}.columns", list(frame.columns), "columns " + ", ".join(sorted(needed)))
    crit = np.ones((len(SECTORS), len(REGIONS) * len(SECTORS)))
    for row in frame.itertuples(index=False):
        for label, value in (("product", row.product), ("buyer_sector", row.buyer_sector)):
            if value not in SECTORS:
                raise InputError(f"world[{NAME}].{path.name}.{label}", value, "one of " + ", ".join(SECTORS))
        if not 0.0 <= float(row.share) <= 1.0:
            raise InputError(f"world[{NAME}].{path.name}.share", row.share, "a share in [0, 1]")
        q, s = SECTORS.index(row.product), SECTORS.index(row.buyer_sector)
        crit[q, s :: len(SECTORS)] = float(row.share)
    return crit


def load(data_dir: Path | str = DATA_DIR) -> Mrio:
    """Load the shipped REE world table and validate it.

    Parameters
    ----------
    data_dir
        Folder holding ``Z.csv`` and ``Y.csv``; the package's ``data/`` by default.

    Returns
    -------
    Mrio
        Name ``"ree_world"``, unit ``"billion USD (2024)"``; gross output ``x`` is the row sum
        ``Z 1 + Y 1``. ``meta`` holds ``provenance`` (path of the provenance CSV),
        ``description``, ``base_year`` and ``data_dir``.

    Raises
    ------
    InputError
        If a file's labels are not in the table order or the table fails validation.
    """
    data_dir = Path(data_dir)
    Z = _read_matrix(data_dir / "Z.csv", column_labels())
    Y = _read_matrix(data_dir / "Y.csv", final_demand_labels())
    # The criticality table is hand-written, not produced by build(): a folder of rebuilt
    # tables without one uses the shipped table.
    crit_path = data_dir / "criticality.csv"
    if not crit_path.exists():
        crit_path = Path(DATA_DIR) / "criticality.csv"
    return make_mrio(
        Z,
        Y,
        criticality=read_criticality(crit_path),
        provenance=str(PROVENANCE),
        criticality_file=str(crit_path),
        data_dir=str(data_dir.resolve()),
    )


__all__ = [
    "BASE_YEAR",
    "FINAL_DEMAND",
    "NAME",
    "PROVENANCE",
    "REE_SECTORS",
    "REGIONS",
    "SECTORS",
    "UNIT",
    "build",
    "load",
    "read_criticality",
]
