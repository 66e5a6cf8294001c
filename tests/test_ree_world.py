"""Tests of the shipped rare-earth world MRIO (stress.mrio.ree_world).

Tolerances and where they come from:

- Shipped CSVs vs a fresh ``build()``: the CSVs store 12 significant digits (relative rounding
  <= 5e-13); RAS stops at a 1e-12 relative residual, and summation order may differ across
  machines by a few ulps per sweep, so ``rtol = 1e-10`` (``atol = 0``: zero cells are exact zeros).
- Balance against the construction targets: the RAS residual is < 1e-12 relative, so 1e-9.
- Headline shares: the ranges are the facts' own ranges (ree_facts.md §1: China 87-92 % of
  separation, 90-94 % of magnets; mining 69 % by tonnage, which the table values at ~65 % because
  Myanmar's heavy-REE ore is priced above Chinese ore), not fits to this build.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stress.errors import InputError
from stress.mrio import math as iomath
from stress.mrio import ree_world
from stress.mrio.tables import validate

# The package re-exports the function build(), which shadows the submodule of the same name.
build_mod = importlib.import_module("stress.mrio.ree_world.build")
R, S = len(ree_world.REGIONS), len(ree_world.SECTORS)
CHN = ree_world.REGIONS.index("CHN")


@pytest.fixture(scope="module")
def shipped():
    return ree_world.load()


@pytest.fixture(scope="module")
def fresh():
    return ree_world.build()


def _by_sector(mrio, sector):
    """Output of ``sector`` by region, shape ``(R,)``."""
    return mrio.x.reshape(R, S)[:, ree_world.SECTORS.index(sector)]


def _sales(mrio, sector):
    """Intermediate sales of ``sector``: origin region x buying industry, shape ``(R, R*S)``."""
    return mrio.Z.reshape(R, S, R * S)[:, ree_world.SECTORS.index(sector), :]


# ---------------------------------------------------------------------------------------------
# shipped data == construction


def test_load_metadata(shipped):
    assert shipped.name == "ree_world"
    assert shipped.unit == "billion USD (2024)"
    assert shipped.regions == ("CHN", "USA", "EU", "JPN", "KOR", "ALLY", "ROW")
    assert shipped.sectors[:3] == ("ree_mining", "ree_separation", "magnets")
    assert shipped.sectors[-1] == "services" and len(shipped.sectors) == 12
    assert shipped.final_demand == ("final_demand",)
    assert shipped.Z.shape == (84, 84) and shipped.Y.shape == (84, 7)
    assert Path(shipped.meta["provenance"]).is_file()
    assert shipped.meta["description"]


def test_shipped_csvs_equal_fresh_build(shipped, fresh):
    np.testing.assert_allclose(shipped.Z, fresh.Z, rtol=1e-10, atol=0)
    np.testing.assert_allclose(shipped.Y, fresh.Y, rtol=1e-10, atol=0)
    np.testing.assert_allclose(shipped.x, fresh.x, rtol=1e-10, atol=0)


def test_build_is_deterministic(fresh):
    again = ree_world.build()
    np.testing.assert_array_equal(again.Z, fresh.Z)
    np.testing.assert_array_equal(again.Y, fresh.Y)


def test_main_writes_loadable_tables(tmp_path, shipped):
    build_mod.main(["--out", str(tmp_path)])
    written = ree_world.load(tmp_path)
    np.testing.assert_allclose(written.Z, shipped.Z, rtol=1e-10, atol=0)
    np.testing.assert_allclose(written.Y, shipped.Y, rtol=1e-10, atol=0)


def test_load_rejects_mislabelled_rows(tmp_path):
    for name in ("Z.csv", "Y.csv"):
        frame = pd.read_csv(ree_world.DATA_DIR / name)
        if name == "Z.csv":
            frame = frame.iloc[[1, 0, *range(2, len(frame))]]  # swap the first two industries
        frame.to_csv(tmp_path / name, index=False)
    with pytest.raises(InputError, match="Z.csv.rows"):
        ree_world.load(tmp_path)


# ---------------------------------------------------------------------------------------------
# a usable input-output table


def test_validate_and_productive(shipped):
    validate(shipped)
    A = shipped.A
    assert (A.sum(axis=0) < 1).all()
    assert iomath.spectral_radius(A) < 1
    L = iomath.calc_L(A)  # raises if (I - A) L deviates from I by more than 1e-8
    assert (L >= -1e-12).all()
    assert (shipped.Y >= 0).all() and (shipped.Z >= 0).all()


def test_balanced_to_construction_targets(fresh):
    np.testing.assert_allclose(fresh.x, fresh.meta["target_output"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fresh.value_added, fresh.meta["target_value_added"], rtol=1e-9, atol=1e-12)
    assert fresh.meta["ras_residual"] < 1e-12


def test_value_added_matches_gdp(shipped):
    """Regional value added reproduces the sourced GDP (services VA/GO vs mining 0.45: < 0.01 %)."""
    p = build_mod.read_provenance().set_index("item")["value"]
    va = shipped.value_added.reshape(R, S).sum(axis=1)
    gdp = np.array([p[f"gdp.{r}"] for r in ree_world.REGIONS])
    np.testing.assert_allclose(va, gdp, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# REE: tiny in value, concentrated in China, with real but small substitutes


def test_ree_rows_are_tiny(shipped):
    ree = sum(_by_sector(shipped, s).sum() for s in ree_world.REE_SECTORS)
    assert ree / shipped.x.sum() < 5e-4
    assert 15.0 < _by_sector(shipped, "magnets").sum() < 18.0  # ~16.5 bn of magnets
    assert 3.0 < _by_sector(shipped, "ree_separation").sum() < 5.0  # 3.5-5 bn oxide market


def test_china_stage_shares(shipped):
    share = {s: _by_sector(shipped, s)[CHN] / _by_sector(shipped, s).sum() for s in ree_world.REE_SECTORS}
    assert 0.60 <= share["ree_mining"] <= 0.75
    assert 0.85 <= share["ree_separation"] <= 0.93
    assert 0.90 <= share["magnets"] <= 0.95


def test_china_magnet_exports(shipped):
    sales = _sales(shipped, "magnets").reshape(R, R, S).sum(axis=2)  # origin x destination region
    exports = sales[CHN].sum() - sales[CHN, CHN]
    assert exports == pytest.approx(2.86, rel=1e-9)
    assert sales[CHN, ree_world.REGIONS.index("EU")] / exports == pytest.approx(0.36, rel=1e-9)


@pytest.mark.parametrize("sector", ["ree_separation", "magnets"])
def test_every_buyer_has_a_non_chinese_supplier(shipped, sector):
    sales = _sales(shipped, sector)
    buyers = np.flatnonzero(sales.sum(axis=0) > 0)
    assert buyers.size > 0
    non_chinese = np.delete(sales, CHN, axis=0).sum(axis=0)
    labels = shipped.industry_labels
    lacking = [labels[j] for j in buyers if non_chinese[j] <= 0]
    assert not lacking, f"{sector} buyers with China as the only supplier: {lacking}"
    # ... and the allies' flows stay small next to China's outside China
    by_region = sales.reshape(R, R, S).sum(axis=2)
    assert np.delete(by_region, CHN, axis=0).sum() < by_region[CHN].sum()


def test_magnet_coefficients_of_automotive(shipped):
    A = shipped.A
    rows = np.arange(R) * S + ree_world.SECTORS.index("magnets")
    coef = {r: A[rows, shipped.index(r, "automotive")].sum() for r in ree_world.REGIONS}
    for r in ("EU", "USA"):
        assert 1e-4 <= coef[r] <= 3e-3, (r, coef[r])
    assert 1e-3 <= coef["CHN"] <= 5e-3
    # oxides reach automotive only through magnets (and other inputs): total content ~1e-4
    L = iomath.calc_L(A)
    ox = np.arange(R) * S + ree_world.SECTORS.index("ree_separation")
    for r in ("EU", "USA"):
        assert 3e-5 <= L[ox, shipped.index(r, "automotive")].sum() <= 1e-3


def test_ree_rows_have_no_final_demand(shipped):
    ree_rows = [i for i, (_, s) in enumerate(shipped.industry_labels) if s in ree_world.REE_SECTORS]
    assert (shipped.Y[ree_rows] == 0).all()


# ---------------------------------------------------------------------------------------------
# provenance


def test_provenance_columns_and_sources():
    raw = pd.read_csv(ree_world.PROVENANCE, dtype=str, keep_default_na=False)
    assert list(raw.columns) == ["item", "value", "unit", "tag", "source"]
    assert raw["item"].is_unique
    assert set(raw["tag"]) <= {"S", "D", "A"}
    assert (raw["source"].str.strip() != "").all()
    assert (raw["unit"].str.strip() != "").all()
    assert np.isfinite(pd.to_numeric(raw["value"]).to_numpy()).all()
    derived = raw[raw["tag"] == "D"]
    assert derived["source"].str.contains("=").all(), "a D item must show its arithmetic"


def test_every_provenance_item_is_used(fresh):
    assert fresh.meta["unused_provenance_items"] == []


def test_read_provenance_rejects_empty_source(tmp_path):
    raw = pd.read_csv(ree_world.PROVENANCE, dtype=str, keep_default_na=False)
    raw.loc[3, "source"] = " "
    bad = tmp_path / "provenance.csv"
    raw.to_csv(bad, index=False)
    with pytest.raises(InputError, match="source"):
        build_mod.read_provenance(bad)


def test_build_rejects_inconsistent_exports(tmp_path):
    raw = pd.read_csv(ree_world.PROVENANCE, dtype=str, keep_default_na=False)
    raw.loc[raw["item"] == "ree.separation_export.ALLY.CHN", "value"] = "1.0"  # more than Lynas makes
    bad = tmp_path / "provenance.csv"
    raw.to_csv(bad, index=False)
    with pytest.raises(InputError, match="exports no larger than output"):
        ree_world.build(bad)


def test_criticality_table_is_read_and_checked(tmp_path):
    crit = ree_world.load().criticality
    assert crit is not None and crit.shape == (12, 84)
    p = len(ree_world.SECTORS)
    mag, auto, serv, oth = (ree_world.SECTORS.index(s) for s in ("magnets", "automotive", "services", "other_manufacturing"))
    assert np.all(crit[mag, auto::p] == 1.0) and np.all(crit[auto, serv::p] == 0.1)  # as listed in the CSV
    assert np.all(crit[oth, serv::p] == 0.2)  # materials and fuels into services: a documented share, not ARIO's 1
    assert np.all((crit >= 0) & (crit <= 1))
    good = (ree_world.DATA_DIR / "criticality.csv").read_text().splitlines()
    header = good[0]
    bad = tmp_path / "criticality.csv"
    cases = {
        "share": good[:1] + [good[1].replace("ree_mining,ree_mining,0.0,", "ree_mining,ree_mining,1.5,")] + good[2:],
        "class": good[:1] + [good[1].replace(",non_critical,", ",vital,")] + good[2:],
        "buyer_sector": good[:1] + [good[1].replace("ree_mining,ree_mining,", "ree_mining,cars,")] + good[2:],
        "missing": good[:-1],
        "twice": good + [good[-1]],
        "class share": good[:1] + [good[1].replace("ree_mining,ree_mining,0.0,", "ree_mining,ree_mining,0.3,")] + good[2:],
    }
    for what, lines in cases.items():
        bad.write_text("\n".join(lines) + "\n")
        with pytest.raises(InputError) as err:
            ree_world.read_criticality(bad)
        assert "criticality.csv" in err.value.field, what
    bad.write_text(header.replace("class,", "") + "\n")
    with pytest.raises(InputError, match="class"):
        ree_world.read_criticality(bad)
