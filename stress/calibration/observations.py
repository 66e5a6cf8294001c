"""Observed data for calibration: one small CSV per kind, checked row by row on loading.

The files ship in ``stress/calibration/data/`` (``data/README.md`` lists their columns, units and
sources). ``load(kind, data_dir)`` reads ``<data_dir>/<kind>.csv`` instead, so a user can point
at their own folder of files with the same columns.

Every row carries ``source`` (non-empty) and ``quality``: ``exact`` (as reported by the source),
``approximate`` (rounded, a range, a relay), ``derived`` (our arithmetic), or ``assumption`` (no
direct source). Missing values are written ``NA`` (or left empty).

A bad file raises :class:`stress.errors.InputError` whose ``field`` names the file, the row
(1 = first data row; the file line is one more) and the column, with the value and what is allowed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stress.errors import InputError

DATA_DIR = Path(__file__).resolve().parent / "data"
CONTROL_DATE = pd.Timestamp("2025-04-04")  # day 0 of every "day" column (MOFCOM/GAC Ann. 18)
FIRST_DATE, LAST_DATE = pd.Timestamp("2009-01-01"), pd.Timestamp("2026-12-31")
QUALITIES = ("exact", "approximate", "derived", "assumption")
REGIONS = ("CHN", "USA", "EU", "JPN", "KOR", "ALLY", "ROW")
DESTINATIONS = REGIONS[1:]  # REE-world destinations of China's exports
NA_STRINGS = ("", "NA")


@dataclass(frozen=True)
class Col:
    """One column: ``kind`` is str, text, choice, date, month, count, number, share or day."""

    kind: str
    nullable: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schema:
    """Columns in file order, plus whole-row checks ``check(row) -> (column, value, allowed) | None``."""

    columns: dict[str, Col]
    checks: list[Callable[[dict[str, Any]], tuple[str, Any, str] | None]] = field(default_factory=list)


def _counts_fit(r: dict[str, Any]) -> tuple[str, Any, str] | None:
    if r["applications"] is None:
        return None
    used = sum(r[c] or 0 for c in ("approved", "rejected", "pending"))
    if used > r["applications"]:
        return "applications", r["applications"], f"at least approved + rejected + pending = {used}"
    return None


def _share_or_counts(r: dict[str, Any]) -> tuple[str, Any, str] | None:
    if r["approval_share"] is None:
        return "approval_share", None, "a share in [0, 1] (every row needs one)"
    if r["applications"] and r["approved"] is not None and abs(r["approved"] / r["applications"] - r["approval_share"]) > 0.005:
        return "approval_share", r["approval_share"], f"approved / applications = {r['approved'] / r['applications']:.4f} (within 0.005)"
    return None


def _day_matches(r: dict[str, Any]) -> tuple[str, Any, str] | None:
    days = (r["as_of"] - CONTROL_DATE).days
    return None if r["day"] == days else ("day", r["day"], f"{days}: days from 2025-04-04 to as_of")


def _ordered(lo: str, hi: str) -> Callable[[dict[str, Any]], tuple[str, Any, str] | None]:
    def check(r: dict[str, Any]) -> tuple[str, Any, str] | None:
        if r[lo] is not None and r[hi] is not None and r[hi] < r[lo]:
            return hi, r[hi], f"a value >= {lo} = {r[lo]}"
        return None

    return check


def _one_bound(lo: str, hi: str) -> Callable[[dict[str, Any]], tuple[str, Any, str] | None]:
    def check(r: dict[str, Any]) -> tuple[str, Any, str] | None:
        return (lo, None, f"a number (or one in {hi})") if r[lo] is None and r[hi] is None else None

    return check


def _duration_matches(r: dict[str, Any]) -> tuple[str, Any, str] | None:
    days = (r["end"] - r["start"]).days
    return None if abs(days - r["duration_days"]) <= 7 else ("duration_days", r["duration_days"], f"within 7 days of end - start = {days}")


def _paired(value: str, quality: str) -> Callable[[dict[str, Any]], tuple[str, Any, str] | None]:
    def check(r: dict[str, Any]) -> tuple[str, Any, str] | None:
        if (r[value] is None) != (r[quality] is None):
            return quality, r[quality], f"given exactly when {value} is given"
        return None

    return check


S, T, D, Q = Col("str"), Col("text", nullable=True), Col("date"), Col("choice", choices=QUALITIES)
N0 = Col("number", nullable=True)
SCHEMAS: dict[str, Schema] = {
    "licences": Schema(
        {
            "id": S, "destination": Col("choice", choices=DESTINATIONS), "observer": S, "as_of": D, "day": Col("day"),
            "applications": Col("count", True), "approved": Col("count", True), "rejected": Col("count", True),
            "pending": Col("count", True), "approval_share": Col("share", True), "quality": Q, "source": S, "note": T,
        },
        [_counts_fit, _share_or_counts, _day_matches],
    ),
    "magnet_exports": Schema(
        {
            "id": S, "month": Col("month"), "destination": Col("choice", choices=("WORLD", *DESTINATIONS, "DEU", "VNM")),
            "exports_t": Col("number"), "quality": Q, "exports_2024_t": N0, "quality_2024": Col("choice", True, QUALITIES),
            "source": S, "note": T,
        },
        [_paired("exports_2024_t", "quality_2024")],
    ),
    "halts": Schema(
        {
            "id": S, "firm": S, "region": Col("choice", choices=REGIONS),
            "event": Col("choice", choices=("halt", "output_cut", "plan_cut", "stoppage_wave", "supply_cut")),
            "control_date": D, "start": D, "lag_days_low": N0, "lag_days_high": N0, "duration_days": N0,
            "quality": Q, "source": S, "note": T,
        },
        [_ordered("lag_days_low", "lag_days_high"), _ordered("control_date", "start")],
    ),
    "inventory_cover": Schema(
        {
            "id": S, "holder": S, "region": Col("choice", choices=REGIONS), "cover_days_low": N0, "cover_days_high": N0,
            "date": D, "kind": Col("choice", choices=("company", "national_stockpile", "transit")), "quality": Q,
            "source": S, "note": T,
        },
        [_ordered("cover_days_low", "cover_days_high"), _one_bound("cover_days_low", "cover_days_high")],
    ),
    "timeline": Schema(
        {
            "id": S, "date": D, "event": S,
            "kind": Col("choice", choices=("escalation", "truce", "suspension", "lapse", "tariff", "other")),
            "refers_to": T, "us_tariff_pct": N0, "detail": T, "quality": Q, "source": S,
        }
    ),
    "stoppages": Schema(
        {
            "id": S, "episode": S, "kind": Col("choice", choices=("flow_stop", "announce_to_suspension")),
            "start": D, "end": D, "duration_days": Col("number"), "quality": Q, "source": S, "note": T,
        },
        [_ordered("start", "end"), _duration_matches],
    ),
    "prices": Schema(
        {
            "id": S, "date": D, "item": S, "location": S, "value_low": Col("number"), "value_high": N0, "unit": S,
            "quality": Q, "source": S, "note": T,
        },
        [_ordered("value_low", "value_high")],
    ),
}  # fmt: skip
KINDS = tuple(SCHEMAS)

_ALLOWED = {
    "str": "non-empty text",
    "text": "text",
    "date": "a date YYYY-MM-DD in 2009-01-01..2026-12-31",
    "month": "a month YYYY-MM in 2009-01..2026-12",
    "count": "a whole number >= 0",
    "number": "a number >= 0",
    "share": "a share in [0, 1]",
    "day": "a whole number of days >= 0",
}


def _parse(raw: str, col: Col) -> Any:
    """One cell -> Python value, or raise ValueError. Missing cells are handled by the caller."""
    if col.kind in ("str", "text"):
        return raw
    if col.kind == "choice":
        if raw not in col.choices:
            raise ValueError
        return raw
    if col.kind in ("date", "month"):
        if len(raw) != (10 if col.kind == "date" else 7):
            raise ValueError
        d = pd.Timestamp(dt.date.fromisoformat(raw if col.kind == "date" else raw + "-01"))
        if not FIRST_DATE <= d <= LAST_DATE:
            raise ValueError
        return d
    x = float(raw)
    if not np.isfinite(x) or x < 0 or (col.kind == "share" and x > 1):
        raise ValueError
    if col.kind in ("count", "day"):
        if x != int(x):
            raise ValueError
        return int(x)
    return x


def load(kind: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read and check ``<data_dir>/<kind>.csv`` (default: the files shipped with the package).

    Parameters
    ----------
    kind
        One of ``licences, magnet_exports, halts, inventory_cover, timeline, stoppages, prices``.
    data_dir
        A folder holding ``<kind>.csv`` with the same columns; ``None`` for the bundled data.

    Returns
    -------
    pandas.DataFrame
        One row per observation, in file order. Dates are ``datetime64``, counts ``Int64``
        (nullable), other numbers ``float64`` (NaN where missing), text ``object``.

    Raises
    ------
    InputError
        Unknown kind, missing file, wrong columns, or a bad cell or row (the field names the
        file, the row and the column).
    """
    if kind not in SCHEMAS:
        raise InputError("calibration.observations.kind", kind, "one of " + ", ".join(KINDS))
    path = Path(data_dir if data_dir is not None else DATA_DIR) / f"{kind}.csv"
    if not path.is_file():
        raise InputError("calibration.data_dir", str(path.parent), f"a folder holding {kind}.csv")
    schema = SCHEMAS[kind]
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        reason = " ".join(str(exc).split())  # pandas' parser messages span lines
        raise InputError(path.name, str(path), f"a comma-separated file with a header row ({reason})") from None
    if raw.empty:
        raise InputError(path.name, str(path), "a file with one or more observations below its header row")
    if list(raw.columns) != list(schema.columns):
        raise InputError(f"{path.name}: columns", list(raw.columns), "exactly " + ", ".join(schema.columns))
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, rec in enumerate(raw.to_dict("records"), start=1):
        where = f"{path.name}: row {i} (line {i + 1}), column"
        row: dict[str, Any] = {}
        for name, col in schema.columns.items():
            cell = rec[name].strip()
            if cell in NA_STRINGS:
                if not col.nullable:
                    raise InputError(f"{where} {name}", rec[name], _ALLOWED.get(col.kind, "one of " + ", ".join(col.choices)))
                row[name] = None
                continue
            try:
                row[name] = _parse(cell, col)
            except ValueError:
                allowed = "one of " + ", ".join(col.choices) if col.kind == "choice" else _ALLOWED[col.kind]
                raise InputError(f"{where} {name}", rec[name], allowed) from None
        if row["id"] in seen:
            raise InputError(f"{where} id", row["id"], "an id not used by an earlier row")
        seen.add(row["id"])
        for check in schema.checks:
            bad = check(row)
            if bad is not None:
                raise InputError(f"{where} {bad[0]}", bad[1], bad[2])
        rows.append(row)
    if kind == "timeline":
        for i, row in enumerate(rows, start=1):
            if row["refers_to"] is not None and row["refers_to"] not in seen:
                raise InputError(f"{path.name}: row {i} (line {i + 1}), column refers_to", row["refers_to"], "the id of another row")
    return _frame(rows, schema)


def _frame(rows: list[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    out: dict[str, Any] = {}
    for name, col in schema.columns.items():
        vals = [r[name] for r in rows]
        if col.kind in ("date", "month"):
            out[name] = pd.to_datetime(pd.Series([v if v is not None else pd.NaT for v in vals], dtype="object"))
        elif col.kind in ("count", "day"):
            out[name] = pd.array(vals, dtype="Int64")
        elif col.kind in ("number", "share"):
            out[name] = np.array([np.nan if v is None else v for v in vals], dtype=float)
        else:
            out[name] = pd.Series(vals, dtype=object)
    return pd.DataFrame(out)
