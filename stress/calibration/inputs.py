"""Observation tables -> model inputs: which rows each model uses, and how they become arrays.

:func:`build` returns a :class:`ModelData` for one model: covariates (``inputs``), observations
keyed by their NumPyro site name (``observed``), the row ids of each observation (``rows``), and
the same for the held-out rows (``heldout``), which the fit never sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stress.calibration import observations as obs
from stress.calibration.models import DESTINATIONS, HELD_OUT, REGIONS
from stress.errors import InputError

# Effective sample size of a row that reports only an approval share, by its quality: an exact
# share carries about as much as a survey of 100 applications, an approximate one ("about a
# quarter", "most") about 30. The Beta-Binomial's kappa widens both further.
N_EFF = {"exact": 100, "approximate": 30, "derived": 30, "assumption": 10}
FIT_END = pd.Timestamp("2025-11-10")  # end of the regime model's fit window (Busan measures in force)
DATA_END = pd.Timestamp("2026-04-15")  # newest item of the data (mid-April 2026)
# Suzuki's halt (JPN) is not fitted: in the REE world Japan's car makers buy 83 % of their magnets
# from Japanese magnet makers, so a plant stopped by missing Chinese magnets is not the first cut
# of the aggregate sector (see models.inventory).
FIRST_HALTS = ["halt_ford_chicago", "halt_eu_suppliers", "cut_bajaj_ev"]
UNFITTED_HALTS = ["halt_suzuki_sagara"]
UNUSED_COVER = ["cov_auto_jit", "cov_jpn_defence"]  # weak sources (see models.inventory)
REGIME_START = "tl_gage_2023"
YEAR = 365.25


@dataclass
class ModelData:
    """Arrays for one model call; ``observed`` keys are the model's observation site names."""

    inputs: dict[str, Any]
    observed: dict[str, np.ndarray]
    rows: dict[str, list[str]]
    heldout: ModelData | None = None
    notes: dict[str, str] = field(default_factory=dict)


def _require(df: pd.DataFrame, ids: list[str], kind: str) -> None:
    missing = [i for i in ids if i not in set(df["id"])]
    if missing:
        raise InputError(f"{kind}.csv: id", missing[0], f"a row with this id (the calibration uses {', '.join(ids)})")


def licence_rows(df: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Inputs ``(dest, day, trials)`` and ``approved`` for rows of ``licences.csv``."""
    counts = df["applications"].notna() & df["approved"].notna()
    n_eff = df["quality"].map(N_EFF).to_numpy()
    trials = np.where(counts, df["applications"].fillna(0).to_numpy(int), n_eff).astype(np.int64)
    share_k = np.round(df["approval_share"].to_numpy(float) * n_eff)
    approved = np.where(counts, df["approved"].fillna(0).to_numpy(int), share_k).astype(np.int64)
    inputs = {
        "dest": np.array([DESTINATIONS.index(d) for d in df["destination"]], dtype=np.int64),
        "day": df["day"].to_numpy(float),
        "trials": trials,
    }
    return inputs, approved


def _split(df: pd.DataFrame, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    held = df["id"].isin(HELD_OUT[model])
    return df[~held].reset_index(drop=True), df[held].reset_index(drop=True)


def build_licence(data_dir: Path | None) -> ModelData:
    """Every ``licences.csv`` row; CLEPA's two EU shares are held out."""
    df = obs.load("licences", data_dir)
    _require(df, HELD_OUT["licence"], "licences")
    fit, held = _split(df, "licence")
    (x, y), (xh, yh) = licence_rows(fit), licence_rows(held)
    return ModelData(
        x, {"licence_approved": y}, {"licence_approved": list(fit["id"])},
        heldout=ModelData(xh, {"licence_approved": yh}, {"licence_approved": list(held["id"])}),
    )  # fmt: skip


def export_rows(df: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Inputs ``(dest, start, length)`` and the log ratio to 2024 for ``magnet_exports.csv`` rows."""
    start = ((df["month"] - obs.CONTROL_DATE).dt.days).to_numpy(float)
    length = df["month"].dt.days_in_month.to_numpy(float)
    dest = np.where(df["destination"] == "USA", 1, 0).astype(np.int64)
    y = np.log(df["exports_t"].to_numpy(float) / df["exports_2024_t"].to_numpy(float))
    return {"dest": dest, "start": start, "length": length}, y


EXPORT_ROWS = ["exp_world_2025-04", "exp_world_2025-05", "exp_world_2025-06", "exp_usa_2025-05"]


def build_export_shock(data_dir: Path | None) -> ModelData:
    """WORLD Apr-Jun and USA May 2025 fitted; WORLD and USA July 2025 held out."""
    df = obs.load("magnet_exports", data_dir)
    _require(df, EXPORT_ROWS + HELD_OUT["export_shock"], "magnet_exports")
    for ids in (EXPORT_ROWS, HELD_OUT["export_shock"]):
        sub = df.set_index("id").loc[ids]
        if sub["exports_2024_t"].isna().any() or not sub["destination"].isin(["WORLD", "USA"]).all():
            raise InputError("magnet_exports.csv: exports_2024_t", ids, "WORLD or USA rows with a 2024 value")
    fit = df.set_index("id").loc[EXPORT_ROWS].reset_index()
    held = df.set_index("id").loc[HELD_OUT["export_shock"]].reset_index()
    (x, y), (xh, yh) = export_rows(fit), export_rows(held)
    return ModelData(
        x, {"export_log_ratio": y}, {"export_log_ratio": list(fit["id"])},
        heldout=ModelData(xh, {"export_log_ratio": yh}, {"export_log_ratio": list(held["id"])}),
    )  # fmt: skip


def _bounds(lo: pd.Series, hi: pd.Series, widen: float = 0.5) -> np.ndarray:
    """``(low, high)`` rows; missing low -> 0, missing high -> inf; a point is widened by ``widen``."""
    lo_a, hi_a = lo.fillna(0.0).to_numpy(float), hi.fillna(np.inf).to_numpy(float)
    point = lo_a == hi_a
    return np.stack([np.where(point, lo_a - widen, lo_a), np.where(point, hi_a + widen, hi_a)], axis=-1)


def china_magnet_share() -> dict[str, float]:
    """China's share of each region's automotive magnet purchases in the REE world (the engine's
    input structure): a blocked Chinese link cuts only this share of the buyer's supply."""
    from stress.mrio import ree_world

    m = ree_world.load()
    R, p = len(m.regions), len(m.sectors)
    q, auto = m.sectors.index("magnets"), m.sectors.index("automotive")
    out = {}
    for r, region in enumerate(m.regions):
        col = m.Z[:, r * p + auto].reshape(R, p)[:, q]
        out[region] = float(col[m.regions.index("CHN")] / col.sum()) if col.sum() > 0 else 0.0
    return out


def build_inventory(data_dir: Path | None) -> ModelData:
    """Company cover statements, transit assumptions, and the lags to the first halts."""
    cov = obs.load("inventory_cover", data_dir)
    halts = obs.load("halts", data_dir)
    _require(halts, FIRST_HALTS, "halts")
    stmt = cov[(cov["kind"] == "company") & ~cov["id"].isin(UNUSED_COVER)].reset_index(drop=True)
    transit = cov[cov["kind"] == "transit"].set_index("region")
    missing = [r for r in REGIONS if r not in transit.index]
    if missing or transit.index.duplicated().any():
        raise InputError("inventory_cover.csv: region", missing or list(transit.index), "one transit row per region " + ", ".join(REGIONS))
    transit = transit.loc[list(REGIONS)]
    if transit[["cover_days_low", "cover_days_high"]].isna().any().any() or (transit["cover_days_low"] >= transit["cover_days_high"]).any():
        raise InputError("inventory_cover.csv: cover_days_high", list(transit["id"]), "transit rows with low < high")
    lags = halts.set_index("id").loc[FIRST_HALTS].reset_index()
    china = china_magnet_share()
    inputs = {
        "stock_region": np.array([REGIONS.index(r) for r in stmt["region"]], dtype=np.int64),
        "lag_region": np.array([REGIONS.index(r) for r in lags["region"]], dtype=np.int64),
        "lag_china_share": np.array([china[r] for r in lags["region"]], dtype=float),
        "transit_low": transit["cover_days_low"].to_numpy(float),
        "transit_high": transit["cover_days_high"].to_numpy(float),
    }
    observed = {
        "inventory_stock_statement": _bounds(stmt["cover_days_low"], stmt["cover_days_high"]),
        "inventory_halt_lag": _bounds(lags["lag_days_low"], lags["lag_days_high"]),
    }
    rows = {"inventory_stock_statement": list(stmt["id"]), "inventory_halt_lag": list(lags["id"])}
    return ModelData(inputs, observed, rows)


def build_regime(data_dir: Path | None) -> ModelData:
    """Escalations and suspensions in ``[tl_gage_2023, FIT_END]``; stoppage durations."""
    tl = obs.load("timeline", data_dir)
    stops = obs.load("stoppages", data_dir)
    _require(tl, [REGIME_START, *HELD_OUT["regime"]], "timeline")
    t0 = tl.loc[tl["id"] == REGIME_START, "date"].iloc[0]
    esc = tl[(tl["kind"] == "escalation") & (tl["date"] >= t0) & (tl["date"] <= FIT_END)].sort_values("date")
    dates = esc["date"].reset_index(drop=True)
    gaps = (dates.diff().dt.days.to_numpy()[1:] / YEAR).astype(float)
    sus = tl[(tl["kind"] == "suspension") & (tl["date"] <= FIT_END)].set_index("refers_to")["date"]
    ended = esc["id"].isin(sus.index).to_numpy()
    to_end = np.array([(sus[i] if i in sus.index else FIT_END) - d for i, d in zip(esc["id"], esc["date"], strict=True)])
    years = np.array([t.days for t in to_end], dtype=float) / YEAR
    held = tl[tl["id"].isin(HELD_OUT["regime"])]
    if (held["kind"] != "escalation").any() or not ((held["date"] > FIT_END) & (held["date"] <= DATA_END)).all():
        raise InputError("timeline.csv: date", list(held["id"]), f"held-out escalations after {FIT_END.date()} and by {DATA_END.date()}")
    n_held = int(((tl["kind"] == "escalation") & (tl["date"] > FIT_END) & (tl["date"] <= DATA_END)).sum())
    inputs = {
        "escalation_open_years": float((FIT_END - dates.iloc[-1]).days / YEAR),
        "truce_open_years": float(years[~ended].sum()),
        "n_gaps": len(gaps),
        "n_truces": int(ended.sum()),
        "n_stoppages": len(stops),
    }
    observed = {
        "regime_escalation_gap_years": gaps,
        "regime_truce_years": years[ended],
        "regime_stoppage_days": stops["duration_days"].to_numpy(float),
    }
    ids = list(esc["id"])
    rows = {
        "regime_escalation_gap_years": [f"{a}..{b}" for a, b in zip(ids[:-1], ids[1:], strict=True)],
        "regime_truce_years": list(esc["id"][ended]),
        "regime_stoppage_days": list(stops["id"]),
    }
    window = {"window_years": float((DATA_END - FIT_END).days / YEAR)}
    heldout = ModelData(window, {"regime_escalation_count": np.asarray(n_held)}, {"regime_escalation_count": list(held["id"])})
    return ModelData(inputs, observed, rows, heldout=heldout)


BUILDERS = {"licence": build_licence, "export_shock": build_export_shock, "inventory": build_inventory, "regime": build_regime}


def build(model: str, data_dir: str | Path | None = None) -> ModelData:
    """The :class:`ModelData` of ``model`` from the files in ``data_dir`` (default: bundled)."""
    if model not in BUILDERS:
        raise InputError("calibration.models", model, "one of " + ", ".join(BUILDERS))
    return BUILDERS[model](Path(data_dir) if data_dir is not None else None)
