"""The ARIO-class dynamic propagator, for ONE path (batch it with ``jax.vmap``).

The model follows the Adaptive Regional Input-Output model (Hallegatte 2008; inventories and the
psi rule of Hallegatte 2014; capacity-weighted supplier substitution of Guan et al. 2020) in the
exact form and step order of BoARIO 0.7.2's ``ARIOPsiModel`` (``shared/ARIO.md``), extended with
export restrictions on bilateral links. With no restriction it reproduces BoARIO's trajectories.

Notation (ARIO.md §1; ``n = R p`` industries in region-major order, ``p`` products,
``F`` final-demand categories per region):

==========  ==============================================  ==========  =================
symbol      meaning                                         shape       code
==========  ==============================================  ==========  =================
X_0         initial (daily) gross output                    (n,)        ``tables.X0``
Z_0         initial daily intermediate flows                (n, n)      ``tables.Z0``
Y_0         daily final demand                              (n, R F)    ``tables.Y0``
A^S         input of product q per unit output of j         (p, n)      ``tables.AS``
theta       "is a real input" mask (ARIO.md §2.3)           (p, n)      ``tables.theta``
s_qj        target inventory of q held by j, days of use    (p, n)      ``tables.s``
c_qj        criticality: share of j's output that needs q   (p, n)      ``tables.crit``
psi_qj      stock share below which output is cut           () or (p,n) ``params.psi``
v           value-added coefficients                        (n,)        ``tables.v``
kappa_inv   1/tau_inv, share of stock gap ordered per day   ()          ``params.kappa_inv``
alpha^b/max base and maximal overproduction                 ()          ``params.alpha_base/max``
kappa_alpha 1/tau_alpha                                     ()          ``params.kappa_alpha``
S(t)        stock of product q held by buyer j              (p, n)      ``state.S``
O(t)        orders of buyer j to supplier i for step t      (n, n)      ``state.O``
alpha(t)    overproduction factor                           (n,)        ``state.alpha``
X(t-1)      last step's production                          (n,)        ``state.X_prev``
Delta(t)    share of capacity lost                          (n,)        ``loss``
beta(t)     share of i's flow to region r that may pass     (n, R)      ``beta``
D(t)        demand addressed to i, O_eff 1 + Y_eff 1        (n,)        ``D``
Xbar(t)     capacity X_0 (1 - Delta) alpha                  (n,)        ``cap``
X^opt(t)    min(D, Xbar)                                    (n,)        ``Xopt``
X(t)        realised production                             (n,)        ``X``
==========  ==============================================  ==========  =================

One step (ARIO.md §5, in this order):

- E  The day's channels (:mod:`stress.shocks.base`) from the path's shocks: capacity factor
  ``1 - Delta(t)``, licensed shares ``beta(t)``, producer prices ``p(t)``, tariffs and
  markdowns (delivered price ``pi_ir = p_i (1 + tariff_ir) markdown_ir``), halt and restart
  settings. Final demand of region ``r`` for product ``q`` moves with the product's price index
  as ``P_qr ** -epsilon`` and is re-split over its suppliers in proportion to
  ``Y0_ir pi_ir ** -sigma`` (``epsilon``, ``sigma``: ``params.demand_elasticity`` and
  ``params.substitution_elasticity``; 0 leaves quantities alone); of it, the licensed share
  ``beta_ir`` passes.
- A  ``zeta = (D - X(t-1)) / D``; for ``t >= 2``,
  ``alpha <- max(1, alpha + kappa_alpha [(alpha^max - alpha) zeta 1{zeta != 0}
  + (alpha^b - alpha) 1{zeta = 0}])``.
- P  ``X^opt = min(D, Xbar)``; ``X_j = X^opt_j min_q r_qj`` with ``r_qj = 1 - c_qj (1 - rho_qj)``
  and ``rho_qj = min(1, S_qj / (psi_qj s_qj A^S_qj X^opt_j))`` over real inputs (Leontief
  complementarity below psi of target).
- H  Plant halts (an extension; off with neutral channels): while ``rho_qj < halt_below_j`` the
  part of ``j``'s output that needs ``q`` stops (``rho_qj -> 0``); once the input is back it
  stays down ``restart_lag_j`` days, then runs at ``1 - penalty_j`` for ``penalty_days_j``
  days (re-sequencing of lines). ``c = 1`` everywhere is ARIO exactly; ``c_qj < 1``
  (an extension) says only that share of an aggregated sector's output needs product ``q``,
  at the intensity ``A^S_qj / c_qj``; the rest of the output needs none of it.
- D  Every client of ``i`` receives the share ``X_i / D_i`` of its order, unless some buyers are
  priority buyers (rated orders, channel ``priority``) and ``i`` honours them (channel
  ``honour``): with ``P_i = 1{honour_i > 0} sum_j O_ij 1{priority_j > 0}``
  the orders of priority buyers are served first, at ``sp_i = min(1, X_i / P_i)`` (1 where
  ``P_i = 0``), and every other client (intermediate and final demand) gets
  ``so_i = min(1, max(X_i - P_i, 0) / (D_i - P_i))`` (0 where ``D_i = P_i``; the ``min`` only
  guards rounding), which is ``X_i / D_i`` without priority buyers;
  ``S <- S - U + I_sum G`` (skipped when inflow and use are ``allclose``). The use of q is
  ``U_qj = A^S_qj X_j rho_qj / r_qj``: only the part of the output that needs q draws on its
  stock (``rho_qj / r_qj`` is that part's share of ``X_j`` over ``c_qj``). With ``c = 1`` it is
  ARIO's ``A^S X``; with any ``c`` it never exceeds ``S / (psi s)``, so stocks stay >= 0
  whenever ``psi s >= 1``.
- V  Public reserves (an extension; off with neutral channels), after the stock update and before
  the orders, which see the replenished stocks. The state holds the reserve ``V_q`` (money at
  table prices), full (``reserve_size`` of day 0) at the start. Buyer ``j``'s target is the
  baseline stock ``T_qj = s_qj A^S_qj X_0,j`` on real inputs (``theta``; not ``X^opt``: a buyer
  whose output collapsed is still short) and its gap ``g_qj = max(T_qj - S_qj, 0)``. It draws
  on the reserve only while entitled and triggered: ``release_trigger_qj > 0`` and
  (``S_qj < release_trigger_qj T_qj`` or ``P_q,r(j) >= release_price_q,r(j)``), with the
  delivered price index ``P_qr = sum_a w_aqr pi_(a,q),r`` of today's channels (``w_aqr``: the
  table's value shares of supplier region ``a`` in region ``r``'s intermediate purchases of
  ``q``; ``P_qr = 1`` where ``r`` buys none). Of the day's release
  ``avail_q = min(V_q, release_rate_q)``, the buyers with ``release_first_qj > 0`` are served
  first, pro rata to their gaps (``a1 = g1 min(1, avail / sum g1)``); the rest ``rem_q`` goes
  to the other entitled buyers, pro rata to their gaps (``f_qr = min(1, rem_q / G2_q)``) in
  regions with ``release_quota_qr >= 1``, while a region with a quota below 1 owns that share
  of the reserve: it takes at most what it may still draw, ``E_qr = max(quota_qr
  reserve_size_q - drawn_qr, 0)`` (``f_qr = min(1, min(E_qr, rem_q) / G2_qr)``; ``G2_qr``: its
  buyers' gaps; ``drawn_qr``, carried in the state, is its net draw so far, and a refill
  restores the regions' draws in proportion to them: national stocks in one store); if these
  shares together would exceed ``rem_q`` (quotas summing above 1, or mixed
  with pooled regions), the second tier is scaled down to ``rem_q``, so the reserve never
  releases more than ``avail``. ``S += a1 + a2``, ``V -= sum_j (a1 + a2)``. On a day when every
  entitled buyer (``release_trigger_qj > 0``) holds at least ``REFILL_FULL`` (0.99) of its
  target after the release (the crisis is over), the reserve buys back
  ``min(refill_rate_q, max(reserve_size_q - V_q, 0))`` (on the world market: the purchase is
  not an order in the IO table, an assumption). The crash check (a stock < 0 or NaN) follows.
- F  Price floors (an extension): producer ``i`` is paid ``max(floor_i - p_i, 0) X_i`` a day
  (money at table prices, ``p``: today's producer price index), recorded by producer region.
- Q  Orders for ``t + 1``: ``N_qj = kappa_inv max(s_qj A^S_qj X^opt_j - S_qj, 0) + U_qj``,
  split over suppliers of product q by ``w_ij = Z_0,ij alpha_i (1 - Delta_i)`` ("alt", Guan et
  al. 2020; added capacity, ``1 - Delta > 1``, counts as 1 here: it serves redirected orders
  without drawing baseline ones) or by the fixed initial shares ("noalt"), each times ``pi_{i,r(j)} ** -sigma``
  (tomorrow's delivered price; ``sigma``: ``params.substitution_elasticity``, an Armington-type
  elasticity; 0 splits by capacity alone), then capped by export licences (below).

Export restrictions (licences as volume caps): ``beta_i,r(t)`` is the share of the orders that
buyers in region ``r`` would place with supplier ``i`` without the restriction that is licensed
on day ``t``. A restricted supplier (``beta < 1``) receives exactly that share,
``sigma_ij = beta_ij w_ij / W_qj`` (``W_qj``: the sum of ``w`` over the suppliers of q), and
accepts all of it; the blocked remainder ``B_qj = sum_k (1 - beta_kj) w_kj / W_qj`` goes to the
unrestricted suppliers (``beta = 1``) of the same product in proportion to ``w``, which serve it
only up to their capacity. With no unrestricted supplier it is not ordered. (Redirected orders
never go to a restricted supplier: its licence caps its volume, whatever else is closed.) So
``beta`` counts once: a link licensed at 0.1 of a 90 % supplier carries 0.09 of the buyer's
orders. Final demand cannot re-split: of region ``r``'s final demand for ``i`` only the share
``beta_i,r(t)`` passes, and the rest counts as unmet. Orders placed on day ``t - 1`` for day
``t`` already use ``beta(t)``; the initial orders (``Z_0``) are split the same way with
``beta(0)``.

Steps that no shock of a path moves are left out at trace time (:func:`_touched`): prices,
halts, rationing priority (``priority``), the reserve step (any of the seven reserve channels)
and the floor (``floor``); a left-out step records zeros and leaves the reserve at 0, and with
none of the lever channels touched the trajectories are bit for bit those of the model without
them.

``boario_quirks=True`` (default) keeps BoARIO 0.7.2's behaviour where it departs from the
published model (ARIO.md §8): alpha relaxes to ``alpha^b`` only when ``zeta == 0`` exactly
(otherwise any ``zeta <= 0`` relaxes it), the recovering loss is rounded to 6 decimals, the
two global ``allclose`` short-cuts apply, and the input mask compares yearly flows with daily
output (``a^S > 1e-5 / 365`` instead of ``a^S > 1e-5``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stress.mrio.tables import Mrio
from stress.shocks.base import Channels, neutral


class ArioTables(NamedTuple):
    """Device arrays of the world, shared by all paths (daily units)."""

    X0: jax.Array  # (n,)
    Z0: jax.Array  # (n, n)
    Y0: jax.Array  # (n, R*F)
    AS: jax.Array  # (p, n)
    theta: jax.Array  # (p, n) bool
    s: jax.Array  # (p, n) target stock of product q held by industry j, days of use
    v: jax.Array  # (n,) value added per unit of output
    crit: jax.Array  # (p, n) criticality of each input (1: ARIO's Leontief constraint)
    fd_region: jax.Array  # (R*F,) int32, region of each final-demand column
    split0: jax.Array  # (n, n) initial supplier shares within each product block ("noalt")


class ArioParams(NamedTuple):
    """Model parameters as arrays, so new values never recompile.

    ``psi`` is a scalar (ARIO) or a ``(p, n)`` array (a calibrated share per product and buyer).
    """

    psi: jax.Array
    kappa_inv: jax.Array
    alpha_base: jax.Array
    alpha_max: jax.Array
    kappa_alpha: jax.Array
    demand_elasticity: jax.Array | float = 0.0  # final demand ~ delivered price ** -this
    substitution_elasticity: jax.Array | float = 0.0  # supplier weights ~ delivered price ** -this


class Disruption(NamedTuple):
    """What happens to ONE path: capacity-loss events and an export restriction.

    Capacity-loss event ``e`` removes ``loss[e]`` of each industry's capacity from day
    ``loss_start[e]`` for ``loss_days[e]`` days, then the loss shrinks linearly to zero over
    ``loss_recovery[e]`` days. Events combine by element-wise maximum.

    The export restriction applies to supplier industries with ``export_mask = 1`` and buyer
    regions with ``dest_mask = 1``: from day ``cut_start`` the share ``controlled`` of the link
    (the controlled products in it) is closed, and the share ``1/A`` of that reopens on each
    ``resume_day[r, a]`` (``inf``: never).
    """

    loss: jax.Array  # (E, n)
    loss_start: jax.Array  # (E,)
    loss_days: jax.Array  # (E,)
    loss_recovery: jax.Array  # (E,)
    export_mask: jax.Array  # (n,)
    dest_mask: jax.Array  # (R,)
    cut_start: jax.Array  # ()
    resume_day: jax.Array  # (R, A)
    controlled: jax.Array  # () or (R,) share of the restricted links' value that the controls cover, by buyer region
    round6: jax.Array | bool = True  # BoARIO's rounding of the recovering loss (set by the model)

    def channels(self, t: jax.Array) -> Channels:
        """Capacity ``1 - Delta(t)`` and availability ``beta(t)``; every other channel neutral."""
        n, R = self.export_mask.shape[0], self.dest_mask.shape[0]
        loss = capacity_loss(self, t, round6_values=self.round6)
        return neutral(n, R, self.export_mask.dtype)._replace(capacity=1 - loss, beta=availability(self, t))


class State(NamedTuple):
    """The carry of one path between steps."""

    S: jax.Array  # (p, n) stocks
    O: Any  # orders to be served this step: (n, n), or their factors (:class:`Orders`, kernel "compact")
    alpha: jax.Array  # (n,) overproduction
    X_prev: jax.Array  # (n,) last step's production
    crashed: jax.Array  # () bool: a stock went negative or NaN
    ch: Channels  # this step's channel values (computed at the end of the previous step)
    halted: jax.Array  # (p, n) bool: the part of j's output that needs q is halted
    clock: jax.Array  # (p, n) days since that part's input came back (inf: never halted)
    reserve: jax.Array  # (p,) public reserve of each product (money at table prices)
    drawn: jax.Array  # (p, R) net draw of each buyer region on each reserve (quota entitlements)


class Record(NamedTuple):
    """What one step reports (stacked over days by :meth:`Ario.simulate` without a reducer)."""

    production: jax.Array  # (n,) X(t)
    production_capacity: jax.Array  # (n,) Xbar(t)
    overproduction: jax.Array  # (n,) alpha(t)
    demand: jax.Array  # (n,) D(t)
    final_demand_unmet: jax.Array  # (n,) unmet final demand by supplier industry
    stocks: jax.Array  # (p, n) S(t), before production
    input_ratio: jax.Array  # (n,) X / X^opt: the share of feasible output that inputs allow
    deliveries: jax.Array  # (n, R) deliveries of each supplier industry to each buyer region
    price: jax.Array  # (n,) producer price index p(t)
    tariff_revenue: jax.Array  # (R,) extra tariff collected by each importing region
    price_cost: jax.Array  # (R,) extra cost to each region's buyers of higher delivered prices
    released: jax.Array  # (R,) reserve released into the stocks of each buyer region
    reserve_level: jax.Array  # () total reserve after the day (after release and refill)
    refilled: jax.Array  # () bought back into the reserves that day
    floor_paid: jax.Array  # (R,) price-floor payments to each producer region
    crashed: jax.Array  # () bool


def build_tables(mrio: Mrio, *, inventory_days: Any, year_to_day: float, boario_quirks: bool, dtype: Any) -> ArioTables:
    """Daily device arrays from a validated table (ARIO.md §2).

    ``inventory_days`` is one number (ARIO), or an array broadcastable to ``(p, n)``: the
    target stock of each product held by each buying industry, in days of use. The input mask
    follows BoARIO (``(I_sum Z^yr)_qj > 1e-5 X0_j`` with daily ``X0``) when ``boario_quirks``,
    else the documented ``a^S_qj > 1e-5``.
    """
    R, p = len(mrio.regions), len(mrio.sectors)
    n = R * p
    F = len(mrio.final_demand)
    Z0 = mrio.Z / year_to_day
    Y0 = mrio.Y / year_to_day
    X0 = mrio.x / year_to_day
    A = mrio.A
    AS = A.reshape(R, p, n).sum(axis=0)
    if boario_quirks:
        theta = mrio.Z.reshape(R, p, n).sum(axis=0) > 1e-5 * X0[None, :]
    else:
        theta = AS > 1e-5
    blocks = Z0.reshape(R, p, n).sum(axis=0)
    split0 = np.divide(Z0, np.tile(blocks, (R, 1)), out=np.zeros_like(Z0), where=np.tile(blocks, (R, 1)) > 0)
    v = mrio.value_added_coefficients
    s = np.broadcast_to(np.asarray(inventory_days, float), (p, n))
    s = np.where(s <= 1.0, 2.0, s)  # BoARIO raises durations <= 1 step to 2
    return ArioTables(
        X0=jnp.asarray(X0, dtype),
        Z0=jnp.asarray(Z0, dtype),
        Y0=jnp.asarray(Y0, dtype),
        AS=jnp.asarray(AS, dtype),
        theta=jnp.asarray(theta),
        s=jnp.asarray(s, dtype),
        v=jnp.asarray(v, dtype),
        fd_region=jnp.asarray(np.repeat(np.arange(R), F), jnp.int32),
        split0=jnp.asarray(split0, dtype),
        crit=jnp.asarray(np.ones((p, n)) if mrio.criticality is None else mrio.criticality, dtype),
    )


def build_params(
    *,
    psi: float,
    inventory_tau: float,
    alpha_base: float,
    alpha_max: float,
    alpha_tau: float,
    dtype: Any,
    demand_elasticity: float = 0.0,
    substitution_elasticity: float = 0.0,
) -> ArioParams:
    """Scalar parameters as typed arrays."""
    return ArioParams(
        psi=jnp.asarray(psi, dtype),
        kappa_inv=jnp.asarray(1.0 / inventory_tau, dtype),
        alpha_base=jnp.asarray(alpha_base, dtype),
        alpha_max=jnp.asarray(alpha_max, dtype),
        kappa_alpha=jnp.asarray(1.0 / alpha_tau, dtype),
        demand_elasticity=jnp.asarray(demand_elasticity, dtype),
        substitution_elasticity=jnp.asarray(substitution_elasticity, dtype),
    )


def no_disruption(n: int, n_regions: int, dtype: Any) -> Disruption:
    """A disruption that changes nothing (one zero event, no restriction)."""
    return Disruption(
        loss=jnp.zeros((1, n), dtype),
        loss_start=jnp.zeros((1,), dtype),
        loss_days=jnp.zeros((1,), dtype),
        loss_recovery=jnp.zeros((1,), dtype),
        export_mask=jnp.zeros((n,), dtype),
        dest_mask=jnp.zeros((n_regions,), dtype),
        cut_start=jnp.asarray(jnp.inf, dtype),
        resume_day=jnp.full((n_regions, 1), jnp.inf, dtype),
        controlled=jnp.ones((), dtype),
    )


def _safe_div(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a / b``, 0 where ``b == 0`` (gradient-safe: no NaN on the masked branch)."""
    nz = b != 0
    return jnp.where(nz, a / jnp.where(nz, b, 1), 0)


def _allclose(a: jax.Array, b: jax.Array) -> jax.Array:
    """NumPy's ``allclose(a, b)`` as a traced scalar (atol 1e-8, rtol 1e-5, relative to ``b``)."""
    return jnp.all(jnp.abs(a - b) <= 1e-8 + 1e-5 * jnp.abs(b))


@jax.custom_jvp
def round6(x: jax.Array) -> jax.Array:
    """``x`` rounded to 6 decimals as BoARIO stores it; differentiated as the identity, so
    gradients with respect to the loss survive the rounding (straight-through)."""
    return jnp.round(x, 6)


@round6.defjvp
def _round6_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return round6(x), dx


def capacity_loss(dis: Disruption, t: jax.Array, *, round6_values: bool) -> jax.Array:
    """``Delta(t)``, shape ``(n,)``.

    Full loss on days ``start .. start + days - 1``; on day ``start + days - 1 + m`` it is
    ``loss (1 - m / recovery)``, zero from ``m = recovery``. With ``round6_values`` the recovering
    value (from the last full day on, as BoARIO stores it) is rounded to 6 decimals.
    """
    last_full = dis.loss_start + dis.loss_days - 1  # (E,)
    m = jnp.maximum(t - last_full, 0)
    frac = jnp.where(dis.loss_recovery > 0, jnp.clip(1 - _safe_div(m, dis.loss_recovery), 0, 1), m == 0)
    active = (t >= dis.loss_start) & ((dis.loss_days > 0) | (dis.loss_recovery > 0))
    recovering = dis.loss * frac[:, None]
    if round6_values is True:
        recovering = round6(recovering)
    elif round6_values is not False:
        recovering = jnp.where(round6_values, round6(recovering), recovering)
    per_event = jnp.where((t < last_full)[:, None], dis.loss, recovering)
    per_event = jnp.where(active[:, None], per_event, 0)
    return per_event.max(axis=0)


def availability(dis: Disruption, t: jax.Array) -> jax.Array:
    """``beta(t)``: share of each supplier industry's flow to each buyer region that may pass, ``(n, R)``."""
    # in the kernel's dtype: a mean of booleans is float32 even with x64, and XLA rounds it
    # differently at different vector widths
    reopened = jnp.mean((t >= dis.resume_day).astype(dis.export_mask.dtype), axis=1)  # (R,)
    closed = jnp.where(t >= dis.cut_start, (1 - reopened) * dis.controlled, 0)  # (R,)
    return 1 - dis.export_mask[:, None] * (dis.dest_mask * closed)[None, :]


def _touched(dis: Any, t: jax.Array) -> frozenset[str]:
    """Channels the path's shocks may move away from neutral: none for the export cut-off alone,
    those its modules set for a :class:`~stress.shocks.base.Composite`, all for any other object."""
    if isinstance(dis, Disruption):
        return frozenset()
    if hasattr(dis, "touched"):
        return dis.touched(t)
    return frozenset(Channels._fields)


def _delivered(ch: Channels) -> jax.Array:
    """Delivered price index of each supplier industry in each buyer region, ``(n, R)``."""
    return ch.price[:, None] * (1 + ch.tariff) * ch.markdown


REFILL_FULL = 0.99
"""A reserve buys back only once every entitled buyer holds this share of its target stock."""

#: The channels of the reserve step (module docstring, step V).
RESERVE_CHANNELS = frozenset(
    {"reserve_size", "release_rate", "release_trigger", "release_price", "release_first", "release_quota", "refill_rate"}
)


def _ration_shares(X: jax.Array, D: jax.Array, P: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Shares ``(sp, so)`` (n,) of rated and of other orders that suppliers serve (module
    docstring, step D), given the rated orders ``P`` each supplier honours::

        sp_i = min(1, X_i / P_i)  (1 where P_i = 0),   so_i = min(1, max(X_i - P_i, 0) / (D_i - P_i))  (0 where D_i = P_i).
    """
    sp = jnp.where(P > 0, jnp.minimum(1, _safe_div(X, P)), 1)
    so = jnp.minimum(1, _safe_div(jnp.maximum(X - P, 0), D - P))
    return sp, so


def _ration(X: jax.Array, D: jax.Array, O_eff: jax.Array, priority: jax.Array, honour: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Shares of their orders that clients receive when suppliers ration (module docstring, step
    D), on the ``(n, n)`` orders: ``(served, so)``, with ``served`` (n, n) the share of buyer
    ``j``'s order to supplier ``i`` and ``so`` (n,) the share of every other client (final
    demand included); ``P_i = 1{honour_i > 0} sum_j O_ij 1{priority_j > 0}``."""
    rated = (priority > 0)[None, :] & (honour > 0)[:, None]  # (n, n) rated orders to suppliers that honour them
    P = jnp.where(rated, O_eff, 0).sum(axis=1)
    sp, so = _ration_shares(X, D, P)
    return jnp.where(rated, sp[:, None], so[:, None]), so


def _price_index(Z0: jax.Array, delivered: jax.Array, p: int) -> jax.Array:
    """Delivered price index ``P_qr`` (p, R) of product ``q`` in buyer region ``r``: the
    suppliers' delivered prices weighted by the table's value shares of the supplier regions in
    ``r``'s intermediate purchases of ``q`` (1 where ``r`` buys none of ``q``)."""
    n, R = delivered.shape
    bought = Z0.reshape(R, p, R, p).sum(axis=3)  # (a, q, r)
    total = bought.sum(axis=0)  # (q, r)
    w = _safe_div(bought, total[None])
    index = (w * delivered.reshape(R, p, R)).sum(axis=0)
    return jnp.where(total > 0, index, 1)


class Release(NamedTuple):
    """What the reserve step (module docstring, step V) gives back."""

    S: jax.Array  # (p, n) stocks after the release
    reserve: jax.Array  # (p,) reserve after release and refill
    released: jax.Array  # (R,) released into the stocks of each buyer region
    refilled: jax.Array  # () bought back
    drawn: jax.Array  # (p, R) net draw of each region on each reserve (refills restore it)


def release_reserve(tables: ArioTables, ch: Channels, S: jax.Array, reserve: jax.Array, drawn: jax.Array) -> Release:
    """Public reserves after the stock update ``S`` (module docstring, step V): entitled buyers
    below their trigger (or facing a delivered price index at or above the release price) get
    the day's release ``min(reserve, release_rate)``, first-tier buyers first, the others pro rata
    to their gaps, a region with a quota below 1 up to its remaining entitlement
    ``quota x reserve_size - drawn``; untouched reserves refill, restoring the regions'
    entitlements in proportion to what they drew."""
    p, n = S.shape
    R = n // p
    dt = S.dtype
    size, rate = ch.reserve_size.astype(dt), ch.release_rate.astype(dt)
    trigger, first = ch.release_trigger.astype(dt), ch.release_first.astype(dt)
    quota, refill_rate = ch.release_quota.astype(dt), ch.refill_rate.astype(dt)
    target = jnp.where(tables.theta, tables.s * tables.AS * tables.X0[None, :], 0)
    gap = jnp.maximum(target - S, 0)
    index = jnp.repeat(_price_index(tables.Z0, _delivered(ch), p), p, axis=1)  # (p, n): P_q,r(j)
    price_hit = index >= jnp.repeat(ch.release_price, p, axis=1)
    entitled = (trigger > 0) & ((S < trigger * target) | price_hit)
    gap = jnp.where(entitled, gap, 0)
    avail = jnp.minimum(reserve, rate)
    tier1 = first > 0
    g1 = jnp.where(tier1, gap, 0)
    a1 = g1 * jnp.minimum(1, _safe_div(avail, g1.sum(axis=1)))[:, None]
    rem = jnp.maximum(avail - a1.sum(axis=1), 0)
    g2 = jnp.where(tier1, 0, gap)
    G2 = g2.sum(axis=1)  # (p,)
    G2r = g2.reshape(p, R, p).sum(axis=2)  # (p, R)
    pooled = jnp.minimum(1, _safe_div(rem, G2))[:, None]
    entitled_r = jnp.maximum(quota * size[:, None] - drawn, 0)  # (p, R) what a quota region may still draw
    capped = jnp.minimum(1, _safe_div(jnp.minimum(entitled_r, rem[:, None]), G2r))
    f = jnp.where(quota >= 1, pooled, capped)  # (p, R)
    a2 = g2 * jnp.repeat(f, p, axis=1)
    # quotas above 1 in total (or mixed with pooled regions) would overdraw: scale to rem
    a2 = a2 * jnp.minimum(1, _safe_div(rem, a2.sum(axis=1)))[:, None]
    alloc = a1 + a2
    reserve = jnp.maximum(reserve - alloc.sum(axis=1), 0)
    # buy back only once every entitled buyer holds REFILL_FULL of its target (the crisis is over)
    low = ((trigger > 0) & (S + alloc < REFILL_FULL * target)).any(axis=1)
    refill = jnp.where(low, 0, jnp.minimum(refill_rate, jnp.maximum(size - reserve, 0)))
    by_region = alloc.reshape(p, R, p).sum(axis=2)  # (p, R)
    drawn = drawn + by_region
    total = drawn.sum(axis=1, keepdims=True)
    drawn = jnp.maximum(drawn - refill[:, None] * _safe_div(drawn, total), 0)
    return Release(
        S=S + alloc,
        reserve=reserve + refill,
        released=by_region.sum(axis=0),
        refilled=refill.sum(),
        drawn=drawn,
    )


def _final_demand(Y0: jax.Array, price: jax.Array, params: ArioParams, p: int) -> jax.Array:
    """Final demand at delivered prices ``price`` (n, RF): for each column and product ``q``, a CES
    choice among the product's suppliers (elasticity ``sigma``) inside a product total that moves
    with the CES price index (elasticity ``epsilon``):

        Y_iq = Y0_iq (pi_i / P_q) ** -sigma  P_q ** -epsilon,
        P_q = (sum_i s_i pi_i ** (1 - sigma)) ** (1 / (1 - sigma))   (s: the table's value shares;
                                                                       sigma = 1: prod_i pi_i ** s_i)

    A supplier whose price did not move keeps its demand when ``sigma = epsilon`` and gains when
    ``sigma > epsilon``. Prices of 1 give ``Y0``.
    """
    n = Y0.shape[0]
    R = n // p
    Y3 = Y0.reshape(R, p, -1)
    pi3 = price.reshape(R, p, -1)
    base = Y3.sum(axis=0)  # (p, RF)
    share = _safe_div(Y3, base[None])
    sigma, eps = params.substitution_elasticity, params.demand_elasticity
    log_pi = jnp.log(pi3)
    one = jnp.abs(1 - sigma) < 1e-9
    k = jnp.where(one, 1.0, 1 - sigma)
    log_ces = jnp.log(jnp.maximum((share * jnp.exp(k * log_pi)).sum(axis=0), 1e-300)) / k
    log_index = jnp.where(one, (share * log_pi).sum(axis=0), log_ces)  # (p, RF)
    log_index = jnp.where(base > 0, log_index, 0.0)
    factor = jnp.exp(-sigma * (log_pi - log_index[None]) - eps * log_index[None])
    return (Y3 * factor).reshape(n, -1)


def _price_weights(w: jax.Array, ch: Channels, sigma: Any) -> tuple[jax.Array, jax.Array]:
    """Supplier weights ``w`` (n, n) scaled by ``delivered ** -sigma`` of the buyer's region, and
    whether that changed nothing (every factor exactly 1)."""
    n, R = ch.beta.shape
    p = n // R
    f = _delivered(ch) ** (-sigma)  # (n, R)
    scaled = (w.reshape(n, R, p) * f[:, :, None]).reshape(n, n)
    return scaled, jnp.all(f == 1)


def split_orders(w: jax.Array, N: jax.Array, beta: jax.Array, p: int) -> jax.Array:
    """Orders ``O_ij`` from buyer ``j`` to supplier ``i``: product ``q``'s order ``N_qj`` split by
    the supplier weights ``w`` (n, n) under the licensed shares ``beta`` (n, R) of the order day.

    A restricted supplier (``beta < 1``) gets ``beta w / W`` of ``N``; the blocked remainder is
    shared by the unrestricted suppliers of the product in proportion to ``w`` (module
    docstring). With ``beta = 1`` everywhere it is ARIO's ``w / W N`` (to one rounding). The sums over
    supplier regions are contractions on the ``(region, product, region, sector)`` view, so no
    ``(n, n)`` copy of ``beta`` is made.
    """
    n = w.shape[0]
    R = n // p
    w4 = w.reshape(R, p, R, p)  # (supplier region, product, buyer region, buyer sector)
    b3 = beta.reshape(R, p, R)  # (supplier region, product, buyer region)
    open3 = b3 >= 1
    W = w4.sum(axis=0)  # (p, R, p): W_qj, the sum of w over the suppliers of q
    blocked = jnp.einsum("aqbc,aqb->qbc", w4, 1 - b3)  # exactly 0 where every supplier is open
    unrestricted = jnp.einsum("aqbc,aqb->qbc", w4, open3.astype(w.dtype))
    coef = jnp.where(open3[..., None], 1 + _safe_div(blocked, unrestricted)[None], b3[..., None])  # (R, p, R, p)
    return (_safe_div(w4 * coef, W[None]) * N.reshape(p, R, p)[None]).reshape(n, n)


class Orders(NamedTuple):
    """The orders ``O`` (n, n) in compact form (``Ario(kernel="compact")``): never stored, they
    are the table's flows scaled by per-path factors,

        O[a, q, b, c] = Z_0[a, q, b, c] (U[0, a, q, b] M[0, q, b, c] + U[1, a, q, b] M[1, q, b, c])

    on the ``(supplier region, product, buyer region, buyer sector)`` view. :func:`split_orders`
    gives supplier ``i`` of product ``q`` the order ``w_ij coef_ij N_qj / W_qj`` with supplier
    weights ``w = Z_0 u`` (``u`` (n, R): capacity ratio and price factor of ``i`` in the buyer's
    region), so ``U[0] = u x (beta where restricted, else 1)``, ``M[0] = N / W`` and, for the
    redirected orders, ``U[1] = u x 1{open}``, ``M[1] = (blocked / unrestricted) N / W``. The
    carry is ``2 (n R + p n)`` numbers instead of ``n^2``; every use of ``O`` is a contraction
    of these small per-path arrays with the shared ``Z_0`` over one index (buyer sector or
    supplier region), which ``vmap`` turns into a matrix product with ``Z_0`` shared.
    """

    U: jax.Array  # (2, R, p, R) supplier-side factors (supplier region, product, buyer region)
    M: jax.Array  # (2, p, R, p) buyer-side factors (product, buyer region, buyer sector)


def _over_supplier_regions(Z4: jax.Array, g: jax.Array) -> jax.Array:
    """``sum_a Z_0[a, q, b, c] g[..., a, q, b]`` -> ``(..., q, b, c)``."""
    return jnp.einsum("aqbc,...aqb->...qbc", Z4, g, precision=jax.lax.Precision.HIGHEST)


def _over_buyer_sectors(Z4: jax.Array, m: jax.Array) -> jax.Array:
    """``sum_c Z_0[a, q, b, c] m[..., q, b, c]`` -> ``(..., a, q, b)``."""
    return jnp.einsum("aqbc,...qbc->...aqb", Z4, m, precision=jax.lax.Precision.HIGHEST)


def compact_orders(Z0: jax.Array, u: jax.Array, N: jax.Array, beta: jax.Array, p: int) -> Orders:
    """:func:`split_orders` of ``N`` (p, n) with supplier weights ``w = Z_0 u`` (``u`` (n, R)) under
    the licensed shares ``beta`` (n, R), in compact form (:class:`Orders`)."""
    n = Z0.shape[0]
    R = n // p
    Z4 = Z0.reshape(R, p, R, p)
    u3, b3 = u.reshape(R, p, R), beta.reshape(R, p, R)
    open3 = (b3 >= 1).astype(u.dtype)
    # W, blocked and unrestricted weights of each buyer's product block: one contraction
    W, blocked, unrestricted = _over_supplier_regions(Z4, jnp.stack([u3, u3 * (1 - b3), u3 * open3]))
    m0 = _safe_div(N.reshape(p, R, p), W)
    U = jnp.stack([u3 * jnp.where(open3 > 0, 1, b3), u3 * open3])
    return Orders(U=U, M=jnp.stack([m0, _safe_div(blocked, unrestricted) * m0]))


def orders_by_region(Z0: jax.Array, O: Orders, weight: jax.Array | None = None) -> jax.Array:
    """``sum_c O[i, (b, c)] weight[(b, c)]`` (n, R): the orders to each supplier industry from each
    buyer region (``weight`` (n,) over buyers, 1 when None)."""
    _, R, p, _ = O.U.shape
    M = O.M if weight is None else O.M * weight.reshape(R, p)[None, None]
    return (O.U * _over_buyer_sectors(Z0.reshape(R, p, R, p), M)).sum(axis=0).reshape(R * p, R)


def orders_inflow(Z0: jax.Array, O: Orders, served: jax.Array) -> jax.Array:
    """``sum_a O[(a, q), j] served[(a, q)]`` (p, n): what each buyer receives of each product when
    supplier ``i`` serves the share ``served_i`` (n,) of its orders."""
    _, R, p, _ = O.U.shape
    g = O.U * served.reshape(R, p)[None, :, :, None]
    return (O.M * _over_supplier_regions(Z0.reshape(R, p, R, p), g)).sum(axis=0).reshape(p, R * p)


KERNELS = ("compact", "plain")


@dataclass(frozen=True)
class Ario:
    """ARIO propagator; the options are static (hashable), the data are arguments.

    Parameters
    ----------
    order_type
        ``"alt"``: orders re-split over supplier regions by current capacity (BoARIO's "alt");
        ``"noalt"``: fixed initial shares.
    boario_quirks
        Reproduce BoARIO 0.7.2 where it departs from the published model (module docstring).
    kernel
        ``"compact"`` (default): the orders are carried as per-path factors of ``Z_0``
        (:class:`Orders`); ``"plain"``: as the ``(n, n)`` matrix, the reference implementation.
        Both compute the same model; they agree to rounding (tests: 1e-9 relative in float64
        on every shipped scenario).
    """

    order_type: str = "alt"
    boario_quirks: bool = True
    kernel: str = "compact"

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, not {self.kernel!r}")

    def _orders(self, tables: ArioTables, ch: Channels, cap_ratio: jax.Array | None, N: jax.Array, priced: bool, sigma: Any) -> Any:
        """Orders of ``N`` (p, n) split under the channels ``ch`` of the day they are served,
        with supplier weights ``Z_0 cap_ratio`` (``cap_ratio`` (n,); None: the table's shares),
        price-weighted when ``priced``: the ``(n, n)`` matrix or :class:`Orders`."""
        p, n = tables.AS.shape
        R = n // p
        if self.kernel == "plain":
            w = tables.split0 if cap_ratio is None else tables.Z0 * cap_ratio[:, None]
            if priced:
                w, _ = _price_weights(w, ch, sigma)
            return split_orders(w, N, ch.beta, p)
        # the table's shares split0 = Z_0 / (block sums): the block sums cancel in w / W
        u = jnp.ones((n, R), N.dtype) if cap_ratio is None else jnp.broadcast_to(cap_ratio[:, None], (n, R))
        if priced:
            u = u * _delivered(ch) ** (-sigma)
        return compact_orders(tables.Z0, u, N, ch.beta, p)

    def configure(self, dis: Any) -> Any:
        """``dis`` with this model's options applied (BoARIO's rounding of a recovering loss)."""
        if isinstance(dis, Disruption):
            return dis._replace(round6=self.boario_quirks)
        if hasattr(dis, "parts"):
            return dis._replace(parts=tuple(self.configure(d) for d in dis.parts))
        return dis

    def init(self, tables: ArioTables, dis: Any = None, params: ArioParams | None = None) -> State:
        """Stationary initial state: stocks at target (``s``), orders ``Z0`` (split under day 0's
        licences and delivered prices when ``dis`` changes them), ``alpha = alpha_base``, public
        reserves full (day 0's ``reserve_size``; zeros without ``dis``)."""
        S = tables.s * tables.AS * tables.X0[None, :]
        p, n = tables.AS.shape
        R = n // p
        dt = tables.X0.dtype
        ch = neutral(n, R, dt) if dis is None else self.configure(dis).channels(jnp.zeros((), dt))
        # Z_0 itself, in this kernel's form (compact: U = (1, 0), M = (1, 0))
        O = tables.Z0
        if self.kernel == "compact":
            factors = lambda *shape: jnp.stack([jnp.ones(shape, dt), jnp.zeros(shape, dt)])  # noqa: E731
            O = Orders(U=factors(R, p, R), M=factors(p, R, p))
        if dis is not None:
            # day 0's orders are Z_0 exactly unless day 0's licences or delivered prices split them
            N = tables.Z0.reshape(R, p, n).sum(axis=0)
            sigma = 0.0 if params is None else params.substitution_elasticity
            unmoved = jnp.all(ch.beta >= 1) & jnp.all(_delivered(ch) ** (-sigma) == 1)
            split = self._orders(tables, ch, jnp.ones((n,), dt), N, True, sigma)
            O = jax.tree.map(lambda a, b: jnp.where(unmoved, a, b), O, split)
        return State(
            S=S,
            O=O,
            alpha=jnp.ones((n,), dt) if params is None else jnp.broadcast_to(jnp.asarray(params.alpha_base, dt), (n,)),
            X_prev=tables.X0,
            crashed=jnp.zeros((), bool),
            ch=ch,
            halted=jnp.zeros((p, n), bool),
            clock=jnp.full((p, n), jnp.inf, dt),
            reserve=ch.reserve_size.astype(dt),
            drawn=jnp.zeros((p, R), dt),
        )

    def step(self, tables: ArioTables, params: ArioParams, dis: Any, state: State, t: jax.Array) -> tuple[State, Record]:
        """Advance one path by one day (module docstring, steps E-A-P-H-D-V-F-Q)."""
        p, n = tables.AS.shape
        R = n // p
        S, O, alpha, X_prev, ch = state.S, state.O, state.alpha, state.X_prev, state.ch
        # Steps that no shock of the path moves are left out (decided at trace time from which
        # channels the shock modules set): the export cut-off alone moves no price, adds no
        # capacity and halts no plant.
        touched = _touched(dis, t)
        priced = bool(touched & {"price", "tariff", "markdown"})
        halts = bool(touched & {"halt_below", "restart_lag", "penalty", "penalty_days"})
        rated = bool(touched & {"priority", "honour"})
        reserves = bool(touched & RESERVE_CHANNELS)
        floors = "floor" in touched

        # E: today's channels (computed at the end of yesterday's step): licences, prices
        beta = ch.beta  # (n, R)
        delivered = _delivered(ch)  # (n, R)
        O_eff = O  # placed yesterday under today's licences and prices (split_orders)
        fd_beta = jnp.take(beta, tables.fd_region, axis=1)
        Y_want = tables.Y0  # what final buyers want at today's prices (before licences)
        if priced:
            Y_want = _final_demand(tables.Y0, jnp.take(delivered, tables.fd_region, axis=1), params, p)
        Y_eff = Y_want * fd_beta
        compact = self.kernel == "compact"
        O_reg = orders_by_region(tables.Z0, O_eff) if compact else None  # (n, R)
        D = (O_reg.sum(axis=1) if compact else O_eff.sum(axis=1)) + Y_eff.sum(axis=1)

        # A: overproduction, first updated at t = 2 (pairs D(t) with X(t-1))
        zeta = _safe_div(D - X_prev, D)
        relax = (zeta == 0) if self.boario_quirks else (zeta <= 0)
        target = jnp.where(relax, params.alpha_base - alpha, (params.alpha_max - alpha) * zeta)
        alpha_new = jnp.maximum(1.0, alpha + params.kappa_alpha * target)
        alpha = jnp.where(t >= 2, alpha_new, alpha)

        # P: capacity, demand-limited production, inventory constraint
        cap = tables.X0 * ch.capacity * alpha
        Xopt = jnp.minimum(D, cap)
        C = params.psi * tables.s * tables.AS * Xopt[None, :]
        binds = tables.theta & (C != 0)
        rho = jnp.where(binds, jnp.minimum(1, S / jnp.where(binds, C, 1)), 1)
        # H: plant halts. The part of j's output that needs q stops while rho_qj < halt_below_j,
        # stays down restart_lag_j days after the input is back, then loses penalty_j of its
        # output for penalty_days_j days (re-sequencing). Neutral channels change nothing.
        halted, clock = state.halted, state.clock
        if halts:
            halted = rho < ch.halt_below[None, :]
            clock = jnp.where(halted | state.halted, 0.0, state.clock + 1)
            lag, pen_days = ch.restart_lag[None, :], ch.penalty_days[None, :]
            factor = jnp.where(halted | (clock < lag), 0.0, jnp.where(clock < lag + pen_days, 1 - ch.penalty[None, :], 1.0))
            rho = rho * factor
        partial = tables.crit != 1
        r = jnp.where(partial, 1 - tables.crit * (1 - rho), rho)
        input_ratio = r.min(axis=0)
        X = Xopt * input_ratio

        # D: proportional rationing (priority buyers first when some are rated), stock update
        if compact and rated:
            # rated orders (priority buyers, suppliers that honour them) served at sp, the rest at so
            prio = (ch.priority > 0).astype(X.dtype)
            prio_reg = orders_by_region(tables.Z0, O_eff, prio)  # (n, R)
            hon = ch.honour > 0
            sp, share = _ration_shares(X, D, jnp.where(hon, prio_reg.sum(axis=1), 0))
            extra = jnp.where(hon, sp - share, 0)
            inflow = orders_inflow(tables.Z0, O_eff, share) + prio[None, :] * orders_inflow(tables.Z0, O_eff, extra)
            # share x (all orders) + extra x (rated ones): with no rated order (prio_reg = 0) the
            # same bits as below, even where XLA fuses the multiply-add into an FMA
            deliveries = share[:, None] * (O_reg + Y_eff.reshape(n, R, -1).sum(axis=2)) + extra[:, None] * prio_reg
        elif compact:
            share = _safe_div(X, D)
            inflow = orders_inflow(tables.Z0, O_eff, share)
            deliveries = share[:, None] * (O_reg + Y_eff.reshape(n, R, -1).sum(axis=2))
        else:
            if rated:
                served, share = _ration(X, D, O_eff, ch.priority, ch.honour)
                G_int = O_eff * served
            else:
                share = _safe_div(X, D)
                G_int = O_eff * share[:, None]
            inflow = G_int.reshape(R, p, n).sum(axis=0)
            deliveries = G_int.reshape(n, R, p).sum(axis=2) + (Y_eff * share[:, None]).reshape(n, R, -1).sum(axis=2)
        G_fd = Y_eff * share[:, None]
        # Only the part of j's output that needs q draws on q's stock (module docstring).
        needs = jnp.where(partial, _safe_div(rho, r), 1)
        use = tables.AS * X[None, :] * needs
        S_next = S - use + inflow
        if self.boario_quirks:
            S_next = jnp.where(_allclose(inflow, use), S, S_next)
        # V: public reserves release into the stocks (and refill) before the orders are placed
        reserve, drawn = state.reserve, state.drawn
        released, refilled = jnp.zeros((R,), X.dtype), jnp.zeros((), X.dtype)
        if reserves:
            rel = release_reserve(tables, ch, S_next, reserve, state.drawn)
            S_next, reserve, released, refilled, drawn = rel.S, rel.reserve, rel.released, rel.refilled, rel.drawn
        crashed = state.crashed | jnp.any(S_next < 0) | jnp.any(jnp.isnan(S_next))
        # F: price-floor payments, by producer region
        floor_paid = jnp.zeros((R,), X.dtype)
        if floors:
            floor_paid = (jnp.maximum(ch.floor.astype(X.dtype) - ch.price, 0) * X).reshape(R, p).sum(axis=1)
        unmet = (Y_want - G_fd).sum(axis=1)  # licences and rationing leave demand unmet; prices change it

        # Q: orders for t + 1, under tomorrow's licences and prices
        goal = tables.s * tables.AS * Xopt[None, :]
        gap = params.kappa_inv * jnp.maximum(goal - S_next, 0)
        if self.boario_quirks:
            gap = jnp.where(_allclose(S_next, goal), 0, gap)
        N = gap + use  # (p, n)
        ch_next = dis.channels(t + 1)
        cap_ratio = None  # noalt: the table's shares
        if self.order_type == "alt":
            cap_ratio = jnp.where(tables.X0 != 0, _safe_div(cap, tables.X0), 1)
            if "capacity" in touched:
                # added capacity (factor > 1) serves redirected orders but does not attract
                # baseline ones: a new plant without new demand takes no orders from the old ones
                cap_ratio = cap_ratio / jnp.maximum(ch.capacity, 1.0)
        O_next = self._orders(tables, ch_next, cap_ratio, N, priced, params.substitution_elasticity)

        # Extra tariff revenue and price cost of each region on its deliveries.
        if not priced:
            revenue = price_cost = jnp.zeros((R,), X.dtype)
        else:
            revenue = (deliveries * ch.price[:, None] * ch.tariff).sum(axis=0)
            price_cost = (deliveries * (delivered - 1)).sum(axis=0)
        record = Record(
            production=X,
            production_capacity=cap,
            overproduction=alpha,
            demand=D,
            final_demand_unmet=unmet,
            stocks=S,
            input_ratio=input_ratio,
            deliveries=deliveries,
            price=ch.price,
            tariff_revenue=revenue,
            price_cost=price_cost,
            released=released,
            reserve_level=reserve.sum(),
            refilled=refilled,
            floor_paid=floor_paid,
            crashed=crashed,
        )
        new = State(
            S=S_next, O=O_next, alpha=alpha, X_prev=X, crashed=crashed, ch=ch_next, halted=halted, clock=clock, reserve=reserve, drawn=drawn
        )
        return new, record

    def simulate(
        self,
        tables: ArioTables,
        params: ArioParams,
        dis: Disruption,
        horizon: int,
        reducer: Any = None,
    ) -> Any:
        """Run ``horizon`` daily steps with ``lax.scan``.

        Without ``reducer`` returns the stacked :class:`Record` (leading axis ``day``). With a
        reducer (an object with ``init(tables)`` and ``update(summary, record, t)``), folds each
        day's record into a per-path summary inside the scan, so no history is kept.
        """
        dis = self.configure(dis)
        state0 = self.init(tables, dis, params)

        def body(carry, t):
            state, summary = carry
            state, rec = self.step(tables, params, dis, state, t)
            if reducer is None:
                return (state, summary), rec
            return (state, reducer.update(tables, summary, rec, t)), None

        summary0 = None if reducer is None else reducer.init(tables, horizon)
        (_, summary), recs = jax.lax.scan(body, (state0, summary0), jnp.arange(horizon))
        return recs if reducer is None else summary
