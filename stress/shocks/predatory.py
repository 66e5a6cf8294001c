"""Predatory pricing: Chinese price cuts that push mines and separators outside China below cost.

Molycorp's Mountain Pass closed in 2015 after rare-earth prices fell; new producers outside China
(Lynas, MP Materials, Iluka, Neo) say they need prices well above China's to survive, which is why
the US Department of Defense guaranteed MP Materials an NdPr floor of $110/kg in July 2025.

Per path, a price-cut campaign starts in a week drawn from a weekly hazard that depends on the
regime (a campaign is likelier in calm or truce, when exports flow); it lasts a drawn (log-normal)
number of weeks and cuts the price of the listed Chinese industries' exports by a drawn depth
``d`` (a markdown). Producers outside China in the target industries are price takers: their
price index is ``1 - d`` during the campaign. Allied levers (:mod:`stress.policy`, given as
``ctx.policy``) change what a target receives — a tariff wall ``tau`` in its home market makes
it ``min(1, (1 - d)(1 + tau))``, a guaranteed floor ``f`` at least ``f`` — and guaranteed
offtake scales its closure hazard down; the draws are the same. Each target has a unit cost ``c`` drawn relative to
the baseline price; while ``1 - d < c`` it closes with a weekly hazard ``kappa (c - (1 - d)) / c``,
drawn by inversion of the cumulative hazard, so closures happen only while price is below cost.
A closed target loses ``closable_share`` of its capacity for the rest of the horizon (a closed
mine or separator is not restarted within a few years: assumption, after Mountain Pass's
2015-2017 closure). One campaign at most per path.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.errors import InputError, check_names, check_range
from stress.shocks.base import NONE, Channels, Context, module_key, one_hot_rows

TAG = 7


class PredatorySpec(NamedTuple):
    cut: jax.Array  # (n, R) 1 for (Chinese listed industry, foreign destination)
    targets: jax.Array  # (J, n) industries outside China exposed to closure
    hazard: jax.Array  # (G,) weekly probability that a campaign starts, by regime
    log_median_weeks: jax.Array  # ()
    sigma: jax.Array  # ()
    depth_min: jax.Array  # ()
    depth_max: jax.Array  # ()
    cost_min: jax.Array  # ()
    cost_max: jax.Array  # ()
    kappa: jax.Array  # () weekly closure hazard per unit of relative shortfall
    closable: jax.Array  # () share of a closed target's capacity lost


class PredatoryPath(NamedTuple):
    cut: jax.Array  # (n, R)
    targets: jax.Array  # (J, n)
    start: jax.Array  # () first day of the campaign (inf: none)
    end: jax.Array  # () first day after it
    depth: jax.Array  # ()
    closed_day: jax.Array  # (J,) day each target closes (inf: never)
    closable: jax.Array  # ()

    def channels(self, t: jax.Array) -> Channels:
        on = (t >= self.start) & (t < self.end)
        d = jnp.where(on, self.depth, 0.0)
        closed = (t >= self.closed_day).astype(self.cut.dtype)  # (J,)
        target_any = self.targets.sum(axis=0)  # (n,)
        return NONE._replace(
            capacity=1 - self.closable * (closed @ self.targets),
            price=1 - d * target_any,
            markdown=1 - d * self.cut,
        )


def draw(spec: PredatorySpec, key: jax.Array, ctx: Context) -> PredatoryPath:
    f64 = jnp.float64
    k_start, k_len, k_depth, k_cost, k_close = jr.split(module_key(key, TAG), 5)
    W = ctx.regime.shape[0]
    J = spec.targets.shape[0]
    u = jr.uniform(k_start, (W,), f64)
    starts = u < spec.hazard[ctx.regime].astype(f64)
    w0 = jnp.where(starts.any(), jnp.argmax(starts), W).astype(f64)
    weeks = jnp.maximum(jnp.round(jnp.exp(spec.log_median_weeks.astype(f64) + spec.sigma.astype(f64) * jr.normal(k_len, (), f64))), 1.0)
    depth = jr.uniform(k_depth, (), f64, spec.depth_min.astype(f64), spec.depth_max.astype(f64))
    cost = jr.uniform(k_cost, (J,), f64, spec.cost_min.astype(f64), spec.cost_max.astype(f64))
    received = jnp.broadcast_to(1 - depth, (J,))
    kappa = jnp.broadcast_to(spec.kappa.astype(f64), (J,))
    if ctx.policy is not None:
        # Allied levers: a tariff wall lifts the competing import price in the producer's home
        # market (up to the table price), a guaranteed floor sets the least it receives, and
        # guaranteed offtake shields that share of its sales (closure hazard scaled down).
        pol = jax.tree.map(lambda a: (spec.targets.astype(f64) @ a.astype(f64)), (ctx.policy.wall, ctx.policy.protect, ctx.policy.closure))
        wall, protect, closure = pol
        received = jnp.maximum(jnp.minimum(1.0, (1 - depth) * (1 + wall)), jnp.maximum(received, protect))
        kappa = kappa * closure
    shortfall = jnp.maximum(cost - received, 0.0) / cost
    rate = kappa * shortfall  # weekly hazard while the campaign lasts
    e = jr.exponential(k_close, (J,), f64)
    wait = jnp.where(rate > 0, e / jnp.where(rate > 0, rate, 1.0), jnp.inf)  # weeks after the start
    closes = (wait < weeks) & (w0 < W)
    start = jnp.where(w0 < W, 7.0 * w0, jnp.inf)
    closed_day = jnp.where(closes, start + jnp.ceil(7.0 * wait), jnp.inf)
    dt = spec.cut.dtype
    return PredatoryPath(spec.cut, spec.targets, start.astype(dt), (start + 7.0 * weeks).astype(dt), depth.astype(dt), closed_day.astype(dt), spec.closable)


def build(cfg: dict[str, Any], mrio: Any, regimes: tuple[str, ...], dtype: Any) -> PredatorySpec:
    f = "shocks.predatory"
    regions, sectors = list(mrio.regions), list(mrio.sectors)
    cut_sectors = list(cfg.get("cut_sectors") or [])
    check_names(f"{f}.cut_sectors", cut_sectors, sectors)
    tgt_sectors = list(cfg.get("target_sectors") or [])
    check_names(f"{f}.target_sectors", tgt_sectors, sectors)
    tgt_regions = cfg.get("target_regions")
    tgt_regions = [r for r in regions if r != "CHN"] if tgt_regions is None else list(tgt_regions)
    check_names(f"{f}.target_regions", tgt_regions, [r for r in regions if r != "CHN"])
    idx = [mrio.index(r, s) for r in tgt_regions for s in tgt_sectors if mrio.x[mrio.index(r, s)] > 0]
    if not idx:
        raise InputError(f"{f}.target_sectors", tgt_sectors, "sectors with output in the target regions")
    hz = cfg.get("weekly_hazard") or {}
    check_names(f"{f}.weekly_hazard", list(hz), list(regimes))
    hazard = np.zeros(len(regimes))
    for g, v in hz.items():
        check_range(f"{f}.weekly_hazard.{g}", v, lo=0.0, hi=1.0)
        hazard[list(regimes).index(g)] = v
    check_range(f"{f}.duration_median_weeks", cfg.get("duration_median_weeks"), lo=0.0, lo_open=True, finite=True)
    check_range(f"{f}.duration_sigma", cfg.get("duration_sigma"), lo=0.0, finite=True)
    check_range(f"{f}.depth_min", cfg.get("depth_min"), lo=0.0, hi=1.0, hi_open=True)
    check_range(f"{f}.depth_max", cfg.get("depth_max"), lo=cfg["depth_min"], hi=1.0, hi_open=True)
    check_range(f"{f}.cost_min", cfg.get("cost_min"), lo=0.0, lo_open=True, finite=True)
    check_range(f"{f}.cost_max", cfg.get("cost_max"), lo=cfg["cost_min"], finite=True)
    check_range(f"{f}.closure_hazard", cfg.get("closure_hazard"), lo=0.0, finite=True)
    check_range(f"{f}.closable_share", cfg.get("closable_share"), lo=0.0, hi=1.0)
    cut = np.zeros((mrio.n, len(regions)))
    for s in cut_sectors:
        cut[mrio.index("CHN", s), [r for r, name in enumerate(regions) if name != "CHN"]] = 1.0
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    return PredatorySpec(
        cut=a(cut),
        targets=a(one_hot_rows(idx, mrio.n)),
        hazard=a(hazard),
        log_median_weeks=a(np.log(cfg["duration_median_weeks"])),
        sigma=a(cfg["duration_sigma"]),
        depth_min=a(cfg["depth_min"]),
        depth_max=a(cfg["depth_max"]),
        cost_min=a(cfg["cost_min"]),
        cost_max=a(cfg["cost_max"]),
        kappa=a(cfg["closure_hazard"]),
        closable=a(cfg["closable_share"]),
    )
