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

Streaming accumulators, whose size does not depend on the number of paths, all of them integer
arrays merged by addition (:mod:`stress.sketch`), so that totals are the same whatever the order
in which chunks are added: chunk size and device count cannot change them:

- exact sums of ``r_j``, ``r_j^2``, of each region's and the world's lost output and value added
  and their squares, and of the money flows (tariff revenue, price costs, reserve releases, lever
  costs): means and standard errors with no rounding in the sums and no cancellation;
- log-bucketed quantile sketches (relative accuracy ``metrics.relative_accuracy``, an exact zero
  bucket) of ``r_j`` and of the mean price rise per industry, and of each region's and the
  world's lost output and value added: quantiles, value at risk, expected shortfall and
  exceedance probabilities, with exact order-statistic confidence bounds;
- the same for world losses over the paths below each checkpoint (64, 128, ... paths, by path
  id): the convergence of the headline estimates;
- counts of the week of the first halt per industry (probability of a halt within N weeks, time
  to survive), of the weeks to recover, of the weeks until the restricted supply is restored, and
  of the paths in which an industry halts before it is (``P(TTS < TTR)``);
- histograms of each industry's weekly mean production as a share of baseline (fan charts).

Per path, ``5 R + 6 + C`` scalars and the path's drivers are retained for the first
``metrics.attribution_paths`` path ids only (attribution), or for every path when a caller asks
(``compare`` pairs paths; the backtest reads them); with ``retain_paths`` also each path's monthly
controlled flows and first-halt days (for the backtest). A crashed path (a stock went negative or
NaN) is counted, and left out of every statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stress.numerics import tree_sum
from stress.propagation.ario import ArioTables, Record
from stress.sketch import Sketch, exact_add, exact_empty

FIXED_POINT = 2.0**32
COST_COMPONENTS = ("stockpile", "price_floor", "procurement", "allied_capacity", "other")
"""Cost components of the allied levers (:mod:`stress.policy.levers`)."""
FAN_BINS, FAN_HI = 300, 1.5
"""Histogram of each industry's weekly mean production as a share of baseline: 0.005 wide bins on
``[0, 1.5]`` (values beyond in the edge bins), and one more column (index ``FAN_BINS``) counting
weeks exactly at baseline (an undisturbed week reads 1, not somewhere in its bin)."""
NOISE_ULPS = 16
"""A day's shortfall ``X0 - X`` below this many units in the last place of ``X0`` is rounding noise
and counts as 0 (5e-7 of the day's output in float32, 4e-15 in float64: far below the sketches'
relative accuracy and any reported digit)."""
FIRST_CHECKPOINT = 64
HEADLINE = ("value_added_loss/WORLD", "output_loss/WORLD")
"""The losses whose convergence with the number of paths is tracked."""


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
    weekly: jax.Array  # (W', n) sum over each week's days of production / baseline
    supply_short: jax.Array  # () int32, last day the restricted supply was short; -1 if never
    crashed: jax.Array  # () bool


class Accumulator(NamedTuple):
    """Streaming totals over paths (int64, order-independent; exact sums and sketches of
    :mod:`stress.sketch`)."""

    count: jax.Array  # () paths added
    share_sums: jax.Array  # (2n, 2, E) exact sums of r and r^2
    share_sketch: jax.Array  # (n, S) sketch of r
    loss_sums: jax.Array  # (2K + 1, 2, E) exact sums of the K loss measures, their squares, world x direct
    loss_sketch: jax.Array  # (K, S) sketch of the loss measures (K = 2R + 3 + 2p: by region, world, direct, by sector)
    money_sums: jax.Array  # (3R + C, 2, E) exact sums of tariff revenue, price cost, released (by region), lever costs
    conv_sums: jax.Array  # (P, 4, 2, E) per checkpoint segment: exact sums of the headline losses and their squares
    conv_sketch: jax.Array  # (P, 2, S) per checkpoint segment: sketch of the headline losses
    halt_week: jax.Array  # (n, W + 1) counts of the week of the first halt; last column: none
    constrained_week: jax.Array  # (n, W + 1) counts of the week of the first input-constrained drop
    flow_sum: jax.Array  # (M, R) sum over paths of the monthly flow ratio to baseline, fixed point
    recover_week: jax.Array  # (n, W + 2) weeks from the first halt to the end of the last; W+1: not recovered; W: no halt
    supply_week: jax.Array  # (W + 2,) weeks until the restricted supply is restored; W: never short; W+1: not restored
    halt_before_supply: jax.Array  # (n,) paths whose first halt comes before the restricted supply is restored
    price_sketch: jax.Array  # (n, S) sketch of the path's mean price rise
    price_sum: jax.Array  # (n,) sum of the mean price rise, fixed point
    fan: jax.Array  # (W', n, FAN_BINS + 1) counts of the weekly mean production share; last: exactly 1
    fan_sum: jax.Array  # (W', n) sum of the weekly mean production share, fixed point
    regime_weeks: jax.Array  # (W', G) paths in each regime by week (shock modules; W' = horizon // 7 + 1)
    tariff_weeks: jax.Array  # (W', K) paths at each tariff level by week
    closed: jax.Array  # (J,) paths in which each predatory-pricing target closed
    joined: jax.Array  # (R,) paths in which each coalition member joined the joint levers
    crashed: jax.Array  # () paths whose stocks went negative


SEGMENT_BOUNDS = tuple(FIRST_CHECKPOINT * 2**k for k in range(25))  # up to 2^30: path ids are int32
"""Path ids are grouped in segments ``[0, 64), [64, 128), [128, 256), ..., [2^30, 2^31)``; the
accumulator adds each path's headline losses to its segment's sums and sketch, so the estimates
from the paths below any checkpoint are sums over the first segments, whatever the run's size."""
N_SEGMENTS = len(SEGMENT_BOUNDS) + 1


def checkpoints(n_paths: int) -> tuple[int, ...]:
    """Path counts at which the convergence of the headline estimates is reported: 64, 128, ...
    below ``n_paths``, and ``n_paths`` (the paths with ids below each)."""
    return (*(c for c in SEGMENT_BOUNDS if c < n_paths), n_paths)


def model_weeks(horizon: int) -> int:
    """Weeks ``w`` of days ``7w .. 7w + 6``, as the shock modules count them (``horizon // 7 + 1``:
    the last holds the day after the horizon and may hold no day of it)."""
    return horizon // 7 + 1


@dataclass(frozen=True)
class Metrics:
    """Static metric settings; also the scan reducer (``init``/``update``)."""

    halt_threshold: float = 0.5
    constraint_threshold: float = 0.01
    sketch: Sketch = Sketch()
    month_of_day: tuple[int, ...] = ()  # month index of each day of the horizon (empty: 30-day months)
    direct: tuple[int, ...] = ()  # indices of the directly hit industries (amplification)
    monitored: tuple[float, ...] = ()  # (n * R) weight of each supplier industry's deliveries to each region in the tracked (controlled) flows
    n_regimes: int = 1  # states of the shock modules' escalation chain (1: none)
    n_tariffs: int = 1  # tariff levels (1: none)
    n_closable: int = 0  # predatory-pricing targets (0: none)
    retain_paths: bool = False
    retain_scalars: int | None = None  # keep the per-path scalars of the first paths only (None: all)

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
            weekly=jnp.zeros((model_weeks(horizon), n), tables.X0.dtype),
            supply_short=jnp.full((), -1, jnp.int32),
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
        n = tables.X0.shape[0]
        R = summary.flows.shape[1]
        if self.monitored:
            weights = jnp.asarray(np.reshape(self.monitored, rec.deliveries.shape), rec.deliveries.dtype)
            flow = tree_sum(weights * rec.deliveries, 0)
            # undisturbed daily deliveries of the restricted industries (as flow_base in the engine)
            base = (weights * (tables.Z0.reshape(n, R, -1).sum(axis=2) + tables.Y0.reshape(n, R, -1).sum(axis=2))).sum()
            short = tree_sum(flow) < (1 - self.constraint_threshold) * base
        else:
            flow = jnp.zeros_like(summary.flows[0])
            short = jnp.zeros((), bool)
        # A day's production within NOISE_ULPS rounding errors of baseline is baseline: an
        # undisturbed path loses exactly 0 in float32 as in float64.
        gap = tables.X0 - rec.production
        gap = jnp.where(jnp.abs(gap) <= NOISE_ULPS * jnp.finfo(gap.dtype).eps * tables.X0, 0, gap)
        ratio = jnp.where(live, 1 - gap / jnp.where(live, tables.X0, 1), 1)
        return PathSummary(
            lost=summary.lost + gap,
            first_halt=first,
            first_constrained=first_c,
            flows=summary.flows.at[m].add(flow),
            last_constrained=jnp.where(cut, t.astype(jnp.int32), summary.last_constrained),
            price_sum=summary.price_sum + rec.price,
            revenue=summary.revenue + rec.tariff_revenue,
            price_cost=summary.price_cost + rec.price_cost,
            released=summary.released + rec.released,
            reserve_days=summary.reserve_days + rec.reserve_level,
            floor_paid=summary.floor_paid + tree_sum(rec.floor_paid),
            weekly=summary.weekly.at[t // 7].add(ratio),
            supply_short=jnp.where(short, t.astype(jnp.int32), summary.supply_short),
            crashed=summary.crashed | rec.crashed,
        )

    def empty(self, n: int, n_regions: int, horizon: int) -> Accumulator:
        """Zero accumulator for ``n`` industries in ``n_regions`` regions."""
        weeks = n_weeks(horizon)
        p = n // n_regions
        R, K, P = n_regions, 2 * n_regions + 3 + 2 * p, N_SEGMENTS
        z = lambda *s: jnp.zeros(s, jnp.int64)  # noqa: E731
        sk = self.sketch
        return Accumulator(
            count=z(),
            share_sums=exact_empty(2 * n),
            share_sketch=sk.empty(n),
            loss_sums=exact_empty(2 * K + 1),
            loss_sketch=sk.empty(K),
            money_sums=exact_empty(3 * R + len(COST_COMPONENTS)),
            conv_sums=exact_empty(4 * P).reshape(P, 4, *exact_empty(1).shape[1:]),
            conv_sketch=sk.empty(P, 2),
            halt_week=z(n, weeks + 1),
            constrained_week=z(n, weeks + 1),
            flow_sum=z(self.n_months(horizon), R),
            recover_week=z(n, weeks + 2),
            supply_week=z(weeks + 2),
            halt_before_supply=z(n),
            price_sketch=sk.empty(n),
            price_sum=z(n),
            fan=z(model_weeks(horizon), n, FAN_BINS + 1),
            fan_sum=z(model_weeks(horizon), n),
            regime_weeks=z(horizon // 7 + 1, self.n_regimes),
            tariff_weeks=z(horizon // 7 + 1, self.n_tariffs),
            closed=z(self.n_closable),
            joined=z(R),
            crashed=z(),
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
            tree_sum(policy.procure * produced, -1)
        )

    def loss_scalars(self, tables: ArioTables, summary: PathSummary) -> jax.Array:
        """The ``2 R + 3`` loss scalars (the first columns of :meth:`path_scalars`); works on one
        path or a batch (leading axes)."""
        p = tables.AS.shape[0]
        lost = summary.lost
        R = lost.shape[-1] // p
        lead = lost.shape[:-1]
        lost_va = lost * tables.v.reshape((1,) * len(lead) + (-1,))
        idx = jnp.asarray(self.direct, jnp.int32)
        direct = tree_sum(lost[..., idx], -1) if self.direct else jnp.zeros(lead, lost.dtype)
        return jnp.concatenate(
            [
                tree_sum(lost.reshape(*lead, R, p), -1),
                tree_sum(lost_va.reshape(*lead, R, p), -1),
                tree_sum(lost, -1)[..., None],
                tree_sum(lost_va, -1)[..., None],
                direct[..., None],
            ],
            axis=-1,
        )

    def loss_measures(self, tables: ArioTables, summary: PathSummary) -> jax.Array:
        """The ``K = 2 R + 3 + 2 p`` loss measures of the sketches: :meth:`loss_scalars`, then
        :meth:`sector_scalars`."""
        return jnp.concatenate([self.loss_scalars(tables, summary), self.sector_scalars(tables, summary)], axis=-1)

    def sector_scalars(self, tables: ArioTables, summary: PathSummary) -> jax.Array:
        """Lost output and lost value added of each sector summed over regions, ``(..., 2 p)``
        (the sector measures of the sketches; not retained per path)."""
        p = tables.AS.shape[0]
        lost = summary.lost
        lead = lost.shape[:-1]
        R = lost.shape[-1] // p
        lost_va = lost * tables.v.reshape((1,) * len(lead) + (-1,))
        return jnp.concatenate([tree_sum(lost.reshape(*lead, R, p), -2), tree_sum(lost_va.reshape(*lead, R, p), -2)], axis=-1)

    def path_scalars(self, tables: ArioTables, summary: PathSummary, policy: Any = None, horizon: int = 0, costs: Any = None) -> jax.Array:
        """Retained scalars of ONE path (:meth:`scalar_names`): lost output by region, lost value
        added by region, world lost output and value added, lost output of the directly hit
        industries (money), 1 if the path crashed; reserves released into each region, extra
        tariff revenue and price cost by region, the levers' costs by component and in total, and
        the public capital they commit (stockpile value, public share of capex). ``costs``:
        :meth:`path_costs` when the caller already has them."""
        costs = self.path_costs(tables, summary, policy, horizon) if costs is None else costs
        return jnp.concatenate(
            [
                self.loss_scalars(tables, summary),
                summary.crashed.astype(summary.lost.dtype)[None],
                summary.released,
                summary.revenue,
                summary.price_cost,
                costs,
                tree_sum(costs, -1)[None],
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
        path_ids: Any = None,
        losses: Any = None,
    ) -> Accumulator:
        """Add a batch of path summaries (leading axis ``B``) whose ``mask`` is true to ``acc``.

        Crashed paths are counted in ``acc.crashed`` only. Only integer additions: the result
        does not depend on how paths are batched. ``flow_base`` ``(M, R)`` is the restricted
        industries' undisturbed deliveries by month and region; ``policy`` the paths'
        :class:`stress.policy.levers.PolicyInfo` and ``costs`` ``(B, C)`` their lever costs;
        ``path_ids`` ``(B,)`` their ids (which convergence checkpoints they count in);
        ``losses`` ``(B, K)`` their :meth:`loss_measures`, computed per path (inside the engine's
        vmap of fixed width, so that they do not depend on the chunk size; computed here if None).
        """
        n = tables.X0.shape[0]
        R = n // tables.AS.shape[0]
        base = tables.X0 * horizon
        base = base[None, :]
        share = jnp.where(base > 0, summary.lost / jnp.where(base > 0, base, 1), 0)  # (B, n)
        good = mask & ~summary.crashed
        w = good.astype(jnp.int64)
        fixed = lambda v: jnp.round(v * FIXED_POINT).astype(jnp.int64)  # noqa: E731
        # Crashed paths may hold NaN: zero them before they meet an integer cast.
        share = jnp.where(good[:, None], share, 0)
        week = jnp.where(summary.first_halt >= horizon, n_weeks(horizon), summary.first_halt // 7)
        week_c = jnp.where(summary.first_constrained >= horizon, n_weeks(horizon), summary.first_constrained // 7)
        cols = jnp.broadcast_to(jnp.arange(n)[None, :], share.shape)
        weights = jnp.broadcast_to(w[:, None], share.shape)
        flow = jnp.where(good[:, None, None], _ratio(summary.flows, flow_base[None]), 0)
        W = n_weeks(horizon)
        # Time to recover: from the first input-constrained day to the day after the last one;
        # not recovered when the last constrained day is the horizon's last day.
        # d = last + 1 - first days; bin ceil(d / 7) - 1 = (d - 1) // 7, reported as week ceil(d / 7)
        ttr = (summary.last_constrained - summary.first_constrained) // 7
        week_r = jnp.where(
            summary.first_constrained >= horizon, W, jnp.where(summary.last_constrained >= horizon - 1, W + 1, jnp.minimum(ttr, W - 1))
        )
        # The restricted supply is restored the day after its last short day (TTR of the supply);
        # an industry's time to survive is the day of its first input-constrained drop.
        restored = summary.supply_short + 1  # (B,) 0: never short
        week_s = jnp.where(summary.supply_short < 0, W, jnp.where(summary.supply_short >= horizon - 1, W + 1, restored // 7))
        before = (summary.first_constrained < horizon) & (summary.first_constrained < restored[:, None])
        rise = jnp.where(good[:, None], summary.price_sum / horizon - 1, 0)
        money = lambda v: jnp.where(good[:, None], v, 0)  # noqa: E731
        regime_weeks, tariff_weeks, closed = acc.regime_weeks, acc.tariff_weeks, acc.closed
        if info is not None:
            onehot = lambda states, k: (states[:, :, None] == jnp.arange(k)[None, None, :]) & good[:, None, None]  # noqa: E731
            regime_weeks = regime_weeks + onehot(info.regime, self.n_regimes).astype(jnp.int64).sum(axis=0)
            tariff_weeks = tariff_weeks + onehot(info.tariff, self.n_tariffs).astype(jnp.int64).sum(axis=0)
            if self.n_closable:
                closed = closed + ((info.closed_day < horizon) & good[:, None]).astype(jnp.int64).sum(axis=0)
        # The loss scalars (by region, world, directly hit) and the money flows, per path.
        losses = self.loss_measures(tables, summary) if losses is None else losses
        losses = jnp.where(good[:, None], losses, 0)  # (B, K)
        B = losses.shape[0]
        cost = jnp.zeros((B, len(COST_COMPONENTS)), losses.dtype) if costs is None else costs
        flows_money = money(jnp.concatenate([summary.revenue, summary.price_cost, summary.released, cost.astype(summary.revenue.dtype)], axis=1))
        world = losses[:, 2 * R : 2 * R + 2]  # (B, 2): world value added, world output (HEADLINE order)
        world = world[:, ::-1]
        path_ids = jnp.zeros((B,), jnp.int32) if path_ids is None else path_ids
        seg = jnp.searchsorted(jnp.asarray(SEGMENT_BOUNDS, path_ids.dtype), path_ids, side="right")  # (B,) 0 .. N_SEGMENTS - 1
        # each path counts in the segment of its id: (B, P, 2) values, weighted in their segment only
        P = N_SEGMENTS
        wseg = w[:, None] * (seg[:, None] == jnp.arange(P)[None, :])  # (B, P)
        vals = jnp.broadcast_to(world[:, None, :], (B, P, 2))
        wts = jnp.broadcast_to(wseg[:, :, None], (B, P, 2))
        E = acc.conv_sums.shape[-2:]
        flat_sums = lambda part: acc.conv_sums[:, part].reshape(P * 2, *E)  # noqa: E731
        conv_sums = jnp.concatenate(
            [
                exact_add(flat_sums(slice(0, 2)), vals.reshape(B, P * 2), wts.reshape(B, P * 2)).reshape(P, 2, *E),
                exact_add(flat_sums(slice(2, 4)), vals.reshape(B, P * 2), wts.reshape(B, P * 2), vals.reshape(B, P * 2)).reshape(P, 2, *E),
            ],
            axis=1,
        )
        conv_sketch = self.sketch.add(acc.conv_sketch, vals, wts)
        ls = acc.loss_sums
        K = losses.shape[1]
        ls = jnp.concatenate(
            [
                exact_add(ls[:K], losses, w),
                exact_add(ls[K : 2 * K], losses, w, losses),
                exact_add(ls[2 * K :], losses[:, 2 * R : 2 * R + 1], w, losses[:, 2 * R + 2 : 2 * R + 3]),
            ]
        )
        weekly = summary.weekly / jnp.asarray(_days_in_weeks(horizon), summary.weekly.dtype)[None, :, None]  # (B, W', n)
        weekly = jnp.where(good[:, None, None], weekly, 0)
        f_idx = jnp.where(weekly == 1, FAN_BINS, jnp.clip(jnp.floor(weekly / FAN_HI * FAN_BINS), 0, FAN_BINS - 1)).astype(jnp.int32)
        Wp = weekly.shape[1]
        f_w = jnp.broadcast_to(jnp.arange(Wp)[None, :, None], weekly.shape)
        f_n = jnp.broadcast_to(jnp.arange(n)[None, None, :], weekly.shape)
        return Accumulator(
            count=acc.count + w.sum(),
            share_sums=jnp.concatenate([exact_add(acc.share_sums[:n], share, w), exact_add(acc.share_sums[n:], share, w, share)]),
            share_sketch=self.sketch.add(acc.share_sketch, share, w),
            loss_sums=ls,
            loss_sketch=self.sketch.add(acc.loss_sketch, losses, w),
            money_sums=exact_add(acc.money_sums, flows_money, w),
            conv_sums=conv_sums,
            conv_sketch=conv_sketch,
            halt_week=acc.halt_week.at[cols, week].add(weights),
            constrained_week=acc.constrained_week.at[cols, week_c].add(weights),
            flow_sum=acc.flow_sum + fixed(flow).sum(axis=0),
            recover_week=acc.recover_week.at[cols, week_r].add(weights),
            supply_week=acc.supply_week.at[week_s].add(w),
            halt_before_supply=acc.halt_before_supply + (before & good[:, None]).astype(jnp.int64).sum(axis=0),
            price_sketch=self.sketch.add(acc.price_sketch, rise, w),
            price_sum=acc.price_sum + (w[:, None] * fixed(rise)).sum(axis=0),
            fan=acc.fan.at[f_w, f_n, f_idx].add(jnp.broadcast_to(w[:, None, None], weekly.shape)),
            fan_sum=acc.fan_sum + fixed(weekly).sum(axis=0),
            regime_weeks=regime_weeks,
            tariff_weeks=tariff_weeks,
            closed=closed,
            joined=acc.joined if policy is None else acc.joined + ((policy.joined > 0) & good[:, None]).astype(jnp.int64).sum(axis=0),
            crashed=acc.crashed + (mask & summary.crashed).astype(jnp.int64).sum(),
        )


def _days_in_weeks(horizon: int) -> np.ndarray:
    """Days of the horizon in each model week (the last may be partial or empty; at least 1)."""
    return np.maximum(np.bincount(np.arange(horizon) // 7, minlength=model_weeks(horizon)), 1).astype(np.float64)


def _ratio(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a / b``, 1 where ``b == 0`` (no undisturbed flow: nothing to lose)."""
    return jnp.where(b > 0, a / jnp.where(b > 0, b, 1), 1)


def n_weeks(horizon: int) -> int:
    """Number of whole or part weeks in the horizon."""
    return -(-horizon // 7)
