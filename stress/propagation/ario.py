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
s_q         target inventory, days of use                   (p,)        ``tables.s``
c_qj        criticality: share of j's output that needs q   (p, n)      ``tables.crit``
v           value-added coefficients                        (n,)        ``tables.v``
psi         stock share below which output is cut           ()          ``params.psi``
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

- E  ``Delta(t)`` from the path's capacity-loss events; ``beta(t)`` from its export restrictions.
- A  ``zeta = (D - X(t-1)) / D``; for ``t >= 2``,
  ``alpha <- max(1, alpha + kappa_alpha [(alpha^max - alpha) zeta 1{zeta != 0}
  + (alpha^b - alpha) 1{zeta = 0}])``.
- P  ``X^opt = min(D, Xbar)``; ``X_j = X^opt_j min_q [1 - c_qj (1 - rho_qj)]`` with
  ``rho_qj = min(1, S_qj / (psi s_q A^S_qj X^opt_j))`` over real inputs (Leontief
  complementarity below psi of target). ``c = 1`` everywhere is ARIO exactly; ``c_qj < 1``
  (an extension) says only that share of an aggregated sector's output needs product ``q``
  in fixed proportion, e.g. the few manufacturers in "other manufacturing" that use magnets.
- D  Every client of ``i`` receives the share ``X_i / D_i`` of its (effective) order;
  ``S <- S - A^S X + I_sum G`` (skipped when inflow and use are ``allclose``).
- Q  Orders for ``t + 1``: ``N_qj = kappa_inv max(s_q A^S_qj X^opt_j - S_qj, 0) + A^S_qj X_j``,
  split over suppliers of product q by ``w_ij = Z_0,ij alpha_i (1 - Delta_i) beta_i,r(j)(t+1)``
  ("alt", Guan et al. 2020) or by the fixed initial shares ("noalt").

Export restrictions: on day ``t`` only the share ``beta_i,r(t)`` of orders from buyers in region
``r`` to supplier ``i`` (and of final demand of region ``r``) is accepted; the rest is void, and
blocked final demand counts as unmet. Buyers re-split their orders over the open suppliers of the
same product on the next order, so other regions substitute only up to their capacity.

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


class ArioTables(NamedTuple):
    """Device arrays of the world, shared by all paths (daily units)."""

    X0: jax.Array  # (n,)
    Z0: jax.Array  # (n, n)
    Y0: jax.Array  # (n, R*F)
    AS: jax.Array  # (p, n)
    theta: jax.Array  # (p, n) bool
    s: jax.Array  # (p,) days
    v: jax.Array  # (n,) value added per unit of output
    crit: jax.Array  # (p, n) criticality of each input (1: ARIO's Leontief constraint)
    fd_region: jax.Array  # (R*F,) int32, region of each final-demand column
    split0: jax.Array  # (n, n) initial supplier shares within each product block ("noalt")


class ArioParams(NamedTuple):
    """Scalar model parameters as arrays, so new values never recompile."""

    psi: jax.Array
    kappa_inv: jax.Array
    alpha_base: jax.Array
    alpha_max: jax.Array
    kappa_alpha: jax.Array


class Disruption(NamedTuple):
    """What happens to ONE path: capacity-loss events and an export restriction.

    Capacity-loss event ``e`` removes ``loss[e]`` of each industry's capacity from day
    ``loss_start[e]`` for ``loss_days[e]`` days, then the loss shrinks linearly to zero over
    ``loss_recovery[e]`` days. Events combine by element-wise maximum.

    The export restriction applies to supplier industries with ``export_mask = 1`` and buyer
    regions with ``dest_mask = 1``: from day ``cut_start`` the link is closed, and the share
    ``1/A`` of it reopens on each ``resume_day[r, a]`` (``inf``: never).
    """

    loss: jax.Array  # (E, n)
    loss_start: jax.Array  # (E,)
    loss_days: jax.Array  # (E,)
    loss_recovery: jax.Array  # (E,)
    export_mask: jax.Array  # (n,)
    dest_mask: jax.Array  # (R,)
    cut_start: jax.Array  # ()
    resume_day: jax.Array  # (R, A)


class State(NamedTuple):
    """The carry of one path between steps."""

    S: jax.Array  # (p, n) stocks
    O: jax.Array  # (n, n) orders to be served this step
    alpha: jax.Array  # (n,) overproduction
    X_prev: jax.Array  # (n,) last step's production
    crashed: jax.Array  # () bool: a stock went negative or NaN


class Record(NamedTuple):
    """What one step reports (stacked over days by :meth:`Ario.simulate` without a reducer)."""

    production: jax.Array  # (n,) X(t)
    production_capacity: jax.Array  # (n,) Xbar(t)
    overproduction: jax.Array  # (n,) alpha(t)
    demand: jax.Array  # (n,) D(t)
    final_demand_unmet: jax.Array  # (n,) unmet final demand by supplier industry
    stocks: jax.Array  # (p, n) S(t), before production
    crashed: jax.Array  # () bool


def build_tables(mrio: Mrio, *, inventory_days: float, year_to_day: float, boario_quirks: bool, dtype: Any) -> ArioTables:
    """Daily device arrays from a validated table (ARIO.md §2).

    The input mask follows BoARIO (``(I_sum Z^yr)_qj > 1e-5 X0_j`` with daily ``X0``) when
    ``boario_quirks``, else the documented ``a^S_qj > 1e-5``.
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
    s = np.full(p, max(float(inventory_days), 2.0))  # BoARIO raises durations <= 1 step to 2
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


def build_params(*, psi: float, inventory_tau: float, alpha_base: float, alpha_max: float, alpha_tau: float, dtype: Any) -> ArioParams:
    """Scalar parameters as typed arrays."""
    return ArioParams(
        psi=jnp.asarray(psi, dtype),
        kappa_inv=jnp.asarray(1.0 / inventory_tau, dtype),
        alpha_base=jnp.asarray(alpha_base, dtype),
        alpha_max=jnp.asarray(alpha_max, dtype),
        kappa_alpha=jnp.asarray(1.0 / alpha_tau, dtype),
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
    active = (t >= dis.loss_start) & (dis.loss_days > 0)
    recovering = dis.loss * frac[:, None]
    if round6_values:
        recovering = round6(recovering)
    per_event = jnp.where((t < last_full)[:, None], dis.loss, recovering)
    per_event = jnp.where(active[:, None], per_event, 0)
    return per_event.max(axis=0)


def availability(dis: Disruption, t: jax.Array) -> jax.Array:
    """``beta(t)``: share of each supplier industry's flow to each buyer region that may pass, ``(n, R)``."""
    reopened = jnp.mean(t >= dis.resume_day, axis=1)  # (R,)
    closed = jnp.where(t >= dis.cut_start, 1 - reopened, 0)  # (R,)
    return 1 - dis.export_mask[:, None] * (dis.dest_mask * closed)[None, :]


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
    """

    order_type: str = "alt"
    boario_quirks: bool = True

    def init(self, tables: ArioTables) -> State:
        """Stationary initial state: 90-day (``s``) stocks, orders ``Z0``, ``alpha = alpha_base``."""
        S = tables.s[:, None] * tables.AS * tables.X0[None, :]
        n = tables.X0.shape[0]
        return State(
            S=S,
            O=tables.Z0,
            alpha=jnp.ones((n,), tables.X0.dtype),
            X_prev=tables.X0,
            crashed=jnp.zeros((), bool),
        )

    def step(self, tables: ArioTables, params: ArioParams, dis: Disruption, state: State, t: jax.Array) -> tuple[State, Record]:
        """Advance one path by one day (module docstring, steps E-A-P-D-R-Q)."""
        p, n = tables.AS.shape
        R = n // p
        S, O, alpha, X_prev = state.S, state.O, state.alpha, state.X_prev

        # E: events and export restrictions
        loss = capacity_loss(dis, t, round6_values=self.boario_quirks)
        beta = availability(dis, t)  # (n, R)
        O_eff = O * jnp.repeat(beta, p, axis=1)
        Y_eff = tables.Y0 * jnp.take(beta, tables.fd_region, axis=1)
        D = O_eff.sum(axis=1) + Y_eff.sum(axis=1)

        # A: overproduction, first updated at t = 2 (pairs D(t) with X(t-1))
        zeta = _safe_div(D - X_prev, D)
        relax = (zeta == 0) if self.boario_quirks else (zeta <= 0)
        target = jnp.where(relax, params.alpha_base - alpha, (params.alpha_max - alpha) * zeta)
        alpha_new = jnp.maximum(1.0, alpha + params.kappa_alpha * target)
        alpha = jnp.where(t >= 2, alpha_new, alpha)

        # P: capacity, demand-limited production, inventory constraint
        cap = tables.X0 * (1 - loss) * alpha
        Xopt = jnp.minimum(D, cap)
        C = params.psi * tables.s[:, None] * tables.AS * Xopt[None, :]
        binds = tables.theta & (C != 0)
        ratio = jnp.where(binds, jnp.minimum(1, S / jnp.where(binds, C, 1)), 1)
        ratio = jnp.where(tables.crit == 1, ratio, 1 - tables.crit * (1 - ratio))
        X = Xopt * ratio.min(axis=0)

        # D: proportional rationing, stock update
        share = _safe_div(X, D)
        G_int = O_eff * share[:, None]
        G_fd = Y_eff * share[:, None]
        inflow = G_int.reshape(R, p, n).sum(axis=0)
        use = tables.AS * X[None, :]
        S_next = S - use + inflow
        if self.boario_quirks:
            S_next = jnp.where(_allclose(inflow, use), S, S_next)
        crashed = state.crashed | jnp.any(S_next < 0) | jnp.any(jnp.isnan(S_next))
        unmet = (tables.Y0 - G_fd).sum(axis=1)

        # Q: orders for t + 1
        goal = tables.s[:, None] * tables.AS * Xopt[None, :]
        gap = params.kappa_inv * jnp.maximum(goal - S_next, 0)
        if self.boario_quirks:
            gap = jnp.where(_allclose(S_next, goal), 0, gap)
        N = gap + use  # (p, n)
        beta_next = jnp.repeat(availability(dis, t + 1), p, axis=1)  # (n, n)
        if self.order_type == "alt":
            cap_ratio = jnp.where(tables.X0 != 0, _safe_div(cap, tables.X0), 1)
            w = tables.Z0 * cap_ratio[:, None] * beta_next
        else:
            w = tables.split0 * beta_next
        block = jnp.tile(w.reshape(R, p, n).sum(axis=0), (R, 1))
        O_next = _safe_div(w, block) * jnp.tile(N, (R, 1))

        record = Record(
            production=X,
            production_capacity=cap,
            overproduction=alpha,
            demand=D,
            final_demand_unmet=unmet,
            stocks=S,
            crashed=crashed,
        )
        return State(S=S_next, O=O_next, alpha=alpha, X_prev=X, crashed=crashed), record

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
        state0 = self.init(tables)

        def body(carry, t):
            state, summary = carry
            state, rec = self.step(tables, params, dis, state, t)
            if reducer is None:
                return (state, summary), rec
            return (state, reducer.update(tables, summary, rec, t)), None

        summary0 = None if reducer is None else reducer.init(tables, horizon)
        (_, summary), recs = jax.lax.scan(body, (state0, summary0), jnp.arange(horizon))
        return recs if reducer is None else summary
