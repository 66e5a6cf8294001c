"""Trade diversion: when one market closes behind tariffs, China's exporters offer the output it
no longer takes to other destinations at lower prices (in September 2025 China's exports to the
EU grew by over 14 % while exports to the US fell).

While the tariff level of the week puts an extra tariff ``tau`` on the listed Chinese sectors'
deliveries to ``closed_market``, those sectors cut their delivered price to every other
destination by ``delta min(1, tau / full_at)``, with ``delta`` drawn per path from
``[discount_min, discount_max]`` (a markdown channel); buyers there shift orders toward them
through the kernel's substitution elasticity, and their final demand rises through the demand
elasticity.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.errors import check_names, check_range
from stress.shocks.base import NONE, Channels, Context, module_key, week_of

TAG = 6


class DiversionSpec(NamedTuple):
    offer: jax.Array  # (n, R) 1 for (Chinese listed sector, open destination)
    intensity: jax.Array  # (K,) min(1, tau_k / full_at) of each tariff level
    discount_min: jax.Array  # ()
    discount_max: jax.Array  # ()


class DiversionPath(NamedTuple):
    offer: jax.Array  # (n, R)
    intensity: jax.Array  # (K,)
    level: jax.Array  # (W,)
    discount: jax.Array  # ()

    def channels(self, t: jax.Array) -> Channels:
        k = self.level[week_of(t, self.level.shape[0])]
        return NONE._replace(markdown=1 - self.discount * self.intensity[k] * self.offer)


def draw(spec: DiversionSpec, key: jax.Array, ctx: Context) -> DiversionPath:
    f64 = jnp.float64
    d = jr.uniform(module_key(key, TAG), (), f64, spec.discount_min.astype(f64), spec.discount_max.astype(f64))
    return DiversionPath(spec.offer, spec.intensity, ctx.tariff, d.astype(spec.offer.dtype))


def build(cfg: dict[str, Any], mrio: Any, tariff: np.ndarray, dtype: Any) -> DiversionSpec:
    """``tariff`` is the tariff chain's ``(K, n, R)`` extra tariffs by level."""
    f = "shocks.diversion"
    regions, sectors = list(mrio.regions), list(mrio.sectors)
    listed = list(cfg.get("sectors") or [])
    check_names(f"{f}.sectors", listed, sectors)
    market = cfg.get("closed_market")
    check_names(f"{f}.closed_market", [market], [r for r in regions if r != "CHN"])
    check_range(f"{f}.full_at", cfg.get("full_at"), lo=0.0, lo_open=True, finite=True)
    check_range(f"{f}.discount_min", cfg.get("discount_min"), lo=0.0, hi=1.0)
    check_range(f"{f}.discount_max", cfg.get("discount_max"), lo=cfg["discount_min"], hi=1.0, hi_open=True)
    rows = [mrio.index("CHN", s) for s in listed]
    m = regions.index(market)
    tau = np.asarray(tariff)[:, rows, m].mean(axis=1) if rows else np.zeros(tariff.shape[0])  # (K,)
    offer = np.zeros((mrio.n, len(regions)))
    for i in rows:
        for r, name in enumerate(regions):
            if name not in ("CHN", market):
                offer[i, r] = 1.0
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    return DiversionSpec(a(offer), a(np.minimum(1.0, tau / cfg["full_at"])), a(cfg["discount_min"]), a(cfg["discount_max"]))
