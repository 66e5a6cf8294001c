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
regime stops licensing the group (a later spell starts again from pending). The review delay is
the one of the regime that opened the group's spell: a move from targeted to wider licensing
does not send already licensed groups back to review. A run that starts inside a licensing
regime (e.g. the truce's general licences) sets ``initial_approved``: that share of the slots
holds licences on day 0 and the initial spell's review is over. A regime may override the scope
and the approval multiplier for single destinations (``scope_by_destination``,
``approval_by_destination``: e.g. Japan's dual-use measures of January 2026 on top of the
truce's licensing of everyone). The share of the
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
    use_post_share: jax.Array  # (G, L, R) bool: the scope is the posterior draw's controlled share
    approval: jax.Array  # (G, R) multiplier on the weekly approval hazard, by regime and destination
    review_days: jax.Array  # (G,) days of review before the first decision (inf: never)
    cutoff: jax.Array  # (G,) bool: no approvals, licences revoked
    initial_approved: jax.Array  # () share of slots licensed at day 0 in the initial regime
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
    scope_all = jnp.where(spec.use_post_share, share[None, None, :] * spec.scope.astype(f64), spec.scope.astype(f64))  # (G, L, R)
    log_q = jnp.log1p(-jnp.clip(p, 0.0, 1.0))  # (R,) log of the weekly no-approval probability
    k_weeks, k_init = jr.split(k_weeks)

    def week(carry, inp):
        approved, since, review, prev_on, prev_cut = carry
        g, w = inp
        scope = scope_all[g]  # (L, R)
        on = scope > 0
        cut = spec.cutoff[g]
        # a new licensing spell: the group was free, or a cut-off ended; its review is the one of
        # the regime that opened the spell (a wider list does not re-review licensed groups)
        fresh = (on & ~prev_on) | (prev_cut & ~cut)
        since = jnp.where(fresh, 0, since)  # whole weeks of the spell before this one
        review = jnp.where(fresh, spec.review_days[g], review)
        approved = approved & (on & ~cut & ~fresh)[..., None]
        # decisions at the start of the week, once the review is over
        eligible = on & ~cut & (7.0 * since >= review)
        rate = spec.approval[g].astype(f64)  # (R,)
        if ctx.policy is not None:  # a lever's factor on the approval hazard (e.g. the EU's ACI)
            rate = rate * ctx.policy.approval[w].astype(f64)
        q = jnp.where(rate > 0, jnp.exp(log_q * jnp.where(rate > 0, rate, 1.0)), 1.0)  # (R,) no-approval probability
        u = jr.uniform(jr.fold_in(k_weeks, w), (L, R, A), f64)
        approved = approved | (eligible[..., None] & (u >= q[None, :, None]))
        closed = scope * ((A - approved.sum(axis=-1)) / A)  # exact 0 when every slot is approved
        return (approved, since + 1, review, on, cut), closed

    W = ctx.regime.shape[0]
    # Week 0 continues the initial regime's spell: with initial_approved > 0 its review is over and
    # that share of the slots holds licences (a run that starts inside a licensing regime).
    g0 = ctx.regime[0]
    on0, cut0 = scope_all[g0] > 0, spec.cutoff[g0]
    started = spec.initial_approved > 0
    approved0 = (jr.uniform(k_init, (L, R, A), f64) < spec.initial_approved) & (on0 & ~cut0)[..., None]
    since0 = jnp.where(started, 1_000_000, 0) * jnp.ones((L, R), jnp.int32)
    review0 = jnp.broadcast_to(spec.review_days[g0], (L, R))
    init = (approved0, since0, review0, on0, jnp.broadcast_to(cut0, ()))
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
    use_post = np.zeros((G, L, R), bool)
    approval = np.ones((G, R))
    review = np.zeros(G)
    cutoff = np.zeros(G, bool)
    reg_cfg = lic.get("regimes") or {}
    check_names("shocks.licensing.regimes", list(reg_cfg), list(regimes))
    n_chn_groups = len(groups)
    for gi, g in enumerate(regimes):
        rc = reg_cfg.get(g) or {}
        f = f"shocks.licensing.regimes.{g}"
        _keys(f, rc, {"scope", "approval", "review_days", "cutoff", "destinations", "scope_by_destination", "approval_by_destination", "source"})
        sc = rc.get("scope") or {}
        check_names(f"{f}.scope", list(sc), names[:n_chn_groups])
        dests = rc.get("destinations")
        if dests is not None and not list(dests):
            raise InputError(f"{f}.destinations", dests, "one or more regions, or null for every region but CHN")
        dest_list = [r for r in regions if r != "CHN"] if dests is None else list(dests)
        check_names(f"{f}.destinations", dest_list, [r for r in regions if r != "CHN"])
        dmask = np.array([r in dest_list for r in regions], float)
        for li, grp in enumerate(names[:n_chn_groups]):
            v = sc.get(grp, 0.0)
            if v is None:
                use_post[gi, li, :] = True
                scope[gi, li] = dmask  # the posterior share replaces the value, the mask stays
            else:
                check_range(f"{f}.scope.{grp}", v, lo=0.0, hi=1.0)
                scope[gi, li] = float(v) * dmask
        by_dest = rc.get("scope_by_destination") or {}
        check_names(f"{f}.scope_by_destination", list(by_dest), [r for r in regions if r != "CHN"])
        for r, groups_r in by_dest.items():
            check_names(f"{f}.scope_by_destination.{r}", list(groups_r or {}), names[:n_chn_groups])
            for grp, v in (groups_r or {}).items():
                check_range(f"{f}.scope_by_destination.{r}.{grp}", v, lo=0.0, hi=1.0)
                li = names.index(grp)
                scope[gi, li, regions.index(r)] = float(v)
                use_post[gi, li, regions.index(r)] = False  # a number given for the destination
        if ext_on[gi]:
            scope[gi, n_chn_groups:] = np.array([r != "CHN" for r in regions], float)[None, :]
        a_g = rc.get("approval", 1.0)
        check_range(f"{f}.approval", a_g, lo=0.0, finite=True)
        approval[gi] = float(a_g)
        for r, v in (rc.get("approval_by_destination") or {}).items():
            check_names(f"{f}.approval_by_destination", [r], [x for x in regions if x != "CHN"])
            check_range(f"{f}.approval_by_destination.{r}", v, lo=0.0, finite=True)
            approval[gi, regions.index(r)] = float(a_g) * float(v)
        review[gi] = rc.get("review_days", 0.0)
        check_range(f"{f}.review_days", review[gi], lo=0.0)
        cutoff[gi] = bool(rc.get("cutoff", False))
    dest_hazard = np.ones(R)
    dh = lic.get("destination_hazard") or {}
    check_names("shocks.licensing.destination_hazard", list(dh), [r for r in regions if r != "CHN"])
    for r, v in dh.items():
        check_range(f"shocks.licensing.destination_hazard.{r}", v, lo=0.0, finite=True)
        dest_hazard[regions.index(r)] = float(v)
    a, b = lic.get("approval_a", 2.0), lic.get("approval_b", 18.0)
    check_range("shocks.licensing.approval_a", a, lo=0.0, lo_open=True, finite=True)
    check_range("shocks.licensing.approval_b", b, lo=0.0, lo_open=True, finite=True)
    init_share = lic.get("initial_approved", 0.0)
    check_range("shocks.licensing.initial_approved", init_share, lo=0.0, hi=1.0)
    A = lic.get("applications", 10)
    if not isinstance(A, int) or not 1 <= A <= 1000:
        raise InputError("shocks.licensing.applications", A, "a whole number in [1, 1000]")
    region_of = np.arange(n) // p
    export_only = (region_of[:, None] != np.arange(R)[None, :]).astype(float)
    f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    spec = LicensingSpec(
        M=f(np.array(M)),
        scope=f(scope),
        use_post_share=jnp.asarray(use_post),
        approval=f(approval * dest_hazard[None, :]),
        review_days=f(review),
        cutoff=jnp.asarray(cutoff),
        initial_approved=f(init_share),
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
