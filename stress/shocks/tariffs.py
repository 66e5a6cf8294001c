"""Tariffs with prices: the weekly tariff level of the escalation chain sets each link's extra
ad valorem tariff and, through a Leontief cost-push model, every industry's producer price.

The levels (e.g. the 2025 US-China sequence 20 % -> 145 % / 125 % -> 30 % / 10 %) are states of the
tariff chain in :mod:`stress.shocks.regime`; each level's tariff matrix and price vector are
solved once on the host (:mod:`stress.shocks.prices`), so a day's channels are two look-ups.
Quantities respond through the kernel's delivered prices ``p_i (1 + tariff_ir)``: final demand
with ``model.demand_elasticity``, supplier choice with ``model.substitution_elasticity``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from stress.shocks.base import NONE, Channels, Context, week_of


class TariffSpec(NamedTuple):
    price: jax.Array  # (K, n) producer price index at each tariff level
    tariff: jax.Array  # (K, n, R) extra ad valorem tariff on each link at each level


class TariffPath(NamedTuple):
    price: jax.Array  # (K, n)
    tariff: jax.Array  # (K, n, R)
    level: jax.Array  # (W,) int32 tariff level of each week

    def channels(self, t: jax.Array) -> Channels:
        k = self.level[week_of(t, self.level.shape[0])]
        return NONE._replace(price=self.price[k], tariff=self.tariff[k])


def draw(spec: TariffSpec, key: jax.Array, ctx: Context) -> TariffPath:
    """Tariffs follow the path's tariff chain; nothing else is drawn."""
    del key
    return TariffPath(price=spec.price, tariff=spec.tariff, level=ctx.tariff)
