"""The calibration file: assemble the ``DataTree``, write it atomically, read the engine's draws.

One NetCDF file with ArviZ's group names, readable by ``xarray.open_datatree`` and
``arviz.from_netcdf``. Draws are stored as float32 (diagnostics are computed in float64 before).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from stress.calibration.models import COORDS
from stress.errors import InputError

# What the engine reads from /posterior: name -> labelled trailing dimension (None: scalar per draw).
ENGINE_VARIABLES: dict[str, str | None] = {
    "licence_weekly_p": "destination",
    "licence_review_days": None,
    "cutoff_median_days": None,
    "cutoff_sigma": None,
    "inventory_cover_days": "region",
    "psi": None,
    "export_controlled_share": None,
    "export_controlled_share_usa": None,
    "export_weekly_p": None,
    "export_delay_days": None,
    "licence_kappa": None,
}
LONG_NAMES = {
    "licence_weekly_p": ("1", "weekly probability that a pending licence application is approved"),
    "licence_review_days": ("day", "review delay before the first licence decision"),
    "cutoff_median_days": ("day", "median duration of a full export stoppage"),
    "cutoff_sigma": ("1", "log-normal sigma of the duration of a full export stoppage"),
    "inventory_cover_days": ("day", "cover of REE inputs in days of use, including goods in transit"),
    "psi": ("1", "ARIO psi: output is cut when stock falls below psi times its target"),
    "export_controlled_share": ("1", "share of China's magnet exports covered by the April 2025 controls"),
    "export_controlled_share_usa": ("1", "share of China's magnet exports to the USA covered by the April 2025 controls"),
    "export_weekly_p": ("1", "weekly share of the pending controlled export volume that is licensed (volume-weighted)"),
    "export_delay_days": ("day", "days from the controls to the first licensed export volume"),
    "licence_kappa": ("1", "Beta-Binomial concentration of licence approval shares across observers"),
}
_UNIT_INTERVAL = ("licence_weekly_p", "psi", "export_controlled_share", "export_controlled_share_usa", "export_weekly_p")
_STATS = {"diverging": "diverging", "energy": "energy", "accept_prob": "acceptance_rate", "num_steps": "n_steps"}
_COMPRESS = {"zlib": True, "complevel": 5}


@dataclass
class Posterior:
    """Engine-facing draws: ``values[name]`` has a leading ``sample`` axis (chain x draw).

    ``labels`` holds the trailing coordinate of each labelled variable's dimension
    (``destination``, ``region``); ``attrs`` the file's root attributes (JSON ones decoded).
    """

    values: dict[str, np.ndarray]
    labels: dict[str, list[str]]
    attrs: dict[str, Any]

    @property
    def n_samples(self) -> int:
        """Number of draws (chains x draws per chain)."""
        return int(next(iter(self.values.values())).shape[0])


def _stats(fits: dict[str, dict]) -> xr.Dataset:
    data, any_div = {}, None
    for name, fit in fits.items():
        for key, v in fit["sample_stats"].items():
            stat = _STATS[key.removeprefix(f"{name}_")]
            v = np.asarray(v)
            v = v.astype(bool) if stat == "diverging" else v.astype(np.int32 if v.dtype.kind in "iu" else np.float32)
            data[f"{name}_{stat}"] = (("chain", "draw"), v)
            if stat == "diverging":
                any_div = v if any_div is None else any_div | v
    data["diverging"] = (("chain", "draw"), any_div)
    first = next(iter(fits.values()))["posterior"]
    return xr.Dataset(data, coords={"chain": first["chain"].values, "draw": first["draw"].values})


def _group(fits: dict[str, dict], key: str, coords_key: str, chain: np.ndarray | None = None) -> xr.Dataset | None:
    parts = [(f[key], f[coords_key]) for f in fits.values() if key in f]
    if not parts:
        return None
    data, coords = {}, {}
    for variables, rows in parts:
        data.update(variables)
        coords.update({k: v for k, v in rows.items() if any(k in var.dims for var in variables.values())})
    ds = xr.Dataset(data, coords=coords)
    return ds.assign_coords(chain=np.arange(ds.sizes["chain"]), draw=np.arange(ds.sizes["draw"]) if chain is None else chain)


def build_tree(fits: dict[str, dict], diag: pd.DataFrame, attrs: dict[str, Any]) -> xr.DataTree:
    """All fitted models in one ``DataTree`` with ArviZ's group names plus ``/diagnostics``."""
    post = xr.merge([f["posterior"] for f in fits.values()], compat="equals", join="exact")
    post = post.astype({v: np.float32 for v in post.data_vars})
    for name, (units, long_name) in LONG_NAMES.items():
        if name in post:
            post[name].attrs.update(units=units, long_name=long_name)
    post.attrs["draws_kept"] = "every thin-th draw of each chain; diagnostics use all draws"
    groups = {
        "/posterior": post,
        "/sample_stats": _stats(fits),
        "/observed_data": xr.merge([f["observed_data"] for f in fits.values()]),
        "/prior_predictive": _group(fits, "prior_predictive", "row_coords"),
        "/posterior_predictive": _group(fits, "posterior_predictive", "row_coords"),
        "/predictions": _group(fits, "predictions", "heldout_coords"),
        "/predictions_constant_data": xr.merge([f["heldout_data"] for f in fits.values() if "heldout_data" in f]),
        "/diagnostics": xr.Dataset(
            {c: ("parameter", diag[c].to_numpy()) for c in ("model", "rhat", "ess_bulk", "ess_tail", "divergences")},
            coords={"parameter": diag["parameter"].to_numpy()},
            attrs={"rhat": "rank-normalised split R-hat", "ess": "bulk and tail effective sample sizes (arviz)"},
        ),
    }
    groups["/predictions_constant_data"].attrs["note"] = "observed values of the held-out rows (not used in the fit)"
    tree = xr.DataTree.from_dict({k: v for k, v in groups.items() if v is not None})
    tree.attrs.update(attrs)
    return tree


def write_atomic(tree: xr.DataTree, path: Path) -> Path:
    """Write ``tree`` atomically (:func:`stress.results.dataset.write_atomic`), compressed."""
    from stress.results.dataset import write_atomic as write

    encoding = {node.path: {v: dict(_COMPRESS) for v in node.ds.data_vars if node.ds[v].dtype.kind in "fiub"} for node in tree.subtree}
    return write(tree, path, encoding=encoding, field="calibration.out_path")


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_posterior(path: str | Path) -> Posterior:
    """The engine's draws from a calibration file, with (chain, draw) flattened into ``sample``.

    Every variable of :data:`ENGINE_VARIABLES` must be in ``/posterior`` with dims ``(chain,
    draw)`` plus, where named, one labelled dimension holding exactly the REE-world labels
    (returned in the canonical order of :data:`stress.calibration.models.COORDS`). Values must
    be finite, probabilities in [0, 1], and days and sigmas positive.

    Raises
    ------
    InputError
        Naming the file and the missing or malformed variable.
    """
    path = Path(path)
    field = "calibration.posterior"
    if not path.is_file():
        raise InputError(field, str(path), "an existing NetCDF file written by stress.calibration.calibrate")
    try:
        tree = xr.open_datatree(path)
    except (OSError, ValueError) as exc:
        raise InputError(field, str(path), f"a NetCDF file written by stress.calibration.calibrate ({str(exc).splitlines()[0]})") from None
    with tree:
        if "posterior" not in tree.children:
            raise InputError(field, f"{path}: no /posterior group", "a file with a /posterior group")
        post = tree["posterior"].to_dataset().load()
        attrs = {k: _decode(v) for k, v in tree.attrs.items()}
    values, labels = {}, {}
    for name, dim in ENGINE_VARIABLES.items():
        want = ("chain", "draw") + ((dim,) if dim else ())
        shape = f"{name}({', '.join(want)})"
        if name not in post:
            raise InputError(field, f"{path}: no variable {name}", f"a /posterior variable {shape}")
        var = post[name]
        if var.dims != want:
            raise InputError(field, f"{path}: {name} has dims {var.dims}", f"dims {want}")
        if dim:
            got = [str(x) for x in var[dim].values]
            if sorted(got) != sorted(COORDS[dim]):
                raise InputError(field, f"{path}: {name} {dim} labels {got}", f"exactly {', '.join(COORDS[dim])}")
            var = var.sel({dim: list(COORDS[dim])})
            labels[dim] = list(COORDS[dim])
        arr = np.asarray(var.values, np.float64).reshape(-1, *var.shape[2:])
        bad = ~np.isfinite(arr) | (arr < 0) | ((arr > 1) if name in _UNIT_INTERVAL else (arr <= 0))
        if arr.size == 0 or bad.any():
            what = "in [0, 1]" if name in _UNIT_INTERVAL else "> 0"
            raise InputError(field, f"{path}: {name} has {int(bad.sum())} bad values of {arr.size}", f"finite values {what}")
        values[name] = arr
    return Posterior(values=values, labels=labels, attrs=attrs)
