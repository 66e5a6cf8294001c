"""The JIT boundary: fixed-size chunks of path ids through one compiled function.

``run_chunks`` is the only jitted entry point. A chunk is an independent unit of work identified
by its index ``c``: the path ids ``[c B, (c + 1) B)`` for the chunk size ``B``. For each path the
function draws its disruption from ``fold_in(key_paths, id)``, simulates it (``vmap`` over
paths, ``lax.scan`` over days) and reduces it to per-path metrics on the device; each chunk's
contribution is a zero accumulator plus its own paths. The last chunk is padded with ids past
``n_paths`` and masked.

With ``D`` local devices, ``D`` chunks run at once, one on each device: every device runs the
same single-device program (placed with ``jax.sharding.SingleDeviceSharding``; compiled once
for each device, in parallel threads), and the accumulators are integers merged by addition on
the host, so results do not depend on the device count, the chunk size or the order in which
chunks finish. A multi-device SPMD program (``shard_map`` over a mesh) was measured to compute
some per-path values differently by an ulp (a sampled approval probability), so it is not used:
bit-identity across device counts needs the identical program on every device. Each chunk's
contribution is handed to a ``sink`` (:mod:`stress.store` writes it to disk) as soon as it is
on the host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.sharding import SingleDeviceSharding

from stress.errors import InputError
from stress.metrics import Accumulator, Metrics
from stress.propagation.ario import Ario, ArioParams, ArioTables
from stress.sampler import sample_path_params
from stress.scenario import ShockSpec

TRACES = {"run_chunk": 0}
WIDTH_STEP = 8
"""Vector widths are multiples of this (results are bit-identical across them: tested)."""
DEFAULT_WIDTH = {("cpu", "compact"): 256, ("cpu", "plain"): 128}
"""Paths vectorised together when ``runtime.width`` is null, by platform and kernel form, from
the engine measurements on 2 CPU cores (benchmarks/README.md: compact was fastest at 256 in all
four world x precision cells; plain at 128 was best or within 30 % of the best in three);
:data:`ACCELERATOR_WIDTH` elsewhere."""
ACCELERATOR_WIDTH = 1024
MAX_PATH_ID = 2**31 - 1
"""Path ids are int32 (``fold_in`` takes 32 bits: id ``2**32 + 3`` would repeat path 3's key)."""

@dataclass(frozen=True)
class Layout:
    """How ``n_paths`` path ids are cut into chunks: chunk ``c`` holds ids ``[c B, (c + 1) B)``
    (``B`` = ``chunk_size``, a multiple of :data:`WIDTH_STEP`; the last chunk is padded).
    The vector width does not enter it: a chunk is vectorised in groups of the width, padded to
    a whole number of groups (:func:`padded`)."""

    n_paths: int
    chunk_size: int
    n_chunks: int

    @classmethod
    def of(cls, n_paths: int, chunk_size: int) -> Layout:
        if n_paths > MAX_PATH_ID:
            raise InputError("sampler.n_paths", n_paths, f"at most {MAX_PATH_ID:,} (2^31 - 1: path ids are 32-bit)")
        # A multiple of WIDTH_STEP, and no larger than the run needs (results do not depend on it).
        b = -(-min(chunk_size, n_paths) // WIDTH_STEP) * WIDTH_STEP
        return cls(n_paths, b, -(-n_paths // b))

    def ids(self, c: int) -> np.ndarray:
        return c * self.chunk_size + np.arange(self.chunk_size, dtype=np.int64)

    def paths_in(self, c: int) -> int:
        return min(self.chunk_size, self.n_paths - c * self.chunk_size)


def _chunk(tables, params, spec, key_paths, path_ids, mask, flow_base, *, model, metrics, horizon, width):
    """One chunk on one device: a zero accumulator plus the paths ``path_ids`` with ``mask``."""
    n = tables.X0.shape[0]
    acc = metrics.empty(n, n // tables.AS.shape[0], horizon)

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


@partial(jax.jit, static_argnames=("model", "metrics", "horizon", "width"))
def run_chunk(
    tables: ArioTables,
    params: ArioParams,
    spec: ShockSpec,
    key_paths: jax.Array,
    path_ids: jax.Array,
    mask: jax.Array,
    flow_base: jax.Array,
    *,
    model: Ario,
    metrics: Metrics,
    horizon: int,
    width: int,
) -> tuple[Accumulator, Any, Any]:
    """Simulate one chunk, the paths ``path_ids`` (shape ``(B,)``, ``B`` a multiple of
    ``width``), counting those with ``mask``.

    Returns the chunk's accumulator, the per-path retained scalars ``(B, K)`` and drivers
    ``(B, D)`` (:data:`stress.sampler.DRIVERS`) and, with ``metrics.retain_paths``, the per-path
    monthly flow ratios, first-halt days and loss shares (else None).
    """
    TRACES["run_chunk"] += 1  # runs at trace time only: counts compilations
    return _chunk(tables, params, spec, key_paths, path_ids, mask, flow_base, model=model, metrics=metrics, horizon=horizon, width=width)


@dataclass(frozen=True)
class ChunkDone:
    """Progress report after each chunk."""

    index: int
    n_chunks: int
    first_path: int
    last_path: int
    seconds: float
    done: int = 0  # chunks finished so far in this process
    todo: int = 0  # chunks this process was given


@dataclass
class ChunkOutput:
    """One chunk's contribution, on the host: what :mod:`stress.store` writes."""

    index: int
    acc: Accumulator  # NumPy int64 arrays: this chunk's paths only
    rows: np.ndarray  # path ids of the retained rows below (those < n_kept)
    scalars: np.ndarray  # (len(rows), K)
    drivers: np.ndarray  # (len(rows), D')


@dataclass
class EngineResult:
    """What a run produces on the host."""

    acc: Accumulator  # NumPy arrays: the sum over the chunks computed here
    scalars: np.ndarray  # (n_kept, K) retained per-path scalars of the first n_kept path ids (metrics.retain_scalars); NaN rows for chunks not computed
    drivers: np.ndarray  # (n_kept, D) their sampled drivers (stress.sampler.DRIVERS), float64
    flow_base: np.ndarray  # (M, R) undisturbed monthly deliveries of the restricted industries
    flows: np.ndarray | None  # (n_paths, M, R) monthly flow ratios (metrics.retain_paths)
    first_constrained: np.ndarray | None  # (n_paths, n) first day of an input-constrained drop
    loss_share: np.ndarray | None  # (n_paths, n) lost output / baseline output (metrics.retain_paths)
    n_chunks: int
    first_chunk_seconds: float
    run_seconds: float
    done: tuple[int, ...] = ()  # the chunks computed here, in order of completion
    n_devices: int = 1
    width: int = WIDTH_STEP  # paths vectorised together


def flow_base(metrics: Metrics, tables: ArioTables, horizon: int) -> np.ndarray:
    """Undisturbed deliveries ``(M, R)`` of the restricted industries to each region, by month."""
    n = tables.X0.shape[0]
    R = n // tables.AS.shape[0]
    weights = np.reshape(metrics.monitored, (n, R)) if metrics.monitored else np.zeros((n, R))
    daily = (weights * (np.asarray(tables.Z0).reshape(n, R, -1).sum(axis=2) + np.asarray(tables.Y0).reshape(n, R, -1).sum(axis=2))).sum(axis=0)
    days_in_month = np.bincount(metrics.months(horizon))
    return days_in_month[:, None] * daily[None, :]


def n_kept(metrics: Metrics, n_paths: int) -> int:
    """How many of the first path ids keep their per-path scalars."""
    return n_paths if metrics.retain_scalars is None else min(n_paths, metrics.retain_scalars)


def resolve_width(width: int | None, platform: str, kernel: str = "compact") -> int:
    """The vector width: ``width``, or the default for the platform and kernel form
    (:data:`DEFAULT_WIDTH`, :data:`ACCELERATOR_WIDTH`)."""
    if width is None:
        return DEFAULT_WIDTH.get((platform, kernel), ACCELERATOR_WIDTH)
    if not isinstance(width, int) or isinstance(width, bool) or width < WIDTH_STEP or width % WIDTH_STEP or width > 65536:
        raise InputError("runtime.width", width, f"null (the platform's default) or a multiple of {WIDTH_STEP} in [{WIDTH_STEP}, 65536]")
    return width


def padded(chunk_size: int, width: int) -> tuple[int, int]:
    """``(w, P)``: the vector width ``w`` a chunk runs at and the slots ``P`` it computes. The
    chunk is cut into as few groups as ``width`` allows, each as wide as needed (a multiple of
    :data:`WIDTH_STEP`, at most ``width``): at most ``WIDTH_STEP - 1`` slots a group past the
    chunk, masked like the padding of the last chunk."""
    groups = -(-chunk_size // width)
    per_group = -(-chunk_size // groups)
    w = -(-per_group // WIDTH_STEP) * WIDTH_STEP
    return w, groups * w


def add(total: Accumulator, part: Accumulator) -> Accumulator:
    """Merge two accumulators (integers: exact, in any order)."""
    return Accumulator(*(np.add(a, b) for a, b in zip(total, part, strict=True)))


def local_devices(count: int | None = None) -> list[Any]:
    """The first ``count`` local devices (all when None)."""
    devs = jax.local_devices()
    if count is None:
        return devs
    if not 1 <= count <= len(devs):
        raise InputError("runtime.devices", count, f"null (all) or 1..{len(devs)}: the local {devs[0].platform} devices")
    return devs[:count]


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
    width: int | None = None,
    on_chunk: Callable[[ChunkDone], None] | None = None,
    chunks: Iterable[int] | None = None,
    sink: Callable[[ChunkOutput], None] | None = None,
    devices: Sequence[Any] | None = None,
    stop: Callable[[], bool] | None = None,
) -> EngineResult:
    """Run the chunks ``chunks`` (all when None) of ``n_paths`` paths cut in chunks of
    ``chunk_size``, on ``devices`` (all local devices when None), one chunk a device at a time.

    Each finished chunk goes to ``sink`` and ``on_chunk``; ``stop`` is asked after each and ends
    the run early (the chunks dispatched by then are finished). Memory does not grow with
    ``n_paths`` beyond the retained per-path scalars (those of the first
    ``metrics.retain_scalars`` paths; all when None) and, with ``metrics.retain_paths``, the
    backtest's per-path details.
    """
    layout = Layout.of(n_paths, chunk_size)
    todo = list(range(layout.n_chunks) if chunks is None else sorted(set(chunks)))
    devices = list(local_devices() if devices is None else devices)
    width, slots = padded(layout.chunk_size, resolve_width(width, devices[0].platform, getattr(model, "kernel", "compact")))
    D = len(devices)
    base_host = flow_base(metrics, tables, horizon)
    shared = (tables, params, spec, key_paths, jnp.asarray(base_host, tables.X0.dtype))
    placed = [jax.device_put(shared, SingleDeviceSharding(dev)) for dev in devices]
    n = tables.X0.shape[0]
    R = n // tables.AS.shape[0]
    total = Accumulator(*(np.asarray(a) for a in metrics.empty(n, R, horizon)))
    kept = n_kept(metrics, n_paths)
    dtype = np.dtype(tables.X0.dtype)
    scalars = np.full((kept, metrics.n_scalars(tables)), np.nan, dtype)
    from stress.sampler import DRIVERS

    drivers = np.full((kept, len(DRIVERS)), np.nan, np.float64)
    flows = np.empty((n_paths, *base_host.shape), dtype) if metrics.retain_paths else None
    first_c = np.empty((n_paths, n), np.int32) if metrics.retain_paths else None
    loss_share = np.empty((n_paths, n), dtype) if metrics.retain_paths else None
    B = layout.chunk_size
    t_start = t_last = time.perf_counter()
    first_chunk_seconds = 0.0
    done: list[int] = []

    def collect(item: tuple[list[int], list[Any]]) -> None:
        # The one host transfer of a chunk; it waits for that chunk only.
        nonlocal t_last, first_chunk_seconds, total
        step, outs = item
        for c, out in zip(step, outs, strict=True):
            acc, (sc, dr), details = jax.device_get(out)
            ids = layout.ids(c)
            mask = ids < n_paths
            sc, dr = np.asarray(sc)[:B], np.asarray(dr)[:B]  # the slots past the chunk were masked
            if details is not None:
                f, fc, ls = (np.asarray(a)[:B] for a in details)
                flows[ids[mask]] = f[mask]
                first_c[ids[mask]] = fc[mask]
                loss_share[ids[mask]] = ls[mask]
            part = Accumulator(*(np.asarray(a) for a in acc))
            total = add(total, part)
            keep = mask & (ids < kept)
            rows = ids[keep]
            scalars[rows] = sc[keep]
            drivers[rows] = dr[keep]
            if sink is not None:
                sink(ChunkOutput(c, part, rows, sc[keep], dr[keep]))
            done.append(c)
            now = time.perf_counter()
            if len(done) == 1:
                first_chunk_seconds = now - t_start
            if on_chunk is not None:
                on_chunk(ChunkDone(c, layout.n_chunks, c * B, int(ids[mask][-1]), now - t_last, len(done), len(todo)))
            t_last = now

    def dispatch(d: int, c: int) -> Any:
        ids = c * B + np.arange(slots, dtype=np.int64)
        mask = (ids < n_paths) & (np.arange(slots) < B)
        tab, par, spc, key, base = placed[d]
        put = partial(jax.device_put, device=SingleDeviceSharding(devices[d]))
        return run_chunk(
            tab, par, spc, key, put(jnp.asarray(np.where(mask, ids, 0), jnp.int32)), put(jnp.asarray(mask)), base,
            model=model, metrics=metrics, horizon=horizon, width=width,
        )

    pool = ThreadPoolExecutor(max_workers=D) if D > 1 else None
    pending = None
    try:
        for s in range(0, len(todo), D):
            if stop is not None and stop():  # nothing more is dispatched; what is in flight finishes
                break
            step = todo[s : s + D]
            # One chunk a device. Dispatch is asynchronous (after each device's first call,
            # which compiles: in parallel threads): step s is queued before step s-1's results
            # are fetched, so the devices never wait for the host.
            outs = list(pool.map(dispatch, range(len(step)), step)) if pool is not None else [dispatch(0, step[0])]
            if pending is not None:
                collect(pending)
            pending = (step, outs)
        if pending is not None:
            collect(pending)
    finally:
        if pool is not None:
            pool.shutdown()
    return EngineResult(total, scalars, drivers, base_host, flows, first_c, loss_share, layout.n_chunks, first_chunk_seconds, time.perf_counter() - t_start, tuple(done), D, width)
