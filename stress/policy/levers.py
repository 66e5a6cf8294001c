"""Every allied lever: its device spec (host-built from ``policy.NAME``), one path's draw, and
the channels it sets. Sources of the defaults are in ``configs/levers/default.yaml``.

Joint levers act among the coalition members that joined on the path (``joined``, a 0/1 vector
over regions drawn by :func:`draw_coalition`). The anti-coercion instrument is the EU's alone.

Costs (public outlays over the horizon, money at table prices), by component:

- ``stockpile``: ``carrying_rate x`` (money-days held) ``/ 365`` — interest and storage on the
  material held; released and refilled material changes hands at table prices (no gain or loss);
- ``price_floor``: ``sum_t max(floor - price_i(t), 0) X_i(t)`` over covered producers;
- ``procurement``: ``premium x offtake_share x`` covered producers' output over the horizon;
- ``allied_capacity``: ``public_share x capex x`` added yearly output ``x capital_charge x T/365``
  (the public equity or grant share, annualised at the capital charge);
- ``other``: yearly administrative costs ``x T/365`` (defence priority, harmonised controls,
  investment screening, the anti-coercion instrument).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.errors import InputError, check_names, check_range
from stress.metrics import COST_COMPONENTS
from stress.numerics import tree_sum
from stress.shocks.base import NONE, Channels
from stress.shocks.equipment import EquipmentPath, stretched_online

SHARING = ("demand", "contribution", "defence_first")
HOLDERS = ("joint", "national")
TRIGGERS = ("shortage", "price")
TAGS = {"coalition": 1, "allied_capacity": 2}


def policy_key(key: jax.Array, tag: int) -> jax.Array:
    """A lever's own key from the path's key (distinct from every shock module's)."""
    return jax.random.fold_in(key, 2_000_003 + tag)


# ---------------------------------------------------------------------------------------------
# Device specs


class StockpileSpec(NamedTuple):
    cover: jax.Array  # (p, n) days of cover x daily baseline use of each product by each buyer (money)
    use: jax.Array  # (p, n) daily baseline use of the stocked products by each member buyer (money)
    trigger: jax.Array  # (p, n) stock share below which an entitled buyer draws (theta cells of stocked products)
    price: jax.Array  # (p,) price threshold (inf: shortage trigger)
    first: jax.Array  # (p, n) 1: served first
    contrib: jax.Array  # (R,) contribution weights of the members
    quota_mode: jax.Array  # () bool: each member may take at most its contribution share
    release_per_day: jax.Array  # () most released a day, in days of the joined members' use
    refill_days: jax.Array  # ()
    carrying: jax.Array  # () per year


class WallSpec(NamedTuple):
    sectors: jax.Array  # (n,) 1 for the wall's products (every supplier region)
    rate: jax.Array  # ()


class FloorSpec(NamedTuple):
    covered: jax.Array  # (n,) 1 for the floor's sectors in member regions
    level: jax.Array  # ()


class ProcurementSpec(NamedTuple):
    covered: jax.Array  # (n,) 1 for the covered sectors in member regions
    share: jax.Array  # () offtake share
    premium: jax.Array  # ()
    lead_factor: jax.Array  # ()
    size_factor: jax.Array  # ()


class CapacitySpec(NamedTuple):
    onehot: jax.Array  # (J, n)
    region: jax.Array  # (J,) int32
    added: jax.Array  # (J,) share of the industry's baseline output
    lead_days: jax.Array  # (J,) median lead time
    ramp_days: jax.Array  # (J,)
    yearly_output: jax.Array  # (J,) baseline yearly output of the industry (money)
    capex: jax.Array  # (J,) capex per unit of added yearly output
    sigma: jax.Array  # ()
    controls: jax.Array  # (G,) 1 for regimes with equipment controls (stretch the lead)
    stretch_min: jax.Array  # ()
    stretch_max: jax.Array  # ()
    public_share: jax.Array  # (J,) public share of each project's capex
    capital_charge: jax.Array  # () per year


class AciSpec(NamedTuple):
    region: jax.Array  # (R,) one-hot of the acting region
    coercive: jax.Array  # (G,) 1 for regimes that count as coercion
    response_days: jax.Array  # ()
    tariff: jax.Array  # (n, R) tariff on China's listed sectors into the region, once triggered
    approval: jax.Array  # () factor on China's approval hazard for the region, once triggered


class PolicySpecs(NamedTuple):
    """The enabled levers' device specs (``None``: off) and the coalition."""

    members: jax.Array  # (R,) 1 for coalition members
    join_p: jax.Array  # (R,) probability that each member joins on a path
    region_of: jax.Array  # (n,) int32 region of each industry
    week_slots: jax.Array  # (W,)
    horizon: jax.Array  # () days
    admin: jax.Array  # () yearly administrative cost of the enabled levers
    us_only: jax.Array | None  # (n, R) share of the USA's imports refused (us_only), or None
    stockpile: StockpileSpec | None
    wall: WallSpec | None
    floor: FloorSpec | None
    procurement: ProcurementSpec | None
    defence: jax.Array | None  # (n,) 1 for the priority sectors
    capacity: CapacitySpec | None
    harmonised: jax.Array | None  # (2,) factors on up and down moves of the regime chain
    screening: jax.Array | None  # () effectiveness
    aci: AciSpec | None


class PolicyInfo(NamedTuple):
    """What one path's levers were, for costs and outputs."""

    joined: jax.Array  # (R,) 1 for members that joined
    fixed: jax.Array  # (C,) fixed costs over the horizon by component (COST_COMPONENTS)
    carrying: jax.Array  # () stockpile carrying rate per year (0: no stockpile)
    procure: jax.Array  # (n,) cost per unit of each industry's output over the horizon (offtake premium)
    aci_day: jax.Array  # () day the anti-coercion instrument acts (inf: never / off)
    capital: jax.Array  # () public capital committed: stockpile value at the start + public share of capex


# ---------------------------------------------------------------------------------------------
# One path's channels


class LeverPath(NamedTuple):
    """Every channel the path's levers set that does not change over time (or changes at one
    day, ``switch``): reserves, floors, priorities, tariffs, availability. Fields are ``None``
    for channels no enabled lever sets (so the kernel leaves those steps out)."""

    constant: Channels  # channels on every day
    switched: Channels  # channels from day ``switch`` on (the anti-coercion tariffs), combined
    switch: jax.Array  # ()

    def channels(self, t: jax.Array) -> Channels:
        ch = self.constant
        if self.switched.tariff is not None:
            on = (t >= self.switch).astype(self.switched.tariff.dtype)
            extra = self.switched.tariff * on
            ch = ch._replace(tariff=extra if ch.tariff is None else ch.tariff + extra)
        return ch


def draw_coalition(specs: PolicySpecs, key: jax.Array) -> jax.Array:
    """Which members join the joint levers on this path, ``(R,)`` 0/1 (kernel dtype)."""
    u = jr.uniform(policy_key(key, TAGS["coalition"]), specs.members.shape, jnp.float64)
    joined = (specs.members > 0) & (u < specs.join_p.astype(jnp.float64))
    return joined.astype(specs.members.dtype)


def chain_factors(specs: PolicySpecs, joined: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Factors on the regime chain's up and down moves: harmonised controls act in proportion to
    the share of members that joined (1 with no member or the lever off)."""
    one = jnp.ones((), jnp.float64)
    if specs.harmonised is None:
        return one, one
    m = specs.members.astype(jnp.float64)
    frac = (joined.astype(jnp.float64) * m).sum() / jnp.maximum(m.sum(), 1.0)
    f = specs.harmonised.astype(jnp.float64)
    return 1 + (f[0] - 1) * frac, 1 + (f[1] - 1) * frac


def coercion_day(specs: PolicySpecs, regime: jax.Array, cut_start: jax.Array) -> jax.Array:
    """Day the anti-coercion instrument acts: the first day of coercion (a coercive regime
    week, or the scenario's export cut-off) plus the response time; inf if never."""
    if specs.aci is None:
        return jnp.asarray(jnp.inf, jnp.float64)
    W = regime.shape[0]
    weeks = jnp.arange(W, dtype=jnp.float64)
    coerced = specs.aci.coercive[regime] > 0
    first = jnp.min(jnp.where(coerced, 7.0 * weeks, jnp.inf))
    first = jnp.minimum(first, cut_start.astype(jnp.float64))
    return first + specs.aci.response_days.astype(jnp.float64)


def effects(specs: PolicySpecs, joined: jax.Array, regime: jax.Array, cut_start: jax.Array, R: int) -> Any:
    """The path's :class:`stress.shocks.base.Effects` on its shock modules."""
    from stress.shocks.base import Effects

    f64 = jnp.float64
    n = specs.region_of.shape[0]
    W = regime.shape[0]
    jn = joined.astype(f64)[specs.region_of]  # (n,) 1 where the industry's region joined
    up, down = chain_factors(specs, joined)
    approval = jnp.ones((W, R), f64)
    if specs.aci is not None:
        day = coercion_day(specs, regime, cut_start)
        after = (7.0 * jnp.arange(W, dtype=f64) >= day)[:, None]
        approval = jnp.where(after, 1 + (specs.aci.approval.astype(f64) - 1) * specs.aci.region.astype(f64)[None, :], 1.0)
    protect = jnp.zeros((n,), f64)
    if specs.floor is not None:
        protect = specs.floor.level.astype(f64) * specs.floor.covered.astype(f64) * jn
    wall = jnp.zeros((n,), f64)
    if specs.wall is not None:
        wall = specs.wall.rate.astype(f64) * specs.wall.sectors.astype(f64) * jn
    closure = jnp.ones((n,), f64)
    if specs.procurement is not None:
        closure = 1 - specs.procurement.share.astype(f64) * specs.procurement.covered.astype(f64) * jn
    screen = jnp.ones((n,), f64)
    if specs.screening is not None:
        screen = 1 - specs.screening.astype(f64) * jn
    return Effects(up=up, down=down, approval=approval, protect=protect, wall=wall, closure=closure, screen=screen)


def draw(specs: PolicySpecs, key: jax.Array, joined: jax.Array, regime: jax.Array, cut_start: jax.Array, n_products: int) -> tuple[tuple, PolicyInfo]:
    """One path's lever values (each with ``channels(t)``) and its :class:`PolicyInfo`."""
    dt = specs.members.dtype
    n = specs.region_of.shape[0]
    R = specs.members.shape[0]
    p = n_products
    T = specs.horizon.astype(dt)
    jn = joined[specs.region_of]  # (n,)
    const = NONE
    parts: list = []
    fixed = [jnp.zeros((), dt) for _ in COST_COMPONENTS]
    carrying = jnp.zeros((), dt)
    capital = jnp.zeros((), dt)
    procure = jnp.zeros((n,), dt)

    if specs.us_only is not None:
        const = const._replace(beta=1 - specs.us_only)
    if specs.stockpile is not None:
        sp = specs.stockpile
        # per-path float sums in a fixed order (stress.numerics): the same bits at any vector width
        size = tree_sum(sp.cover * jn[None, :], 1)  # (p,)
        rate = sp.release_per_day * tree_sum(sp.use * jn[None, :], 1)  # (p,) independent of the size
        c = sp.contrib * joined
        c_total = tree_sum(c)
        quota_r = jnp.where(c_total > 0, c / jnp.maximum(c_total, 1e-300), 0.0)
        quota = jnp.where(sp.quota_mode, jnp.broadcast_to(quota_r[None, :], (p, R)), jnp.ones((p, R), dt))
        const = const._replace(
            reserve_size=size,
            release_rate=rate,
            refill_rate=size / sp.refill_days,
            release_trigger=sp.trigger * jn[None, :],
            release_price=jnp.broadcast_to(sp.price[:, None], (p, R)).astype(dt),
            release_first=sp.first * jn[None, :],
            release_quota=quota.astype(dt),
        )
        carrying = sp.carrying
        capital = capital + tree_sum(size)
    if specs.wall is not None:
        w = specs.wall
        inside = joined[None, :]  # buyer region joined
        outside = 1 - jn  # supplier region did not join (or is not a member)
        tariff = w.rate * w.sectors[:, None] * outside[:, None] * inside
        const = const._replace(tariff=tariff.astype(dt))
    if specs.floor is not None:
        const = const._replace(floor=(specs.floor.level * specs.floor.covered * jn).astype(dt))
    if specs.procurement is not None:
        pr = specs.procurement
        procure = (pr.premium * pr.share * pr.covered * jn).astype(dt)
    if specs.defence is not None:
        # rated orders of the joined members' defence buyers, honoured by suppliers in joined
        # member regions (a rating binds the rating country's suppliers, not China's)
        const = const._replace(priority=(specs.defence * jn).astype(dt), honour=jn.astype(dt))
    if specs.capacity is not None:
        cp = specs.capacity
        k_lead, k_stretch = jr.split(policy_key(key, TAGS["allied_capacity"]))
        f64 = jnp.float64
        z = jr.normal(k_lead, cp.added.shape, f64)
        stretch = jr.uniform(k_stretch, (), f64, cp.stretch_min.astype(f64), cp.stretch_max.astype(f64))
        lead = cp.lead_days.astype(f64) * jnp.exp(cp.sigma.astype(f64) * z)
        added = cp.added.astype(f64)
        if specs.procurement is not None:
            covered = (cp.onehot.astype(f64) @ specs.procurement.covered.astype(f64)) * joined.astype(f64)[cp.region]
            lead = lead * jnp.where(covered > 0, specs.procurement.lead_factor.astype(f64), 1.0)
            added = added * jnp.where(covered > 0, specs.procurement.size_factor.astype(f64), 1.0)
        # equipment controls stretch the lead time by the share of the weeks before it spent under them
        online = stretched_online(lead, cp.controls[regime].astype(f64), stretch)
        parts.append(EquipmentPath(cp.onehot, added.astype(dt), online.astype(dt), cp.ramp_days))
        outlay = tree_sum(cp.public_share * cp.capex * added.astype(dt) * cp.yearly_output)
        fixed[3] = outlay * cp.capital_charge * T / 365.0
        capital = capital + outlay
    switched, switch = NONE, jnp.asarray(jnp.inf, dt)
    aci_day = jnp.asarray(jnp.inf, jnp.float64)
    if specs.aci is not None:
        aci_day = coercion_day(specs, regime, cut_start)
        switched = NONE._replace(tariff=specs.aci.tariff)
        switch = aci_day.astype(dt)
    fixed[4] = specs.admin * T / 365.0
    if any(getattr(const, f) is not None for f in Channels._fields) or specs.aci is not None:
        parts.insert(0, LeverPath(const, switched, switch))
    info = PolicyInfo(
        joined=joined, fixed=jnp.stack(fixed).astype(dt), carrying=jnp.asarray(carrying, dt), procure=procure, aci_day=aci_day, capital=capital
    )
    return tuple(parts), info


# ---------------------------------------------------------------------------------------------
# Host: config -> specs


def _sectors(field: str, value: Any, mrio: Any, *, required: bool = True) -> list[str]:
    names = list(value or [])
    if required and not names:
        raise InputError(field, value, "one or more sectors: " + ", ".join(mrio.sectors))
    check_names(field, names, list(mrio.sectors))
    return names


def _mask(mrio: Any, sectors: list[str], regions: list[str] | None = None) -> np.ndarray:
    out = np.zeros(mrio.n)
    for r in regions if regions is not None else mrio.regions:
        for s in sectors:
            out[mrio.index(r, s)] = 1.0
    return out


def _nonneg(field: str, value: Any) -> None:
    check_range(field, value, lo=0.0, finite=True)


def build(
    pol: dict[str, Any],
    mrio: Any,
    *,
    regimes: tuple[str, ...],
    horizon: int,
    year_to_day: float,
    dtype: Any,
    chain: bool = False,
    takeover: bool = False,
    priced: Any = None,
) -> tuple[PolicySpecs | None, dict[str, Any]]:
    """Specs of the enabled levers from the ``policy`` config (plain dicts); ``None`` when no
    lever is on. ``chain`` and ``takeover`` say whether the run's regime chain and takeover shock
    are on; ``priced(level)`` whether some shock or lever can raise a delivered price index to
    ``level`` (a lever or option that acts only through them is refused without them). Every bad value
    raises :class:`InputError` naming its field."""
    priced = priced or (lambda level: False)
    names = [k for k, v in pol.items() if k != "coalition" and v.get("enabled")]
    if pol["coalition"].get("us_only"):
        names.append("us_only")
    if not names:
        return None, {"enabled": (), "members": ()}
    if "harmonised_controls" in names and not chain:
        raise InputError(
            "policy.harmonised_controls.enabled",
            True,
            "false unless the regime chain runs (shocks.regime.enabled=true, e.g. +scenario=october_2025_global_licensing): "
            "the lever acts only on the chain's escalation and de-escalation",
        )
    if "investment_screening" in names and not takeover:
        raise InputError(
            "policy.investment_screening.enabled",
            True,
            "false unless shocks.takeover.enabled=true: screening stops takeovers, and this run has none",
        )
    regions, sectors = list(mrio.regions), list(mrio.sectors)
    R, p, n = len(regions), len(sectors), mrio.n
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    co = pol["coalition"]
    foreign = [r for r in regions if r != "CHN"]
    if co.get("us_only"):
        if "USA" not in regions:
            raise InputError("policy.coalition.us_only", True, "false: the world has no USA region")
        members = ["USA"]
    else:
        members = list(co.get("members") or [])
        if not members:
            raise InputError("policy.coalition.members", members, "one or more regions of " + ", ".join(foreign))
        check_names("policy.coalition.members", members, foreign)
        if len(set(members)) != len(members):
            raise InputError("policy.coalition.members", members, "each region once")
    jp = dict(co.get("join_probability") or {})
    check_names("policy.coalition.join_probability", list(jp), foreign)  # only the members' entries are used
    join_p = np.zeros(R)
    for r in members:
        v = 1.0 if co.get("us_only") else jp.get(r, 1.0)
        check_range(f"policy.coalition.join_probability.{r}", v, lo=0.0, hi=1.0)
        join_p[regions.index(r)] = v
    mem = np.array([r in members for r in regions], float)
    region_of = np.arange(n) // p
    X0y = np.asarray(mrio.x, float)
    X0 = X0y / year_to_day
    A = np.asarray(mrio.A, float)
    AS = A.reshape(R, p, n).sum(axis=0)

    us_only = None
    if co.get("us_only"):
        cut = co.get("us_only_import_cut")
        check_range("policy.coalition.us_only_import_cut", cut, lo=0.0, lo_open=True, hi=1.0)
        secs = _sectors("policy.coalition.us_only_sectors", co.get("us_only_sectors"), mrio)
        t = np.zeros((n, R))
        us = regions.index("USA")
        t[:, us] = cut * _mask(mrio, secs, [r for r in regions if r != "USA"])
        us_only = a(t)
    admin = 0.0
    specs: dict[str, Any] = dict.fromkeys(("stockpile", "wall", "floor", "procurement", "defence", "capacity", "harmonised", "screening", "aci"))

    if "joint_stockpile" in names:
        c = pol["joint_stockpile"]
        f = "policy.joint_stockpile"
        days = dict(c.get("days") or {})
        check_names(f"{f}.days", list(days), sectors)
        for s, v in days.items():
            check_range(f"{f}.days.{s}", v, lo=0.0, hi=3650.0)  # 0: none of it (a sweep's first point)
        if c.get("sharing") not in SHARING:
            raise InputError(f"{f}.sharing", c.get("sharing"), "one of " + ", ".join(SHARING))
        if c.get("holder") not in HOLDERS:
            raise InputError(f"{f}.holder", c.get("holder"), "one of " + ", ".join(HOLDERS))
        if c.get("trigger") not in TRIGGERS:
            raise InputError(f"{f}.trigger", c.get("trigger"), "one of " + ", ".join(TRIGGERS))
        if c.get("holder") == "national" and c.get("sharing") == "defence_first":
            raise InputError(
                f"{f}.sharing", "defence_first", "demand or contribution when holder: national (each member draws on its own share; a first tier would overdraw it)"
            )
        if c.get("trigger") == "price" and not priced(c.get("trigger_price")):
            raise InputError(
                f"{f}.trigger",
                "price",
                f"shortage in this run: no shock or lever can raise a delivered price index to trigger_price={c.get('trigger_price')} "
                "(US-China tariffs, shocks.tariffs, can; a tariff wall can if 1 + its rate reaches it), so a price trigger would never release",
            )
        check_range(f"{f}.trigger_stock_share", c.get("trigger_stock_share"), lo=0.0, lo_open=True, hi=1.0)
        check_range(f"{f}.trigger_price", c.get("trigger_price"), lo=0.0, lo_open=True, finite=True)
        check_range(f"{f}.release_per_day", c.get("release_per_day"), lo=0.0, lo_open=True, hi=10.0)
        check_range(f"{f}.refill_days", c.get("refill_days"), lo=1.0, finite=True)
        _nonneg(f"{f}.carrying_rate", c.get("carrying_rate"))
        dvec = np.zeros(p)
        for s, v in days.items():
            dvec[sectors.index(s)] = v
        theta = (mrio.Z.reshape(R, p, n).sum(axis=0) > 1e-5 * X0[None, :])
        use = AS * X0[None, :] * theta
        use = use * mem[region_of][None, :] * (dvec > 0)[:, None]
        cover = dvec[:, None] * use
        contrib = {k: v for k, v in (c.get("contributions") or {}).items() if v is not None}
        owned = c.get("sharing") == "contribution" or c.get("holder") == "national"
        if contrib and not owned:
            raise InputError(
                f"{f}.contributions", contrib, "null for every member unless sharing: contribution or holder: national (the shares are used only then)"
            )
        if not contrib:
            by_region = np.array([cover[:, region_of == r].sum() for r in range(R)])
            cvec = by_region * mem
        else:
            check_names(f"{f}.contributions", list(contrib), members)
            for r, v in contrib.items():
                check_range(f"{f}.contributions.{r}", v, lo=0.0, hi=1.0)
            total = float(sum(contrib.values()))
            if abs(total - 1.0) > 1e-9:
                raise InputError(f"{f}.contributions", contrib, f"shares of the members that sum to 1 (they sum to {total:g})")
            cvec = np.array([float(contrib.get(r, 0.0)) for r in regions])
        prio = _sectors(f"{f}.priority_sectors", c.get("priority_sectors"), mrio, required=c.get("sharing") == "defence_first")
        first = np.zeros((p, n))
        if c.get("sharing") == "defence_first":
            first[:, :] = _mask(mrio, prio)[None, :] * (dvec > 0)[:, None]
        shortage = c.get("trigger") == "shortage"
        trig = np.where((dvec[:, None] > 0) & theta, c["trigger_stock_share"] if shortage else 1e-12, 0.0)
        price = np.full(p, np.inf if shortage else c["trigger_price"])
        specs["stockpile"] = StockpileSpec(
            cover=a(cover),
            use=a(use),
            trigger=a(trig),
            price=a(price),
            first=a(first),
            contrib=a(cvec),
            quota_mode=jnp.asarray(c.get("sharing") == "contribution" or c.get("holder") == "national"),
            release_per_day=a(c["release_per_day"]),
            refill_days=a(c["refill_days"]),
            carrying=a(c["carrying_rate"]),
        )
    if "tariff_wall" in names:
        c = pol["tariff_wall"]
        check_range("policy.tariff_wall.rate", c.get("rate"), lo=0.0, lo_open=True, finite=True)
        secs = _sectors("policy.tariff_wall.sectors", c.get("sectors"), mrio)
        specs["wall"] = WallSpec(sectors=a(_mask(mrio, secs)), rate=a(c["rate"]))
    if "price_floor" in names:
        c = pol["price_floor"]
        check_range("policy.price_floor.level", c.get("level"), lo=0.0, lo_open=True, finite=True)
        secs = _sectors("policy.price_floor.sectors", c.get("sectors"), mrio)
        specs["floor"] = FloorSpec(covered=a(_mask(mrio, secs, members)), level=a(c["level"]))
    if "procurement" in names:
        c = pol["procurement"]
        f = "policy.procurement"
        secs = _sectors(f"{f}.sectors", c.get("sectors"), mrio)
        check_range(f"{f}.offtake_share", c.get("offtake_share"), lo=0.0, hi=1.0)
        _nonneg(f"{f}.premium", c.get("premium"))
        check_range(f"{f}.lead_time_factor", c.get("lead_time_factor"), lo=0.0, lo_open=True, finite=True)
        check_range(f"{f}.size_factor", c.get("size_factor"), lo=0.0, finite=True)
        specs["procurement"] = ProcurementSpec(
            covered=a(_mask(mrio, secs, members) * (X0y > 0)),
            share=a(c["offtake_share"]),
            premium=a(c["premium"]),
            lead_factor=a(c["lead_time_factor"]),
            size_factor=a(c["size_factor"]),
        )
    if "defence_priority" in names:
        c = pol["defence_priority"]
        secs = _sectors("policy.defence_priority.sectors", c.get("sectors"), mrio)
        _nonneg("policy.defence_priority.admin_cost_per_year", c.get("admin_cost_per_year"))
        specs["defence"] = a(_mask(mrio, secs, members))
        admin += c["admin_cost_per_year"]
    if "allied_capacity" in names:
        specs["capacity"] = _capacity(pol["allied_capacity"], mrio, members, regimes, dtype)
    if "harmonised_controls" in names:
        c = pol["harmonised_controls"]
        f = "policy.harmonised_controls"
        check_range(f"{f}.escalation_factor", c.get("escalation_factor"), lo=0.0, finite=True)
        check_range(f"{f}.deescalation_factor", c.get("deescalation_factor"), lo=0.0, finite=True)
        _nonneg(f"{f}.admin_cost_per_year", c.get("admin_cost_per_year"))
        specs["harmonised"] = jnp.asarray([c["escalation_factor"], c["deescalation_factor"]], jnp.float64)
        admin += c["admin_cost_per_year"]
    if "investment_screening" in names:
        c = pol["investment_screening"]
        check_range("policy.investment_screening.effectiveness", c.get("effectiveness"), lo=0.0, hi=1.0)
        _nonneg("policy.investment_screening.admin_cost_per_year", c.get("admin_cost_per_year"))
        specs["screening"] = a(c["effectiveness"])
        admin += c["admin_cost_per_year"]
    if "anti_coercion_instrument" in names:
        specs["aci"], cost = _aci(pol["anti_coercion_instrument"], mrio, regimes, dtype)
        admin += cost
    out = PolicySpecs(
        members=a(mem),
        join_p=a(join_p),
        region_of=jnp.asarray(region_of, jnp.int32),
        week_slots=jnp.zeros((horizon // 7 + 1,), dtype),
        horizon=a(float(horizon)),
        admin=a(admin),
        us_only=us_only,
        **specs,
    )
    return out, {"enabled": tuple(names), "members": tuple(members)}


def _capacity(c: dict[str, Any], mrio: Any, members: list[str], regimes: tuple[str, ...], dtype: Any) -> CapacitySpec:
    f = "policy.allied_capacity"
    projects = c.get("projects") or []
    if not projects:
        raise InputError(f"{f}.projects", projects, "one or more projects {region, sector, added_share, lead_days, ramp_days, capex}")
    idx, reg, added, lead, ramp, capex, share = [], [], [], [], [], [], []
    for k, pr in enumerate(projects):
        g = f"{f}.projects[{k}]"
        if not isinstance(pr, dict):
            raise InputError(g, pr, "a mapping {region, sector, added_share, lead_days, ramp_days, capex, source}")
        check_names(f"{g}.region", [pr.get("region")], members)
        check_names(f"{g}.sector", [pr.get("sector")], list(mrio.sectors))
        check_range(f"{g}.added_share", pr.get("added_share"), lo=0.0, lo_open=True, hi=10.0)
        check_range(f"{g}.lead_days", pr.get("lead_days"), lo=0.0, finite=True)
        check_range(f"{g}.ramp_days", pr.get("ramp_days"), lo=0.0, finite=True)
        check_range(f"{g}.capex", pr.get("capex"), lo=0.0, hi=100.0)
        if pr.get("public_share") is not None:
            check_range(f"{g}.public_share", pr.get("public_share"), lo=0.0, hi=1.0)
        i = mrio.index(pr["region"], pr["sector"])
        if mrio.x[i] <= 0:
            raise InputError(f"{g}.sector", pr["sector"], f"a sector with output in {pr['region']} (capacity is added as a share of it)")
        idx.append(i)
        reg.append(list(mrio.regions).index(pr["region"]))
        added.append(pr["added_share"])
        lead.append(pr["lead_days"])
        ramp.append(pr["ramp_days"])
        capex.append(pr["capex"])
        share.append(c.get("public_share") if pr.get("public_share") is None else pr["public_share"])
    _nonneg(f"{f}.lead_sigma", c.get("lead_sigma"))
    check_range(f"{f}.public_share", c.get("public_share"), lo=0.0, hi=1.0)
    _nonneg(f"{f}.capital_charge", c.get("capital_charge"))
    check_range(f"{f}.stretch_min", c.get("stretch_min"), lo=1.0, finite=True)
    check_range(f"{f}.stretch_max", c.get("stretch_max"), lo=c["stretch_min"], finite=True)
    ctrl = list(c.get("equipment_regimes") or [])
    if regimes:  # without the regime chain (a plain cut-off scenario) no regime applies
        check_names(f"{f}.equipment_regimes", ctrl, list(regimes))
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    from stress.shocks.base import one_hot_rows

    return CapacitySpec(
        onehot=a(one_hot_rows(idx, mrio.n)),
        region=jnp.asarray(reg, jnp.int32),
        added=a(added),
        lead_days=a(lead),
        ramp_days=a(ramp),
        yearly_output=a(np.asarray(mrio.x, float)[idx]),
        capex=a(capex),
        sigma=a(c["lead_sigma"]),
        controls=a(np.array([g in ctrl for g in regimes] if regimes else [0.0], float)),
        stretch_min=a(c["stretch_min"]),
        stretch_max=a(c["stretch_max"]),
        public_share=a(share),
        capital_charge=a(c["capital_charge"]),
    )


def _aci(c: dict[str, Any], mrio: Any, regimes: tuple[str, ...], dtype: Any) -> tuple[AciSpec, float]:
    f = "policy.anti_coercion_instrument"
    regions = list(mrio.regions)
    check_names(f"{f}.region", [c.get("region")], [r for r in regions if r != "CHN"])
    _nonneg(f"{f}.response_days", c.get("response_days"))
    coercive = list(c.get("coercive_regimes") or [])
    if regimes:  # without the regime chain, coercion is the scenario's export cut-off
        check_names(f"{f}.coercive_regimes", coercive, list(regimes))
    _nonneg(f"{f}.tariff", c.get("tariff"))
    secs = _sectors(f"{f}.sectors", c.get("sectors"), mrio, required=c.get("tariff", 0) > 0)
    check_range(f"{f}.approval_factor", c.get("approval_factor"), lo=0.0, finite=True)
    _nonneg(f"{f}.admin_cost_per_year", c.get("admin_cost_per_year"))
    e = regions.index(c["region"])
    t = np.zeros((mrio.n, len(regions)))
    t[:, e] = c["tariff"] * _mask(mrio, secs, ["CHN"]) if secs else 0.0
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    onehot = np.zeros(len(regions))
    onehot[e] = 1.0
    return (
        AciSpec(
            region=a(onehot),
            coercive=a(np.array([g in coercive for g in regimes] if regimes else [0.0], float)),
            response_days=a(c["response_days"]),
            tariff=a(t),
            approval=a(c["approval_factor"]),
        ),
        float(c["admin_cost_per_year"]),
    )
