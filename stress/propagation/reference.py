r"""Plain-NumPy reference implementation of the ARIO model (BoARIO 0.7.2 ``ARIOPsiModel``).

This module is the independent oracle for the accelerated (JAX) propagation kernel and
the "plain NumPy" baseline that benchmarks time. It follows the specification in
``ARIO.md`` (the shared note "ARIO as BoARIO 0.7.2 runs it") step by step: preprocessing
(§2), initial state (§3), arbitrary capacity-loss events with their one-step lag and
6-decimal rounding (§4), and one day of the model in BoARIO's order
E → A → P → D → R → Q (§5, written as the compact algorithm of §5.1), including the global
``allclose`` short-cuts, the units quirk of the input mask and the capacity-weighted
(``"alt"``) split of orders across supplier regions.

It runs ONE path, ONE day per :func:`step` call, in float64, with no vectorisation over
paths: clarity first. Everything is day-based (one step = one day).

Extension: export restrictions (licences as volume caps)
--------------------------------------------------------
:func:`step` takes two availability matrices ``beta_t`` and ``beta_next`` of shape
``(n, R)`` with entries in [0, 1]: the licensed share of the orders that buyers located in
region ``r`` would place with supplier industry ``i`` without restriction, on day ``t``
(respectively ``t + 1``). When buyers place their orders for day ``t + 1``, the unrestricted
split ``sigma = w / W`` is computed first; a supplier with ``beta_next < 1`` then receives
``beta_next * sigma`` of the order, and the blocked rest goes to the suppliers of the same
product with ``beta_next = 1``, in proportion to their weights (nowhere if there is none).
Orders are accepted as placed (they already respect the licences of their day); final
demand cannot re-split, so ``Y_eff[i, c] = Y0[i, c] * beta_t[i, region(c)]`` and blocked
final demand counts as unmet. :func:`simulate` splits the initial orders ``Z0`` under
``beta_schedule[0]``. With ``beta`` all ones (or ``None``) the step is exactly BoARIO's.

Extension: partial criticality
------------------------------
``prepare(..., criticality=c)`` with ``c`` of shape ``(p, n)`` in [0, 1]: only the share
``c[q, j]`` of industry ``j``'s output needs product ``q`` (at the intensity
``AS[q, j] / c[q, j]``). The sufficiency of input ``q`` becomes
``r[q, j] = 1 - c (1 - rho)``, production is ``Xopt * min_q r``, and only the part of the
output that needs ``q`` draws on its stock: the use is ``AS * X * rho / r`` (``AS * X`` where
``c = 1``, which is ARIO).

Extension: shock channels (prices, tariffs, markdowns, capacity, plant halts)
---------------------------------------------------------------------------
The kernel's generic shock channels (:mod:`stress.shocks.base`) are given to :func:`simulate`
as a :class:`ChannelSchedule`: per-day arrays over days ``0 .. T`` (``T + 1`` rows) of the
capacity factor ``capacity`` (n,), licensed shares ``beta`` (n, R), producer prices ``price``
(n,), tariffs ``tariff`` (n, R) and markdowns ``markdown`` (n, R), and the halt settings
``halt_below``, ``restart_lag``, ``penalty``, ``penalty_days`` (n,) (constant, or per day).
With the delivered price ``pi[i, r] = price[i] (1 + tariff[i, r]) markdown[i, r]`` of day t:

* final demand of region ``r`` for ``i`` is ``Y0[i, c] beta[i, r] pi[i, r] ** -eps`` for every
  column ``c`` of region ``r`` (``eps``: ``demand_elasticity``);
* capacity is ``X0 (1 - Delta(t)) capacity(t) alpha``;
* the orders placed on day ``t`` for day ``t + 1`` weight supplier ``i`` of buyer ``j`` by
  ``w[i, j] pi_{t+1}[i, region(j)] ** -sigma`` (``sigma``: ``substitution_elasticity``;
  ``w`` is ``Z0 cap / X0`` as in ARIO), then split them under ``beta(t + 1)``; the initial
  orders are ``Z0`` split the same way with day 0's channels (``Z0`` itself when ``beta(0)`` is
  all ones and every price factor ``pi ** -sigma`` is exactly 1);
* plant halts (step H, after rho): ``halted = rho < halt_below[j]``; a clock counts the days
  since the input came back (0 on a halted day and on the day after the last halted one;
  ``inf`` before any halt); the part of ``j``'s output that needs ``q`` runs at 0 while halted
  or while ``clock < restart_lag[j]``, at ``1 - penalty[j]`` while
  ``clock < restart_lag[j] + penalty_days[j]``, else at 1: ``rho <- rho * factor``, then
  ``r``, the production and the use follow as without halts;
* records: ``deliveries`` (n, R) (intermediate deliveries summed over the buyer sectors of a
  region plus final-demand deliveries summed over its categories), ``price`` (n,),
  ``tariff_revenue`` (R,) ``= sum_i deliveries[i, r] price[i] tariff[i, r]`` and
  ``price_cost`` (R,) ``= sum_i deliveries[i, r] (pi[i, r] - 1)``.

With every channel neutral (capacity, beta, price, markdown 1; tariff, halt settings 0) and
``eps = sigma = 0`` every factor above is exactly 1 and the run is bit-identical to BoARIO's.

Extension: levers (rationing priority, public reserves, price floors)
---------------------------------------------------------------------
Further channels of :class:`ChannelSchedule` (neutral: 0, except ``release_price`` inf and
``release_quota`` 1): ``priority``, ``honour`` and ``floor`` (n,), ``reserve_size``, ``release_rate``,
``refill_rate`` (p,), ``release_trigger`` and ``release_first`` (p, n), ``release_price`` and
``release_quota`` (p, R). All of them read day t.

* Rationing priority (step D): a supplier ``i`` that honours rated orders (``honour[i] > 0``)
  serves the orders of priority buyers (``priority[j] > 0``), ``P[i] = sum_j O_eff[i, j]`` over
  them, first (``P[i] = 0`` for a supplier that does not honour them): each gets
  ``sp = min(1, X[i] / P[i])`` of its order (1 where ``P[i] = 0``); every other client,
  final demand included, gets ``so = min(1, max(X[i] - P[i], 0) / (D[i] - P[i]))`` (0 where
  ``D[i] = P[i]``; the ``min`` only guards rounding). Without priority buyers this is ``X / D``.
* Public reserves (step V, after the stock update and its ``allclose`` short-cut, before the
  crash check and the orders of step Q, which see the replenished stocks). The state carries
  the reserve ``V[q]``, full at the start (``reserve_size`` of day 0). Target
  ``T[q, j] = s AS X0[j]`` where ``theta`` (0 elsewhere), gap ``g = max(T - S, 0)``; the
  delivered price index of ``q`` in region ``r`` is ``P[q, r] = sum_a w[a, q, r] pi[(a, q), r]``
  with ``w`` the value shares of the supplier regions ``a`` in ``r``'s intermediate purchases
  of ``q`` in ``Z0`` (``P = 1`` where ``r`` buys none of ``q``). Buyer ``j`` of region ``r``
  is entitled and triggered when ``release_trigger[q, j] > 0`` and
  (``S[q, j] < release_trigger[q, j] T[q, j]`` or ``P[q, r] >= release_price[q, r]``); other
  gaps count as 0. The day's release ``avail = min(V, release_rate)`` serves the buyers with
  ``release_first > 0`` first (``a1 = g1 min(1, avail / sum g1)``), then the others share the
  rest ``rem``: pro rata to their gaps where ``release_quota[q, r] >= 1``
  (``min(1, rem / G2)``), at most ``release_quota[q, r] rem`` for region ``r`` otherwise
  (``min(1, min(E[r], rem) / G2[r])`` with ``E[r] = max(quota reserve_size - drawn[r], 0)``,
  what the region may still draw of its share of the reserve; ``drawn`` is carried in the
  state and a refill restores the regions' draws in proportion to them); if the second tier together would exceed ``rem`` (quotas
  above 1 in total, or mixed with pooled regions) it is scaled down to ``rem``.
  ``S += a1 + a2``, ``V -= sum (a1 + a2)``. When every entitled buyer of ``q`` holds at least
  0.99 of its target after the release,
  ``V += min(refill_rate, max(reserve_size - V, 0))`` (bought on the world market, outside the
  IO table).
* Price floors: ``floor_paid[r] = sum_{i in r} max(floor[i] - price[i], 0) X[i]``.
* Records: ``released`` (R,) money released into each buyer region's stocks,
  ``reserve_level`` (scalar) total reserve after the day, ``refilled`` (scalar) bought back
  that day, ``floor_paid`` (R,) by producer region.

Notation (ARIO.md symbol → variable name)
-----------------------------------------

============================  =====================  ===============  =====================
ARIO.md                       here                   shape            meaning
============================  =====================  ===============  =====================
:math:`R, p, n, F`            ``n_regions``,         scalars          regions, sectors
                              ``n_sectors``, ``n``,                   (= products),
                              ``n_fd``                                industries, final
                                                                      demand categories
:math:`\pi(i)`                ``sector_of[i]``       (n,)             product of industry i
region of industry / column   ``region_of``,         (n,), (R F,)     buyer region of a
                              ``fd_region_of``                        demand column
:math:`Z_0, Y_0, X_0`         ``Z0``, ``Y0``, ``X0`` (n,n),(n,RF),(n) daily flows / output
:math:`y`                     ``y``                  (n,)             row sums of ``Y0``
:math:`A`                     ``A``                  (n, n)           technical coefficients
:math:`I_{sum}`               ``Isum``               (p, n)           product aggregation
:math:`A^S = I_{sum} A`       ``AS``                 (p, n)           input of q per unit of j
:math:`\theta`                ``theta``              (p, n) bool      "is a real input" mask
:math:`s_{qj}`                ``s``                  (p, n)           inventory duration, days
:math:`\psi`                  ``psi``                scalar           constraint share
:math:`\kappa_{inv}`          ``kappa_inv``          scalar           1 / tau_inv
:math:`\kappa_\alpha`         ``kappa_alpha``        scalar           1 / tau_alpha
:math:`\alpha^b,\alpha^{max}` ``alpha_base``,        scalars          overproduction bounds
                              ``alpha_max``
:math:`S(t)`                  ``state.S``            (p, n)           stocks (start of step)
:math:`S(0)`                  ``S0``                 (p, n)           initial stocks
:math:`O(t)`                  ``state.O``            (n, n)           orders to serve at t
:math:`\alpha(t-1)`           ``state.alpha``        (n,)             overproduction factor
:math:`X(t-1)`                ``state.X_prev``       (n,)             last step's production
:math:`\Delta(t)`             ``delta_t``            (n,)             capacity share lost
:math:`\beta(t)`              ``beta_t``             (n, R)           export availability
:math:`D(t)`                  ``D``                  (n,)             total demand
:math:`\zeta(t)`              ``zeta``               (n,)             relative excess demand
:math:`\bar X(t)`             ``cap``                (n,)             production capacity
:math:`X^{opt}(t)`            ``Xopt``               (n,)             optimal production
:math:`C(t)`                  ``C``                  (p, n)           constraint level
:math:`\rho(t)`               ``rho``                (p, n)           input sufficiency
:math:`X(t)`                  ``X``                  (n,)             realised production
:math:`E(t)`                  ``O_eff | Y_eff``      (n, n + RF)      demand columns
:math:`G(t)`                  ``G_int | G_fd``       (n, n + RF)      deliveries
:math:`\mathrm{In}, U`        ``inflow``, ``use``    (p, n)           stock in/outflow
:math:`H(t)`                  ``H``                  (n, RF)          unmet final demand
:math:`\Omega^*`              ``goal``               (p, n)           stock target
:math:`\Gamma`                ``gap``                (p, n)           restoration orders
:math:`N(t)`                  ``Nq``                 (p, n)           orders by product
:math:`w, \sigma`             ``w``, ``sigma``       (n, n)           supplier weights/shares
============================  =====================  ===============  =====================

Industries are region-major: industry ``i`` is (region ``i // p``, sector ``i % p``); final
demand column ``c`` is (region ``c // F``, category ``c % F``). The caller is responsible
for the lexicographic ordering BoARIO applies (ARIO.md §2.1) when comparing with BoARIO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from stress.errors import InputError

__all__ = [
    "Prepared",
    "State",
    "DayChannels",
    "ChannelSchedule",
    "prepare",
    "initial_state",
    "capacity_loss_schedule",
    "step",
    "licensed_orders",
    "simulate",
]

#: ``numpy.allclose`` defaults used by BoARIO's global short-cuts (ARIO.md §5 D and Q, §7).
_RTOL = 1e-5
_ATOL = 1e-8
#: Input-mask threshold of ARIO.md §2.3 (compared, as BoARIO does, yearly flow vs daily output).
_THETA_THRESHOLD = 1e-5


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=a.dtype, copy=True)
    a.flags.writeable = False
    return a


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 wherever ``den == 0`` (ARIO.md §7 "every division by zero gives 0")."""
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.zeros(num.shape, dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True, eq=False)
class Prepared:
    """Daily arrays and parameters of one ARIO model (output of :func:`prepare`).

    All arrays are float64 (``theta`` bool, index maps int) and read-only.

    Attributes
    ----------
    n_regions, n_sectors, n, n_fd : int
        ``R``, ``p``, ``n = R p`` and ``F`` (final-demand categories per region).
    Z0 : ndarray, shape (n, n)
        Daily intermediate flows ``Z / year_to_day``.
    Y0 : ndarray, shape (n, R*F)
        Daily final demand ``Y / year_to_day``, constant over the run.
    X0 : ndarray, shape (n,)
        Daily gross output ``x / year_to_day``.
    y : ndarray, shape (n,)
        ``Y0.sum(axis=1)``.
    A : ndarray, shape (n, n)
        Technical coefficients (unitless).
    Isum : ndarray, shape (p, n)
        Product-aggregation matrix, ``Isum[q, i] = 1`` iff ``sector_of[i] == q``.
    AS : ndarray, shape (p, n)
        ``Isum @ A``.
    theta : ndarray of bool, shape (p, n)
        Input mask with BoARIO's units quirk: ``(Isum @ Z_yearly) > 1e-5 * X0``.
    s : ndarray, shape (p, n)
        Inventory durations in days, by product and buyer (values <= 1 raised to 2, as BoARIO does).
    S0 : ndarray, shape (p, n)
        Initial stocks ``s * AS * X0[None, :]`` (full target, no psi).
    crit : ndarray, shape (p, n)
        Criticality (1: ARIO's Leontief constraint).
    cap_ratio_guard : ndarray of bool, shape (n,)
        ``X0 == 0``: where the capacity ratio ``cap / X0`` is set to 1.
    sector_of, region_of : ndarray of int, shape (n,)
        ``i % p`` and ``i // p``.
    fd_region_of : ndarray of int, shape (R*F,)
        ``c // F``: buyer region of each final-demand column.
    psi : float or ndarray of shape (p, n)
        Constraint share.
    kappa_inv, kappa_alpha, alpha_base, alpha_max : float
        Model parameters (rates are ``1 / tau`` in 1/day).
    """

    n_regions: int
    n_sectors: int
    n: int
    n_fd: int
    Z0: np.ndarray
    Y0: np.ndarray
    X0: np.ndarray
    y: np.ndarray
    A: np.ndarray
    Isum: np.ndarray
    AS: np.ndarray
    theta: np.ndarray
    s: np.ndarray
    S0: np.ndarray
    crit: np.ndarray
    cap_ratio_guard: np.ndarray
    sector_of: np.ndarray
    region_of: np.ndarray
    fd_region_of: np.ndarray
    psi: float | np.ndarray
    kappa_inv: float
    kappa_alpha: float
    alpha_base: float
    alpha_max: float


class State(NamedTuple):
    """Model state carried from one step to the next (one path).

    Attributes
    ----------
    S : ndarray, shape (p, n)
        Stocks of product ``q`` held by buyer ``j`` at the start of the step.
    O : ndarray, shape (n, n)
        Orders from buyer ``j`` to supplier ``i`` to be served in the step.
    alpha : ndarray, shape (n,)
        Overproduction factor of the previous step.
    X_prev : ndarray, shape (n,)
        Realised production of the previous step.
    halted : ndarray of bool, shape (p, n), optional
        Whether input ``q`` of buyer ``j`` was below its halt threshold in the previous step
        (``None``: never).
    clock : ndarray, shape (p, n), optional
        Days since that input came back (``inf``: never halted; ``None``: all ``inf``).
    reserve : ndarray, shape (p,), optional
        Public reserve of each product (``None``: empty).
    drawn : ndarray, shape (p, R), optional
        Net draw of each buyer region on each reserve (``None``: nothing drawn).
    """

    S: np.ndarray
    O: np.ndarray
    alpha: np.ndarray
    X_prev: np.ndarray
    halted: np.ndarray | None = None
    clock: np.ndarray | None = None
    reserve: np.ndarray | None = None
    drawn: np.ndarray | None = None


class DayChannels(NamedTuple):
    """One day's channel values (:mod:`stress.shocks.base`), as :func:`step` reads them.

    Every field is a NumPy array: ``capacity``, ``price``, ``halt_below``, ``restart_lag``,
    ``penalty``, ``penalty_days``, ``priority``, ``honour``, ``floor`` of shape (n,); ``beta``, ``tariff``,
    ``markdown`` of shape (n, R); ``reserve_size``, ``release_rate``, ``refill_rate`` of shape
    (p,); ``release_trigger``, ``release_first`` of shape (p, n); ``release_price``,
    ``release_quota`` of shape (p, R). Build a neutral day with :meth:`neutral`.
    """

    capacity: np.ndarray
    beta: np.ndarray
    price: np.ndarray
    tariff: np.ndarray
    markdown: np.ndarray
    halt_below: np.ndarray
    restart_lag: np.ndarray
    penalty: np.ndarray
    penalty_days: np.ndarray
    priority: np.ndarray
    honour: np.ndarray
    floor: np.ndarray
    reserve_size: np.ndarray
    release_rate: np.ndarray
    release_trigger: np.ndarray
    release_price: np.ndarray
    release_first: np.ndarray
    release_quota: np.ndarray
    refill_rate: np.ndarray

    @staticmethod
    def neutral(n: int, R: int) -> DayChannels:
        p = n // R
        return DayChannels(
            capacity=np.ones(n),
            beta=np.ones((n, R)),
            price=np.ones(n),
            tariff=np.zeros((n, R)),
            markdown=np.ones((n, R)),
            halt_below=np.zeros(n),
            restart_lag=np.zeros(n),
            penalty=np.zeros(n),
            penalty_days=np.zeros(n),
            priority=np.zeros(n),
            honour=np.zeros(n),
            floor=np.zeros(n),
            reserve_size=np.zeros(p),
            release_rate=np.zeros(p),
            release_trigger=np.zeros((p, n)),
            release_price=np.full((p, R), np.inf),
            release_first=np.zeros((p, n)),
            release_quota=np.ones((p, R)),
            refill_rate=np.zeros(p),
        )

    def delivered(self) -> np.ndarray:
        """Delivered price index ``pi[i, r] = price[i] (1 + tariff[i, r]) markdown[i, r]``."""
        return self.price[:, None] * (1.0 + self.tariff) * self.markdown


class ChannelSchedule(NamedTuple):
    """Channel values of one path for days ``0 .. T`` (argument of :func:`simulate`).

    Each field is ``None`` (neutral), one day's value (used on every day) or ``T + 1`` rows, one
    per day ``0 .. T``:

    ==============  ================  ==================  =======
    field           one day           per day             neutral
    ==============  ================  ==================  =======
    capacity        (n,)              (T + 1, n)          1
    beta            (n, R)            (T + 1, n, R)       1
    price           (n,)              (T + 1, n)          1
    tariff          (n, R)            (T + 1, n, R)       0
    markdown        (n, R)            (T + 1, n, R)       1
    halt_below      (n,)              (T + 1, n)          0
    restart_lag     (n,)              (T + 1, n)          0
    penalty         (n,)              (T + 1, n)          0
    penalty_days    (n,)              (T + 1, n)          0
    priority        (n,)              (T + 1, n)          0
    honour          (n,)              (T + 1, n)          0
    floor           (n,)              (T + 1, n)          0
    reserve_size    (p,)              (T + 1, p)          0
    release_rate    (p,)              (T + 1, p)          0
    release_trigger (p, n)            (T + 1, p, n)       0
    release_price   (p, R)            (T + 1, p, R)       inf
    release_first   (p, n)            (T + 1, p, n)       0
    release_quota   (p, R)            (T + 1, p, R)       1
    refill_rate     (p,)              (T + 1, p)          0
    ==============  ================  ==================  =======

    Step ``t`` reads day ``t`` (capacity, final demand, halts, records) and day ``t + 1`` (the
    orders it places); the initial orders read day 0. ``capacity`` multiplies
    ``1 - delta_schedule[t]`` and ``beta`` multiplies ``beta_schedule`` when both are given
    (the channels' composition rule).
    """

    capacity: np.ndarray | None = None
    beta: np.ndarray | None = None
    price: np.ndarray | None = None
    tariff: np.ndarray | None = None
    markdown: np.ndarray | None = None
    halt_below: np.ndarray | None = None
    restart_lag: np.ndarray | None = None
    penalty: np.ndarray | None = None
    penalty_days: np.ndarray | None = None
    priority: np.ndarray | None = None
    honour: np.ndarray | None = None
    floor: np.ndarray | None = None
    reserve_size: np.ndarray | None = None
    release_rate: np.ndarray | None = None
    release_trigger: np.ndarray | None = None
    release_price: np.ndarray | None = None
    release_first: np.ndarray | None = None
    release_quota: np.ndarray | None = None
    refill_rate: np.ndarray | None = None


def prepare(
    Z,
    Y,
    x,
    n_regions: int,
    n_sectors: int,
    *,
    inventory_days=90.0,
    psi: float = 0.8,
    inventory_tau: float = 60.0,
    alpha_base: float = 1.0,
    alpha_max: float = 1.25,
    alpha_tau: float = 365.0,
    year_to_day: float = 365.0,
    A=None,
    criticality=None,
) -> Prepared:
    """Preprocess a yearly MRIO table into the daily arrays of ARIO.md §2.

    Parameters
    ----------
    Z : array_like, shape (n, n)
        Yearly intermediate flows, industries region-major (industry ``i`` is region
        ``i // n_sectors``, sector ``i % n_sectors``).
    Y : array_like, shape (n, n_regions * F)
        Yearly final demand, columns region-major (column ``c`` is region ``c // F``,
        category ``c % F``), ``F = Y.shape[1] // n_regions``.
    x : array_like, shape (n,) or (n, 1)
        Yearly gross output.
    n_regions, n_sectors : int
        ``R`` and ``p``; ``n = R * p``.
    inventory_days : float or array_like of shape (p,) or (p, n), default 90
        Target inventory duration in days, per product (and buyer). Values <= 1 are raised
        to 2 (BoARIO). Must be finite.
    psi : float or array_like of shape (p, n), default 0.8
        Share of the target stock below which production is cut.
    inventory_tau : float, default 60
        Inventory restoration time in days; ``kappa_inv = 1 / inventory_tau``.
    alpha_base, alpha_max, alpha_tau : float, default 1.0, 1.25, 365
        Overproduction base, maximum, and adjustment time (days).
    year_to_day : float, default 365
        Divisor turning yearly flows into daily ones.
    A : array_like, shape (n, n), optional
        Technical coefficients as supplied by the MRIO (e.g. pymrio's ``A``). Must be
        ``allclose`` (atol 1e-8) to ``Z / x``, as BoARIO requires. Default: ``Z / x``
        (0 in columns where ``x == 0``).
    criticality : array_like, shape (p, n), optional
        Share of each buyer's output that needs each product (module docstring). Default 1.

    Returns
    -------
    Prepared
        Frozen container with the daily arrays and parameters.

    Raises
    ------
    InputError
        On inconsistent shapes or out-of-range parameters.
    """
    R, p = int(n_regions), int(n_sectors)
    if R < 1 or p < 1:
        raise InputError("n_regions/n_sectors", (n_regions, n_sectors), "positive integers")
    n = R * p
    Z = np.asarray(Z, dtype=float)
    Y = np.asarray(Y, dtype=float)
    x = np.asarray(x, dtype=float).reshape(-1)
    if Z.shape != (n, n):
        raise InputError("Z.shape", Z.shape, f"({n}, {n}) for {R} regions x {p} sectors")
    if Y.ndim != 2 or Y.shape[0] != n or Y.shape[1] == 0 or Y.shape[1] % R:
        raise InputError("Y.shape", Y.shape, f"({n}, {R} * F) with F >= 1")
    if x.shape != (n,):
        raise InputError("x.shape", x.shape, f"({n},)")
    for name, arr in (("Z", Z), ("Y", Y), ("x", x)):
        if not np.all(np.isfinite(arr)):
            raise InputError(name, "non-finite entries", "finite numbers")
    if np.any(x < 0):
        raise InputError("x", "negative entries", "non-negative gross output")
    psi = np.asarray(psi, dtype=float)
    if not (np.all(psi >= 0) and inventory_tau > 0 and alpha_tau > 0 and year_to_day > 0):
        raise InputError(
            "psi/inventory_tau/alpha_tau/year_to_day",
            (psi, inventory_tau, alpha_tau, year_to_day),
            "psi >= 0 and positive times",
        )
    if not (1.0 <= alpha_base <= alpha_max):
        raise InputError("alpha_base/alpha_max", (alpha_base, alpha_max), "1 <= base <= max")
    F = Y.shape[1] // R

    A_calc = _safe_div(Z, x[None, :])
    if A is None:
        A = A_calc
    else:
        A = np.asarray(A, dtype=float)
        if A.shape != (n, n) or not np.allclose(A, A_calc, rtol=1e-5, atol=1e-8):
            raise InputError("A", "inconsistent with Z / x", "np.allclose(A, Z / x)")

    s_in = np.asarray(inventory_days, dtype=float)
    s = np.broadcast_to(s_in[:, None] if s_in.shape == (p,) else s_in, (p, n)).copy()
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise InputError("inventory_days", inventory_days, "finite positive days")
    s = np.where(s <= 1.0, 2.0, s)

    sector_of = np.arange(n) % p
    region_of = np.arange(n) // p
    fd_region_of = np.arange(R * F) // F
    Isum = (sector_of[None, :] == np.arange(p)[:, None]).astype(float)

    Z0 = Z / year_to_day
    Y0 = Y / year_to_day
    X0 = x / year_to_day
    AS = Isum @ A
    # ARIO.md §2.3: YEARLY aggregated flow compared with DAILY output (BoARIO's quirk).
    theta = (Isum @ Z) > _THETA_THRESHOLD * X0[None, :]
    S0 = s * AS * X0[None, :]
    crit = np.ones((p, n)) if criticality is None else np.asarray(criticality, dtype=float)
    if crit.shape != (p, n) or np.any(crit < 0) or np.any(crit > 1):
        raise InputError("criticality", crit.shape, f"shares in [0, 1] of shape ({p}, {n})")

    return Prepared(
        n_regions=R,
        n_sectors=p,
        n=n,
        n_fd=F,
        Z0=_readonly(Z0),
        Y0=_readonly(Y0),
        X0=_readonly(X0),
        y=_readonly(Y0.sum(axis=1)),
        A=_readonly(A),
        Isum=_readonly(Isum),
        AS=_readonly(AS),
        theta=_readonly(theta),
        s=_readonly(s),
        S0=_readonly(S0),
        crit=_readonly(crit),
        cap_ratio_guard=_readonly(X0 == 0),
        sector_of=_readonly(sector_of),
        region_of=_readonly(region_of),
        fd_region_of=_readonly(fd_region_of),
        psi=float(psi) if psi.ndim == 0 else _readonly(np.broadcast_to(psi, (p, n))),
        kappa_inv=1.0 / float(inventory_tau),
        kappa_alpha=1.0 / float(alpha_tau),
        alpha_base=float(alpha_base),
        alpha_max=float(alpha_max),
    )


def initial_state(prep: Prepared) -> State:
    """Initial state of ARIO.md §3.

    Stocks at the full target ``s * AS * X0`` (no psi), orders ``O = Z0``, ``alpha = 1``
    (``alpha_base``), previous production ``X0``, nothing halted (clocks at ``inf``).

    Parameters
    ----------
    prep : Prepared

    Returns
    -------
    State
        Fresh, writable copies.
    """
    return State(
        S=np.array(prep.S0, copy=True),
        O=np.array(prep.Z0, copy=True),
        alpha=np.full(prep.n, prep.alpha_base),
        X_prev=np.array(prep.X0, copy=True),
        halted=np.zeros((prep.n_sectors, prep.n), dtype=bool),
        clock=np.full((prep.n_sectors, prep.n), np.inf),
    )


def _active_window(k: int, d: int, tau: int) -> tuple[int, int]:
    """Steps during which BoARIO tracks an arbitrary event (happening or recovering)."""
    return k, k + d + tau


def capacity_loss_schedule(
    delta0=None,
    k: int | None = None,
    d: int | None = None,
    tau: int | None = None,
    T: int | None = None,
    *,
    events: Sequence[tuple] | None = None,
    allow_overlap: bool = False,
) -> np.ndarray:
    r"""Capacity-loss schedule ``Delta`` of BoARIO arbitrary events (ARIO.md §4 closed form).

    For one event with impact ``delta0``, occurrence ``k``, duration ``d`` and linear
    recovery time ``tau``::

        Delta(t) = 0                                          t <= k
                   delta0                                     k+1 <= t <= k+d+1
                   round6(delta0 * (1 - (t-k-d-2)/tau))       k+d+2 <= t <= k+d+2+tau
                   0                                          t >  k+d+2+tau

    i.e. the loss enters capacity one step late, stays at full strength for ``d + 2``
    steps and then falls linearly, rounded to 6 decimals as BoARIO does.

    Parameters
    ----------
    delta0 : array_like, shape (n,), optional
        Share of capacity lost per industry, in [0, 1]. Omit when using ``events`` only.
    k, d, tau : int
        BoARIO's occurrence (>= 1), duration (>= 1) and recovery time (>= 1), in steps.
    T : int
        Number of steps (rows of the schedule). Required.
    events : sequence of (delta0, k, d, tau), optional
        Further events. All events are combined by element-wise maximum.
    allow_overlap : bool, default False
        BoARIO 0.7.2 crashes when two arbitrary events are tracked at the same step
        (steps ``k .. k+d+tau`` of each). By default such overlap raises; with ``True`` the
        schedules are combined by maximum anyway (beyond what BoARIO can run).

    Returns
    -------
    ndarray, shape (T, n)
        ``Delta[t]`` is the loss applied to capacity at step ``t``.

    Raises
    ------
    InputError
        On invalid event parameters or overlapping events.
    """
    if T is None or int(T) != T or T < 1:
        raise InputError("T", T, "a positive integer number of steps")
    T = int(T)
    evs = []
    if delta0 is not None:
        evs.append((delta0, k, d, tau))
    if events is not None:
        evs.extend(tuple(e) for e in events)
    if not evs:
        raise InputError("events", evs, "at least one event (delta0, k, d, tau)")

    out = None
    windows = []
    t = np.arange(T)[:, None]
    for idx, (dl, ek, ed, et) in enumerate(evs):
        dl = np.asarray(dl, dtype=float).reshape(-1)
        if out is None:
            out = np.zeros((T, dl.size))
        if dl.shape != (out.shape[1],):
            raise InputError(f"events[{idx}].delta0", dl.shape, f"({out.shape[1]},)")
        if not np.all((dl >= 0) & (dl <= 1)):
            raise InputError(f"events[{idx}].delta0", "values outside [0, 1]", "[0, 1]")
        for name, v in (("k", ek), ("d", ed), ("tau", et)):
            if v is None or int(v) != v or v < 1:
                raise InputError(f"events[{idx}].{name}", v, "an integer >= 1")
        ek, ed, et = int(ek), int(ed), int(et)
        windows.append(_active_window(ek, ed, et))

        full = (t >= ek + 1) & (t <= ek + ed + 1)
        rec = (t >= ek + ed + 2) & (t <= ek + ed + 2 + et)
        frac = 1.0 - (t - ek - ed - 2) / et  # (T, 1)
        ramp = np.round(dl[None, :] * frac, 6)
        sched = np.where(full, dl[None, :], np.where(rec, ramp, 0.0))
        out = np.maximum(out, sched)

    if not allow_overlap:
        ws = sorted(windows)
        for (a0, a1), (b0, b1) in zip(ws, ws[1:], strict=False):
            if b0 <= a1:
                raise InputError(
                    "events",
                    f"tracked windows [{a0}, {a1}] and [{b0}, {b1}] overlap",
                    "non-overlapping arbitrary events (BoARIO 0.7.2 crashes otherwise)",
                )
    return out + 0.0  # normalise -0.0


def _as_beta(beta, n: int, R: int, name: str) -> np.ndarray | None:
    if beta is None:
        return None
    b = np.asarray(beta, dtype=float)
    if b.shape != (n, R):
        raise InputError(name, b.shape, f"({n}, {R})")
    return b


def _day_or_neutral(day, n: int, R: int, name: str) -> DayChannels:
    if day is None:
        return DayChannels.neutral(n, R)
    if not isinstance(day, DayChannels):
        raise InputError(name, type(day).__name__, "a DayChannels (or None)")
    p = n // R
    shapes = {"beta": (n, R), "tariff": (n, R), "markdown": (n, R), "reserve_size": (p,), "release_rate": (p,), "refill_rate": (p,)}
    shapes.update(release_trigger=(p, n), release_first=(p, n), release_price=(p, R), release_quota=(p, R))
    for field in DayChannels._fields:
        a = np.asarray(getattr(day, field), dtype=float)
        if a.shape != shapes.get(field, (n,)):
            raise InputError(f"{name}.{field}", a.shape, str(shapes.get(field, (n,))))
    return DayChannels(*(np.asarray(getattr(day, f), dtype=float) for f in DayChannels._fields))


def _price_factor(prep: Prepared, day: DayChannels, sigma: float) -> np.ndarray:
    """``pi[i, region(j)] ** -sigma`` for every supplier ``i`` and buyer ``j``, shape (n, n)."""
    pi = day.delivered()  # (n, R)
    return pi[:, prep.region_of] ** (-sigma)


def step(
    prep: Prepared,
    state: State,
    t: int,
    delta_t=None,
    beta_t=None,
    beta_next=None,
    *,
    day: DayChannels | None = None,
    day_next: DayChannels | None = None,
    demand_elasticity: float = 0.0,
    substitution_elasticity: float = 0.0,
) -> tuple[State, dict]:
    r"""Advance one path by one day: ARIO.md §5.1 (E → A → P → H → D → V → R → Q) plus extensions.

    Parameters
    ----------
    prep : Prepared
        Output of :func:`prepare`.
    state : State
        ``S(t)``, ``O(t)``, ``alpha(t-1)``, ``X(t-1)``, halt flags and clocks. Not modified.
    t : int
        Step index (BoARIO's ``current_temporal_unit``); ``alpha`` is updated from ``t = 2``.
    delta_t : array_like, shape (n,), optional
        Capacity share lost at this step, ``Delta(t)`` (a row of
        :func:`capacity_loss_schedule`, lag and rounding included). Default 0.
    beta_t : array_like, shape (n, R), optional
        Availability of supplier ``i``'s flows to buyers in region ``r`` today. Default 1.
    beta_next : array_like, shape (n, R), optional
        Availability on day ``t + 1``, used to weight suppliers in the orders for ``t + 1``.
        Default 1.
    day, day_next : DayChannels, optional
        Channels of day ``t`` and ``t + 1`` (module docstring). Default neutral. Their
        ``capacity`` multiplies ``1 - delta_t`` and their ``beta`` multiplies ``beta_t`` /
        ``beta_next``.
    demand_elasticity, substitution_elasticity : float, default 0
        ``eps`` and ``sigma`` of the module docstring.

    Returns
    -------
    new_state : State
        ``S(t+1)``, ``O(t+1)``, ``alpha(t)``, ``X(t)``, halt flags and clocks of day t.
    record : dict of ndarray
        ``production`` X(t); ``production_capacity`` cap(t); ``production_opt`` Xopt(t);
        ``overproduction`` alpha(t); ``demand`` D(t) (effective); ``intermediate_demand``
        rowsum of the effective orders; ``stocks`` S(t) before production;
        ``final_demand_undist`` unmet final demand (``Y0`` less deliveries) summed over
        final-demand columns, by supplier industry (n,); ``final_demand_unmet`` the same by
        consumer region x product, flattened region-major (n,); ``input_ratio`` X / Xopt
        (n,); ``halted`` (p, n) input below its halt threshold (1.0) or not (0.0);
        ``halt_factor`` (p, n) the factor applied to rho; ``deliveries`` (n, R); ``price``
        (n,); ``tariff_revenue`` and ``price_cost`` (R,); ``released`` (R,) reserve released
        into each buyer region's stocks; ``reserve_level`` total reserve after the day;
        ``refilled`` bought back into the reserves; ``floor_paid`` (R,) price-floor payments by
        producer region; ``crashed`` True if a stock of S(t+1) (after the release) is negative
        or NaN.
    """
    p, R, n = prep.n_sectors, prep.n_regions, prep.n
    S, O, alpha, X_prev = state.S, state.O, state.alpha, state.X_prev
    halted_prev = np.zeros((p, n), dtype=bool) if state.halted is None else np.asarray(state.halted, dtype=bool)
    clock_prev = np.full((p, n), np.inf) if state.clock is None else np.asarray(state.clock, dtype=float)
    Y0, X0, AS = prep.Y0, prep.X0, prep.AS
    bt = _as_beta(beta_t, n, R, "beta_t")
    bn = _as_beta(beta_next, n, R, "beta_next")
    ch = _day_or_neutral(day, n, R, "day")
    ch_next = _day_or_neutral(day_next, n, R, "day_next")
    eps, sig = float(demand_elasticity), float(substitution_elasticity)
    # licences: the day's channel times the explicit schedule
    if day is not None:
        bt = ch.beta if bt is None else bt * ch.beta
    if day_next is not None:
        bn = ch_next.beta if bn is None else bn * ch_next.beta

    # E. events: Delta(t) is precomputed (lag and rounding included).
    delta = np.zeros(n) if delta_t is None else np.asarray(delta_t, dtype=float)
    pi = ch.delivered()  # (n, R) delivered price of day t

    # Orders already respect today's licences and prices; final demand cannot re-split.
    O_eff = O
    Y_eff = Y0 if bt is None else Y0 * bt[:, prep.fd_region_of]
    Y_want = Y0  # what final buyers want at today's prices (before licences)
    if day is not None:
        Y_want = _final_demand_at_prices(Y0, pi[:, prep.fd_region_of], prep.n_sectors, eps, sig)
        Y_eff = Y_want if bt is None else Y_want * bt[:, prep.fd_region_of]
    D = O_eff.sum(axis=1) + Y_eff.sum(axis=1)

    # A. overproduction (from t = 2), compared with LAST step's production.
    if t >= 2:
        zeta = _safe_div(D - X_prev, D)
        alpha = np.maximum(
            1.0,
            alpha + prep.kappa_alpha * np.where(zeta != 0, (prep.alpha_max - alpha) * zeta, prep.alpha_base - alpha),
        )
    else:
        alpha = np.array(alpha, dtype=float, copy=True)

    # P. production: capacity, demand, then the psi inventory constraint on Xopt(t).
    cap_factor = 1.0 - delta if day is None else (1.0 - delta) * ch.capacity
    cap = X0 * cap_factor * alpha
    Xopt = np.minimum(D, cap)
    C = prep.psi * prep.s * AS * Xopt[None, :]
    binding = prep.theta & (C != 0)
    rho = np.ones_like(C)
    rho[binding] = np.minimum(1.0, S[binding] / C[binding])

    # H. plant halts, entry by entry: input q of buyer j below its threshold stops the part
    # of j's output that needs q; after it comes back, restart_lag days down, then
    # penalty_days days at 1 - penalty.
    halted = np.zeros((p, n), dtype=bool)
    clock = clock_prev + 1.0  # inf stays inf
    factor = np.ones((p, n))
    never = not halted_prev.any() and not np.any(rho < ch.halt_below[None, :]) and np.all(np.isinf(clock_prev))
    for j in range(0 if never else n):  # (nothing to do when nothing ever halted)
        lag, pen, pdays = ch.restart_lag[j], ch.penalty[j], ch.penalty_days[j]
        for q in range(p):
            halted[q, j] = rho[q, j] < ch.halt_below[j]
            clock[q, j] = 0.0 if (halted[q, j] or halted_prev[q, j]) else clock_prev[q, j] + 1.0
            if halted[q, j] or clock[q, j] < lag:
                factor[q, j] = 0.0
            elif clock[q, j] < lag + pdays:
                factor[q, j] = 1.0 - pen
    rho = rho * factor

    # partial criticality: only the share crit of the output needs the input
    partial = prep.crit != 1
    suff = rho.copy()
    suff[partial] = 1.0 - prep.crit[partial] * (1.0 - rho[partial])
    input_ratio = suff.min(axis=0)
    X = Xopt * input_ratio

    # D. proportional rationing of every demand column (priority buyers first), then stocks.
    if np.any(ch.priority > 0) and np.any(ch.honour > 0):
        G_int, frac = _ration_with_priority(X, D, O_eff, ch.priority, ch.honour)
    else:
        frac = _safe_div(X, D)
        G_int = O_eff * frac[:, None]
    G_fd = Y_eff * frac[:, None]
    inflow = G_int.reshape(R, p, n).sum(axis=0)  # = Isum @ G_int (industries region-major)
    needs = np.ones_like(rho)
    needs[partial] = _safe_div(rho[partial], suff[partial])
    use = AS * X[None, :] * needs
    if np.allclose(inflow, use, rtol=_RTOL, atol=_ATOL):
        S_new = np.array(S, copy=True)
    else:
        S_new = S - use + inflow
    # V. public reserves release into the stocks, or refill, before the orders.
    reserve = np.zeros(p) if state.reserve is None else np.asarray(state.reserve, dtype=float)
    drawn = np.zeros((p, R)) if state.drawn is None else np.asarray(state.drawn, dtype=float)
    S_new, reserve, released, refilled, drawn = _release_reserve(prep, ch, pi, S_new, reserve, drawn)
    crashed = bool(np.any(S_new < 0) or np.any(np.isnan(S_new)))
    # F. price-floor payments by producer region
    floor_paid = np.zeros(R)
    for i in range(n):
        floor_paid[prep.region_of[i]] += max(ch.floor[i] - ch.price[i], 0.0) * X[i]
    H = Y_want - G_fd  # blocked final demand counts as unmet; a price-driven change of demand does not
    undist = H.sum(axis=1)
    F = prep.n_fd
    unmet = H.reshape(R, p, R, F).sum(axis=(0, 3)).T.reshape(n)  # (consumer region, product)

    # Deliveries by buyer region, tariff revenue and price cost (valued at day t's prices).
    deliveries = np.zeros((n, R))
    for r in range(R):
        deliveries[:, r] = G_int[:, prep.region_of == r].sum(axis=1) + G_fd[:, prep.fd_region_of == r].sum(axis=1)
    tariff_revenue = np.zeros(R)
    price_cost = np.zeros(R)
    for r in range(R):
        tariff_revenue[r] = np.sum(deliveries[:, r] * ch.price * ch.tariff[:, r])
        price_cost[r] = np.sum(deliveries[:, r] * (pi[:, r] - 1.0))

    # R. event recovery: folded into the precomputed schedule.

    # Q. orders for step t+1, under the licences and delivered prices of day t+1.
    goal = prep.s * AS * Xopt[None, :]
    if np.allclose(S_new, goal, rtol=_RTOL, atol=_ATOL):
        gap = np.zeros_like(goal)
    else:
        gap = prep.kappa_inv * np.maximum(goal - S_new, 0.0)
    Nq = gap + use
    cap_ratio = np.where(prep.cap_ratio_guard, 1.0, _safe_div(cap, X0))
    # added capacity (factor > 1) serves redirected orders but does not attract baseline ones
    cap_ratio = cap_ratio / np.maximum(cap_factor, 1.0)
    w = prep.Z0 * cap_ratio[:, None]
    if day_next is not None:
        w = w * _price_factor(prep, ch_next, sig)
    O_new = licensed_orders(prep, w, Nq, bn)

    record = {
        "production": X,
        "production_capacity": cap,
        "production_opt": Xopt,
        "overproduction": alpha,
        "demand": D,
        "intermediate_demand": O_eff.sum(axis=1),
        "stocks": np.array(S, copy=True),
        "final_demand_undist": undist,
        "final_demand_unmet": unmet,
        "input_ratio": input_ratio,
        "halted": halted.astype(float),
        "halt_factor": factor,
        "deliveries": deliveries,
        "price": np.array(ch.price, copy=True),
        "tariff_revenue": tariff_revenue,
        "price_cost": price_cost,
        "released": released,
        "reserve_level": float(reserve.sum()),
        "refilled": refilled,
        "floor_paid": floor_paid,
        "crashed": crashed,
    }
    return State(S=S_new, O=O_new, alpha=alpha, X_prev=X, halted=halted, clock=clock, reserve=reserve, drawn=drawn), record


def _ration_with_priority(X: np.ndarray, D: np.ndarray, O_eff: np.ndarray, priority: np.ndarray, honour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deliveries ``G_int`` (n, n) and the share ``so`` (n,) of the non-priority clients when the
    orders of priority buyers are served first (module docstring), supplier by supplier."""
    n = X.shape[0]
    G_int = np.zeros_like(O_eff)
    so = np.zeros(n)
    for i in range(n):
        rated = (priority > 0) & (honour[i] > 0)
        P = O_eff[i, rated].sum()
        sp = min(1.0, X[i] / P) if P != 0 else 1.0
        rest = D[i] - P
        so[i] = min(1.0, max(X[i] - P, 0.0) / rest) if rest != 0 else 0.0
        G_int[i] = O_eff[i] * np.where(rated, sp, so[i])
    return G_int, so


def _release_reserve(prep: Prepared, ch: DayChannels, pi: np.ndarray, S: np.ndarray, reserve: np.ndarray, drawn: np.ndarray):
    """Step V of the module docstring, product by product: ``(S, reserve, released, refilled, drawn)``."""
    p, R, n = prep.n_sectors, prep.n_regions, prep.n
    S = np.array(S, dtype=float, copy=True)
    reserve = np.array(reserve, dtype=float, copy=True)
    drawn = np.array(drawn, dtype=float, copy=True)
    released = np.zeros(R)
    refilled = 0.0
    if not np.any(ch.release_trigger > 0) and not np.any(ch.refill_rate > 0):
        return S, reserve, released, refilled, drawn  # nobody entitled and nothing to buy back
    for q in range(p):
        # delivered price index of q in each buyer region, by the table's value shares
        index = np.ones(R)
        for r in range(R):
            bought = np.array([prep.Z0[a * p + q, prep.region_of == r].sum() for a in range(R)])
            if bought.sum() > 0:
                index[r] = sum(bought[a] / bought.sum() * pi[a * p + q, r] for a in range(R))
        gap = np.zeros(n)
        for j in range(n):
            r = prep.region_of[j]
            target = prep.s[q, j] * prep.AS[q, j] * prep.X0[j] if prep.theta[q, j] else 0.0
            trig = ch.release_trigger[q, j]
            if trig > 0 and (S[q, j] < trig * target or index[r] >= ch.release_price[q, r]):
                gap[j] = max(target - S[q, j], 0.0)
        avail = min(reserve[q], ch.release_rate[q])
        first = ch.release_first[q] > 0
        alloc = np.zeros(n)
        G1 = gap[first].sum()
        if G1 > 0:
            alloc[first] = gap[first] * min(1.0, avail / G1)
        rem = max(avail - alloc.sum(), 0.0)
        second = ~first & (gap > 0)
        G2 = gap[second].sum()
        a2 = np.zeros(n)
        for j in np.flatnonzero(second):
            r = prep.region_of[j]
            if ch.release_quota[q, r] >= 1:
                a2[j] = gap[j] * min(1.0, rem / G2)
            else:
                G2r = gap[second & (prep.region_of == r)].sum()
                may = max(ch.release_quota[q, r] * ch.reserve_size[q] - drawn[q, r], 0.0)
                a2[j] = gap[j] * min(1.0, min(may, rem) / G2r)
        if a2.sum() > rem:  # quotas above 1 in total, or mixed with pooled regions
            a2 *= rem / a2.sum()
        alloc += a2
        S[q] += alloc
        reserve[q] = max(reserve[q] - alloc.sum(), 0.0)
        for r in range(R):
            released[r] += alloc[prep.region_of == r].sum()
            drawn[q, r] += alloc[prep.region_of == r].sum()
        targets = np.array([prep.s[q, j] * prep.AS[q, j] * prep.X0[j] if prep.theta[q, j] else 0.0 for j in range(n)])
        low = any(ch.release_trigger[q, j] > 0 and S[q, j] < 0.99 * targets[j] for j in range(n))
        if not low:  # every entitled buyer back at 99 % of its target: the crisis is over
            refill = min(ch.refill_rate[q], max(ch.reserve_size[q] - reserve[q], 0.0))
            reserve[q] += refill
            refilled += refill
            total = drawn[q].sum()
            if total > 0:  # the refill restores the regions' draws in proportion to them
                for r in range(R):
                    drawn[q, r] = max(drawn[q, r] - refill * drawn[q, r] / total, 0.0)
    return S, reserve, released, refilled, drawn


def _final_demand_at_prices(Y0: np.ndarray, price: np.ndarray, p: int, eps: float, sigma: float) -> np.ndarray:
    """Final demand at delivered prices, column by column and product by product: CES choice
    among the product's suppliers, ``Y0 (price / P) ** -sigma P ** -eps`` with the CES price index
    ``P = (sum s price ** (1 - sigma)) ** (1 / (1 - sigma))`` over the table's value shares ``s``
    (``sigma = 1``: the geometric mean)."""
    n, cols = Y0.shape
    out = np.zeros_like(Y0)
    for c in range(cols):
        for q in range(p):
            rows = np.arange(q, n, p)  # the suppliers of product q, one per region
            y, pr = Y0[rows, c], price[rows, c]
            total = y.sum()
            if np.all(pr == 1.0) or total <= 0:  # prices of the table's year: demand as in the table, exactly
                out[rows, c] = y
                continue
            s = y / total
            if abs(1.0 - sigma) < 1e-9:
                index = float(np.exp((s * np.log(pr)).sum()))
            else:
                index = float((s * pr ** (1.0 - sigma)).sum() ** (1.0 / (1.0 - sigma)))
            out[rows, c] = y * (pr / index) ** (-sigma) * index ** (-eps)
    return out


def licensed_orders(prep: Prepared, w: np.ndarray, Nq: np.ndarray, beta) -> np.ndarray:
    """Split orders by product ``Nq`` (p, n) over suppliers by weights ``w`` (n, n) under the
    licensed shares ``beta`` (n, R) of the order day (module docstring)."""
    p, n, R = prep.n_sectors, prep.n, prep.n_regions
    if beta is None or np.all(beta >= 1):  # ARIO's split, BoARIO's arithmetic
        block = w.reshape(R, p, n).sum(axis=0)  # (p, n): sum over supplier regions
        return _safe_div(w, block[prep.sector_of, :]) * Nq[prep.sector_of, :]
    O = np.zeros((n, n))
    for j in range(n):
        for q in range(p):
            sup = np.flatnonzero(prep.sector_of == q)
            W = w[sup, j].sum()
            if W == 0:
                continue
            b = np.ones(len(sup)) if beta is None else beta[sup, prep.region_of[j]]
            sigma = w[sup, j] / W
            share = np.where(b < 1, b * sigma, sigma)
            blocked = ((1 - b) * sigma)[b < 1].sum()
            open_total = sigma[b >= 1].sum()
            if blocked > 0 and open_total > 0:
                share = np.where(b >= 1, sigma + blocked * sigma / open_total, share)
            O[sup, j] = share * Nq[q, j]
    return O


_RECORD_SHAPES = {
    "production": "n",
    "production_capacity": "n",
    "production_opt": "n",
    "overproduction": "n",
    "demand": "n",
    "intermediate_demand": "n",
    "stocks": "pn",
    "final_demand_undist": "n",
    "final_demand_unmet": "n",
    "input_ratio": "n",
    "halted": "pn",
    "halt_factor": "pn",
    "deliveries": "nR",
    "price": "n",
    "tariff_revenue": "R",
    "price_cost": "R",
    "released": "R",
    "reserve_level": "",
    "refilled": "",
    "floor_paid": "R",
}

#: ChannelSchedule field -> (one day's shape as a key, neutral value)
_CHANNEL_SPEC = {
    "capacity": ("n", 1.0),
    "beta": ("nR", 1.0),
    "price": ("n", 1.0),
    "tariff": ("nR", 0.0),
    "markdown": ("nR", 1.0),
    "halt_below": ("n", 0.0),
    "restart_lag": ("n", 0.0),
    "penalty": ("n", 0.0),
    "penalty_days": ("n", 0.0),
    "priority": ("n", 0.0),
    "honour": ("n", 0.0),
    "floor": ("n", 0.0),
    "reserve_size": ("p", 0.0),
    "release_rate": ("p", 0.0),
    "release_trigger": ("pn", 0.0),
    "release_price": ("pR", np.inf),
    "release_first": ("pn", 0.0),
    "release_quota": ("pR", 1.0),
    "refill_rate": ("p", 0.0),
}


def _channel_days(sched: ChannelSchedule, T: int, n: int, R: int) -> list[DayChannels]:
    """The ``T + 1`` days of a :class:`ChannelSchedule`, each a full :class:`DayChannels`."""
    if not isinstance(sched, ChannelSchedule):
        raise InputError("channel_schedule", type(sched).__name__, "a ChannelSchedule")
    per_day = {}
    for field, (kind, neutral_value) in _CHANNEL_SPEC.items():
        p = n // R
        one = {"n": (n,), "nR": (n, R), "p": (p,), "pn": (p, n), "pR": (p, R)}[kind]
        value = getattr(sched, field)
        if value is None:
            a = np.full((T + 1,) + one, neutral_value)
        else:
            a = np.asarray(value, dtype=float)
            if a.shape == one:
                a = np.broadcast_to(a, (T + 1,) + one)
            if a.shape != (T + 1,) + one:
                raise InputError(f"channel_schedule.{field}", a.shape, f"{one} or {(T + 1,) + one}")
        per_day[field] = a
    return [DayChannels(**{f: np.array(per_day[f][t]) for f in DayChannels._fields}) for t in range(T + 1)]


def simulate(
    prep: Prepared,
    T: int,
    delta_schedule=None,
    beta_schedule=None,
    channel_schedule: ChannelSchedule | None = None,
    demand_elasticity: float = 0.0,
    substitution_elasticity: float = 0.0,
) -> dict:
    """Run one path for ``T`` days from the initial state of ARIO.md §3.

    Parameters
    ----------
    prep : Prepared
        Output of :func:`prepare`.
    T : int
        Number of steps (days), ``t = 0 .. T-1``.
    delta_schedule : array_like, shape (T, n), optional
        ``Delta(t)`` per step (see :func:`capacity_loss_schedule`). Default: no loss.
    beta_schedule : array_like, shape (T, n, R) or (n, R), optional
        Export availability per day (a 2-D array applies to every day). Default: all ones.
        Orders placed at step ``t`` use ``beta_schedule[t + 1]`` (the last row for
        ``t = T - 1``).
    channel_schedule : ChannelSchedule, optional
        Channel values for days ``0 .. T`` (see :class:`ChannelSchedule`): step ``t`` uses
        day ``t`` and places its orders under day ``t + 1``; the initial orders are ``Z0``
        split under day 0. Default: every channel neutral (plain ARIO / BoARIO).
    demand_elasticity : float, default 0
        ``eps``: final demand scales with ``pi ** -eps`` (needs ``channel_schedule``).
    substitution_elasticity : float, default 0
        ``sigma``: supplier weights scale with ``pi ** -sigma`` (needs ``channel_schedule``).

    Returns
    -------
    dict
        ``production``, ``production_capacity``, ``production_opt``, ``overproduction``,
        ``demand``, ``intermediate_demand``, ``final_demand_undist``,
        ``final_demand_unmet``, ``input_ratio``, ``price``: arrays of shape (T, n);
        ``stocks`` (before production), ``halted``, ``halt_factor``: (T, p, n);
        ``deliveries``: (T, n, R); ``tariff_revenue``, ``price_cost``, ``released``,
        ``floor_paid``: (T, R); ``reserve_level``, ``refilled``: (T,) (see
        :func:`step`); ``crashed``: bool; ``crash_step``: step at which a stock became
        negative or NaN (-1 if none). After a crash the loop stops: the crash step's row is
        filled, later rows are NaN (ARIO.md §7).
    """
    if int(T) != T or T < 1:
        raise InputError("T", T, "a positive integer number of steps")
    T = int(T)
    n, p, R = prep.n, prep.n_sectors, prep.n_regions
    if delta_schedule is not None:
        delta_schedule = np.asarray(delta_schedule, dtype=float)
        if delta_schedule.shape != (T, n):
            raise InputError("delta_schedule", delta_schedule.shape, f"({T}, {n})")
    if beta_schedule is not None:
        beta_schedule = np.asarray(beta_schedule, dtype=float)
        if beta_schedule.shape == (n, R):
            beta_schedule = np.broadcast_to(beta_schedule, (T, n, R))
        if beta_schedule.shape != (T, n, R):
            raise InputError("beta_schedule", beta_schedule.shape, f"({T}, {n}, {R}) or ({n}, {R})")
    days = None if channel_schedule is None else _channel_days(channel_schedule, T, n, R)
    if days is None and (demand_elasticity != 0 or substitution_elasticity != 0):
        raise InputError("demand/substitution_elasticity", (demand_elasticity, substitution_elasticity), "a channel_schedule with prices")

    shape = {"n": (n,), "pn": (p, n), "nR": (n, R), "R": (R,), "": ()}
    out = {k: np.full((T,) + shape[s], np.nan) for k, s in _RECORD_SHAPES.items()}
    state = initial_state(prep)
    if days is not None:  # public reserves start full
        state = state._replace(reserve=np.array(days[0].reserve_size, copy=True))
    # initial orders: Z0 split under day 0's licences and delivered prices
    beta0 = None if beta_schedule is None else beta_schedule[0]
    w0 = prep.Z0
    if days is not None:
        beta0 = days[0].beta if beta0 is None else beta0 * days[0].beta
        factor0 = _price_factor(prep, days[0], float(substitution_elasticity))
        if np.any(factor0 != 1):
            w0 = prep.Z0 * factor0
    if (beta0 is not None and np.any(beta0 < 1)) or w0 is not prep.Z0:
        Nq0 = prep.Z0.reshape(R, p, n).sum(axis=0)
        state = state._replace(O=licensed_orders(prep, w0, Nq0, beta0))
    crash_step = -1
    for t in range(T):
        dt = None if delta_schedule is None else delta_schedule[t]
        if beta_schedule is None:
            bt = bn = None
        else:
            bt = beta_schedule[t]
            bn = beta_schedule[min(t + 1, T - 1)]
        kw = {}
        if days is not None:
            kw = dict(
                day=days[t],
                day_next=days[t + 1],
                demand_elasticity=demand_elasticity,
                substitution_elasticity=substitution_elasticity,
            )
        state, rec = step(prep, state, t, dt, bt, bn, **kw)
        for k in _RECORD_SHAPES:
            out[k][t] = rec[k]
        if rec["crashed"]:
            crash_step = t
            break
    out["crashed"] = crash_step >= 0
    out["crash_step"] = crash_step
    return out
