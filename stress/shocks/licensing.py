"""Export licensing by product group, destination and week, and the 0.1 % extraterritorial rule.

China's 2025 controls are licences, not bans: exporters file applications for each shipment;
MOFCOM reviews them (45 working days by statute) and approves some, late. A **product group**
(separated rare earths, magnets, lithium batteries, superhard materials, semiconductor materials,
mining and separation equipment) is a share ``link_share`` of one sector's exports. In each
regime of the escalation chain (:mod:`stress.shocks.regime`) a group has a ``scope``: the share
of its value that needs a licence (e.g. the heavy elements' share of separated rare earths in
April 2025; for magnets ``null`` takes the calibrated controlled share of the path's posterior
draw); a regime also sets a multiplier on the weekly approval hazard, a review delay and whether
it is a full cut-off (no approvals, every licence revoked).

Per path, group and destination the licensed volume is ``A`` equal application slots. A slot is
pending while the regime licenses the group; once the regime's review delay (counted from the
start of the current licensing spell) is over, it is approved at the start of each week with probability
``1 - (1 - p_r) ** (m_g h_r)``: ``p_r`` the destination's weekly probability (the posterior
draw's where it covers ``r``, else a draw from Beta(``approval_a``, ``approval_b``)), ``m_g`` the
regime's multiplier and ``h_r`` the destination's relative hazard (fast-track channels).
Approvals are kept while the group stays licensed, revoked by a cut-off, and lapse when the
regime stops licensing the group (a later spell starts again from pending). The share of the
link that is closed in week ``w`` is ``scope (1 - approved share)``; the licensing channel is

    beta_ir(t) = prod_g (1 - M_gi closed_gr(week(t)))

with ``M_gi`` the share of industry ``i``'s exports that are group ``g``'s licensed goods. A
scope that grows inside a licensing spell (targeted -> wider) keeps the approved share of the
spell (an approximation: the new elements' licences are filed with the old ones).

**The 0.1 % rule** (October 2025, effective 1 December 2025, suspended 10 November 2025 for a
year): exports from third regions of listed sectors (magnets, semiconductors) need Beijing's
licence when their Chinese-origin controlled content is at least ``threshold`` of their value.
The content ``c_j`` is the total requirement of Chinese controlled goods per unit of output
(:func:`stress.shocks.content.chinese_content`); an aggregated sector is a mix of products, and
the share ``phi_j`` of its products that carry the content is documented per sector, so the
subject share of a link is ``phi_j`` when ``c_j / phi_j >= threshold`` and 0 otherwise
(:func:`stress.shocks.content.subject_share`). These are extra groups with their own slots,
licensed in the regimes with ``extraterritorial: true``; deliveries inside the exporter's own
region are never licensed.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.errors import InputError, check_names, check_range
from stress.shocks.base import NONE, Channels, Context, module_key, week_of

TAG = 2


class LicensingSpec(NamedTuple):
    """Device arrays of the licensing module (no randomness)."""

    M: jax.Array  # (L, n) share of each industry's exports that are group g's licensed goods
    scope: jax.Array  # (G, L, R) share of each group's value under licence, by regime and destination
    use_post_share: jax.Array  # (G, L) bool: the scope is the posterior draw's controlled share
    approval: jax.Array  # (G,) multiplier on the weekly approval hazard, by regime
    review_days: jax.Array  # (G,) days of review before the first decision (inf: never)
    cutoff: jax.Array  # (G,) bool: no approvals, licences revoked
    dest_hazard: jax.Array  # (R,) relative approval hazard by destination
    prior_a: jax.Array  # () Beta prior of the weekly approval probability
    prior_b: jax.Array  # ()
    export_only: jax.Array  # (n, R) 1 where the buyer region is not the supplier's own
    slots: jax.Array  # (A,) one entry per application slot (values unused)


class LicensingPath(NamedTuple):
    """One path's licensing: the closed share of each group's link by week and destination."""

    M: jax.Array  # (L, n)
    export_only: jax.Array  # (n, R)
    closed: jax.Array  # (W, L, R)

    def channels(self, t: jax.Array) -> Channels:
        c = self.closed[week_of(t, self.closed.shape[0])]  # (L, R)
        beta = jnp.prod(1 - self.M[:, :, None] * c[:, None, :] * self.export_only[None], axis=0)
        return NONE._replace(beta=beta)

    def controlled_industries(self) -> jax.Array:
        return jnp.any(self.M > 0, axis=0)


def draw(spec: LicensingSpec, key: jax.Array, ctx: Context) -> LicensingPath:
    """Simulate the application slots week by week along the path's regime states."""
    f64 = jnp.float64
    key = module_key(key, TAG)
    k_prior, k_weeks = jr.split(key)
    L, R = spec.scope.shape[1], spec.scope.shape[2]
    A = spec.slots.shape[0]
    prior = jr.beta(k_prior, spec.prior_a.astype(f64), spec.prior_b.astype(f64), (R,), f64)
    p = jnp.where(jnp.isnan(ctx.post_p), prior, ctx.post_p.astype(f64))  # (R,)
    share = jnp.where(jnp.isnan(ctx.post_share), 1.0, ctx.post_share.astype(f64))
    # a null scope is the posterior's share, on the regime's destinations only (spec.scope holds their mask)
    scope_all = jnp.where(spec.use_post_share[:, :, None], share[None, None, :] * spec.scope.astype(f64), spec.scope.astype(f64))  # (G, L, R)
    log_q = jnp.log1p(-jnp.clip(p, 0.0, 1.0))  # (R,) log of the weekly no-approval probability

    def week(carry, inp):
        approved, since, prev_on, prev_cut = carry
        g, w = inp
        scope = scope_all[g]  # (L, R)
        on = scope > 0
        cut = spec.cutoff[g]
        # a new licensing spell: the group was free, or a cut-off ended
        fresh = (on & ~prev_on) | (prev_cut & ~cut)
        since = jnp.where(fresh, 0, since)  # whole weeks of the spell before this one
        approved = approved & (on & ~cut & ~fresh)[..., None]
        # decisions at the start of the week, once the review is over
        eligible = on & ~cut & (7.0 * since >= spec.review_days[g])
        rate = spec.approval[g] * spec.dest_hazard.astype(f64)  # (R,)
        q = jnp.where(rate > 0, jnp.exp(log_q * jnp.where(rate > 0, rate, 1.0)), 1.0)  # (R,) no-approval probability
        u = jr.uniform(jr.fold_in(k_weeks, w), (L, R, A), f64)
        approved = approved | (eligible[..., None] & (u >= q[None, :, None]))
        closed = scope * ((A - approved.sum(axis=-1)) / A)  # exact 0 when every slot is approved
        return (approved, since + 1, on, cut), closed

    W = ctx.regime.shape[0]
    init = (jnp.zeros((L, R, A), bool), jnp.zeros((L, R), jnp.int32), jnp.zeros((L, R), bool), jnp.zeros((), bool))
    _, closed = jax.lax.scan(week, init, (ctx.regime, jnp.arange(W)))
    return LicensingPath(M=spec.M, export_only=spec.export_only, closed=closed.astype(spec.M.dtype))


def build(
    lic: dict[str, Any],
    ext: dict[str, Any] | None,
    mrio: Any,
    regimes: tuple[str, ...],
    dtype: Any,
) -> tuple[LicensingSpec, list[str]]:
    """The licensing spec from ``shocks.licensing`` and ``shocks.extraterritorial`` (plain dicts)
    for the regimes ``regimes`` of the chain; returns the spec and the group labels."""
    regions, sectors = list(mrio.regions), list(mrio.sectors)
    R, n, p = len(regions), mrio.n, len(sectors)
    if "CHN" not in regions:
        raise InputError("shocks.licensing.enabled", True, "a world with a region named CHN (the licensing exporter)")
    china = regions.index("CHN")
    groups = lic.get("groups") or {}
    if not groups:
        raise InputError("shocks.licensing.groups", groups, "one or more product groups {name: {sector, link_share}}")
    names = list(groups)
    M = []
    for g in names:
        spec_g = groups[g] or {}
        f = f"shocks.licensing.groups.{g}"
        _keys(f, spec_g, {"sector", "link_share", "source"})
        check_names(f"{f}.sector", [spec_g.get("sector")], sectors)
        share = spec_g.get("link_share")
        check_range(f"{f}.link_share", share, lo=0.0, hi=1.0)
        row = np.zeros(n)
        row[mrio.index("CHN", spec_g["sector"])] = float(share)
        M.append(row)
    ext_on = np.zeros(len(regimes), bool)
    if ext is not None and ext.get("enabled"):
        from stress.shocks import content as content_mod

        f = "shocks.extraterritorial"
        threshold = ext.get("threshold")
        check_range(f"{f}.threshold", threshold, lo=0.0, hi=1.0, lo_open=True)
        ext_sectors = ext.get("sectors") or []
        check_names(f"{f}.sectors", list(ext_sectors), sectors)
        phi_cfg = ext.get("phi") or {}
        check_names(f"{f}.phi", list(phi_cfg), list(ext_sectors))
        # the controlled share of each Chinese industry's output: 1 - prod_g (1 - link share)
        controlled = 1 - np.prod([1 - row for row in M], axis=0)
        content = content_mod.chinese_content(mrio, controlled)
        phi = np.zeros(n)
        for s in ext_sectors:
            v = phi_cfg.get(s, 1.0)
            check_range(f"{f}.phi.{s}", v, lo=0.0, hi=1.0)
            for r in regions:
                if r != "CHN":
                    phi[mrio.index(r, s)] = float(v)
        subject = content_mod.subject_share(content, phi, float(threshold))
        for s in ext_sectors:
            row = np.zeros(n)
            for r in regions:
                if r != "CHN":
                    row[mrio.index(r, s)] = subject[mrio.index(r, s)]
            M.append(row)
            names.append(f"extraterritorial/{s}")
        ext_regimes = ext.get("regimes") or []
        check_names(f"{f}.regimes", list(ext_regimes), list(regimes))
        ext_on = np.array([g in ext_regimes for g in regimes])
    L = len(names)
    G = len(regimes)
    scope = np.zeros((G, L, R))
    use_post = np.zeros((G, L), bool)
    approval = np.ones(G)
    review = np.zeros(G)
    cutoff = np.zeros(G, bool)
    reg_cfg = lic.get("regimes") or {}
    check_names("shocks.licensing.regimes", list(reg_cfg), list(regimes))
    n_chn_groups = len(groups)
    for gi, g in enumerate(regimes):
        rc = reg_cfg.get(g) or {}
        f = f"shocks.licensing.regimes.{g}"
        _keys(f, rc, {"scope", "approval", "review_days", "cutoff", "destinations", "source"})
        sc = rc.get("scope") or {}
        check_names(f"{f}.scope", list(sc), names[:n_chn_groups])
        dests = rc.get("destinations")
        dest_list = [r for r in regions if r != "CHN"] if dests is None else list(dests)
        check_names(f"{f}.destinations", dest_list, [r for r in regions if r != "CHN"])
        dmask = np.array([r in dest_list for r in regions], float)
        for li, grp in enumerate(names[:n_chn_groups]):
            v = sc.get(grp, 0.0)
            if v is None:
                use_post[gi, li] = True
                scope[gi, li] = dmask  # the posterior share replaces the value, the mask stays
            else:
                check_range(f"{f}.scope.{grp}", v, lo=0.0, hi=1.0)
                scope[gi, li] = float(v) * dmask
        if ext_on[gi]:
            scope[gi, n_chn_groups:] = np.array([r != "CHN" for r in regions], float)[None, :]
        approval[gi] = rc.get("approval", 1.0)
        check_range(f"{f}.approval", approval[gi], lo=0.0, finite=True)
        review[gi] = rc.get("review_days", 0.0)
        check_range(f"{f}.review_days", review[gi], lo=0.0)
        cutoff[gi] = bool(rc.get("cutoff", False))
    use_post_scope = use_post
    dest_hazard = np.ones(R)
    dh = lic.get("destination_hazard") or {}
    check_names("shocks.licensing.destination_hazard", list(dh), [r for r in regions if r != "CHN"])
    for r, v in dh.items():
        check_range(f"shocks.licensing.destination_hazard.{r}", v, lo=0.0, finite=True)
        dest_hazard[regions.index(r)] = float(v)
    a, b = lic.get("approval_a", 2.0), lic.get("approval_b", 18.0)
    check_range("shocks.licensing.approval_a", a, lo=0.0, lo_open=True, finite=True)
    check_range("shocks.licensing.approval_b", b, lo=0.0, lo_open=True, finite=True)
    A = lic.get("applications", 10)
    if not isinstance(A, int) or not 1 <= A <= 1000:
        raise InputError("shocks.licensing.applications", A, "a whole number in [1, 1000]")
    region_of = np.arange(n) // p
    export_only = (region_of[:, None] != np.arange(R)[None, :]).astype(float)
    del china
    f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    spec = LicensingSpec(
        M=f(np.array(M)),
        scope=f(scope),
        use_post_share=jnp.asarray(use_post_scope),
        approval=f(approval),
        review_days=f(review),
        cutoff=jnp.asarray(cutoff),
        dest_hazard=f(dest_hazard),
        prior_a=f(a),
        prior_b=f(b),
        export_only=f(export_only),
        slots=jnp.zeros((A,), dtype),
    )
    return spec, names


def _keys(field: str, d: dict[str, Any], allowed: set[str]) -> None:
    if not isinstance(d, dict):
        raise InputError(field, d, "a mapping with keys " + ", ".join(sorted(allowed)))
    for k in d:
        if k not in allowed:
            raise InputError(f"{field}.{k}", d[k], "unset: known keys are " + ", ".join(sorted(allowed)))
