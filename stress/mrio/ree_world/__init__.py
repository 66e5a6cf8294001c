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


CRITICALITY_CLASSES = {"critical": 1.0, "important": 0.5, "non_critical": 0.0, "share": None}


def read_criticality(path: Path) -> np.ndarray:
    """Input criticality, shape ``(products, industries)``, from ``criticality.csv``.

    The table lists every (product, buying sector) pair exactly once: the share of the buying
    sector's output (in every region) that needs the product in fixed proportion. ``class`` is
    ``critical`` (1), ``important`` (0.5), ``non_critical`` (0), after the input ratings of
    Pichler et al. (2022), or ``share`` for a share given with its own reason.
    """
    frame = pd.read_csv(path, keep_default_na=False)
    name = f"world[{NAME}].{Path(path).name}"
    needed = {"product", "buyer_sector", "share", "class", "tag", "source"}
    if not needed <= set(frame.columns):
        raise InputError(f"{name}.columns", list(frame.columns), "columns " + ", ".join(sorted(needed)))
    crit = np.full((len(SECTORS), len(REGIONS) * len(SECTORS)), np.nan)
    for k, row in enumerate(frame.to_dict("records"), start=2):  # line 1 is the header
        for label in ("product", "buyer_sector"):
            if row[label] not in SECTORS:
                raise InputError(f"{name}:{k}.{label}", row[label], "one of " + ", ".join(SECTORS))
        try:
            share = float(row["share"])
        except ValueError:
            raise InputError(f"{name}:{k}.share", row["share"], "a share in [0, 1]") from None
        if not 0.0 <= share <= 1.0:
            raise InputError(f"{name}:{k}.share", row["share"], "a share in [0, 1]")
        cls = row["class"]
        if cls not in CRITICALITY_CLASSES:
            raise InputError(f"{name}:{k}.class", cls, "one of " + ", ".join(CRITICALITY_CLASSES))
        if CRITICALITY_CLASSES[cls] is not None and share != CRITICALITY_CLASSES[cls]:
            raise InputError(f"{name}:{k}.share", row["share"], f"{CRITICALITY_CLASSES[cls]:g} for class {cls}")
        if not str(row["source"]).strip():
            raise InputError(f"{name}:{k}.source", row["source"], "a reason or a source for the share")
        q, s = SECTORS.index(row["product"]), SECTORS.index(row["buyer_sector"])
        if not np.isnan(crit[q, s]):
            raise InputError(f"{name}:{k}", f"{row['product']} -> {row['buyer_sector']}", "each (product, buyer_sector) pair once")
        crit[q, s :: len(SECTORS)] = share
    missing = [(SECTORS[q], SECTORS[s]) for q in range(len(SECTORS)) for s in range(len(SECTORS)) if np.isnan(crit[q, s])]
    if missing:
        raise InputError(f"{name}", f"{len(missing)} pairs missing, e.g. {missing[0][0]} -> {missing[0][1]}", "every (product, buyer_sector) pair")
    return crit


def read_inventories(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target stocks (days of use), psi and national-stockpile days by product and buying
    industry from ``inventories.csv``.

    Each row gives one product's target (company stocks, goods in transit and any national
    stockpile), psi and the stockpile's part of the target for every buying industry of one
    region; pairs not listed are NaN (the model's defaults; stockpile 0). Returns three
    ``(products, industries)`` arrays.
    """
    frame = pd.read_csv(path, keep_default_na=False)
    name = f"world[{NAME}].{Path(path).name}"
    needed = ["product", "buyer_region", "days", "psi", "stockpile_days", "tag", "source"]
    if not set(needed) <= set(frame.columns):
        raise InputError(f"{name}.columns", list(frame.columns), "columns " + ", ".join(needed))
    p = len(SECTORS)
    days = np.full((p, len(REGIONS) * p), np.nan)
    psi = np.full_like(days, np.nan)
    stockpile = np.zeros_like(days)
    seen = set()
    for k, rec in enumerate(frame.to_dict("records"), start=2):  # line 1 is the header
        if rec["product"] not in SECTORS:
            raise InputError(f"{name}:{k}.product", rec["product"], "one of " + ", ".join(SECTORS))
        if rec["buyer_region"] not in REGIONS:
            raise InputError(f"{name}:{k}.buyer_region", rec["buyer_region"], "one of " + ", ".join(REGIONS))
        for col, lo, hi in (("days", 1.0, 3650.0), ("psi", 0.0, 1.0), ("stockpile_days", 0.0, 3650.0)):
            try:
                v = float(rec[col])
            except ValueError:
                v = float("nan")
            if not lo <= v <= hi:
                raise InputError(f"{name}:{k}.{col}", rec[col], f"a number in [{lo:g}, {hi:g}]")
        if not str(rec["source"]).strip():
            raise InputError(f"{name}:{k}.source", rec["source"], "a reason or a source")
        if float(rec["stockpile_days"]) > float(rec["days"]):
            raise InputError(f"{name}:{k}.stockpile_days", rec["stockpile_days"], f"at most days={rec['days']} (it is part of the target)")
        if float(rec["psi"]) * max(float(rec["days"]), 2.0) < 1.0:
            raise InputError(f"{name}:{k}.psi", rec["psi"], f"psi x days >= 1 (days={rec['days']}): otherwise stocks go negative")
        key = (rec["product"], rec["buyer_region"])
        if key in seen:
            raise InputError(f"{name}:{k}", " -> ".join(key), "each (product, buyer_region) pair once")
        seen.add(key)
        q, r = SECTORS.index(rec["product"]), REGIONS.index(rec["buyer_region"])
        days[q, r * p : (r + 1) * p] = float(rec["days"])
        psi[q, r * p : (r + 1) * p] = float(rec["psi"])
        stockpile[q, r * p : (r + 1) * p] = float(rec["stockpile_days"])
    return days, psi, stockpile


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
    inv_path = data_dir / "inventories.csv"
    if not inv_path.exists():
        inv_path = Path(DATA_DIR) / "inventories.csv"
    days, psi, stockpile = read_inventories(inv_path)
    return make_mrio(
        Z,
        Y,
        criticality=read_criticality(crit_path),
        inventory_days=days,
        psi=psi,
        stockpile_days=stockpile,
        inventories_file=str(inv_path),
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
    "read_inventories",
]
