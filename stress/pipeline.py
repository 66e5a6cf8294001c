"""The orchestrator: config -> world -> scenario -> engine -> Dataset -> files and summary.

All disk I/O, logging and host loops live here or below it (``results/``, ``mrio/io.py``),
never in the kernels.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from stress import runtime
from stress.config import Config, validate
from stress.errors import InputError
from stress.mrio import io as mrio_io
from stress.mrio.tables import Mrio

log = logging.getLogger("stress")


@dataclass
class Prepared:
    """Everything built on the host before the engine starts."""

    mrio: Mrio
    model: Any
    tables: Any
    params: Any
    spec: Any
    provenance: dict[str, Any]
    posterior: Any = None
    labels: Any = None  # stress.shocks.assemble.ModuleLabels of the enabled shock modules
    policy_labels: Any = None  # {"enabled": lever names, "members": coalition members}


def prepare(cfg: Config) -> Prepared:
    """Validate the config, set up JAX, load the world and resolve the scenario."""
    validate(cfg)
    prov = runtime.setup(cfg.runtime)
    import jax.numpy as jnp

    from stress import scenario
    from stress.propagation import ario

    dtype = jnp.float64 if cfg.runtime.precision == "float64" else jnp.float32
    mrio = mrio_io.load(cfg.world)
    m = cfg.model
    tables, params = model_tables(cfg.model, mrio, dtype)
    scenario.check_labels(cfg, mrio)
    modules, labels = build_shocks(cfg, mrio)
    policies, policy_labels = build_policies(cfg, mrio, labels.regimes)
    cutoff = cfg.scenario is not None and cfg.scenario.kind != "baseline"
    posterior = load_posterior(cfg) if cutoff or cfg.shocks.licensing.enabled else None
    spec = scenario.build(cfg, mrio, dtype, posterior, modules, policies)
    focus = cfg.metrics.focus_sector
    if focus is not None and focus not in mrio.sectors:
        raise InputError("metrics.focus_sector", focus, "null or one of " + ", ".join(mrio.sectors))
    model = ario.Ario(order_type=m.order_type, boario_quirks=m.boario_quirks, kernel=m.kernel)
    return Prepared(mrio, model, tables, params, spec, prov, posterior, labels, policy_labels)


def model_tables(m: Any, mrio: Mrio, dtype: Any) -> tuple[Any, Any]:
    """The ARIO tables and parameters of ``mrio`` under the model settings ``m``
    (:class:`stress.config.ModelConfig`), in ``dtype``."""
    import jax.numpy as jnp

    from stress.propagation import ario

    # The world's own targets and psi by product and buyer (the REE world's inventories.csv)
    # where it has them; the model's single values (ARIO's) everywhere else.
    inv = m.inventory_days if mrio.inventory_days is None else np.where(np.isnan(mrio.inventory_days), m.inventory_days, mrio.inventory_days)
    psi = m.psi if mrio.psi is None else jnp.asarray(np.where(np.isnan(mrio.psi), m.psi, mrio.psi), dtype)
    tables = ario.build_tables(mrio, inventory_days=inv, year_to_day=m.year_to_day, boario_quirks=m.boario_quirks, dtype=dtype)
    params = ario.build_params(
        psi=m.psi,
        inventory_tau=m.inventory_tau,
        alpha_base=m.alpha_base,
        alpha_max=m.alpha_max,
        alpha_tau=m.alpha_tau,
        dtype=dtype,
        demand_elasticity=m.demand_elasticity,
        substitution_elasticity=m.substitution_elasticity,
    )._replace(psi=jnp.asarray(psi, dtype))
    return tables, params


def build_shocks(cfg: Config, mrio: Mrio) -> Any:
    """The enabled shock modules' specs and labels (:func:`stress.shocks.assemble.build`), in the
    run's precision; JAX must be set up (:func:`stress.runtime.setup`)."""
    import jax.numpy as jnp

    from stress.shocks import assemble

    dtype = jnp.float64 if cfg.runtime.precision == "float64" else jnp.float32
    start_date = cfg.scenario.start_date if cfg.scenario is not None else None
    return assemble.build(cfg.shocks, mrio, horizon=cfg.model.horizon_days, start_date=start_date, dtype=dtype)


def build_policies(cfg: Config, mrio: Mrio, regimes: tuple[str, ...]) -> Any:
    """The enabled allied levers' specs and labels (:func:`stress.policy.levers.build`), in the
    run's precision; JAX must be set up."""
    from dataclasses import asdict

    import jax.numpy as jnp

    from stress.policy import levers

    dtype = jnp.float64 if cfg.runtime.precision == "float64" else jnp.float32
    return levers.build(
        asdict(cfg.policy),
        mrio,
        regimes=tuple(regimes),
        horizon=cfg.model.horizon_days,
        year_to_day=cfg.model.year_to_day,
        dtype=dtype,
        chain=cfg.shocks.regime.enabled,
        takeover=cfg.shocks.takeover.enabled,
        priced=lambda level: cfg.shocks.tariffs.enabled or (cfg.policy.tariff_wall.enabled and 1 + cfg.policy.tariff_wall.rate >= level),
    )


def load_posterior(cfg: Config) -> Any:
    """The posterior named by ``calibration.posterior`` (None for ``none``)."""
    choice = cfg.calibration.posterior
    if choice is None or str(choice).lower() == "none":
        return None
    from stress.calibration.fit import BUNDLED_POSTERIOR
    from stress.calibration.fit import load_posterior as load

    path = Path(BUNDLED_POSTERIOR) if choice == "bundled" else Path(choice).expanduser()
    if not path.is_file():
        raise InputError("calibration.posterior", choice, "bundled, none, or the path of a file written by python -m stress calibrate")
    return load(path)


def posterior_label(cfg: Config, prep: Prepared) -> str:
    """Where the paths' parameters come from, for the provenance attributes."""
    if prep.posterior is None:
        return "none (hand-set priors of the scenario and the world's data)"
    n = int(prep.spec.post_review.shape[0])
    return f"{cfg.calibration.posterior} ({n} draws; each path uses one)"


def make_metrics(cfg: Config, prep: Prepared, retain_paths: bool = False, keep_all: bool = False) -> Any:
    """The metric settings of a run: thresholds, calendar months, the directly hit industries.
    ``keep_all``: keep every path's scalars (compare pairs them; the backtest reads them), else
    the first ``metrics.attribution_paths``."""
    from stress.metrics import Metrics
    from stress.sketch import Sketch

    mt = cfg.metrics
    return Metrics(
        halt_threshold=mt.halt_threshold,
        constraint_threshold=mt.constraint_threshold,
        sketch=Sketch(relative_accuracy=float(mt.relative_accuracy)),
        month_of_day=month_of_day(cfg.scenario.start_date if cfg.scenario else None, cfg.model.horizon_days),
        direct=tuple(int(i) for i in directly_hit(prep)),
        monitored=tuple(float(x) for x in monitored(prep).ravel()),
        n_regimes=max(1, len(prep.labels.regimes)),
        n_tariffs=max(1, len(prep.labels.tariff_levels)),
        n_closable=len(prep.labels.predatory_targets),
        retain_paths=retain_paths,
        retain_scalars=None if (keep_all or retain_paths) else int(mt.attribution_paths),
    )


def month_of_day(start_date: str | None, horizon: int) -> tuple[int, ...]:
    """Calendar-month index of each day from ``start_date`` (day 0); empty for 30-day months."""
    if start_date is None:
        return ()
    import datetime

    d0 = datetime.date.fromisoformat(str(start_date))
    days = [d0 + datetime.timedelta(days=t) for t in range(horizon)]
    return tuple((d.year - d0.year) * 12 + d.month - d0.month for d in days)


def month_labels(start_date: str | None, n_months: int) -> list[str]:
    """``YYYY-MM`` of each month from ``start_date``, or ``month 1 ..`` for 30-day months."""
    if start_date is None:
        return [f"days {30 * k}-{30 * k + 29}" for k in range(n_months)]
    import datetime

    d0 = datetime.date.fromisoformat(str(start_date))
    return [f"{d0.year + (d0.month - 1 + k) // 12:04d}-{(d0.month - 1 + k) % 12 + 1:02d}" for k in range(n_months)]


def monitored(prep: Prepared) -> np.ndarray:
    """Weights ``(n, R)`` of each supplier industry's deliveries to each region in the tracked
    (controlled) flows: 1 for the industries under the export cut-off (to every region, as the
    cut-off's flows have always been reported), and for those under licensing their licensed
    share of exports, to other regions only (deliveries at home need no licence)."""
    n, R = prep.mrio.n, len(prep.mrio.regions)
    p = len(prep.mrio.sectors)
    w = np.repeat((np.asarray(prep.spec.export_mask) > 0).astype(float)[:, None], R, axis=1)
    abroad = (np.arange(n)[:, None] // p) != np.arange(R)[None, :]
    for i, share in prep.labels.monitored:
        w[i] = np.maximum(w[i], share * abroad[i])
    return w


DIRECT_SHARE = 0.1
"""An industry under licensing counts as directly hit when at least this share of its exports
needs a licence (so that a sector with a sliver of licensed goods, e.g. superhard tools in
machinery, does not make every machinery buyer 'directly hit')."""


def directly_hit(prep: Prepared) -> np.ndarray:
    """Indices of the directly hit industries: the restricted supplier industries, and every
    industry in a restricted destination that buys one of their products as an input it needs
    (``theta`` and ``c > 0``)."""
    mask = (np.asarray(prep.spec.export_mask) > 0) | (monitored(prep).max(axis=1) >= DIRECT_SHARE)
    p = len(prep.mrio.sectors)
    products = np.unique(np.flatnonzero(mask) % p)
    theta = np.asarray(prep.tables.theta)
    crit = np.asarray(prep.tables.crit)
    dest = np.asarray(prep.spec.dest_mask) > 0
    if prep.labels.monitored:
        dest = np.asarray([r != "CHN" for r in prep.mrio.regions])
    in_dest = np.repeat(dest, p)
    buyers = (theta[products] & (crit[products] > 0)).any(axis=0) & in_dest if products.size else np.zeros(prep.mrio.n, bool)
    return np.flatnonzero(mask | buyers)


def run_engine(cfg: Config, prep: Prepared, metrics: Any, on_chunk: Any = None, **kw: Any) -> Any:
    """The engine over ``cfg.sampler``'s paths of a prepared run (keys from ``sampler.seed``);
    ``kw`` goes to :func:`stress.engine.run` (``chunks``, ``sink``, ``stop``)."""
    from stress import engine

    s = cfg.sampler
    _, key_paths = keys(s.seed)
    return engine.run(
        key_paths,
        prep.model,
        metrics,
        prep.tables,
        prep.params,
        prep.spec,
        horizon=cfg.model.horizon_days,
        n_paths=s.n_paths,
        chunk_size=s.chunk_size,
        width=cfg.runtime.width,
        on_chunk=on_chunk,
        devices=engine.local_devices(cfg.runtime.devices),
        **kw,
    )


def keys(seed: int):
    import jax.random as jr

    key_cal, key_paths = jr.split(jr.key(seed))
    return key_cal, key_paths


class _Progress:
    """Per-chunk progress: a rich bar on a terminal, plain log lines otherwise."""

    def __init__(self, mode: str, n_chunks_hint: int):
        self.bar = None
        if mode == "bar" or (mode == "auto" and sys.stdout.isatty()):
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("chunks"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            self.task = self.bar.add_task("run", total=n_chunks_hint)
            self.bar.start()
        self.quiet = mode == "none"

    def __call__(self, done) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done.done, total=done.todo)
        elif not self.quiet:
            print(
                f"chunk {done.index + 1}/{done.n_chunks}: paths {done.first_path}-{done.last_path} in {done.seconds:.2f} s",
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@dataclass
class Simulated:
    """A Monte Carlo run on the host: its Dataset, the engine's raw result and what built it."""

    ds: xr.Dataset
    res: Any  # stress.engine.EngineResult
    prep: Prepared
    metrics: Any  # stress.metrics.Metrics
    wall: float  # seconds from ``t0`` to the end of the engine
    complete: bool = True  # False: stopped early (Ctrl-C); ``ds`` holds the finished chunks' paths


class Interrupted(Exception):
    """A run stopped by Ctrl-C after its current chunk; the message says how to resume."""


class _StopOnInterrupt:
    """While active, the first Ctrl-C (SIGINT) asks the engine to stop after the current chunk;
    a second one interrupts at once."""

    def __init__(self) -> None:
        self.stop = False
        self.previous: Any = None

    def __enter__(self) -> _StopOnInterrupt:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        import signal

        self.stop = True
        signal.signal(signal.SIGINT, self.previous if self.previous is not None else signal.default_int_handler)
        print("\nstress: stopping after the current chunk (Ctrl-C again to abort at once)", file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def __call__(self) -> bool:
        return self.stop


@dataclass
class _Merged:
    """Accumulators and retained values of a stored run's finished chunks."""

    acc: Any
    scalars: np.ndarray
    drivers: np.ndarray
    chunks: int  # finished chunks
    paths: int  # their paths
    resumed: int  # chunks found finished in the store when this process started
    repaired: int  # chunks whose stored data failed its hash and were recomputed
    workers: int
    res: Any  # the engine's result for the chunks computed in this process (None on a cluster)
    cluster_seconds: float = 0.0  # seconds the cluster's tasks spent in the engine, summed over workers
    computed_on: str = ""  # backends and device kinds that computed the chunks (from their records)


def run_header(cfg: Config, prep: Prepared, metrics: Any, overrides: list[str] | None = None) -> dict[str, Any]:
    """The chunk-store manifest of this run (:func:`stress.store.header`)."""
    from stress import engine, store
    from stress.metrics import Accumulator

    s = cfg.sampler
    layout = engine.Layout.of(s.n_paths, s.chunk_size)
    import jax

    empty = jax.eval_shape(lambda: metrics.empty(prep.mrio.n, len(prep.mrio.regions), cfg.model.horizon_days))  # shapes only
    fields = {name: (tuple(a.shape), str(np.dtype(a.dtype))) for name, a in zip(Accumulator._fields, empty, strict=True)}
    return store.header(cfg, layout, engine.n_kept(metrics, s.n_paths), fields, prep.provenance, overrides)


def hydra_overrides(run_dir: Path) -> list[str]:
    """The overrides Hydra saved for the job in ``run_dir`` (``.hydra/overrides.yaml``; none if absent)."""
    import yaml

    try:
        loaded = yaml.safe_load((Path(run_dir) / ".hydra" / "overrides.yaml").read_text()) or []
    except (OSError, yaml.YAMLError):
        return []
    return [str(o) for o in loaded] if isinstance(loaded, list) else []


def stored_run(cfg: Config, prep: Prepared, metrics: Any, run_dir: Path, progress: Any, stop: Any = None) -> _Merged:
    """Run ``cfg``'s chunks through the run folder's chunk store (:mod:`stress.store`): create it
    (or, with ``resume``, check it against this run and load its finished chunks), compute the
    missing chunks here or on a Dask cluster (``cluster``), each written to the store as it
    finishes, and merge every chunk. ``stop()`` true (Ctrl-C) ends the computing after the
    current chunk."""
    import contextlib

    from stress import engine, store
    from stress.metrics import Accumulator
    from stress.sampler import DRIVERS

    s = cfg.sampler
    layout = engine.Layout.of(s.n_paths, s.chunk_size)
    kept = engine.n_kept(metrics, s.n_paths)
    run_dir = Path(run_dir)
    on_cluster = cfg.cluster.kind != "none"
    if cfg.resume is not None:
        if Path(cfg.resume).expanduser().resolve() != run_dir.resolve():
            raise InputError("resume", cfg.resume, f"the run folder this job writes to ({run_dir}); pass resume=RUN_DIR on the command line")
        if not store.ChunkStore.exists(run_dir):
            raise InputError("resume", cfg.resume, "the folder of a run started by python -m stress run (it holds store/manifest.json)")
    elif store.ChunkStore.exists(run_dir):
        raise InputError("hydra.run.dir", str(run_dir), f"a folder without another run's chunk store (continue that run with resume={run_dir})")
    # Connect to the cluster first: a cluster that cannot be reached leaves no store behind.
    from stress import cluster as cluster_mod

    with cluster_mod.connect(cfg) if on_cluster else contextlib.nullcontext() as cl:
        if cfg.resume is not None:
            st = store.ChunkStore.open(run_dir)
            store.check(st.manifest, run_header(cfg, prep, metrics), run_dir, backend=not on_cluster)
            for tmp in run_dir.glob(".results.nc.*.tmp"):  # left by a kill during the last write
                tmp.unlink(missing_ok=True)
        else:
            manifest = run_header(cfg, prep, metrics, hydra_overrides(run_dir))
            st = store.ChunkStore.create(run_dir, manifest, metrics.n_scalars(prep.tables), len(DRIVERS), str(np.dtype(prep.tables.X0.dtype)))
        total = Accumulator(*(np.asarray(a) for a in metrics.empty(prep.mrio.n, len(prep.mrio.regions), cfg.model.horizon_days)))
        scalars = np.full((kept, metrics.n_scalars(prep.tables)), np.nan, np.dtype(prep.tables.X0.dtype))
        drivers = np.full((kept, len(DRIVERS)), np.nan)
        good: set[int] = set()

        def load(chunks: list[int]) -> list[int]:
            nonlocal total
            bad = []
            for c in chunks:
                try:
                    acc, lo, sc, dr = st.load(c)
                except store.CorruptChunk as exc:
                    print(f"stress: warning: {exc}; recomputing it", file=sys.stderr, flush=True)
                    bad.append(c)
                    continue
                total = engine.add(total, acc)
                scalars[lo : lo + len(sc)] = sc
                drivers[lo : lo + len(dr)] = dr
                good.add(c)
            st.forget(bad)
            return bad

        repaired = load(st.finished())
        resumed = len(good)
        if not on_cluster:  # (cluster workers check for themselves)
            st.refuse_other_backends(good, "resume", cfg.resume, "this process")
        todo = [c for c in range(layout.n_chunks) if c not in good]
        if cfg.resume is not None:
            done_paths = sum(layout.paths_in(c) for c in good)
            print(f"resuming {run_dir}: {resumed} of {layout.n_chunks} chunks finished ({done_paths:,} paths); computing {len(todo)}", flush=True)
        workers, res, cluster_seconds = 1, None, 0.0
        if todo and cl is not None:
            workers, cluster_seconds = cl.run(run_dir, todo, progress, stop)
            for _ in range(3):  # a chunk damaged between its worker and here is computed again
                bad = load([c for c in st.finished() if c not in good])
                if not bad or (stop is not None and stop()):
                    break
                cluster_seconds += cl.run(run_dir, bad, progress, stop)[1]
        elif todo:
            res = run_engine(cfg, prep, metrics, on_chunk=progress, chunks=todo, sink=st.write, stop=stop)
            total = engine.add(total, res.acc)
            for c in res.done:
                rows = slice(c * layout.chunk_size, min((c + 1) * layout.chunk_size, kept))
                scalars[rows], drivers[rows] = res.scalars[rows], res.drivers[rows]
            good.update(res.done)
    if not good:
        raise Interrupted(f"interrupted before any chunk finished: nothing to write; start again with: python -m stress run resume={run_dir.resolve()}")
    writers = st.writers(good)
    backends = sorted({b for b, _ in writers})
    if len(backends) > 1:
        raise InputError(
            "resume",
            str(run_dir),
            "chunks computed on one JAX backend (the records show "
            + ", ".join(f"{b} ({k}): {len(cs)} chunks" for (b, k), cs in writers.items())
            + f"); delete the records in {run_dir / 'store' / 'done'} of one backend's chunks to have them recomputed",
        )
    paths = sum(layout.paths_in(c) for c in good)
    computed_on = ", ".join(f"{b} ({k})" for b, k in sorted(writers))
    return _Merged(total, scalars, drivers, len(good), paths, resumed, len(repaired), workers, res, cluster_seconds, computed_on)


def simulate_paths(
    cfg: Config,
    config_yaml: str = "",
    *,
    t0: float | None = None,
    label: str = "stress run",
    keep_all: bool = False,
    run_dir: Path | None = None,
    stop: Any = None,
) -> Simulated:
    """Prepare, run the engine over ``cfg.sampler``'s paths and build the Dataset (nothing is
    written but, with ``run_dir``, the chunk store there: :func:`stored_run`). ``label`` starts
    the line printed before the engine starts; ``t0`` (from ``time.perf_counter``) is when the
    job started, for the wall time."""
    t0 = time.perf_counter() if t0 is None else t0
    prep = prepare(cfg)
    from stress import engine
    from stress.results.dataset import to_dataset

    mt = cfg.metrics
    metrics = make_metrics(cfg, prep, keep_all=keep_all)
    s = cfg.sampler
    devices = engine.local_devices(cfg.runtime.devices)
    if cfg.cluster.kind == "none" or run_dir is None:
        where = f"devices={len(devices)}"
    else:
        where = f"cluster={cfg.cluster.address}" if cfg.cluster.kind == "address" else f"workers={cfg.cluster.workers} ({cfg.cluster.kind})"
    layout = engine.Layout.of(s.n_paths, s.chunk_size)
    width = engine.padded(layout.chunk_size, engine.resolve_width(cfg.runtime.width, devices[0].platform, cfg.model.kernel))[0]
    print(
        f"{label}: scenario={cfg.scenario.name} world={prep.mrio.name} (n={prep.mrio.n}) "
        f"paths={s.n_paths} chunk={s.chunk_size} horizon={cfg.model.horizon_days} d kernel={cfg.model.kernel} width={width} "
        f"device={prep.provenance['device']} {where}",
        flush=True,
    )
    progress = _Progress(cfg.runtime.progress, layout.n_chunks)
    try:
        if run_dir is None:
            res = run_engine(cfg, prep, metrics, on_chunk=progress)
            merged = _Merged(res.acc, res.scalars, res.drivers, res.n_chunks, s.n_paths, 0, 0, 1, res)
        else:
            merged = stored_run(cfg, prep, metrics, Path(run_dir), progress, stop)
            res = merged.res
    finally:
        progress.close()
        # Free the compiled chunk function: XLA's CPU code for it holds about a thousand memory
        # mappings, and a compare or sweep of many runs in one process would otherwise pass the
        # kernel's limit (vm.max_map_count) and crash in a later compilation.
        import jax

        jax.clear_caches()
    wall = time.perf_counter() - t0
    complete = merged.chunks == layout.n_chunks
    attrs = {
        **prep.provenance,
        "title": f"stress Monte Carlo results: {cfg.scenario.name}" + ("" if complete else " (partial)"),
        "scenario": cfg.scenario.name,
        "world": prep.mrio.name,
        "money_unit": prep.mrio.unit,
        "seed": s.seed,
        "n_paths": merged.paths,
        "n_paths_requested": s.n_paths,
        "partial": int(not complete),
        "chunks_finished": merged.chunks,
        "n_chunks": layout.n_chunks,
        "chunks_resumed": merged.resumed,
        "chunks_repaired": merged.repaired,
        "chunk_size": s.chunk_size,
        "devices": len(devices),
        # paths vectorised together (a speed setting: the numbers do not depend on it)
        "vector_width": "each worker's platform default" if run_dir is not None and cfg.cluster.kind != "none" and cfg.runtime.width is None else width,
        "kernel": cfg.model.kernel,
        "workers": merged.workers,
        "cluster": cfg.cluster.kind if run_dir is not None else "none",
        "computed_on": merged.computed_on or f"{prep.provenance.get('jax_backend', '')} ({prep.provenance.get('device_kind', '')})",
        "horizon_days": cfg.model.horizon_days,
        "halt_threshold": mt.halt_threshold,
        "constraint_threshold": mt.constraint_threshold,
        "focus_sector": mt.focus_sector or "",
        "frequency_per_year": float("nan") if cfg.scenario.frequency_per_year is None else float(cfg.scenario.frequency_per_year),
        "scenario_description": cfg.scenario.description,
        "posterior": posterior_label(cfg, prep),
        "precision": cfg.runtime.precision,
        "wall_time_s": round(wall, 3),
        "engine_time_s": round(res.run_seconds if res is not None else merged.cluster_seconds, 3),
        "first_chunk_time_s": round(res.first_chunk_seconds, 3) if res is not None else 0.0,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": config_yaml,
    }
    base = res.flow_base if res is not None else engine.flow_base(metrics, prep.tables, cfg.model.horizon_days)
    ds = to_dataset(
        merged.acc,
        merged.scalars,
        prep.mrio,
        horizon=cfg.model.horizon_days,
        quantiles=list(mt.quantiles),
        metrics=metrics,
        drivers=merged.drivers,
        year_to_day=cfg.model.year_to_day,
        attrs=attrs,
        flow_base=base,
        month_labels=month_labels(cfg.scenario.start_date if cfg.scenario else None, base.shape[0]),
        direct=metrics.direct,
        labels=prep.labels,
        policy_labels=prep.policy_labels,
    )
    return Simulated(ds, res, prep, metrics, wall, complete)


def require_scenario(cfg: Config) -> None:
    if cfg.scenario is None:
        raise InputError("scenario", None, "a scenario chosen with +scenario=NAME (e.g. +scenario=full_cutoff or +scenario=baseline)")


def run(cfg: Config, run_dir: Path, config_yaml: str = "") -> Path:
    """The main job: Monte Carlo over paths through the run folder's chunk store; writes
    ``run_dir/results.nc`` (partial, and :class:`Interrupted` raised, after a Ctrl-C); prints a
    summary. From the start of the engine until the results file is written, a first Ctrl-C
    stops the computing after the current chunk and the finished chunks are still written."""
    require_scenario(cfg)
    check_writable(run_dir)
    t0 = time.perf_counter()
    from stress.results.dataset import write_atomic

    with _StopOnInterrupt() as stop:
        out = simulate_paths(cfg, config_yaml, t0=t0, run_dir=Path(run_dir), stop=stop)
        ds, res = out.ds, out.res
        path = write_atomic(ds, Path(run_dir) / "results.nc")
    if not out.complete:
        raise Interrupted(
            f"stopped after {ds.attrs['chunks_finished']} of {ds.attrs['n_chunks']} chunks: partial results of "
            f"{ds.attrs['n_paths']:,} of {ds.attrs['n_paths_requested']:,} paths in {path.resolve()}; "
            f"continue with: python -m stress run resume={Path(run_dir).resolve()}"
        )
    if stop():
        print("stress: Ctrl-C came after the last chunk: the results are complete", file=sys.stderr, flush=True)
    print_summary(ds, top_n=cfg.metrics.top_n)
    engine_s = f"{res.run_seconds:.1f} s in the engine, " if res is not None else ""
    print(f"wall time {out.wall:.1f} s ({engine_s}{ds.attrs['n_chunks']} chunks, {ds.attrs['chunks_resumed']} from the store)")
    print(f"results: {path.resolve()}")
    if cfg.report or (cfg.resume is not None and (Path(run_dir) / "report.html").is_file()):
        # (a resume also refreshes a report written from the partial results)
        from stress.report import write_report

        print(f"report: {write_report(path).resolve()}")
    return path


def calibrate(cfg: Config, run_dir: Path, config_yaml: str = "") -> Path:
    """NumPyro calibration of the ``calibration.models``; writes the posterior file."""
    validate(cfg)
    c = cfg.calibration
    if c.output == "bundled":
        from stress.calibration.fit import BUNDLED_POSTERIOR

        out = Path(BUNDLED_POSTERIOR)
    elif c.output:
        out = Path(c.output).expanduser()
    else:
        out = Path(run_dir) / "posterior.nc"
    check_writable(out.parent, "calibration.output" if c.output else "hydra.run.dir")
    if out.is_dir():
        raise InputError("calibration.output", c.output, "a file path (not a folder), or null, or bundled")
    runtime.setup(cfg.runtime)
    from stress.calibration.fit import calibrate as fit

    t0 = time.perf_counter()
    print(f"stress calibrate: models={','.join(c.models)} chains={c.chains} warmup={c.warmup} samples={c.samples} seed={c.seed}", flush=True)
    fit(list(c.models), chains=c.chains, warmup=c.warmup, samples=c.samples, seed=c.seed, force=c.force, out_path=out, thin=c.thin)
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    print(f"posterior: {out.resolve()}")
    return out


def simulate(cfg: Config, run_dir: Path, config_yaml: str = "") -> Path:
    """One deterministic path with its full daily trajectory: ``run_dir/trajectory.nc``."""
    check_writable(run_dir)
    t0 = time.perf_counter()
    prep = prepare(cfg)
    import jax
    import jax.random as jr

    from stress.results.dataset import netcdf_attr, write_atomic
    from stress.sampler import sample_path_params

    _, key_paths = keys(cfg.sampler.seed)
    dis, pp = sample_path_params(jr.fold_in(key_paths, cfg.simulate.path_id), prep.spec, prep.tables, prep.params)
    horizon = cfg.model.horizon_days
    tables, params = prep.tables._replace(s=pp.s), prep.params._replace(psi=pp.psi)
    rec = jax.jit(prep.model.simulate, static_argnums=(3,))(tables, params, dis, horizon)
    rec = jax.device_get(rec)
    mrio = prep.mrio
    R, p = len(mrio.regions), len(mrio.sectors)
    unit = f"{mrio.unit} per day"
    grid = lambda a: np.asarray(a).reshape(horizon, R, p)  # noqa: E731
    dims = ("day", "region", "sector")
    crashed = np.asarray(rec.crashed)
    data = {
        "production": (dims, grid(rec.production), {"units": unit, "long_name": "realised production X(t)"}),
        "production_capacity": (
            dims,
            grid(rec.production_capacity),
            {"units": unit, "long_name": "production capacity X0 (1 - Delta) alpha"},
        ),
        "overproduction": (dims, grid(rec.overproduction), {"units": "1", "long_name": "overproduction factor alpha(t)"}),
        "demand": (dims, grid(rec.demand), {"units": unit, "long_name": "total demand addressed to the industry D(t)"}),
        "final_demand_unmet": (dims, grid(rec.final_demand_unmet), {"units": unit, "long_name": "unmet final demand by supplier industry"}),
        "stocks": (
            ("day", "product", "region", "sector"),
            np.asarray(rec.stocks).reshape(horizon, p, R, p),
            {"units": mrio.unit, "long_name": "input stocks S(t) before production, by product and buying industry"},
        ),
        "baseline_production": (
            ("region", "sector"),
            (mrio.x / cfg.model.year_to_day).reshape(R, p),
            {"units": unit, "long_name": "initial production X0"},
        ),
        "input_ratio": (dims, grid(rec.input_ratio), {"units": "1", "long_name": "X / X^opt: the share of feasible output that inputs allow"}),
        "controlled_flow": (
            ("day", "region"),
            np.einsum("tir,ir->tr", np.asarray(rec.deliveries), monitored(prep)),
            {"units": unit, "long_name": "deliveries of the export-restricted supplier industries, by buyer region"},
        ),
        "price": (dims, grid(rec.price), {"units": "1", "long_name": "producer price index p(t) (1: the table's year)"}),
        "tariff_revenue": (("day", "region"), np.asarray(rec.tariff_revenue), {"units": unit, "long_name": "extra tariff revenue collected by each importing region"}),
        "price_cost": (("day", "region"), np.asarray(rec.price_cost), {"units": unit, "long_name": "extra cost of higher delivered prices to each region's buyers"}),
        "released": (("day", "region"), np.asarray(rec.released), {"units": unit, "long_name": "public reserves released into each region's stocks"}),
        "reserve_level": (("day",), np.asarray(rec.reserve_level), {"units": mrio.unit, "long_name": "public reserves held after the day (all products)"}),
        "refilled": (("day",), np.asarray(rec.refilled), {"units": unit, "long_name": "public reserves bought back that day"}),
        "floor_paid": (("day", "region"), np.asarray(rec.floor_paid), {"units": unit, "long_name": "price-floor payments to each producer region"}),
        "crashed": (("day",), crashed.astype(np.int8), {"units": "1", "long_name": "1 once a stock went negative or NaN"}),
    }
    if pp.policy is not None:
        data["joined"] = (
            ("region",),
            np.asarray(pp.policy.joined).astype(np.int8),
            {"units": "1", "long_name": "1 where the coalition member joined the joint levers on this path"},
        )
    ds = xr.Dataset(
        data,
        coords={
            "day": ("day", np.arange(horizon), {"units": "day", "long_name": "step index t"}),
            "region": list(mrio.regions),
            "sector": list(mrio.sectors),
            "product": list(mrio.sectors),
        },
    )
    ds.attrs.update(
        {
            **{k: netcdf_attr(v) for k, v in prep.provenance.items()},
            "title": "stress deterministic trajectory",
            "world": mrio.name,
            "scenario": cfg.scenario.name if cfg.scenario else "none",
            "shock": cfg.shock.kind,
            "path_id": cfg.simulate.path_id,
            "posterior": posterior_label(cfg, prep),
            "posterior_draw": int(pp.draw),
            "seed": cfg.sampler.seed,
            "wall_time_s": round(time.perf_counter() - t0, 3),
            "config": config_yaml,
            "Conventions": "CF-1.10",
        }
    )
    path = write_atomic(ds, Path(run_dir) / "trajectory.nc")
    X = ds.production / ds.baseline_production
    lowest = X.min("day")
    worst = lowest.where(lowest == lowest.min(), drop=True)
    print(
        f"simulated {horizon} days on {mrio.name} (n={mrio.n}); lowest production "
        f"{float(lowest.min()):.4f} of baseline at {worst.region.values[0]}/{worst.sector.values[0]}"
    )
    print(f"trajectory: {path.resolve()}")
    return path


def check_writable(run_dir: Path, field: str = "hydra.run.dir") -> None:
    """Fail early, before any work, if results cannot be written."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(field, str(run_dir), f"a folder that can be created and written ({exc.strerror})") from None


def print_summary(ds: xr.Dataset, top_n: int = 10) -> None:
    """Summary tables: expected and tail losses by region; the region-sectors most at risk."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 130))
    unit = ds.attrs.get("money_unit", "")
    crashed = int(ds.attrs.get("crashed_paths", 0))
    if crashed:
        console.print(
            f"[bold red]WARNING: {crashed} of {ds.attrs.get('n_paths')} paths crashed (a stock went negative or NaN); "
            f"they are left out of every statistic below ({ds.attrs.get('n_paths_counted')} paths counted).[/]"
        )
    q = list(ds["quantile"].values)
    pick = [x for x in (0.95, 0.99) if x in q] or q[-2:]
    t = Table(title=f"Lost output and value added over {ds.attrs.get('horizon_days')} days, {unit} ({ds.attrs.get('n_paths_counted')} paths)")
    t.add_column("region")
    for what in ("output", "VA"):
        t.add_column(f"{what} mean ± se", justify="right")
        for x in pick:
            t.add_column(f"{what} q{x * 100:g}", justify="right")
    t.add_column("VA lost, % of GDP (same days)", justify="right")
    va_base = ds.value_added_baseline
    rows = [(str(r), ds.sel(region=r), "region_") for r in ds.region.values] + [("WORLD", ds, "world_")]
    for name, sub, pre in rows:
        gdp = float(va_base.sum()) if name == "WORLD" else float(va_base.sel(region=name).sum())
        cells = [name]
        for var in ("output_loss", "value_added_loss"):
            cells.append(f"{float(sub[f'{pre}{var}_mean']):,.2f} ± {float(sub[f'{pre}{var}_se']):,.2f}")
            cells += [f"{float(sub[f'{pre}{var}_quantile'].sel(quantile=x)):,.2f}" for x in pick]
        cells.append(f"{float(sub[f'{pre}value_added_loss_mean']) / gdp:.3%}" if gdp > 0 else "-")
        t.add_row(*cells)
    console.print(t)
    if "amplification" in ds and np.isfinite(float(ds.amplification)):
        va_share = float(ds.world_value_added_loss_mean) / float(ds.value_added_baseline.sum()) if "value_added_baseline" in ds else np.nan
        console.print(
            f"World lost value added: {va_share:.3%} of world value added over the horizon. "
            f"Amplification: world lost output is {float(ds.amplification):.2f} (± {float(ds.amplification.attrs['standard_error']):.2f}) "
            f"times the lost output of the directly hit industries ({float(ds.direct_output_loss_mean):,.2f} {unit})."
        )

    share = ds.output_loss_share_mean.stack(node=("region", "sector"))
    order = np.argsort(-share.values, kind="stable")[:top_n]
    week8 = min(8, int(ds.week.max()))
    last = int(ds.week.max())
    t2 = Table(title=f"The {top_n} region-sectors most at risk (by expected lost output as a share of baseline output)")
    cols = (
        "region",
        "sector",
        "share of output",
        f"q{pick[-1] * 100:g} share",
        f"expected loss, {unit}",
        f"P(halt ≤ {week8} wk)",
        f"P(halt ≤ {ds.attrs.get('horizon_days')} d)",
        "median weeks to halt",
    )
    for col in cols:
        t2.add_column(col, justify="left" if col in ("region", "sector") else "right")
    for k in order:
        r, s = share.node.values[k]
        sub = ds.sel(region=r, sector=s)
        t2.add_row(
            r,
            s,
            f"{float(sub.output_loss_share_mean):.2%}",
            f"{float(sub.output_loss_share_quantile.sel(quantile=pick[-1])):.2%}",
            f"{float(sub.output_loss_mean):,.2f}",
            f"{float(sub.halt_probability.sel(week=week8)):.1%}",
            f"{float(sub.halt_probability.sel(week=last)):.1%}",
            f"{float(sub.weeks_to_first_halt_median):g}",
        )
    console.print(t2)
    focus = ds.attrs.get("focus_sector", "")
    if focus and focus in list(ds.sector.values):
        t3 = Table(title=f"{focus} by region")
        for col in (
            "region",
            "expected loss, share of output",
            f"q{pick[-1] * 100:g} share",
            f"P(halt ≤ {week8} wk)",
            "P(halt in horizon)",
            "median weeks to halt",
            "median weeks to recover",
        ):
            t3.add_column(col, justify="left" if col == "region" else "right")
        for r in ds.region.values:
            sub = ds.sel(region=r, sector=focus)
            if float(sub.baseline_output) <= 0:
                continue
            t3.add_row(
                str(r),
                f"{float(sub.output_loss_share_mean):.2%}",
                f"{float(sub.output_loss_share_quantile.sel(quantile=pick[-1])):.2%}",
                f"{float(sub.halt_probability.sel(week=week8)):.1%}",
                f"{float(sub.halt_probability.sel(week=last)):.1%}",
                f"{float(sub.weeks_to_first_halt_median):g}",
                f"{float(sub.weeks_to_recover_median):g}",
            )
        console.print(t3)
    console.print(
        f"A halt is a first plant halt as reported in 2025: output cut by missing inputs by more than "
        f"{100 * float(ds.attrs.get('constraint_threshold', 0.01)):g} % of what demand and capacity allow."
    )
    print_shock_summary(ds, console, top_n)
    print_policy_summary(ds, console)


def print_policy_summary(ds: xr.Dataset, console: Any) -> None:
    """The allied levers that ran: coalition participation, public costs, reserve releases."""
    if "policy_cost_mean" not in ds:
        return
    unit = ds.attrs.get("money_unit", "")
    joined = ", ".join(f"{r} {float(ds.joined_probability.sel(region=r)):.0%}" for r in ds.region.values if np.isfinite(float(ds.joined_probability.sel(region=r))))
    console.print(f"Allied levers: {ds.attrs.get('policies', '')}. Members joining the joint levers (share of paths): {joined}")
    costs = ds.policy_cost_mean
    parts = ", ".join(f"{c} {float(costs.sel(cost_component=c)):,.3f}" for c in costs.cost_component.values if float(costs.sel(cost_component=c)) != 0)
    console.print(f"Expected public cost over {ds.attrs.get('horizon_days')} days, {unit}: {float(costs.sum()):,.3f}" + (f" ({parts})" if parts else ""))
    if float(ds.released_mean.sum()) > 0:
        cells = ", ".join(f"{r} {float(ds.released_mean.sel(region=r)):,.3f}" for r in ds.region.values if float(ds.released_mean.sel(region=r)) > 0)
        console.print(f"Expected stockpile releases into buyers' stocks, {unit}: {cells}")


def print_shock_summary(ds: xr.Dataset, console: Any, top_n: int = 10) -> None:
    """Prices, tariffs, regimes and closures, where the run's shocks moved them."""
    from rich.table import Table

    unit = ds.attrs.get("money_unit", "")
    rise = ds.price_rise_mean.stack(node=("region", "sector"))
    if float(np.abs(rise).max()) > 1e-6:
        order = np.argsort(-rise.values, kind="stable")[:top_n]
        q = list(ds["quantile"].values)
        t = Table(title="Largest producer price rises (mean over the horizon, against the table's year)")
        for col in ("region", "sector", "mean rise", f"q{q[-1] * 100:g}"):
            t.add_column(col, justify="left" if col in ("region", "sector") else "right")
        for k in order:
            r, s = rise.node.values[k]
            sub = ds.sel(region=r, sector=s)
            t.add_row(r, s, f"{float(sub.price_rise_mean):+.2%}", f"{float(sub.price_rise_quantile.sel(quantile=q[-1])):+.2%}")
        console.print(t)
    if float(np.abs(ds.tariff_revenue_mean).sum() + np.abs(ds.price_cost_mean).sum()) > 0:
        cells = ", ".join(
            f"{r} {float(ds.tariff_revenue_mean.sel(region=r)):,.1f} / {float(ds.price_cost_mean.sel(region=r)):,.1f}"
            for r in ds.region.values
            if abs(float(ds.price_cost_mean.sel(region=r))) + abs(float(ds.tariff_revenue_mean.sel(region=r))) > 1e-9
        )
        console.print(f"Expected extra tariff revenue / cost of higher delivered prices by region, {unit}: {cells}")
    if "regime_occupancy" in ds and float(ds.regime_occupancy.mean("model_week").max()) < 1:  # the chain moved
        occ = ds.regime_occupancy
        last = occ.isel(model_week=-1)
        mean = occ.mean("model_week")
        cells = ", ".join(f"{g} {float(mean.sel(regime=g)):.0%} (end {float(last.sel(regime=g)):.0%})" for g in occ.regime.values)
        console.print(f"Export-control regime, share of path-weeks (and of paths in the last week): {cells}")
    if "tariff_occupancy" in ds and float(ds.tariff_occupancy.mean("model_week").max()) < 1:
        tm = ds.tariff_occupancy.mean("model_week")
        console.print("Tariff level, share of path-weeks: " + ", ".join(f"{k} {float(tm.sel(tariff_level=k)):.0%}" for k in tm.tariff_level.values))
    if "closure_probability" in ds:
        cells = ", ".join(f"{c} {float(ds.closure_probability.sel(closable=c)):.1%}" for c in ds.closable.values)
        console.print(f"Probability of a closure under predatory pricing within the horizon: {cells}")
