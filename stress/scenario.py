"""Scenario and shock configuration + world labels -> ``ShockSpec`` (arrays, no randomness).

Names are resolved to masks here, once, on the host; everything the kernel needs is an array,
so a new scenario with the same shapes never recompiles.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stress.config import Config, as_list
from stress.errors import check_names
from stress.mrio.tables import Mrio


class ShockSpec(NamedTuple):
    """Everything a path needs to draw its disruption.

    Deterministic capacity-loss events (from the ``shock`` group) apply to every path. The
    export restriction is drawn per path by :func:`stress.sampler.sample_path`.
    """

    loss: jax.Array  # (E, n) capacity-loss fractions
    loss_start: jax.Array  # (E,) first day with reduced capacity
    loss_days: jax.Array  # (E,) days at full loss
    loss_recovery: jax.Array  # (E,) days of linear recovery
    export_mask: jax.Array  # (n,) 1 for controlled supplier industries
    dest_mask: jax.Array  # (R,) 1 for destinations under the restriction
    cut_start: jax.Array  # () first day of the cut-off (inf: no restriction)
    cutoff_log_median: jax.Array  # () log of the median cut-off duration, days
    cutoff_sigma: jax.Array  # () log-normal sigma of the duration
    approval_a: jax.Array  # (R,) Beta prior of the weekly approval probability
    approval_b: jax.Array  # (R,)
    review_days: jax.Array  # () review before the first weekly decision
    applications: jax.Array  # (A,) one slot per application (its values are unused)


def capacity_events(cfg: Config, mrio: Mrio) -> tuple[np.ndarray, ...]:
    """The ``shock`` group as one event: ``(loss (1, n), start, days, recovery)``."""
    sh = cfg.shock
    n = mrio.n
    loss = np.zeros((1, n))
    if sh.kind == "capacity_loss":
        regions = as_list("shock.region", sh.region)
        sectors = as_list("shock.sector", sh.sector)
        check_names("shock.region", regions, list(mrio.regions))
        check_names("shock.sector", sectors, list(mrio.sectors))
        for r in regions:
            for s in sectors:
                loss[0, mrio.index(r, s)] = sh.fraction
        timing = (sh.start_day, sh.duration_days, sh.recovery_days)
    else:
        timing = (0, 0, 0)
    start, days, recovery = (np.asarray([float(v)]) for v in timing)
    return loss, start, days, recovery


def build(cfg: Config, mrio: Mrio, dtype: Any) -> ShockSpec:
    """Resolve ``cfg.shock`` and ``cfg.scenario`` against the world's labels."""
    R, n = len(mrio.regions), mrio.n
    loss, start, days, recovery = capacity_events(cfg, mrio)
    export_mask = np.zeros(n)
    dest_mask = np.zeros(R)
    cut_start = np.inf
    log_median, sigma, a, b, review, n_apps = 0.0, 0.0, 1.0, 1.0, 0.0, 1
    sc = cfg.scenario
    if sc is not None and sc.kind == "export_cutoff":
        check_names("scenario.exporter", [sc.exporter], list(mrio.regions))
        check_names("scenario.products", list(sc.products), list(mrio.sectors))
        dests = [r for r in mrio.regions if r != sc.exporter] if sc.destinations is None else list(sc.destinations)
        check_names("scenario.destinations", dests, [r for r in mrio.regions if r != sc.exporter])
        for s in sc.products:
            export_mask[mrio.index(sc.exporter, s)] = 1.0
        for r in dests:
            dest_mask[mrio.regions.index(r)] = 1.0
        cut_start = float(sc.start_day)
        log_median = float(np.log(sc.cutoff.median_days)) if sc.cutoff.median_days > 0 else -np.inf
        sigma = sc.cutoff.sigma
        a, b = sc.licence.approval_a, sc.licence.approval_b
        review = sc.licence.review_days
        n_apps = sc.licence.applications
    f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    return ShockSpec(
        loss=f(loss),
        loss_start=f(start),
        loss_days=f(days),
        loss_recovery=f(recovery),
        export_mask=f(export_mask),
        dest_mask=f(dest_mask),
        cut_start=f(cut_start),
        cutoff_log_median=f(log_median),
        cutoff_sigma=f(sigma),
        approval_a=f(np.full(R, a)),
        approval_b=f(np.full(R, b)),
        review_days=f(review),
        applications=jnp.zeros((n_apps,), dtype),
    )
