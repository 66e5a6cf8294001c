"""Draw ONE path's disruption and parameters from its key (batch with ``jax.vmap`` in the engine).

The key of path ``i`` is ``fold_in(key_paths, i)``, so a path's draws depend only on the seed
and its global id, never on the chunk it runs in.

Per path (``export_cutoff`` scenarios):

- with a posterior (``spec.use_posterior``), the index ``d`` of one posterior draw, uniform
  over the draws: the path's licence, cut-off and inventory parameters all come from draw
  ``d``, so parameter and shock uncertainty propagate together;
- cut-off duration ``T_c = median * exp(sigma * N(0, 1))`` days (log-normal), ``(median, sigma)``
  from the scenario or from draw ``d``;
- per destination ``r``, a weekly probability ``p_r`` that a pending application (an equal share
  of the link's volume) is approved: draw ``d``'s volume release rate scaled by ``r``'s relative
  hazard (:func:`stress.scenario.posterior_arrays`) where the posterior covers ``r``, otherwise
  ``p_r ~ Beta(a, b)`` from the scenario;
- per destination and application ``k``, the number of weeks without approval
  ``G_rk ~ Geometric(p_r)`` (failures before the first success), by inversion;
- application ``k`` to ``r`` reopens its share ``1/A`` of the flow on day
  ``start + T_c + 7 (G_rk + 1)`` in a scenario with a full cut-off (the stoppage durations the
  posterior's ``T_c`` is fitted to end with the first licences, so the review is part of them;
  with hand-set priors ``scenario.licence.review_days`` is added after ``T_c``), else
  ``start + review + 7 (G_rk + 1)``; decisions come at the end of each week;
- with a posterior, the target stock (days) of the calibrated products held by each buyer is
  draw ``d``'s cover of the buyer's region, and their ``psi`` is draw ``d``'s.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr

from stress.numerics import tree_mean, tree_sum
from stress.propagation.ario import ArioParams, ArioTables, Disruption
from stress.scenario import ShockSpec


class PathParams(NamedTuple):
    """What ONE path changes in the model's parameters (posterior draws), and what its shock
    modules drew (:class:`stress.shocks.assemble.PathInfo`; None without modules)."""

    s: jax.Array  # (p, n) target stocks, days
    psi: jax.Array  # (p, n)
    draw: jax.Array  # () int32 posterior draw index (-1: none)
    info: Any = None
    policy: Any = None  # stress.policy.levers.PolicyInfo of the path's allied levers (None: none)
    drivers: Any = None  # (len(DRIVERS),) float64: what the path drew, for attribution


DRIVERS = (
    ("cutoff_days", "day", "duration of the full cut-off of exports (0: none)"),
    ("licence_wait_days", "day", "mean days from the start of the restriction until an application's share of a restricted link reopens (capped at 3650)"),
    ("approval_rate", "1/week", "mean weekly probability that a pending licence application is approved, over the restricted destinations"),
    ("escalated_weeks", "week", "weeks of the horizon outside the export-control regime's initial state (shock modules)"),
    ("tariff_level", "1", "mean index of the US-China tariff level over the weeks (0: the first level; shock modules)"),
    ("closures", "1", "predatory-pricing targets outside China that closed capacity"),
    ("inventory_cover_days", "day", "mean target stock of the path's buyers (posterior draw of inventory cover)"),
    ("psi", "1", "mean inventory adjustment parameter psi (posterior draw)"),
    ("members_joined", "1", "coalition members that joined the allied levers"),
)
"""Sampled drivers of a path's losses: (name, units, description)."""


def sample_path(key: jax.Array, spec: ShockSpec) -> Disruption:
    """One path's :class:`Disruption`. ``key`` is that path's own key."""
    return _sample(key, spec)[0]


def sample_path_params(key: jax.Array, spec: ShockSpec, tables: ArioTables, params: ArioParams) -> tuple[Disruption, PathParams]:
    """One path's disruption and model parameters (the world's, or a posterior draw's).

    With shock modules (``spec.modules``) the disruption is a
    :class:`stress.shocks.base.Composite` of the export cut-off and the modules' draws; without,
    the export cut-off alone (the model exactly as before the modules existed).
    """
    dis, d, (duration, prob) = _sample(key, spec)
    cutoff = dis
    n = tables.X0.shape[0]
    p = tables.AS.shape[0]
    region = jnp.arange(n) // p
    dt = tables.s.dtype
    cover = spec.post_cover[d][region].astype(dt)[None, :]  # (1, n); NaN: region not covered
    apply = spec.use_posterior & (spec.post_products[:, None] > 0) & ~jnp.isnan(cover)  # (p, n)
    # company cover and transit from the draw, national stockpiles (world data) on top
    s = jnp.where(apply, jnp.maximum(cover + spec.post_stockpile.astype(dt), 2.0), tables.s)  # BoARIO's floor of 2 days
    # psi s >= 1 keeps every stock >= 0 (a stock then funds at most one day of use); every draw
    # of the bundled posterior satisfies it (smallest psi x cover: 1.1), the floor guards others.
    psi = jnp.where(apply, jnp.maximum(spec.post_psi[d].astype(dt), 1.0 / s), jnp.broadcast_to(params.psi, (p, n)))
    info = policy = None
    pol = spec.policies
    joined = None
    if pol is not None:
        from stress.policy import levers

        joined = levers.draw_coalition(pol, key)
    parts: tuple = ()
    regime = jnp.zeros((0,), jnp.int32)
    if spec.modules is not None:
        from stress.shocks import assemble

        post_p = jnp.where(spec.use_posterior, spec.post_p[d].astype(jnp.float64), jnp.nan)
        post_share = jnp.where(spec.use_posterior, spec.post_share[d].astype(jnp.float64), jnp.nan)
        lev = None if pol is None else _Levers(pol, joined, spec.cut_start, spec.dest_mask.shape[0])
        parts, info = assemble.draw(spec.modules, key, post_p, post_share, lev)
        regime = info.regime
    if pol is not None:
        if spec.modules is None:
            regime = jnp.zeros(pol.week_slots.shape, jnp.int32)  # no chain: the initial regime throughout
        extra, policy = levers.draw(pol, key, joined, regime, spec.cut_start, p)
        parts = (*parts, *extra)
    if spec.modules is not None or pol is not None:
        from stress.shocks.base import Composite

        dis = Composite(parts=(dis, *parts))
    drivers = _drivers(spec, cutoff, duration, prob, s, psi, info, joined)
    return dis, PathParams(s=s, psi=psi, draw=jnp.where(spec.use_posterior, d, -1).astype(jnp.int32), info=info, policy=policy, drivers=drivers)


def _drivers(spec: ShockSpec, dis: Disruption, duration: jax.Array, prob: jax.Array, s: jax.Array, psi: jax.Array, info: Any, joined: Any) -> jax.Array:
    """ONE path's :data:`DRIVERS` (float64)."""
    f64 = jnp.float64
    dest = spec.dest_mask.astype(f64)
    n_dest = jnp.maximum(dest.sum(), 1.0)
    # means and sums of floats in a fixed order (stress.numerics): bit-identical at any vector width
    wait = tree_mean(jnp.minimum(dis.resume_day.astype(f64) - spec.cut_start.astype(f64), 3650.0), axis=1)  # (R,)
    zero = jnp.zeros((), f64)
    if info is not None:
        escalated = (info.regime > 0).sum().astype(f64)
        tariff = tree_mean(info.tariff.astype(f64)) if info.tariff.size else zero
        closures = jnp.isfinite(info.closed_day).sum().astype(f64) if info.closed_day.size else zero
    else:
        escalated = tariff = closures = zero
    return jnp.stack(
        [
            jnp.where(spec.has_cutoff, duration, 0.0).astype(f64),
            tree_sum(wait * dest) / n_dest,
            tree_sum(jnp.clip(prob, 0, 1) * dest) / n_dest,
            escalated,
            tariff,
            closures,
            tree_mean(s.astype(f64)),
            tree_mean(psi.astype(f64)),
            zero if joined is None else (joined > 0).sum().astype(f64),
        ]
    )


class _Levers:
    """The path's levers as the shock modules see them: factors on the regime chain's moves
    (before it is drawn) and, given the drawn regimes, their :class:`~stress.shocks.base.Effects`."""

    def __init__(self, pol: Any, joined: jax.Array, cut_start: jax.Array, R: int):
        from stress.policy import levers

        self.pol, self.joined, self.cut_start, self.R = pol, joined, cut_start, R
        self.chain_factors = levers.chain_factors(pol, joined)

    def __call__(self, regime: jax.Array) -> Any:
        from stress.policy import levers

        return levers.effects(self.pol, self.joined, regime, self.cut_start, self.R)


def _sample(key: jax.Array, spec: ShockSpec) -> tuple[Disruption, jax.Array]:
    key_cut, key_prob, key_wait, key_draw = jr.split(key, 4)
    # Draws are made in float64 whatever the kernel's precision, so that a float32 run sees the
    # same disruptions as a float64 run (the random bits consumed depend on the dtype).
    f64 = jnp.float64
    R, A = spec.dest_mask.shape[0], spec.applications.shape[0]
    S = spec.post_review.shape[0]
    d = jr.randint(key_draw, (), 0, S)
    use = spec.use_posterior
    log_median = jnp.where(use, jnp.log(spec.post_cut_median[d].astype(f64)), spec.cutoff_log_median.astype(f64))
    sigma = jnp.where(use, spec.post_cut_sigma[d].astype(f64), spec.cutoff_sigma.astype(f64))
    duration = jnp.where(spec.has_cutoff, jnp.exp(log_median + sigma * jr.normal(key_cut, (), f64)), 0.0)
    prior_p = jr.beta(key_prob, spec.approval_a.astype(f64), spec.approval_b.astype(f64), (R,), f64)
    post_p = spec.post_p[d].astype(f64)
    prob = jnp.where(use & ~jnp.isnan(post_p), post_p, prior_p)
    review = jnp.where(use, spec.post_review[d].astype(f64), spec.review_days.astype(f64))
    u = jr.uniform(key_wait, (R, A), f64, minval=jnp.finfo(f64).tiny)
    # Geometric by inversion; p = 0 gives inf (never approved), p = 1 gives 0.
    weeks = jnp.floor(jnp.log(u) / jnp.log1p(-prob)[:, None])
    # After a full cut-off the hand-set review (scenario.licence.review_days) still applies; a
    # posterior's T_c already ends with the first licences.
    after_cut = duration + jnp.where(use, 0.0, spec.review_days.astype(f64))
    resume = spec.cut_start.astype(f64) + jnp.where(spec.has_cutoff, after_cut, review) + 7.0 * (weeks + 1.0)
    controlled = jnp.where(use & spec.post_share_applies, spec.post_share[d], spec.controlled)
    dis = Disruption(
        loss=spec.loss,
        loss_start=spec.loss_start,
        loss_days=spec.loss_days,
        loss_recovery=spec.loss_recovery,
        export_mask=spec.export_mask,
        dest_mask=spec.dest_mask,
        cut_start=spec.cut_start,
        resume_day=resume.astype(spec.cut_start.dtype),
        controlled=controlled.astype(spec.cut_start.dtype),
    )
    return dis, d, (duration, prob)
