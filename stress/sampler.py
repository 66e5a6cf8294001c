"""Draw ONE path's disruption from its key (batch with ``jax.vmap`` in the engine).

The key of path ``i`` is ``fold_in(key_paths, i)``, so a path's draws depend only on the seed
and its global id, never on the chunk it runs in.

Per path (``full_cutoff``):

- cut-off duration ``T_c = median * exp(sigma * N(0, 1))`` days (log-normal);
- per destination ``r``, a weekly approval probability ``p_r ~ Beta(a, b)``;
- per destination and application ``k``, the number of weeks without approval
  ``G_rk ~ Geometric(p_r)`` (failures before the first success), by inversion;
- application ``k`` to ``r`` reopens its share ``1/A`` of the flow on day
  ``start + T_c + review + 7 (G_rk + 1)``: decisions come at the end of each week.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr

from stress.propagation.ario import Disruption
from stress.scenario import ShockSpec


def sample_path(key: jax.Array, spec: ShockSpec) -> Disruption:
    """One path's :class:`Disruption`. ``key`` is that path's own key."""
    key_cut, key_prob, key_wait = jr.split(key, 3)
    # Draws are made in float64 whatever the kernel's precision, so that a float32 run sees the
    # same disruptions as a float64 run (the random bits consumed depend on the dtype).
    f64 = jnp.float64
    R, A = spec.dest_mask.shape[0], spec.applications.shape[0]
    duration = jnp.exp(spec.cutoff_log_median.astype(f64) + spec.cutoff_sigma.astype(f64) * jr.normal(key_cut, (), f64))
    prob = jr.beta(key_prob, spec.approval_a.astype(f64), spec.approval_b.astype(f64), (R,), f64)
    u = jr.uniform(key_wait, (R, A), f64, minval=jnp.finfo(f64).tiny)
    # Geometric by inversion; p = 0 gives inf (never approved), p = 1 gives 0.
    weeks = jnp.floor(jnp.log(u) / jnp.log1p(-prob)[:, None])
    resume = spec.cut_start.astype(f64) + duration + spec.review_days.astype(f64) + 7.0 * (weeks + 1.0)
    return Disruption(
        loss=spec.loss,
        loss_start=spec.loss_start,
        loss_days=spec.loss_days,
        loss_recovery=spec.loss_recovery,
        export_mask=spec.export_mask,
        dest_mask=spec.dest_mask,
        cut_start=spec.cut_start,
        resume_day=resume.astype(spec.cut_start.dtype),
    )
