"""Fit the calibration models with NUTS, refuse unconverged fits, write one NetCDF file.

:func:`calibrate` runs each requested model of :mod:`stress.calibration.models` on the bundled
(or a user's) observation files, computes split R-hat (rank-normalised), bulk and tail ESS per
parameter and the divergences per model, and writes an ``xarray.DataTree`` with ArviZ's group
names (``/posterior``, ``/sample_stats``, ``/observed_data``, ``/prior_predictive``,
``/posterior_predictive``, ``/predictions`` for held-out rows with their observed values in
``/predictions_constant_data``) plus ``/diagnostics``. :func:`load_posterior` reads back what the
engine needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd
import xarray as xr
from numpyro.infer import MCMC, NUTS, Predictive

from stress.calibration import inputs as model_inputs
from stress.calibration.models import COORDS, DIMS, HELD_OUT, MODELS
from stress.calibration.observations import DATA_DIR
from stress.calibration.report import summary_table
from stress.calibration.store import ENGINE_VARIABLES as ENGINE_VARIABLES
from stress.calibration.store import Posterior as Posterior
from stress.calibration.store import build_tree, write_atomic
from stress.calibration.store import load_posterior as load_posterior
from stress.errors import InputError

with warnings.catch_warnings():  # arviz 0.2x announces its 1.0 refactor on import
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

BUNDLED_POSTERIOR = Path(__file__).resolve().parent / "posterior" / "default.nc"
MODEL_ORDER = ("licence", "export_shock", "inventory", "regime")  # fixes each model's key
RHAT_MAX = 1.01
TARGET_ACCEPT = 0.9
MAX_PREDICTIVE_DRAWS = 400  # per predictive group, to keep the file small
# The settings of the bundled posterior: calibrate(**DEFAULT_CALIBRATION, force=False, out_path=BUNDLED_POSTERIOR)
# in a process with 64-bit types enabled (stress.runtime.setup). Thinned by 2 to keep the file small.
DEFAULT_CALIBRATION = {"models": list(MODEL_ORDER), "chains": 4, "warmup": 1000, "samples": 1000, "seed": 0, "thin": 2}


class CalibrationRefused(InputError):
    """A fit that did not converge: names the model, the parameter and the offending value."""

    def __init__(self, model: str, parameter: str, value: Any, allowed: str):
        self.model = model
        self.parameter = parameter
        super().__init__(f"calibration.{model}.{parameter}", value, allowed)


@dataclass
class CalibrationResult:
    """What :func:`calibrate` wrote: the file, whether it is published, diagnostics, timings."""

    path: Path
    published: bool
    warnings: list[str]
    diagnostics: pd.DataFrame
    summary: str
    wall_seconds: dict[str, float]


def _check_args(models: list[str], chains: int, warmup: int, samples: int, seed: int, thin: int) -> None:
    if isinstance(models, str) or not models:
        raise InputError("calibration.models", models, "a non-empty list of " + ", ".join(MODEL_ORDER))
    for name in models:
        if name not in MODELS:
            raise InputError("calibration.models", name, "one of " + ", ".join(MODEL_ORDER))
    if len(set(models)) != len(models):
        raise InputError("calibration.models", models, "each model at most once")
    for field, value, lo in (("chains", chains, 1), ("warmup", warmup, 1), ("samples", samples, 4), ("thin", thin, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < lo:
            raise InputError(f"calibration.{field}", value, f"a whole number >= {lo}")
    if samples // thin < 4:
        raise InputError("calibration.thin", thin, f"at most samples / 4 = {samples // 4}")
    if not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InputError("calibration.seed", seed, "a whole number in [0, 2**32)")


def _latent_dataset(samples: dict[str, np.ndarray]) -> xr.Dataset:
    """(chain, draw, ...) draws -> Dataset with labelled trailing dimensions."""
    data = {}
    for name, v in samples.items():
        dims = ("chain", "draw") + ((DIMS[name],) if name in DIMS else ())
        if v.ndim != len(dims):
            raise RuntimeError(f"site {name} has shape {v.shape}; declare its dimension in models.DIMS")
        data[name] = (dims, np.asarray(v, np.float64))
    coords = {"chain": np.arange(next(iter(samples.values())).shape[0]), "draw": np.arange(next(iter(samples.values())).shape[1])}
    coords |= {d: list(COORDS[d]) for d in {DIMS[n] for n in samples if n in DIMS}}
    return xr.Dataset(data, coords=coords)


def diagnose(ds: xr.Dataset, model: str, divergences: int) -> pd.DataFrame:
    """One row per scalar parameter: rank-normalised split R-hat, bulk and tail ESS."""
    rhat, bulk, tail = az.rhat(ds, method="rank"), az.ess(ds, method="bulk"), az.ess(ds, method="tail")
    rows = []
    for name in ds.data_vars:
        arr = ds[name]
        labels = [f"{name}[{lab}]" for lab in arr[arr.dims[2]].values] if arr.ndim == 3 else [name]
        flat = arr.values.reshape(arr.shape[0] * arr.shape[1], -1)
        for k, label in enumerate(labels):
            get = lambda d: float(np.ravel(d[name].values)[k])  # noqa: B023, E731
            rows.append(
                {
                    "model": model, "parameter": label, "rhat": get(rhat), "ess_bulk": get(bulk), "ess_tail": get(tail),
                    "divergences": divergences, "constant": bool(np.ptp(flat[:, k]) == 0),
                    "mean": float(flat[:, k].mean()), "sd": float(flat[:, k].std()),
                    "q05": float(np.quantile(flat[:, k], 0.05)), "q50": float(np.quantile(flat[:, k], 0.5)),
                    "q95": float(np.quantile(flat[:, k], 0.95)),
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def problems(diag: pd.DataFrame) -> list[tuple[str, str, Any, str]]:
    """Reasons not to publish: ``(model, parameter, value, what is allowed)``."""
    out = []
    for model, d in diag.groupby("model", sort=False):
        if int(d["divergences"].iloc[0]) > 0:
            out.append((model, "divergences", int(d["divergences"].iloc[0]), "no divergent transitions"))
        for _, r in d[~d["constant"]].iterrows():
            if not r["rhat"] <= RHAT_MAX:  # also NaN
                out.append((model, r["parameter"], round(float(r["rhat"]), 4), f"split R-hat <= {RHAT_MAX}"))
    return out


def _predictive_group(draws: dict[str, np.ndarray], chain_draw: tuple[np.ndarray, np.ndarray], suffix: str) -> dict[str, xr.Variable]:
    """Predictive draws ``(chain * draw, ...)`` -> variables ``(chain, draw[, <site><suffix>])``."""
    out = {}
    for site, v in draws.items():
        v = np.asarray(v)
        v = v.reshape(len(chain_draw[0]), len(chain_draw[1]), *v.shape[1:])
        if v.ndim == 4:  # (low, high) ranges sampled as points: keep one column
            v = v[..., 0]
        dims = ("chain", "draw") + ((f"{site}{suffix}",) if v.ndim == 3 else ())
        out[site] = xr.Variable(dims, v.astype(np.float32 if v.dtype.kind == "f" else np.int32))
    return out


def _observed(observed: dict[str, np.ndarray], rows: dict[str, list[str]], suffix: str) -> xr.Dataset:
    data, coords = {}, {}
    for site, v in observed.items():
        v = np.asarray(v)
        dims = (f"{site}{suffix}", "bound")[: v.ndim] if v.ndim else ()
        data[site] = xr.Variable(dims, v, attrs={} if v.ndim else {"rows": ", ".join(rows[site])})
        if v.ndim:
            coords[f"{site}{suffix}"] = rows[site]
        if v.ndim == 2:
            coords["bound"] = ["low", "high"]
    return xr.Dataset(data, coords=coords)


def _fit_one(
    name: str, key: jax.Array, chains: int, warmup: int, samples: int, thin: int, data_dir: Path | None, progress: bool, force: bool
) -> dict:
    """NUTS for one model, its diagnostics and (unless it will be refused) its predictive draws."""
    data = model_inputs.build(name, data_dir)
    model = MODELS[name]
    k_mcmc, k_prior, k_post, k_held = jax.random.split(key, 4)
    method = "parallel" if jax.local_device_count() >= chains > 1 else "sequential"
    start = time.perf_counter()
    mcmc = MCMC(
        NUTS(model, target_accept_prob=TARGET_ACCEPT, dense_mass=True),
        num_warmup=warmup, num_samples=samples, num_chains=chains, chain_method=method, progress_bar=progress,
    )  # fmt: skip
    mcmc.run(k_mcmc, **data.inputs, **data.observed, extra_fields=("diverging", "energy", "accept_prob", "num_steps"))
    draws = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    extra = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    posterior = _latent_dataset(draws)
    diag = diagnose(posterior, name, int(extra["diverging"].sum()))
    if problems(diag) and not force:  # refused anyway: skip the predictive draws
        return {"diagnostics": diag, "seconds": time.perf_counter() - start}
    # Predictive draws: an evenly thinned subset of each chain.
    step = max(1, math.ceil(chains * samples / MAX_PREDICTIVE_DRAWS))
    keep = np.arange(0, samples, step)
    sub = {k: v[:, keep].reshape(chains * len(keep), *v.shape[2:]) for k, v in draws.items()}
    sites = list(data.observed)
    prior = Predictive(model, num_samples=len(keep) * chains, return_sites=sites, parallel=True)(k_prior, **data.inputs)
    post = Predictive(model, posterior_samples=sub, return_sites=sites, parallel=True)(k_post, **data.inputs)
    cd = (np.arange(chains), keep)
    out = {
        "posterior": posterior.isel(draw=slice(None, None, thin)),
        "diagnostics": diag,
        "sample_stats": {f"{name}_{k}": v[:, ::thin] for k, v in extra.items()},
        "observed_data": _observed(data.observed, data.rows, "_row"),
        "prior_predictive": _predictive_group(prior, (np.arange(1), np.arange(len(keep) * chains)), "_row"),
        "posterior_predictive": _predictive_group(post, cd, "_row"),
        "row_coords": {f"{s}_row": data.rows[s] for s in sites},
    }
    if data.heldout is not None:
        hsites = list(data.heldout.observed)
        held = Predictive(model, posterior_samples=sub, return_sites=hsites, parallel=True)(k_held, **data.heldout.inputs)
        out["predictions"] = _predictive_group(held, cd, "_heldout_row")
        out["heldout_data"] = _observed(data.heldout.observed, data.heldout.rows, "_heldout_row")
        out["heldout_coords"] = {f"{s}_heldout_row": data.heldout.rows[s] for s in hsites if np.ndim(data.heldout.observed[s])}
    out["seconds"] = time.perf_counter() - start
    return out


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("stress", "jax", "jaxlib", "numpyro", "arviz", "xarray", "numpy", "pandas", "netCDF4"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _data_hashes(data_dir: Path | None) -> dict[str, str]:
    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(folder.glob("*.csv"))}


def calibrate(
    models: list[str],
    *,
    chains: int,
    warmup: int,
    samples: int,
    seed: int,
    force: bool,
    out_path: Path,
    data_dir: Path | None = None,
    progress: bool = False,
    thin: int = 1,
) -> CalibrationResult:
    """Fit ``models`` with NUTS, check convergence, and write one NetCDF file atomically.

    Parameters
    ----------
    models
        Names among ``licence, export_shock, inventory, regime``.
    chains, warmup, samples
        NUTS chains (run in parallel only when there are that many devices), warm-up and kept
        iterations per chain.
    seed
        Model ``m`` uses ``fold_in(PRNGKey(seed), MODEL_ORDER.index(m))``, so its draws do not
        depend on which other models are fitted alongside.
    force
        Write the file even if a fit did not converge; the reasons go into the root attributes
        ``published_with_warnings`` and ``warnings``.
    out_path
        The NetCDF file to write (a ``*.tmp`` file in the same folder, then renamed).
    data_dir
        A folder with the observation CSVs (default: those shipped with the package).
    progress
        Show NumPyro's progress bars.
    thin
        Keep every ``thin``-th draw in the file (diagnostics use all draws).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    InputError
        Bad arguments or data files.
    CalibrationRefused
        Some split R-hat above 1.01 (or undefined) or a divergent transition, unless ``force``.
    """
    _check_args(models, chains, warmup, samples, seed, thin)
    base = jax.random.PRNGKey(seed)
    fits = {}
    # numpyro's internals rely on implicit rank promotion; the project may set it to "raise".
    with jax.numpy_rank_promotion("allow"):
        for name in models:
            key = jax.random.fold_in(base, MODEL_ORDER.index(name))
            fits[name] = _fit_one(name, key, chains, warmup, samples, thin, data_dir, progress, force)
            if "posterior" not in fits[name]:
                break  # this model is refused: the others need not run
    diag = pd.concat([f["diagnostics"] for f in fits.values()], ignore_index=True)
    reasons = problems(diag)
    text = summary_table(diag, {m: f["seconds"] for m, f in fits.items()}, published=not reasons, forced=force and bool(reasons))
    print(text)
    if reasons and not force:
        model, param, value, allowed = reasons[0]
        more = f" ({len(reasons) - 1} more problem(s))" if len(reasons) > 1 else ""
        raise CalibrationRefused(model, param, value, f"{allowed}; not published{more}; use force=True (calibration.force=true) to write it anyway")
    attrs = {
        "models": json.dumps(list(models)),
        "seed": seed, "chains": chains, "warmup": warmup, "samples": samples, "thin": thin,
        "target_accept_prob": TARGET_ACCEPT, "rhat_max": RHAT_MAX,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": json.dumps(_versions()),
        "held_out": json.dumps({m: HELD_OUT[m] for m in models}),
        "data_dir": "bundled" if data_dir is None else str(data_dir),
        "data_sha256": json.dumps(_data_hashes(data_dir)),
        "published": int(not reasons),
        "published_with_warnings": int(bool(reasons)),
        "warnings": "; ".join(f"{m}.{p}={v} (allowed: {a})" for m, p, v, a in reasons),
        "wall_seconds": json.dumps({m: round(f["seconds"], 2) for m, f in fits.items()}),
        "inference_library": "numpyro",
        "sampler": "NUTS (dense mass matrix)",
    }  # fmt: skip
    path = write_atomic(build_tree(fits, diag, attrs), Path(out_path))
    return CalibrationResult(
        path=path,
        published=not reasons,
        warnings=[f"{m}.{p}={v}" for m, p, v, _ in reasons],
        diagnostics=diag.drop(columns="constant"),
        summary=text,
        wall_seconds={m: f["seconds"] for m, f in fits.items()},
    )
