"""Per-path metrics (reduced over days inside the scan) and streaming accumulators.

Per path and industry ``j`` over the horizon ``T``:

- lost output ``L_j = sum_t (X0_j - X_j(t))`` (money), and its share of baseline output
  ``r_j = L_j / (T X0_j)``;
- lost value added ``v_j L_j`` (value added is proportional to output, ``VA = v X``);
- the first day of a halt, ``X_j(t) < h X0_j`` with ``h = halt_threshold`` (``T``: none).

Streaming accumulators, whose size does not depend on the number of paths:

- exact sums of ``r_j`` and ``r_j^2`` in 32.32 fixed point (int64), so that the totals are the same
  whatever the order in which chunks are added: chunk size and device count cannot change them;
- a histogram of ``r_j`` per industry (a quantile sketch: quantiles are exact up to one bin width,
  ``(histogram_max - histogram_min) / histogram_bins`` of the industry's horizon output);
- counts of the week of the first halt per industry (probability of a halt within N weeks).

Per path, ``2 R + 2`` scalars are retained (lost output and value added by region and in total)
for exact quantiles, expected shortfall and their confidence intervals on the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stress.propagation.ario import ArioTables, Record

FIXED_POINT = 2.0**32


class PathSummary(NamedTuple):
    """Carried through the scan for one path."""

    lost: jax.Array  # (n,) sum over days of X0 - X
    first_halt: jax.Array  # (n,) int32, horizon if no halt
    crashed: jax.Array  # () bool


class Accumulator(NamedTuple):
    """Streaming totals over paths (int64, order-independent)."""

    count: jax.Array  # () paths added
    share_sum: jax.Array  # (n,) sum of r in fixed point
    share_sq: jax.Array  # (n,) sum of r^2 in fixed point
    hist: jax.Array  # (n, bins) counts of r per bin
    halt_week: jax.Array  # (n, W + 1) counts of the week of the first halt; last column: none
    crashed: jax.Array  # () paths whose stocks went negative


@dataclass(frozen=True)
class Metrics:
    """Static metric settings; also the scan reducer (``init``/``update``)."""

    halt_threshold: float = 0.5
    bins: int = 250
    lo: float = -0.25
    hi: float = 1.0

    def init(self, tables: ArioTables, horizon: int) -> PathSummary:
        """Empty per-path summary."""
        n = tables.X0.shape[0]
        return PathSummary(
            lost=jnp.zeros((n,), tables.X0.dtype),
            first_halt=jnp.full((n,), horizon, jnp.int32),
            crashed=jnp.zeros((), bool),
        )

    def update(self, tables: ArioTables, summary: PathSummary, rec: Record, t: jax.Array) -> PathSummary:
        """Fold one day's record into the summary."""
        halted = (rec.production < self.halt_threshold * tables.X0) & (tables.X0 > 0)
        first = jnp.where(halted & (summary.first_halt > t), t.astype(jnp.int32), summary.first_halt)
        return PathSummary(
            lost=summary.lost + (tables.X0 - rec.production),
            first_halt=first,
            crashed=summary.crashed | rec.crashed,
        )

    def empty(self, n: int, horizon: int) -> Accumulator:
        """Zero accumulator for ``n`` industries."""
        weeks = n_weeks(horizon)
        z = lambda *s: jnp.zeros(s, jnp.int64)  # noqa: E731
        return Accumulator(z(), z(n), z(n), z(n, self.bins), z(n, weeks + 1), z())

    def n_scalars(self, tables: ArioTables) -> int:
        """Number of retained scalars per path, ``2 R + 2``."""
        return 2 * (tables.X0.shape[0] // tables.AS.shape[0]) + 2

    def path_scalars(self, tables: ArioTables, summary: PathSummary) -> jax.Array:
        """Retained scalars of ONE path, shape ``(2 R + 2,)``: lost output by region, lost value
        added by region, world lost output, world lost value added (money)."""
        p = tables.AS.shape[0]
        R = tables.X0.shape[0] // p
        lost_va = summary.lost * tables.v
        return jnp.concatenate(
            [summary.lost.reshape(R, p).sum(axis=1), lost_va.reshape(R, p).sum(axis=1), summary.lost.sum()[None], lost_va.sum()[None]]
        )

    def accumulate(self, acc: Accumulator, tables: ArioTables, summary: PathSummary, mask: jax.Array, horizon: int) -> Accumulator:
        """Add a batch of path summaries (leading axis ``B``) whose ``mask`` is true to ``acc``.

        Only integer additions: the result does not depend on how paths are batched.
        """
        n = tables.X0.shape[0]
        base = tables.X0 * horizon
        base = base[None, :]
        share = jnp.where(base > 0, summary.lost / jnp.where(base > 0, base, 1), 0)  # (B, n)
        w = mask.astype(jnp.int64)
        fixed = lambda v: jnp.round(v * FIXED_POINT).astype(jnp.int64)  # noqa: E731
        idx = jnp.clip(jnp.floor((share - self.lo) / (self.hi - self.lo) * self.bins), 0, self.bins - 1).astype(jnp.int32)
        week = jnp.where(summary.first_halt >= horizon, n_weeks(horizon), summary.first_halt // 7)
        cols = jnp.broadcast_to(jnp.arange(n)[None, :], share.shape)
        weights = jnp.broadcast_to(w[:, None], share.shape)
        return Accumulator(
            count=acc.count + w.sum(),
            share_sum=acc.share_sum + (w[:, None] * fixed(share)).sum(axis=0),
            share_sq=acc.share_sq + (w[:, None] * fixed(share * share)).sum(axis=0),
            hist=acc.hist.at[cols, idx].add(weights),
            halt_week=acc.halt_week.at[cols, week].add(weights),
            crashed=acc.crashed + (w * summary.crashed).sum(),
        )


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
