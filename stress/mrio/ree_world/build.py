"""Construct the default rare-earth world MRIO (7 regions x 12 sectors, 2024, bn USD).

Every number comes from ``data/provenance.csv`` (columns ``item,value,unit,tag,source``); this
module holds only the arithmetic. The steps follow ``shared/data/world_aggregates.md`` §5:

1. **Gross output** ``x``: the named sectors from the provenance table; "other manufacturing" is
   the residual of manufacturing output ``MVA / (VA/GO)_mfg`` and "services" the residual of
   non-manufacturing output ``(GDP - MVA) / (VA/GO)_other`` after REE mining.
2. **Value added**: sector VA/GO defaults, scaled per region so that manufacturing value added
   equals the region's MVA (services use the region's non-manufacturing ratio). The column
   intermediate total of industry ``j`` is then ``x_j - VA_j``.
3. **REE cells, pinned**: every sale of ``ree_mining``, ``ree_separation`` and ``magnets`` is set
   explicitly from trade facts (exports by destination; domestic sales are the residual of
   output), and spread inside a buying region over its buying sectors (oxides by magnet output
   and other uses, magnets by end-use shares). These rows are held fixed by the balancing.
4. **Initial estimate** of all other cells: archetype input recipes per buying sector, split
   over origins with import shares (buyer openness x product tradability) and output-weighted
   gravity; final sales = output - intermediate sales (with a floor), sent to destinations in
   proportion to origin share x destination GDP.
5. **RAS** on ``[Z | Y]`` to row targets ``x`` and column targets ``x - VA`` (industries) and
   ``VA`` summed by region (final demand, i.e. balanced trade), with the REE cells fixed.

Run ``python -m stress.mrio.ree_world.build`` to rewrite ``data/Z.csv`` and ``data/Y.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from stress.errors import InputError
from stress.mrio import math as iomath
from stress.mrio.tables import Mrio, validate

NAME = "ree_world"
UNIT = "billion USD (2024)"
BASE_YEAR = 2024
REGIONS = ("CHN", "USA", "EU", "JPN", "KOR", "ALLY", "ROW")
SECTORS = (
    "ree_mining",
    "ree_separation",
    "magnets",
    "batteries",
    "semiconductors",
    "automotive",
    "defence_aerospace",
    "wind_electrical",
    "electronics",
    "machinery",
    "other_manufacturing",
    "services",
)
FINAL_DEMAND = ("final_demand",)
REE_SECTORS = ("ree_mining", "ree_separation", "magnets")
# Sectors whose output is given directly in the provenance table; the other two are residuals.
NAMED_SECTORS = SECTORS[:10]
# Manufacturing = everything but REE mining (a mining activity) and services (all non-manufacturing).
MANUFACTURING = SECTORS[1:11]
NON_REE = SECTORS[3:]
DESCRIPTION = (
    "Stylised 7-region x 12-sector rare-earth world MRIO, base year 2024, yearly flows in bn USD, "
    "built from public aggregates (world_aggregates.md, ree_facts.md) with RAS balancing; REE "
    "mining, separation and magnet cells are pinned from trade facts. See README.md and provenance.csv."
)

DATA_DIR = Path(__file__).resolve().with_name("data")
PROVENANCE = DATA_DIR / "provenance.csv"
PROVENANCE_COLUMNS = ("item", "value", "unit", "tag", "source")
TAGS = ("S", "D", "A")

R, S = len(REGIONS), len(SECTORS)
N = R * S


def column_labels() -> list[str]:
    """Header of the buyer columns of ``Z.csv``: ``REGION/sector`` in table order."""
    return [f"{r}/{s}" for r in REGIONS for s in SECTORS]


def final_demand_labels() -> list[str]:
    """Header of the columns of ``Y.csv``: ``REGION/final_demand`` in table order."""
    return [f"{r}/{f}" for r in REGIONS for f in FINAL_DEMAND]


# --------------------------------------------------------------------------------------------
# provenance


def read_provenance(path: Path | str = PROVENANCE) -> pd.DataFrame:
    """Read and check the provenance table.

    Raises
    ------
    InputError
        If a column is missing, an item is repeated, a value is not a finite number, a tag is
        not one of S/D/A, or a source is empty.
    """
    path = Path(path)
    table = pd.read_csv(path, dtype={"item": str, "unit": str, "tag": str, "source": str}, keep_default_na=False)
    field = f"provenance[{path.name}]"
    missing = [c for c in PROVENANCE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{field}.columns", list(table.columns), "columns " + ",".join(PROVENANCE_COLUMNS))
    dup = table["item"][table["item"].duplicated()]
    if not dup.empty:
        raise InputError(f"{field}.item", dup.iloc[0], "each item listed once")
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = table["item"][~np.isfinite(values.to_numpy(dtype=float))]
    if not bad.empty:
        raise InputError(f"{field}.value", bad.iloc[0], "a finite number for every item")
    table["value"] = values.astype(float)
    bad = table[~table["tag"].isin(TAGS)]
    if not bad.empty:
        raise InputError(f"{field}.tag", f"{bad['item'].iloc[0]}: {bad['tag'].iloc[0]!r}", "one of S, D, A")
    bad = table[table["source"].str.strip() == ""]
    if not bad.empty:
        raise InputError(f"{field}.source", bad["item"].iloc[0], "a non-empty source or reason")
    return table


class Inputs:
    """Look-up of provenance values that remembers which items the builder used.

    Parameters
    ----------
    table
        Output of :func:`read_provenance`.
    """

    def __init__(self, table: pd.DataFrame):
        self._values = dict(zip(table["item"], table["value"], strict=True))
        self._used: set[str] = set()

    def __call__(self, item: str, default: float | None = None) -> float:
        """Value of ``item``; ``default`` if the item is absent and a default is given (else raise)."""
        if item in self._values:
            self._used.add(item)
            return self._values[item]
        if default is None:
            raise InputError("provenance.item", item, "an item present in provenance.csv")
        return default

    def keys(self, prefix: str) -> list[str]:
        """Suffixes of the items starting with ``prefix``, in file order."""
        return [k[len(prefix) :] for k in self._values if k.startswith(prefix)]

    def unused(self) -> list[str]:
        """Items never read, i.e. numbers in the provenance table that the build does not use."""
        return [k for k in self._values if k not in self._used]


# --------------------------------------------------------------------------------------------
# steps 1-2: output and value added


def gross_output(p: Inputs) -> np.ndarray:
    """Gross output by region x sector, shape ``(R, S)``.

    Other manufacturing closes manufacturing output ``MVA / (VA/GO)_mfg``; services close
    non-manufacturing output ``(GDP - MVA) / (VA/GO)_other`` net of REE mining.
    """
    x = np.zeros((R, S))
    for i, r in enumerate(REGIONS):
        for s in NAMED_SECTORS:
            x[i, SECTORS.index(s)] = p(f"output.{r}.{s}")
        mfg_total = p(f"mva.{r}") / p(f"va_go_mfg.{r}")
        named_mfg = sum(x[i, SECTORS.index(s)] for s in MANUFACTURING[:-1])
        other_total = (p(f"gdp.{r}") - p(f"mva.{r}")) / p(f"va_go_other.{r}")
        x[i, SECTORS.index("other_manufacturing")] = mfg_total - named_mfg
        x[i, SECTORS.index("services")] = other_total - x[i, SECTORS.index("ree_mining")]
    if (x < 0).any():
        i, j = np.argwhere(x < 0)[0]
        raise InputError(f"output.{REGIONS[i]}.{SECTORS[j]}", x[i, j], "named sectors within the region's totals")
    return x


def value_added(p: Inputs, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value added by region x sector and the manufacturing scale factor of each region.

    Manufacturing sectors get ``va_go.<sector> * f_r`` with ``f_r`` chosen so that their value
    added sums to ``mva.<r>`` (the §4 region factors, made exact); REE mining uses its default
    everywhere and services the region's non-manufacturing ratio.

    Returns
    -------
    va, factor
        Shapes ``(R, S)`` and ``(R,)``.
    """
    base = np.array([p(f"va_go.{s}") if s in MANUFACTURING else 0.0 for s in SECTORS])
    factor = np.array([p(f"mva.{r}") for r in REGIONS]) / (x * base[None, :]).sum(axis=1)
    ratio = base[None, :] * factor[:, None]
    ratio[:, SECTORS.index("ree_mining")] = p("va_go.ree_mining")
    ratio[:, SECTORS.index("services")] = [p(f"va_go_other.{r}") for r in REGIONS]
    if (ratio >= 1).any():
        i, j = np.argwhere(ratio >= 1)[0]
        raise InputError(f"va_go.{SECTORS[j]}", ratio[i, j], f"a VA/GO ratio below 1 after scaling for {REGIONS[i]}")
    return ratio * x, factor


# --------------------------------------------------------------------------------------------
# step 3: pinned REE cells


def _bilateral(p: Inputs, x: np.ndarray, sector: str) -> np.ndarray:
    """Sales of ``sector`` from origin to destination region, ``(R, R)``; domestic = residual."""
    k = SECTORS.index(sector)
    flows = np.zeros((R, R))
    prefix = {"ree_mining": "ree.mining_export.", "ree_separation": "ree.separation_export."}.get(sector)
    if sector == "magnets":
        # China's exports are a sourced total split by sourced destination shares; the allies'
        # exports are small explicit flows.
        total = p("ree.magnets_export_total.CHN")
        shares = {d: p(f"ree.magnets_export_share.CHN.{d}") for d in p.keys("ree.magnets_export_share.CHN.")}
        if abs(sum(shares.values()) - 1.0) > 1e-9:
            raise InputError("ree.magnets_export_share.CHN", sum(shares.values()), "shares summing to 1")
        for d, sh in shares.items():
            flows[REGIONS.index("CHN"), REGIONS.index(d)] = total * sh
        prefix = "ree.magnets_export."
    for key in p.keys(prefix):
        o, d = key.split(".")
        if o == d:
            raise InputError(prefix + key, p(prefix + key), "exports only: domestic sales are output minus exports")
        flows[REGIONS.index(o), REGIONS.index(d)] = p(prefix + key)
    if sector == "ree_separation":
        # China's raw-REE export total is sourced; its ROW destination (Taiwan and others) is the rest.
        chn, row = REGIONS.index("CHN"), REGIONS.index("ROW")
        flows[chn, row] = p("ree.separation_export_total.CHN") - flows[chn].sum()
    np.fill_diagonal(flows, x[:, k] - flows.sum(axis=1))
    if (flows < 0).any():
        o, d = np.argwhere(flows < 0)[0]
        raise InputError(f"{sector}.{REGIONS[o]}->{REGIONS[d]}", flows[o, d], "exports no larger than output")
    return flows


def ree_rows(p: Inputs, x: np.ndarray) -> np.ndarray:
    """Pin the intermediate sales of the three REE sectors; returns an ``(N, N)`` matrix.

    Inside a buying region every supplier's flow is split over the buying sectors with the same
    shares, so each buying industry keeps every supplier the region has: a re-sourcing model then
    sees the allies' (small) flows as the substitution it really has.
    """
    Z = np.zeros((N, N))
    mining = _bilateral(p, x, "ree_mining")
    oxides = _bilateral(p, x, "ree_separation")
    magnets = _bilateral(p, x, "magnets")

    sep = SECTORS.index("ree_separation")
    mag = SECTORS.index("magnets")
    alpha = p("ree.oxide_per_magnet")
    other_use = {s: p(f"ree.oxide_other_use.{s}") for s in p.keys("ree.oxide_other_use.")}
    end_use = {s: p(f"ree.magnet_end_use.{s}") for s in p.keys("ree.magnet_end_use.")}
    for label, shares in (("ree.oxide_other_use", other_use), ("ree.magnet_end_use", end_use)):
        if abs(sum(shares.values()) - 1.0) > 1e-9:
            raise InputError(label, sum(shares.values()), "shares summing to 1")

    for d, region in enumerate(REGIONS):
        # Ore feeds the buyer region's separation sector only.
        for o in range(R):
            Z[o * S + SECTORS.index("ree_mining"), d * S + sep] = mining[o, d]

        # Oxides and metals: magnet makers first (alpha per USD of magnets), then metal making in
        # mine-less regions, then the other uses share what is left.
        absorbed = oxides[:, d].sum()
        need = {"magnets": alpha * x[d, mag], "ree_separation": p(f"ree.oxide_metal_making.{region}", 0.0) * x[d, sep]}
        rest = absorbed - sum(need.values())
        if rest < 0:
            raise InputError(
                f"ree.separation_export.*.{region}",
                absorbed,
                f"at least {sum(need.values()):.4g} bn to feed its magnet and metal makers",
            )
        need.update({s: rest * sh for s, sh in other_use.items()})
        if absorbed > 0:
            for s, amount in need.items():
                Z[np.arange(R) * S + sep, d * S + SECTORS.index(s)] += oxides[:, d] * amount / absorbed

        # Magnets: the region's absorption spread over users with the end-use shares.
        for s, sh in end_use.items():
            Z[np.arange(R) * S + mag, d * S + SECTORS.index(s)] += magnets[:, d] * sh
    return Z


# --------------------------------------------------------------------------------------------
# step 4: initial estimate of the other cells


def origin_shares(p: Inputs, x: np.ndarray) -> np.ndarray:
    """Share of buyer region ``d``'s purchases of sector ``s`` that come from region ``o``.

    Goods: import share ``min(import_share.s * openness.d, cap)``, spread over the other regions
    in proportion to their output of ``s`` times a bilateral affinity (gravity hints). Services:
    a flat import share. Shape ``(S, R_origin, R_dest)``; each ``[s, :, d]`` sums to 1 for the
    non-REE sectors (REE sectors are pinned and get zeros here).
    """
    G = np.zeros((S, R, R))
    affinity = np.ones((R, R))
    for key in p.keys("affinity."):
        o, d = key.split(".")
        affinity[REGIONS.index(o), REGIONS.index(d)] = p("affinity." + key)
    cap = p("import_share.cap")
    openness = np.array([p(f"openness.{r}") for r in REGIONS])
    for s in NON_REE:
        k = SECTORS.index(s)
        m = np.full(R, p(f"import_share.{s}")) if s == "services" else np.minimum(p(f"import_share.{s}") * openness, cap)
        for d in range(R):
            w = x[:, k] * affinity[:, d]
            w[d] = 0.0
            G[k, :, d] = m[d] * w / w.sum()
            G[k, d, d] = 1.0 - m[d]
    return G


def initial_estimate(p: Inputs, x: np.ndarray, va: np.ndarray, Z_ree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First guess of the non-REE intermediate flows and of final demand.

    Returns
    -------
    Z0, Y0
        Shapes ``(N, N)`` and ``(N, R)``; zero in the REE rows (pinned elsewhere) and in the
        columns of industries with zero output.
    """
    G = origin_shares(p, x)
    inputs_total = (x - va).ravel() - Z_ree.sum(axis=0)  # non-REE intermediate inputs per buyer
    Z0 = np.zeros((N, N))
    for b, buyer in enumerate(SECTORS):
        recipe = {s: p(f"recipe.{buyer}.{s}") for s in p.keys(f"recipe.{buyer}.")}
        if abs(sum(recipe.values()) - 1.0) > 1e-9:
            raise InputError(f"recipe.{buyer}", sum(recipe.values()), "shares summing to 1")
        for s, share in recipe.items():
            k = SECTORS.index(s)
            for d in range(R):
                j = d * S + b
                Z0[np.arange(R) * S + k, j] = share * inputs_total[j] * G[k, :, d]
    # Final sales = output - intermediate sales, floored so RAS has a cell to scale, sent to
    # destinations in proportion to origin share x destination size (GDP = VA).
    floor = p("final_demand.floor")
    fd = np.maximum(x.ravel() - Z0.sum(axis=1), floor * x.ravel())
    size = va.sum(axis=1)
    Y0 = np.zeros((N, R))
    for k, s in enumerate(SECTORS):
        if s in REE_SECTORS:
            continue
        w = G[k] * size[None, :]  # (origin, destination)
        rows = np.arange(R) * S + k
        Y0[rows] = fd[rows, None] * w / w.sum(axis=1, keepdims=True)
    return Z0, Y0


# --------------------------------------------------------------------------------------------
# step 5: balancing


def ras(M0: np.ndarray, row_targets: np.ndarray, col_targets: np.ndarray, *, tol: float, max_iter: int) -> tuple[np.ndarray, int, float]:
    """Biproportional (RAS) scaling of a non-negative matrix to row and column totals.

    Alternately scales rows and columns (Miller & Blair, 2009, ch. 7); on a non-negative matrix
    GRAS (Junius & Oosterhaven, 2003) reduces to this. Rows or columns with a zero target must be all zero.

    Parameters
    ----------
    M0
        Non-negative starting matrix, shape ``(m, k)``.
    row_targets, col_targets
        Shapes ``(m,)`` and ``(k,)``, with equal sums.
    tol
        Stop when every row and column sum is within ``tol`` of its target, relative to the
        target (absolute ``tol`` times the largest target for zero targets).
    max_iter
        Raise if not converged after this many row+column sweeps.

    Returns
    -------
    M, iterations, residual
        Balanced matrix, sweeps used and the final largest relative residual.
    """
    M = M0.copy()
    scale = max(row_targets.max(), col_targets.max())
    r_den = np.maximum(row_targets, tol * scale)
    c_den = np.maximum(col_targets, tol * scale)
    for it in range(1, max_iter + 1):
        rs = M.sum(axis=1)
        M *= np.divide(row_targets, rs, out=np.zeros_like(rs), where=rs > 0)[:, None]
        cs = M.sum(axis=0)
        M *= np.divide(col_targets, cs, out=np.zeros_like(cs), where=cs > 0)[None, :]
        resid = max(
            np.max(np.abs(M.sum(axis=1) - row_targets) / r_den),
            np.max(np.abs(M.sum(axis=0) - col_targets) / c_den),
        )
        if resid < tol:
            return M, it, float(resid)
    raise InputError("ras", f"residual {resid:.3g} after {max_iter} sweeps", f"convergence below {tol:g}")


def build(provenance: Path | str = PROVENANCE) -> Mrio:
    """Construct the REE world table from the provenance inputs (deterministic).

    Parameters
    ----------
    provenance
        Path of the provenance CSV; the shipped one by default.

    Returns
    -------
    Mrio
        Validated table; ``meta`` holds the provenance path, a description, the RAS iterations
        and residual, the region VA factors and any provenance items the build did not use.
    """
    p = Inputs(read_provenance(provenance))
    x = gross_output(p)
    va, factor = value_added(p, x)
    Z_ree = ree_rows(p, x)
    Z0, Y0 = initial_estimate(p, x, va, Z_ree)

    xv = x.ravel()
    ree_row = np.isin(np.tile(np.array(SECTORS), R), REE_SECTORS)
    # REE rows are fully pinned (their final demand is whatever output is left: zero by
    # construction); the free problem is every other row against what the pinned cells leave.
    ree_fd = xv[ree_row] - Z_ree[ree_row].sum(axis=1)
    if np.abs(ree_fd).max() > 1e-12:
        raise InputError("ree rows", float(np.abs(ree_fd).max()), "REE sales adding up to REE output")
    free_rows = ~ree_row
    M0 = np.hstack([Z0, Y0])[free_rows]
    row_t = xv[free_rows]
    col_t = np.concatenate([(x - va).ravel() - Z_ree.sum(axis=0), va.sum(axis=1)])
    M, iterations, residual = ras(M0, row_t, col_t, tol=p("ras.tolerance"), max_iter=int(p("ras.max_iterations")))

    Z = Z_ree.copy()
    Z[free_rows] = M[:, :N]
    Y = np.zeros((N, R * len(FINAL_DEMAND)))
    Y[free_rows] = M[:, N:]
    return make_mrio(
        Z,
        Y,
        provenance=str(Path(provenance).resolve()),
        ras_iterations=iterations,
        ras_residual=residual,
        va_factor=dict(zip(REGIONS, factor.tolist(), strict=True)),
        target_output=xv,
        target_value_added=va.ravel(),
        unused_provenance_items=p.unused(),
    )


def make_mrio(
    Z: np.ndarray,
    Y: np.ndarray,
    criticality: np.ndarray | None = None,
    inventory_days: np.ndarray | None = None,
    psi: np.ndarray | None = None,
    stockpile_days: np.ndarray | None = None,
    **meta,
) -> Mrio:
    """The validated ``Mrio`` of this world from its flows; output is ``x = Z 1 + Y 1``."""
    mrio = Mrio(
        name=NAME,
        regions=REGIONS,
        sectors=SECTORS,
        final_demand=FINAL_DEMAND,
        Z=Z,
        Y=Y,
        x=iomath.calc_x(Z, Y),
        unit=UNIT,
        criticality=criticality,
        inventory_days=inventory_days,
        psi=psi,
        stockpile_days=stockpile_days,
        meta={"description": DESCRIPTION, "base_year": BASE_YEAR, **meta},
    )
    return validate(mrio)


# --------------------------------------------------------------------------------------------
# summary


def bilateral(mrio: Mrio, sector: str) -> np.ndarray:
    """Intermediate sales of ``sector`` from origin to destination region, shape ``(R, R)``."""
    R_, S_ = len(mrio.regions), len(mrio.sectors)
    k = mrio.sectors.index(sector)
    return mrio.Z.reshape(R_, S_, R_, S_)[:, k].sum(axis=2)


def headlines(mrio: Mrio) -> dict:
    """Compute the numbers quoted in ``README.md``: scale, China's stage shares, magnet coefficients.

    Coefficients are per USD of automotive output: ``direct`` sums the magnet rows of ``A`` over
    supplier regions; ``total`` does the same with the Leontief inverse, so it also counts magnets
    embedded in purchased parts and motors.
    """
    R_, S_ = len(mrio.regions), len(mrio.sectors)
    x = mrio.x.reshape(R_, S_)
    chn = mrio.regions.index("CHN")
    A = mrio.A
    L = iomath.calc_L(A)
    rows = {s: np.arange(R_) * S_ + mrio.sectors.index(s) for s in REE_SECTORS}
    out: dict = {
        "world_output": float(x.sum()),
        "ree_output_share": float(x[:, [mrio.sectors.index(s) for s in REE_SECTORS]].sum() / x.sum()),
        "ree_output": {s: float(x[:, mrio.sectors.index(s)].sum()) for s in REE_SECTORS},
        "china_share": {s: float(x[chn, mrio.sectors.index(s)] / x[:, mrio.sectors.index(s)].sum()) for s in REE_SECTORS},
        "magnets_direct": {},
        "magnets_total": {},
        "oxides_total": {},
        "non_chinese_flows": {},
    }
    for r in mrio.regions:
        j = mrio.index(r, "automotive")
        out["magnets_direct"][r] = float(A[rows["magnets"], j].sum())
        out["magnets_total"][r] = float(L[rows["magnets"], j].sum())
        out["oxides_total"][r] = float(L[rows["ree_separation"], j].sum())
    for s in ("ree_separation", "magnets"):
        flows = bilateral(mrio, s)
        out["non_chinese_flows"][s] = int((np.delete(flows, chn, axis=0) > 0).sum())
    return out


# --------------------------------------------------------------------------------------------
# CSV I/O


def write_tables(mrio: Mrio, out_dir: Path | str = DATA_DIR) -> list[Path]:
    """Write ``Z.csv`` and ``Y.csv`` (12 significant digits; rows labelled ``region,sector``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = pd.MultiIndex.from_tuples(mrio.industry_labels, names=["region", "sector"])
    paths = []
    for name, arr, cols in (("Z", mrio.Z, column_labels()), ("Y", mrio.Y, final_demand_labels())):
        path = out_dir / f"{name}.csv"
        pd.DataFrame(arr, index=index, columns=cols).to_csv(path, float_format="%.12g", lineterminator="\n")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    """Rebuild the table and rewrite the shipped CSVs (or those in ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder for Z.csv and Y.csv")
    args = parser.parse_args(argv)
    mrio = build()
    for path in write_tables(mrio, args.out):
        print(f"wrote {path}")
    print(f"RAS: {mrio.meta['ras_iterations']} sweeps, residual {mrio.meta['ras_residual']:.2e}")
    h = headlines(mrio)
    print(f"world output {h['world_output']:,.0f} bn USD; REE rows {100 * h['ree_output_share']:.4f} % of it")
    print("China's share of output: " + ", ".join(f"{s} {100 * v:.1f} %" for s, v in h["china_share"].items()))
    for r in ("CHN", "USA", "EU"):
        print(
            f"{r} automotive: magnets {h['magnets_direct'][r]:.2e} direct, {h['magnets_total'][r]:.2e} total; "
            f"oxides {h['oxides_total'][r]:.2e} total per USD"
        )
    print("positive non-Chinese supplier flows (origin x destination): " + str(h["non_chinese_flows"]))


if __name__ == "__main__":
    main()
