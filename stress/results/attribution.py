"""Which sampled drivers explain the loss, and its tail.

On the retained sample (the first ``metrics.attribution_paths`` path ids that did not crash; each
path's drivers :data:`stress.sampler.DRIVERS` and its world lost value added):

- the mean of each driver over the sample's tail paths, those whose world loss is at or beyond the
  sample's ``q`` quantile (ranks ``ceil(N q) .. N``, ties included: the paths behind the
  expected shortfall), with its standard error ``sd / sqrt(m)`` over the ``m`` tail paths, against
  the driver's unconditional mean and standard deviation;
- first-order variance-based sensitivity indices ``S1`` of the world loss to each driver with
  SALib's RBD-FAST on given data (Plischke's EASI estimator, bias-corrected as Tissot & Prieur
  2012; SALib lists it as compatible with any sampling design), with a bootstrap 95 %
  half-width. The drivers are not independent by design (a posterior draw moves several at
  once; licence waits follow the approval rate), so an index measures how much of the variance
  the driver explains alone, shared effects included; indices of correlated drivers need not sum
  to at most 1. A driver that does not vary in the sample has no index (NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

SALIB_SEED = 20_250_404  # the bootstrap of the S1 intervals (any fixed value: results reproducible)
MIN_PATHS = 64  # below this RBD-FAST's periodogram has too few frequencies for M = 10 harmonics


def attribution_outputs(scalars: np.ndarray, drivers: np.ndarray, col_loss: int, col_crashed: int, q: np.ndarray, unit: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Variables ``driver_*`` (dims ``driver``, ``quantile``), and the ``driver`` coordinates."""
    from stress.sampler import DRIVERS

    names = [d[0] for d in DRIVERS]
    keep = scalars[:, col_crashed] == 0
    y = np.asarray(scalars[keep, col_loss], np.float64)
    X = np.asarray(drivers[keep], np.float64)
    N, D = X.shape
    mean = X.mean(axis=0) if N else np.full(D, np.nan)
    sd = X.std(axis=0, ddof=1) if N > 1 else np.full(D, np.nan)
    tail_mean = np.full((len(q), D), np.nan)
    tail_se = np.full((len(q), D), np.nan)
    tail_n = np.zeros(len(q), np.int64)
    from stress.sketch import quantile_rank

    srt = np.sort(y)
    for k, qk in enumerate(np.asarray(q, float)):
        if N == 0:
            continue
        t = y >= srt[quantile_rank(N, qk) - 1]
        m = int(t.sum())
        tail_n[k] = m
        if m:
            tail_mean[k] = X[t].mean(axis=0)
        if m > 1:
            tail_se[k] = X[t].std(axis=0, ddof=1) / np.sqrt(m)
    s1, s1_conf = sensitivity(X, y)
    dq = ("quantile", "driver")
    out: dict[str, Any] = {
        "driver_mean": xr.Variable(("driver",), mean, {"long_name": "mean of the driver over the attribution sample"}),
        "driver_sd": xr.Variable(("driver",), sd, {"long_name": "standard deviation of the driver over the attribution sample"}),
        "driver_tail_mean": xr.Variable(
            dq, tail_mean, {"long_name": "mean of the driver over the attribution sample's paths whose world lost value added is at or beyond the sample's quantile (ranks ceil(N q) .. N)"}
        ),
        "driver_tail_mean_se": xr.Variable(dq, tail_se, {"long_name": "standard error of driver_tail_mean: sd / sqrt(tail paths)"}),
        "driver_tail_paths": xr.Variable(("quantile",), tail_n, {"units": "1", "long_name": "paths of the attribution sample at or beyond its quantile (ranks ceil(N q) .. N, ties included)"}),
        "driver_sensitivity": xr.Variable(
            ("driver",),
            s1,
            {"units": "1", "long_name": "first-order sensitivity index of world lost value added to the driver (SALib RBD-FAST on given data)"},
        ),
        "driver_sensitivity_conf": xr.Variable(("driver",), s1_conf, {"units": "1", "long_name": "bootstrap 95 % half-width of driver_sensitivity"}),
        "attribution_paths": xr.Variable((), np.int64(N), {"units": "1", "long_name": "paths in the attribution sample (the first path ids that did not crash)"}),
    }
    for k in ("driver_mean", "driver_sd", "driver_tail_mean", "driver_tail_mean_se"):
        out[k].attrs["units"] = "see driver_units"
    coords = {
        "driver": ("driver", names, {"long_name": "sampled driver of a path's losses (stress.sampler.DRIVERS)"}),
        "driver_units": ("driver", [d[1] for d in DRIVERS], {"long_name": "units of the driver"}),
        "driver_description": ("driver", [d[2] for d in DRIVERS], {"long_name": "what the driver is"}),
    }
    return out, coords


def sensitivity(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-order indices and their bootstrap half-widths (NaN where a driver is constant, the
    loss is constant, or the sample has fewer than :data:`MIN_PATHS` paths)."""
    N, D = X.shape
    s1 = np.full(D, np.nan)
    conf = np.full(D, np.nan)
    varying = [j for j in range(D) if N and np.ptp(X[:, j]) > 0]
    if N < MIN_PATHS or not varying or np.ptp(y) == 0:
        return s1, conf
    from SALib.analyze import rbd_fast

    problem = {"num_vars": len(varying), "names": [str(j) for j in varying], "bounds": [[float(X[:, j].min()), float(X[:, j].max())] for j in varying]}
    res = rbd_fast.analyze(problem, X[:, varying], y, M=10, num_resamples=100, conf_level=0.95, print_to_console=False, seed=SALIB_SEED)
    s1[varying] = np.asarray(res["S1"], float)
    conf[varying] = np.asarray(res["S1_conf"], float)
    return s1, conf
