"""Idiosyncratic outages of producers outside China: a fire, a flood or a permit stop at a mine,
separation plant or magnet works (e.g. Lynas' Malaysian plant, whose licence renewals and
stoppages made news in 2019-2024).

For each listed industry, outages arrive as a Poisson process with a yearly hazard; each removes
a drawn share of the industry's capacity for a drawn (log-normal) number of days, then recovers
linearly. At most ``max_events`` per industry and path are drawn (the chance of more in the
horizon is negligible for the hazards used: checked on the host).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.errors import InputError, check_names, check_range
from stress.shocks.base import NONE, Channels, Context, module_key, one_hot_rows

TAG = 4


class OutageSpec(NamedTuple):
    onehot: jax.Array  # (J, n) the industries exposed
    daily_hazard: jax.Array  # ()
    loss_min: jax.Array  # ()
    loss_max: jax.Array  # ()
    log_median_days: jax.Array  # ()
    sigma: jax.Array  # ()
    recovery_days: jax.Array  # ()
    events: jax.Array  # (E,) one entry per possible event (values unused)


class OutagePath(NamedTuple):
    onehot: jax.Array  # (J, n)
    start: jax.Array  # (J, E) first day of each outage
    days: jax.Array  # (J, E) days at full loss
    loss: jax.Array  # (J, E)
    recovery_days: jax.Array  # ()

    def channels(self, t: jax.Array) -> Channels:
        end = self.start + self.days
        m = t - end
        rec = jnp.where(self.recovery_days > 0, jnp.clip(1 - m / jnp.maximum(self.recovery_days, 1e-30), 0, 1), 0.0)
        frac = jnp.where(t < self.start, 0.0, jnp.where(t < end, 1.0, rec))
        lost = 1 - jnp.prod(1 - self.loss * frac, axis=1)  # (J,)
        return NONE._replace(capacity=1 - lost @ self.onehot)


def draw(spec: OutageSpec, key: jax.Array, ctx: Context) -> OutagePath:
    del ctx
    f64 = jnp.float64
    J, E = spec.onehot.shape[0], spec.events.shape[0]
    k_gap, k_loss, k_days = jr.split(module_key(key, TAG), 3)
    gaps = jr.exponential(k_gap, (J, E), f64) / jnp.maximum(spec.daily_hazard.astype(f64), 1e-300)
    start = jnp.floor(jnp.cumsum(gaps, axis=1))
    loss = jr.uniform(k_loss, (J, E), f64, spec.loss_min.astype(f64), spec.loss_max.astype(f64))
    days = jnp.round(jnp.exp(spec.log_median_days.astype(f64) + spec.sigma.astype(f64) * jr.normal(k_days, (J, E), f64)))
    dt = spec.onehot.dtype
    return OutagePath(spec.onehot, start.astype(dt), days.astype(dt), loss.astype(dt), spec.recovery_days)


def build(cfg: dict[str, Any], mrio: Any, horizon: int, dtype: Any) -> OutageSpec:
    f = "shocks.outages"
    sectors = list(cfg.get("sectors") or [])
    check_names(f"{f}.sectors", sectors, list(mrio.sectors))
    regions = cfg.get("regions")
    regions = [r for r in mrio.regions if r != "CHN"] if regions is None else list(regions)
    check_names(f"{f}.regions", regions, [r for r in mrio.regions if r != "CHN"])
    idx = [mrio.index(r, s) for r in regions for s in sectors if mrio.x[mrio.index(r, s)] > 0]
    if not idx:
        raise InputError(f"{f}.sectors", sectors, "sectors with output in the listed regions")
    yearly = cfg.get("yearly_hazard")
    check_range(f"{f}.yearly_hazard", yearly, lo=0.0, hi=52.0)
    check_range(f"{f}.loss_min", cfg.get("loss_min"), lo=0.0, hi=1.0)
    check_range(f"{f}.loss_max", cfg.get("loss_max"), lo=cfg["loss_min"], hi=1.0)
    check_range(f"{f}.duration_median_days", cfg.get("duration_median_days"), lo=0.0, lo_open=True, finite=True)
    check_range(f"{f}.duration_sigma", cfg.get("duration_sigma"), lo=0.0, finite=True)
    check_range(f"{f}.recovery_days", cfg.get("recovery_days"), lo=0.0, finite=True)
    # enough event slots that more outages in the horizon have probability < 1e-9 per industry
    mu = yearly * horizon / 365.0
    E, tail = 1, 1.0
    while True:
        tail = 1 - sum(math.exp(-mu) * mu**k / math.factorial(k) for k in range(E + 1))
        if tail < 1e-9:
            break
        if E >= 64:
            raise InputError(f"{f}.yearly_hazard", yearly, f"a hazard with fewer than 64 outages per industry over {horizon} days")
        E += 1
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    return OutageSpec(
        onehot=a(one_hot_rows(idx, mrio.n)),
        daily_hazard=a(yearly / 365.0),
        loss_min=a(cfg["loss_min"]),
        loss_max=a(cfg["loss_max"]),
        log_median_days=a(np.log(cfg["duration_median_days"])),
        sigma=a(cfg["duration_sigma"]),
        recovery_days=a(cfg["recovery_days"]),
        events=jnp.zeros((E,), dtype),
    )
