"""Producers outside China passing under Chinese control (acquisitions).

Chinese firms have bought or tried to buy rare-earth producers outside China: Magnequench (US
magnets, bought 1995, moved to China by 2002), China Nonferrous Metal Mining's bid for Lynas
(2009, blocked by Australia's FIRB), Shenghe's stake in MP Materials (2017), Australia's orders
against Chinese-linked stakes in Northern Minerals (2019, 2024). Per path, each target industry
passes under Chinese control on a day drawn from a constant yearly hazard (by inversion of an
exponential draw, so shared investment screening, which scales the hazard down through
``ctx.policy.screen``, uses the same draw). From that day on, the share ``diverted`` of its
deliveries to every region but China no longer passes (its output goes to China's processors,
as Mountain Pass's concentrate went to Shenghe until April 2025).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.errors import InputError, check_names, check_range
from stress.shocks.base import NONE, Channels, Context, module_key, one_hot_rows

TAG = 8


class TakeoverSpec(NamedTuple):
    targets: jax.Array  # (J, n) industries that may pass under Chinese control
    abroad: jax.Array  # (R,) 1 for every region but China
    hazard: jax.Array  # () per day
    diverted: jax.Array  # () share of deliveries abroad that stops


class TakeoverPath(NamedTuple):
    targets: jax.Array  # (J, n)
    abroad: jax.Array  # (R,)
    day: jax.Array  # (J,) day each target passes under control (inf: never)
    diverted: jax.Array  # ()

    def channels(self, t: jax.Array) -> Channels:
        taken = (t >= self.day).astype(self.targets.dtype) @ self.targets  # (n,)
        return NONE._replace(beta=1 - self.diverted * taken[:, None] * self.abroad[None, :])


def draw(spec: TakeoverSpec, key: jax.Array, ctx: Context) -> TakeoverPath:
    f64 = jnp.float64
    J = spec.targets.shape[0]
    e = jr.exponential(module_key(key, TAG), (J,), f64)
    rate = jnp.broadcast_to(spec.hazard.astype(f64), (J,))
    if ctx.policy is not None:
        rate = rate * (spec.targets.astype(f64) @ ctx.policy.screen.astype(f64))
    day = jnp.where(rate > 0, jnp.ceil(e / jnp.where(rate > 0, rate, 1.0)), jnp.inf)
    dt = spec.targets.dtype
    return TakeoverPath(spec.targets, spec.abroad, day.astype(dt), spec.diverted)


def build(cfg: dict[str, Any], mrio: Any, dtype: Any) -> TakeoverSpec:
    f = "shocks.takeover"
    regions, sectors = list(mrio.regions), list(mrio.sectors)
    secs = list(cfg.get("sectors") or [])
    if not secs:
        raise InputError(f"{f}.sectors", secs, "one or more sectors whose producers outside China may be acquired")
    check_names(f"{f}.sectors", secs, sectors)
    regs = cfg.get("regions")
    regs = [r for r in regions if r != "CHN"] if regs is None else list(regs)
    check_names(f"{f}.regions", regs, [r for r in regions if r != "CHN"])
    check_range(f"{f}.yearly_hazard", cfg.get("yearly_hazard"), lo=0.0, lo_open=True, hi=1.0, hi_open=True)
    check_range(f"{f}.diverted", cfg.get("diverted"), lo=0.0, lo_open=True, hi=1.0)
    idx = [mrio.index(r, s) for r in regs for s in secs if mrio.x[mrio.index(r, s)] > 0]
    if not idx:
        raise InputError(f"{f}.sectors", secs, f"sectors with output in {regs}")
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    return TakeoverSpec(
        targets=a(one_hot_rows(idx, mrio.n)),
        abroad=a(np.array([r != "CHN" for r in regions], float)),
        hazard=a(-np.log1p(-cfg["yearly_hazard"]) / 365.0),
        diverted=a(cfg["diverted"]),
    )
