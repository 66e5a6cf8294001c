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
from stress.errors import InputError, check_names
from stress.mrio.tables import Mrio


class ShockSpec(NamedTuple):
    """Everything a path needs to draw its disruption and parameters.

    Deterministic capacity-loss events (from the ``shock`` group) apply to every path. The
    export restriction is drawn per path by :func:`stress.sampler.sample_path`. The ``post_*``
    arrays hold the posterior draws (``S`` of them; one dummy draw when ``use_posterior`` is
    false): NaN in ``post_p`` marks a destination the posterior does not cover.
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
    has_cutoff: jax.Array  # () bool: the scenario has a full cut-off phase
    controlled: jax.Array  # (R,) share of the restricted links' value under control, by buyer region
    use_posterior: jax.Array  # () bool
    post_p: jax.Array  # (S, R) weekly approval probability by destination (NaN: not covered)
    post_review: jax.Array  # (S,) review days
    post_cut_median: jax.Array  # (S,) median cut-off days
    post_cut_sigma: jax.Array  # (S,)
    post_cover: jax.Array  # (S, R) days of cover of the calibrated products, by buyer region
    post_psi: jax.Array  # (S,)
    post_products: jax.Array  # (p,) 1 for the products whose cover and psi are calibrated
    post_stockpile: jax.Array  # (p, n) national-stockpile days added to a drawn company cover
    post_share: jax.Array  # (S, R) controlled share of the links' value, by buyer region
    post_share_applies: jax.Array  # () bool: the scenario takes its controlled share from the posterior
    modules: Any = None  # stress.shocks.assemble.ModuleSpecs of the enabled shocks (None: none)
    policies: Any = None  # stress.policy.levers.PolicySpecs of the enabled allied levers (None: none)


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


def check_labels(cfg: Config, mrio: Mrio) -> None:
    """The scenario's region and sector names against the world (first, so that a scenario meant
    for another world is named as the cause rather than the shocks built on it)."""
    sc = cfg.scenario
    if sc is not None and sc.kind == "export_cutoff":
        check_names("scenario.exporter", [sc.exporter], list(mrio.regions))
        check_names("scenario.products", list(sc.products), list(mrio.sectors))
        if sc.destinations is not None:
            check_names("scenario.destinations", list(sc.destinations), [r for r in mrio.regions if r != sc.exporter])


def build(cfg: Config, mrio: Mrio, dtype: Any, posterior: Any = None, modules: Any = None, policies: Any = None) -> ShockSpec:
    """Resolve ``cfg.shock`` and ``cfg.scenario`` against the world's labels; ``posterior`` is a
    :class:`stress.calibration.fit.Posterior` (or None for the scenario's hand-set priors);
    ``modules`` the enabled shock modules (:func:`stress.shocks.assemble.build`)."""
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
    has_cutoff = sc is not None and sc.kind == "export_cutoff" and sc.cutoff.median_days > 0
    controlled = np.full(R, 1.0 if sc is None or sc.controlled_share is None else float(sc.controlled_share))
    share_applies = sc is not None and sc.controlled_share is None
    post = posterior_arrays(posterior, mrio)
    if share_applies and post is None:
        raise InputError("scenario.controlled_share", None, "a share in (0, 1] when no posterior is used (calibration.posterior=none)")
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
        has_cutoff=jnp.asarray(has_cutoff),
        controlled=f(controlled),
        use_posterior=jnp.asarray(post is not None),
        **{k: f(v) for k, v in (post or dummy_posterior(mrio)).items()},
        post_share_applies=jnp.asarray(share_applies),
        modules=modules,
        policies=policies,
    )


POSTERIOR_PRODUCTS = ("ree_separation", "magnets")


def posterior_arrays(posterior: Any, mrio: Mrio) -> dict[str, np.ndarray] | None:
    """The engine's view of a posterior: arrays by draw, mapped onto the world's labels.

    Regions are matched by name; a region the posterior does not cover is NaN here and keeps
    the scenario's licence prior and the world's inventory target. Cover and psi apply to the
    products in :data:`POSTERIOR_PRODUCTS` that the world has.
    """
    if posterior is None:
        return None
    v, lab = posterior.values, posterior.labels
    regions = list(mrio.regions)
    S = v["licence_review_days"].shape[0]
    # Licences release VOLUME in the engine (each application slot is an equal share of a link).
    # The volume-weighted weekly release rate and delay come from the export model (China's
    # monthly exports, where large exporters were licensed first); the licence model (counts of
    # applications by destination) gives each destination's hazard relative to the others.
    h_count = -np.log1p(-np.clip(v["licence_weekly_p"], 0.0, 1 - 1e-12))  # (S, D) weekly hazards
    # Relative to the geometric mean over the destinations with licence data; a destination
    # without data (its count hazard is a draw from the pooled prior) gets the mean itself.
    observed = np.array([d in licence_destinations(posterior) for d in lab["destination"]])
    if not observed.any():
        observed[:] = True
    log_h = np.log(np.maximum(h_count, 1e-300))
    relative = np.where(observed, np.exp(log_h - log_h[:, observed].mean(axis=1, keepdims=True)), 1.0)
    h_volume = -np.log1p(-np.clip(v["export_weekly_p"], 0.0, 1 - 1e-12))[:, None] * relative
    p_dest = -np.expm1(-h_volume)
    post_p = np.full((S, len(regions)), np.nan)
    share = np.repeat(v["export_controlled_share"][:, None], len(regions), axis=1)
    for k, r in enumerate(lab["destination"]):
        if r in regions:
            post_p[:, regions.index(r)] = p_dest[:, k]
    if "USA" in regions:
        share[:, regions.index("USA")] = v["export_controlled_share_usa"]
    cover = np.full((S, len(regions)), np.nan)
    for k, r in enumerate(lab["region"]):
        if r in regions:
            cover[:, regions.index(r)] = v["inventory_cover_days"][:, k]
    products = np.array([1.0 if s in POSTERIOR_PRODUCTS else 0.0 for s in mrio.sectors])
    return {
        "post_p": post_p,
        "post_review": v["export_delay_days"],
        "post_cut_median": v["cutoff_median_days"],
        "post_cut_sigma": v["cutoff_sigma"],
        "post_cover": cover,
        "post_psi": v["psi"],
        "post_products": products,
        "post_stockpile": np.zeros((len(mrio.sectors), mrio.n)) if mrio.stockpile_days is None else mrio.stockpile_days,
        "post_share": share,
    }


def licence_destinations(posterior: Any) -> set[str]:
    """Destinations with licence observations in the data the posterior was fitted to."""
    from stress.calibration import observations

    data_dir = posterior.attrs.get("data_dir")
    try:
        frame = observations.load("licences", None if data_dir in (None, "bundled") else data_dir)
    except (InputError, OSError):
        return set(posterior.labels.get("destination", []))
    return set(frame["destination"])


def dummy_posterior(mrio: Mrio) -> dict[str, np.ndarray]:
    """One placeholder draw (never used: ``use_posterior`` is false)."""
    R, p = len(mrio.regions), len(mrio.sectors)
    one = np.ones(1)
    return {
        "post_p": np.full((1, R), np.nan),
        "post_review": one,
        "post_cut_median": one,
        "post_cut_sigma": one,
        "post_cover": np.full((1, R), 90.0),
        "post_psi": one,
        "post_products": np.zeros(p),
        "post_stockpile": np.zeros((p, R * p)),
        "post_share": np.ones((1, R)),
    }
