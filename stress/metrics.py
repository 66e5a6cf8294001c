"""Per-path metrics (reduced over days inside the scan) and streaming accumulators.

Per path and industry ``j`` over the horizon ``T``:

- lost output ``L_j = sum_t (X0_j - X_j(t))`` (money), and its share of baseline output
  ``r_j = L_j / (T X0_j)``;
- lost value added ``v_j L_j`` (value added is proportional to output, ``VA = v X``);
- the first day of a deep cut, ``X_j(t) < h X0_j`` with ``h = halt_threshold`` (``T``: none);
- the first day of a plant halt as reported in 2025: the first day the industry's output is
  cut by missing inputs, ``X_j(t) < (1 - e) X^opt_j(t)`` with ``e = constraint_threshold``
  (default 0.01: in an aggregated sector one assembly plant of the 60-100 in a large region is
  about 1-2 % of output, so a 1 % input-constrained drop is the first plant that stops);
- the deliveries of the export-restricted industries to each region, summed by month.

Streaming accumulators, whose size does not depend on the number of paths:

- exact sums of ``r_j`` and ``r_j^2`` in 32.32 fixed point (int64), so that the totals are the same
  whatever the order in which chunks are added: chunk size and device count cannot change them;
- a histogram of ``r_j`` per industry (a quantile sketch: quantiles are exact up to one bin width,
  ``(histogram_max - histogram_min) / histogram_bins`` of the industry's horizon output);
- counts of the week of the first halt per industry (probability of a halt within N weeks).

Per path, ``2 R + 4`` scalars are retained (lost output and value added by region and in total,
the lost output of the directly hit industries, and a crash flag) for exact quantiles, expected
shortfall and their confidence intervals on the host; with ``retain_paths`` also each path's
monthly controlled flows and first-halt days (for the backtest). A crashed path (a stock went
negative or NaN) is counted, and left out of every statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stress.propagation.ario import ArioTables, Record

FIXED_POINT = 2.0**32
PRICE_BINS, PRICE_LO, PRICE_HI = 400, -0.5, 1.5
COST_COMPONENTS = ("stockpile", "price_floor", "procurement", "allied_capacity", "other")
"""Cost components of the allied levers (:mod:`stress.policy.levers`)."""
"""Histogram of each path's mean producer-price change ``mean_t p(t) - 1``: 0.005 wide bins."""


class PathSummary(NamedTuple):
    """Carried through the scan for one path."""

    lost: jax.Array  # (n,) sum over days of X0 - X
    first_halt: jax.Array  # (n,) int32, horizon if no halt
    first_constrained: jax.Array  # (n,) int32, first day of an input-constrained drop; horizon if none
    flows: jax.Array  # (M, R) deliveries of the restricted industries by month and buyer region
    last_constrained: jax.Array  # (n,) int32, last day of an input-constrained drop; -1 if none
    price_sum: jax.Array  # (n,) sum over days of the producer price index
    revenue: jax.Array  # (R,) extra tariff revenue collected by each region
    price_cost: jax.Array  # (R,) extra cost of higher delivered prices to each region's buyers
    released: jax.Array  # (R,) public reserves released into each region's stocks (money)
    reserve_days: jax.Array  # () sum over days of the reserves held (money-days)
    floor_paid: jax.Array  # () price-floor payments (money)
    crashed: jax.Array  # () bool


class Accumulator(NamedTuple):
    """Streaming totals over paths (int64, order-independent)."""

    count: jax.Array  # () paths added
    share_sum: jax.Array  # (n,) sum of r in fixed point
    share_sq: jax.Array  # (n,) sum of r^2 in fixed point
    hist: jax.Array  # (n, bins) counts of r per bin
    halt_week: jax.Array  # (n, W + 1) counts of the week of the first halt; last column: none
    constrained_week: jax.Array  # (n, W + 1) counts of the week of the first input-constrained drop
    flow_sum: jax.Array  # (M, R) sum over paths of the monthly flow ratio to baseline, fixed point
    recover_week: jax.Array  # (n, W + 2) weeks from the first halt to the end of the last; W+1: not recovered; W: no halt
    price_hist: jax.Array  # (n, PRICE_BINS) counts of the path's mean price rise per bin
    price_sum: jax.Array  # (n,) sum of the mean price rise, fixed point
    revenue_sum: jax.Array  # (R,) sum of tariff revenue, fixed point (money)
    price_cost_sum: jax.Array  # (R,) sum of the cost of higher prices, fixed point (money)
    regime_weeks: jax.Array  # (W', G) paths in each regime by week (shock modules; W' = horizon // 7 + 1)
    tariff_weeks: jax.Array  # (W', K) paths at each tariff level by week
    closed: jax.Array  # (J,) paths in which each predatory-pricing target closed
    released_sum: jax.Array  # (R,) sum of reserve releases by region, fixed point (money)
    cost_sum: jax.Array  # (C,) sum of the levers' costs by component, fixed point (money)
    joined: jax.Array  # (R,) paths in which each coalition member joined the joint levers
    crashed: jax.Array  # () paths whose stocks went negative


@dataclass(frozen=True)
class Metrics:
    """Static metric settings; also the scan reducer (``init``/``update``)."""

    halt_threshold: float = 0.5
    constraint_threshold: float = 0.01
    bins: int = 250
    lo: float = -0.25
    hi: float = 1.0
    month_of_day: tuple[int, ...] = ()  # month index of each day of the horizon (empty: 30-day months)
    direct: tuple[int, ...] = ()  # indices of the directly hit industries (amplification)
    monitored: tuple[float, ...] = ()  # (n * R) weight of each supplier industry's deliveries to each region in the tracked (controlled) flows
    n_regimes: int = 1  # states of the shock modules' escalation chain (1: none)
    n_tariffs: int = 1  # tariff levels (1: none)
    n_closable: int = 0  # predatory-pricing targets (0: none)
    retain_paths: bool = False

    def months(self, horizon: int) -> np.ndarray:
        """Month index of each day, shape ``(horizon,)``."""
        if self.month_of_day:
            return np.asarray(self.month_of_day[:horizon], np.int32)
        return np.arange(horizon, dtype=np.int32) // 30

    def n_months(self, horizon: int) -> int:
        return int(self.months(horizon).max()) + 1

    def init(self, tables: ArioTables, horizon: int) -> PathSummary:
        """Empty per-path summary."""
        n = tables.X0.shape[0]
        R = n // tables.AS.shape[0]
        return PathSummary(
            lost=jnp.zeros((n,), tables.X0.dtype),
            first_halt=jnp.full((n,), horizon, jnp.int32),
            first_constrained=jnp.full((n,), horizon, jnp.int32),
            flows=jnp.zeros((self.n_months(horizon), R), tables.X0.dtype),
            last_constrained=jnp.full((n,), -1, jnp.int32),
            price_sum=jnp.zeros((n,), tables.X0.dtype),
            revenue=jnp.zeros((R,), tables.X0.dtype),
            price_cost=jnp.zeros((R,), tables.X0.dtype),
            released=jnp.zeros((R,), tables.X0.dtype),
            reserve_days=jnp.zeros((), tables.X0.dtype),
            floor_paid=jnp.zeros((), tables.X0.dtype),
            crashed=jnp.zeros((), bool),
        )

    def update(self, tables: ArioTables, summary: PathSummary, rec: Record, t: jax.Array) -> PathSummary:
        """Fold one day's record into the summary."""
        live = tables.X0 > 0
        halted = (rec.production < self.halt_threshold * tables.X0) & live
        first = jnp.where(halted & (summary.first_halt > t), t.astype(jnp.int32), summary.first_halt)
        cut = (rec.input_ratio < 1 - self.constraint_threshold) & live
        first_c = jnp.where(cut & (summary.first_constrained > t), t.astype(jnp.int32), summary.first_constrained)
        m = jnp.asarray(self.month_of_day, jnp.int32)[t] if self.month_of_day else t.astype(jnp.int32) // 30
        if self.monitored:
            weights = jnp.asarray(np.reshape(self.monitored, rec.deliveries.shape), rec.deliveries.dtype)
            flow = (weights * rec.deliveries).sum(axis=0)
        else:
            flow = jnp.zeros_like(summary.flows[0])
        return PathSummary(
            lost=summary.lost + (tables.X0 - rec.production),
            first_halt=first,
            first_constrained=first_c,
            flows=summary.flows.at[m].add(flow),
            last_constrained=jnp.where(cut, t.astype(jnp.int32), summary.last_constrained),
            price_sum=summary.price_sum + rec.price,
            revenue=summary.revenue + rec.tariff_revenue,
            price_cost=summary.price_cost + rec.price_cost,
            released=summary.released + rec.released,
            reserve_days=summary.reserve_days + rec.reserve_level,
            floor_paid=summary.floor_paid + rec.floor_paid.sum(),
            crashed=summary.crashed | rec.crashed,
        )

    def empty(self, n: int, n_regions: int, horizon: int) -> Accumulator:
        """Zero accumulator for ``n`` industries in ``n_regions`` regions."""
        weeks = n_weeks(horizon)
        z = lambda *s: jnp.zeros(s, jnp.int64)  # noqa: E731
        return Accumulator(
            z(),
            z(n),
            z(n),
            z(n, self.bins),
            z(n, weeks + 1),
            z(n, weeks + 1),
            z(self.n_months(horizon), n_regions),
            z(n, weeks + 2),
            z(n, PRICE_BINS),
            z(n),
            z(n_regions),
            z(n_regions),
            z(horizon // 7 + 1, self.n_regimes),
            z(horizon // 7 + 1, self.n_tariffs),
            z(self.n_closable),
            z(n_regions),
            z(len(COST_COMPONENTS)),
            z(n_regions),
            z(),
        )

    def scalar_names(self, regions: tuple[str, ...] | list[str]) -> list[str]:
        """Names of the retained per-path scalars, in column order."""
        return (
            [f"output_loss/{r}" for r in regions]
            + [f"value_added_loss/{r}" for r in regions]
            + ["output_loss/WORLD", "value_added_loss/WORLD", "output_loss/DIRECT", "crashed"]
            + [f"released/{r}" for r in regions]
            + [f"tariff_revenue/{r}" for r in regions]
            + [f"price_cost/{r}" for r in regions]
            + [f"policy_cost/{c}" for c in COST_COMPONENTS]
            + ["policy_cost/TOTAL", "policy_capital/TOTAL"]
        )

    def n_scalars(self, tables: ArioTables) -> int:
        """Number of retained scalars per path, ``5 R + 6 + C`` (``C`` cost components)."""
        return 5 * (tables.X0.shape[0] // tables.AS.shape[0]) + 6 + len(COST_COMPONENTS)

    def path_costs(self, tables: ArioTables, summary: PathSummary, policy: Any, horizon: int) -> jax.Array:
        """ONE path's lever costs by component (:data:`COST_COMPONENTS`; money over the horizon):
        stockpile carrying cost on the money-days held, price-floor payments, the offtake premium
        on the covered output, and the fixed (capacity, administrative) costs of its draw."""
        dt = summary.lost.dtype
        if policy is None:
            return jnp.zeros((len(COST_COMPONENTS),), dt)
        produced = tables.X0 * horizon - summary.lost
        return policy.fixed.astype(dt).at[0].add(policy.carrying * summary.reserve_days / 365.0).at[1].add(summary.floor_paid).at[2].add(
            (policy.procure * produced).sum()
        )

    def path_scalars(self, tables: ArioTables, summary: PathSummary, policy: Any = None, horizon: int = 0, costs: Any = None) -> jax.Array:
        """Retained scalars of ONE path (:meth:`scalar_names`): lost output by region, lost value
        added by region, world lost output and value added, lost output of the directly hit
        industries (money), 1 if the path crashed; reserves released into each region, extra
        tariff revenue and price cost by region, the levers' costs by component and in total, and
        the public capital they commit (stockpile value, public share of capex). ``costs``:
        :meth:`path_costs` when the caller already has them."""
        p = tables.AS.shape[0]
        R = tables.X0.shape[0] // p
        lost_va = summary.lost * tables.v
        direct = summary.lost[jnp.asarray(self.direct, jnp.int32)].sum() if self.direct else jnp.zeros((), summary.lost.dtype)
        costs = self.path_costs(tables, summary, policy, horizon) if costs is None else costs
        return jnp.concatenate(
            [
                summary.lost.reshape(R, p).sum(axis=1),
                lost_va.reshape(R, p).sum(axis=1),
                summary.lost.sum()[None],
                lost_va.sum()[None],
                direct[None],
                summary.crashed.astype(summary.lost.dtype)[None],
                summary.released,
                summary.revenue,
                summary.price_cost,
                costs,
                costs.sum()[None],
                (jnp.zeros((), costs.dtype) if policy is None else policy.capital.astype(costs.dtype))[None],
            ]
        )

    def path_details(self, tables: ArioTables, summary: PathSummary, flow_base: jax.Array, horizon: int) -> tuple[jax.Array, ...]:
        """With ``retain_paths``: ONE path's monthly flow ratios ``(M, R)``, first-halt days
        ``(n,)`` and lost output as a share of baseline output ``(n,)``."""
        base = tables.X0 * horizon
        share = jnp.where(base > 0, summary.lost / jnp.where(base > 0, base, 1), 0)
        return _ratio(summary.flows, flow_base), summary.first_constrained, share

    def accumulate(
        self,
        acc: Accumulator,
        tables: ArioTables,
        summary: PathSummary,
        mask: jax.Array,
        horizon: int,
        flow_base: jax.Array,
        info: Any = None,
        policy: Any = None,
        costs: Any = None,
    ) -> Accumulator:
        """Add a batch of path summaries (leading axis ``B``) whose ``mask`` is true to ``acc``.

        Crashed paths are counted in ``acc.crashed`` only. Only integer additions: the result
        does not depend on how paths are batched. ``flow_base`` ``(M, R)`` is the restricted
        industries' undisturbed deliveries by month and region; ``policy`` the paths'
        :class:`stress.policy.levers.PolicyInfo` and ``costs`` ``(B, C)`` their lever costs.
        """
        n = tables.X0.shape[0]
        base = tables.X0 * horizon
        base = base[None, :]
        share = jnp.where(base > 0, summary.lost / jnp.where(base > 0, base, 1), 0)  # (B, n)
        good = mask & ~summary.crashed
        w = good.astype(jnp.int64)
        fixed = lambda v: jnp.round(v * FIXED_POINT).astype(jnp.int64)  # noqa: E731
        # Crashed paths may hold NaN: zero them before they meet an integer cast.
        share = jnp.where(good[:, None], share, 0)
        idx = jnp.clip(jnp.floor((share - self.lo) / (self.hi - self.lo) * self.bins), 0, self.bins - 1).astype(jnp.int32)
        week = jnp.where(summary.first_halt >= horizon, n_weeks(horizon), summary.first_halt // 7)
        week_c = jnp.where(summary.first_constrained >= horizon, n_weeks(horizon), summary.first_constrained // 7)
        cols = jnp.broadcast_to(jnp.arange(n)[None, :], share.shape)
        weights = jnp.broadcast_to(w[:, None], share.shape)
        flow = jnp.where(good[:, None, None], _ratio(summary.flows, flow_base[None]), 0)
        W = n_weeks(horizon)
        # Time to recover: from the first input-constrained day to the day after the last one;
        # not recovered when the last constrained day is the horizon's last day.
        ttr = (summary.last_constrained + 1 - summary.first_constrained) // 7
        week_r = jnp.where(
            summary.first_constrained >= horizon, W, jnp.where(summary.last_constrained >= horizon - 1, W + 1, jnp.minimum(ttr, W - 1))
        )
        rise = jnp.where(good[:, None], summary.price_sum / horizon - 1, 0)
        p_idx = jnp.clip(jnp.floor((rise - PRICE_LO) / (PRICE_HI - PRICE_LO) * PRICE_BINS), 0, PRICE_BINS - 1).astype(jnp.int32)
        money = lambda v: jnp.where(good[:, None], v, 0)  # noqa: E731
        regime_weeks, tariff_weeks, closed = acc.regime_weeks, acc.tariff_weeks, acc.closed
        if info is not None:
            onehot = lambda states, k: (states[:, :, None] == jnp.arange(k)[None, None, :]) & good[:, None, None]  # noqa: E731
            regime_weeks = regime_weeks + onehot(info.regime, self.n_regimes).astype(jnp.int64).sum(axis=0)
            tariff_weeks = tariff_weeks + onehot(info.tariff, self.n_tariffs).astype(jnp.int64).sum(axis=0)
            if self.n_closable:
                closed = closed + ((info.closed_day < horizon) & good[:, None]).astype(jnp.int64).sum(axis=0)
        return Accumulator(
            count=acc.count + w.sum(),
            share_sum=acc.share_sum + (w[:, None] * fixed(share)).sum(axis=0),
            share_sq=acc.share_sq + (w[:, None] * fixed(share * share)).sum(axis=0),
            hist=acc.hist.at[cols, idx].add(weights),
            halt_week=acc.halt_week.at[cols, week].add(weights),
            constrained_week=acc.constrained_week.at[cols, week_c].add(weights),
            flow_sum=acc.flow_sum + fixed(flow).sum(axis=0),
            recover_week=acc.recover_week.at[cols, week_r].add(weights),
            price_hist=acc.price_hist.at[cols, p_idx].add(weights),
            price_sum=acc.price_sum + (w[:, None] * fixed(rise)).sum(axis=0),
            revenue_sum=acc.revenue_sum + fixed(money(summary.revenue)).sum(axis=0),
            price_cost_sum=acc.price_cost_sum + fixed(money(summary.price_cost)).sum(axis=0),
            regime_weeks=regime_weeks,
            tariff_weeks=tariff_weeks,
            closed=closed,
            released_sum=acc.released_sum + fixed(money(summary.released)).sum(axis=0),
            cost_sum=acc.cost_sum if costs is None else acc.cost_sum + fixed(money(costs)).sum(axis=0),
            joined=acc.joined if policy is None else acc.joined + ((policy.joined > 0) & good[:, None]).astype(jnp.int64).sum(axis=0),
            crashed=acc.crashed + (mask & summary.crashed).astype(jnp.int64).sum(),
        )


def _ratio(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a / b``, 1 where ``b == 0`` (no undisturbed flow: nothing to lose)."""
    return jnp.where(b > 0, a / jnp.where(b > 0, b, 1), 1)


def n_weeks(horizon: int) -> int:
    """Number of whole or part weeks in the horizon."""
    return -(-horizon // 7)


def histogram_quantiles(hist: np.ndarray, q: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Quantiles from per-row histograms, linear within a bin. Shapes: ``(n, bins), (k,) -> (k, n)``.

    Exact up to one bin width; values beyond ``[lo, hi]`` are counted in the edge bins. ``q = 0``
    is the lower edge of the first non-empty bin (the smallest value), ``q = 1`` the upper edge of
    the last one.
    """
    n, bins = hist.shape
    cdf = np.cumsum(hist, axis=1)
    total = cdf[:, -1:].astype(float)
    edges = np.linspace(lo, hi, bins + 1)
    out = np.empty((len(q), n))
    for k, qk in enumerate(q):
        target = qk * total[:, 0]
        # The first bin whose cumulative count reaches the target; for q = 0 (target 0), the first
        # bin holding any value rather than bin 0.
        side = "right" if qk == 0 else "left"
        b = np.array([np.searchsorted(cdf[i], target[i], side=side) for i in range(n)]).clip(0, bins - 1)
        below = np.where(b > 0, cdf[np.arange(n), b - 1], 0)
        inbin = hist[np.arange(n), b]
        frac = np.divide(target - below, inbin, out=np.zeros(n), where=inbin > 0)
        out[k] = edges[b] + frac.clip(0, 1) * (edges[b + 1] - edges[b])
    return out
