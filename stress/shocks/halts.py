"""Plant halts with restart lags and re-sequencing losses.

In 2025 car plants did not slow down in proportion to their missing magnets: lines stopped (Ford
Chicago, May 2025; EU suppliers' lines, June 2025), and restarted some days after parts came back.
This module turns that on for the buyer sectors listed: the part of an industry's output that
needs an input halts outright once the input's stock ratio ``rho`` (stock over ``psi`` times the
target) falls below ``halt_below``; when the input is back it stays down for a restart lag drawn
per path and industry (log-normal), then runs ``penalty`` below normal for ``penalty_days``
while lines are re-sequenced. The kernel applies it (step H of :mod:`stress.propagation.ario`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.errors import InputError, check_names, check_range
from stress.shocks.base import NONE, Channels, Context, module_key

TAG = 3


class HaltSpec(NamedTuple):
    on: jax.Array  # (n,) 1 for the industries that halt
    halt_below: jax.Array  # ()
    lag_log_median: jax.Array  # ()
    lag_sigma: jax.Array  # ()
    penalty: jax.Array  # ()
    penalty_days: jax.Array  # ()


class HaltPath(NamedTuple):
    halt_below: jax.Array  # (n,)
    restart_lag: jax.Array  # (n,)
    penalty: jax.Array  # (n,)
    penalty_days: jax.Array  # (n,)

    def channels(self, t: jax.Array) -> Channels:
        del t
        return NONE._replace(halt_below=self.halt_below, restart_lag=self.restart_lag, penalty=self.penalty, penalty_days=self.penalty_days)


def draw(spec: HaltSpec, key: jax.Array, ctx: Context) -> HaltPath:
    del ctx
    f64 = jnp.float64
    n = spec.on.shape[0]
    z = jr.normal(module_key(key, TAG), (n,), f64)
    lag = jnp.round(jnp.exp(spec.lag_log_median.astype(f64) + spec.lag_sigma.astype(f64) * z))
    dt = spec.on.dtype
    return HaltPath(
        halt_below=spec.on * spec.halt_below,
        restart_lag=spec.on * lag.astype(dt),
        penalty=spec.on * spec.penalty,
        penalty_days=spec.on * spec.penalty_days,
    )


def build(cfg: dict[str, Any], mrio: Any, dtype: Any) -> HaltSpec:
    f = "shocks.halts"
    sectors = list(cfg.get("sectors") or [])
    if not sectors:
        raise InputError(f"{f}.sectors", sectors, "one or more buyer sectors whose plants halt")
    check_names(f"{f}.sectors", sectors, list(mrio.sectors))
    on = np.array([s in sectors for s in mrio.sectors] * len(mrio.regions), float)
    check_range(f"{f}.halt_below", cfg.get("halt_below"), lo=0.0, hi=1.0)
    check_range(f"{f}.lag_median_days", cfg.get("lag_median_days"), lo=0.0, lo_open=True, finite=True)
    check_range(f"{f}.lag_sigma", cfg.get("lag_sigma"), lo=0.0, finite=True)
    check_range(f"{f}.penalty", cfg.get("penalty"), lo=0.0, hi=1.0)
    check_range(f"{f}.penalty_days", cfg.get("penalty_days"), lo=0.0, finite=True)
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    return HaltSpec(
        on=a(on),
        halt_below=a(cfg["halt_below"]),
        lag_log_median=a(np.log(cfg["lag_median_days"])),
        lag_sigma=a(cfg["lag_sigma"]),
        penalty=a(cfg["penalty"]),
        penalty_days=a(cfg["penalty_days"]),
    )
