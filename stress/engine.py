"""The JIT boundary: fixed-size chunks of path ids through one compiled function.

``run_chunk`` is the only jitted entry point. For a chunk of ``B`` path ids it draws each path's
disruption from ``fold_in(key_paths, id)``, simulates it (``vmap`` over paths, ``lax.scan`` over
days), reduces it to per-path metrics on the device and adds them to the streaming accumulator,
which is donated so its buffers are reused. The last chunk is padded with ids past ``n_paths``
and masked. One host transfer per chunk brings back the retained per-path scalars.

A chunk is an independent unit of work identified by its path-id range ``[start, start + B)``;
results are the same for any chunk size because a path's randomness depends only on its id and
the accumulators add integers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.metrics import Accumulator, Metrics
from stress.propagation.ario import Ario, ArioParams, ArioTables
from stress.sampler import sample_path_params
from stress.scenario import ShockSpec

TRACES = {"run_chunk": 0}


@partial(jax.jit, static_argnames=("model", "metrics", "horizon", "width"), donate_argnames=("acc",))
def run_chunk(
    acc: Accumulator,
    tables: ArioTables,
    params: ArioParams,
    spec: ShockSpec,
    key_paths: jax.Array,
    path_ids: jax.Array,
    mask: jax.Array,
    *,
    model: Ario,
    metrics: Metrics,
    horizon: int,
    width: int,
    flow_base: jax.Array,
) -> tuple[Accumulator, jax.Array, Any]:
    """Simulate the paths ``path_ids`` (shape ``(B,)``, ``B`` a multiple of ``width``) and add
    those with ``mask`` to ``acc``.

    Returns the updated accumulator, the per-path retained scalars ``(B, K)`` and drivers
    ``(B, D)`` (:data:`stress.sampler.DRIVERS`) and, with
    ``metrics.retain_paths``, the per-path monthly flow ratios and first-halt days (else None).
    """
    TRACES["run_chunk"] += 1  # runs at trace time only: counts compilations

    def one_path(path_id):
        dis, pp = sample_path_params(jr.fold_in(key_paths, path_id), spec, tables, params)
        tab, par = tables._replace(s=pp.s), params._replace(psi=pp.psi)
        summary = model.simulate(tab, par, dis, horizon, metrics)
        details = metrics.path_details(tables, summary, flow_base, horizon) if metrics.retain_paths else None
        costs = metrics.path_costs(tables, summary, pp.policy, horizon)
        # per path, inside the vmap of fixed width: the sums behind them do not depend on the chunk size
        losses = metrics.loss_measures(tables, summary)
        return summary, (metrics.path_scalars(tables, summary, pp.policy, horizon, costs), details, pp.info, pp.policy, costs, pp.drivers, losses)

    # Paths are vectorised in groups of a fixed width, whatever the chunk size, so that XLA
    # compiles the same per-path arithmetic for every chunk size: results are bit-identical.
    groups = path_ids.reshape(-1, width)
    summary, (scalars, details, info, policy, costs, drivers, losses) = jax.lax.map(jax.vmap(one_path), groups)
    flat = lambda a: a.reshape((a.shape[0] * a.shape[1], *a.shape[2:]))  # noqa: E731
    summary = jax.tree.map(flat, summary)
    details = None if details is None else jax.tree.map(flat, details)
    info = None if info is None else jax.tree.map(flat, info)
    policy = None if policy is None else jax.tree.map(flat, policy)
    acc = metrics.accumulate(acc, tables, summary, mask, horizon, flow_base, info, policy, None if policy is None else flat(costs), path_ids, flat(losses))
    return acc, (flat(scalars), flat(drivers)), details


@dataclass(frozen=True)
class ChunkDone:
    """Progress report after each chunk."""

    index: int
    n_chunks: int
    first_path: int
    last_path: int
    seconds: float


@dataclass
class EngineResult:
    """What a run produces on the host."""

    acc: Accumulator  # NumPy arrays
    scalars: np.ndarray  # (n_kept, K) retained per-path scalars of the first n_kept path ids (metrics.retain_scalars)
    drivers: np.ndarray  # (n_kept, D) their sampled drivers (stress.sampler.DRIVERS), float64
    flow_base: np.ndarray  # (M, R) undisturbed monthly deliveries of the restricted industries
    flows: np.ndarray | None  # (n_paths, M, R) monthly flow ratios (metrics.retain_paths)
    first_constrained: np.ndarray | None  # (n_paths, n) first day of an input-constrained drop
    loss_share: np.ndarray | None  # (n_paths, n) lost output / baseline output (metrics.retain_paths)
    n_chunks: int
    first_chunk_seconds: float
    run_seconds: float


def run(
    key_paths: jax.Array,
    model: Ario,
    metrics: Metrics,
    tables: ArioTables,
    params: ArioParams,
    spec: ShockSpec,
    *,
    horizon: int,
    n_paths: int,
    chunk_size: int,
    width: int = 8,
    on_chunk: Callable[[ChunkDone], None] | None = None,
) -> EngineResult:
    """Run ``n_paths`` paths in chunks of ``chunk_size``; memory does not grow with ``n_paths``
    beyond the retained per-path scalars (those of the first ``metrics.retain_scalars`` paths; all
    when None) and, with ``metrics.retain_paths``, the backtest's per-path details."""
    n = tables.X0.shape[0]
    p = tables.AS.shape[0]
    R = n // p
    # Undisturbed daily deliveries of the restricted industries to each region, by month.
    weights = np.reshape(metrics.monitored, (n, R)) if metrics.monitored else np.zeros((n, R))
    daily = (weights * (np.asarray(tables.Z0).reshape(n, R, p).sum(axis=2) + np.asarray(tables.Y0).reshape(n, R, -1).sum(axis=2))).sum(axis=0)
    days_in_month = np.bincount(metrics.months(horizon))
    flow_base_host = days_in_month[:, None] * daily[None, :]
    flow_base = jnp.asarray(flow_base_host, tables.X0.dtype)
    # A multiple of the vector width, and no larger than the run needs (results do not depend on it).
    chunk_size = -(-min(chunk_size, n_paths) // width) * width
    n_chunks = -(-n_paths // chunk_size)
    acc = metrics.empty(n, R, horizon)
    n_kept = n_paths if metrics.retain_scalars is None else min(n_paths, metrics.retain_scalars)
    scalars = np.empty((n_kept, metrics.n_scalars(tables)), np.dtype(tables.X0.dtype))
    from stress.sampler import DRIVERS

    drivers = np.empty((n_kept, len(DRIVERS)), np.float64)
    flows = np.empty((n_paths, *flow_base_host.shape), np.dtype(tables.X0.dtype)) if metrics.retain_paths else None
    first_c = np.empty((n_paths, n), np.int32) if metrics.retain_paths else None
    loss_share = np.empty((n_paths, n), np.dtype(tables.X0.dtype)) if metrics.retain_paths else None
    t_start = t_last = time.perf_counter()
    first_chunk_seconds = 0.0
    pending: tuple[int, np.ndarray, np.ndarray, jax.Array, Any] | None = None

    def collect(item: tuple[int, np.ndarray, np.ndarray, jax.Array, Any]) -> None:
        # The one host transfer of a chunk; it waits for that chunk only.
        nonlocal t_last, first_chunk_seconds
        c, ids, mask, chunk_scalars, chunk_details = item
        keep = mask & (ids < n_kept)
        if keep.any():
            sc, dr = jax.device_get(chunk_scalars)
            scalars[ids[keep]] = np.asarray(sc)[keep]
            drivers[ids[keep]] = np.asarray(dr)[keep]
        else:
            jax.block_until_ready(chunk_scalars)
        if chunk_details is not None:
            f, fc, ls = jax.device_get(chunk_details)
            flows[ids[mask]] = np.asarray(f)[mask]
            first_c[ids[mask]] = np.asarray(fc)[mask]
            loss_share[ids[mask]] = np.asarray(ls)[mask]
        now = time.perf_counter()
        if c == 0:
            first_chunk_seconds = now - t_start
        if on_chunk is not None:
            on_chunk(ChunkDone(c, n_chunks, int(ids[0]), int(ids[mask][-1]), now - t_last))
        t_last = now

    for c in range(n_chunks):
        ids = c * chunk_size + np.arange(chunk_size)
        mask = ids < n_paths
        acc, chunk_scalars, chunk_details = run_chunk(
            acc,
            tables,
            params,
            spec,
            key_paths,
            jnp.asarray(ids, jnp.int32),
            jnp.asarray(mask),
            model=model,
            metrics=metrics,
            horizon=horizon,
            width=width,
            flow_base=flow_base,
        )
        # Dispatch is asynchronous: chunk c is queued before chunk c-1's results are fetched,
        # so the device never waits for the host.
        if pending is not None:
            collect(pending)
        pending = (c, ids, mask, chunk_scalars, chunk_details)
    assert pending is not None
    collect(pending)
    acc_host = Accumulator(*(np.asarray(a) for a in jax.device_get(acc)))
    return EngineResult(acc_host, scalars, drivers, flow_base_host, flows, first_c, loss_share, n_chunks, first_chunk_seconds, time.perf_counter() - t_start)
