"""Chunks on a Dask cluster: ``python -m stress run … cluster=local`` (or ``slurm``, ``address``).

The driver (the ``run`` process) has created the run's chunk store (:mod:`stress.store`); each
Dask task computes a range of consecutive chunks in a worker process (one JAX process a
worker, compiling the engine once and reusing it for every task it gets) and writes each chunk
into the store as it finishes, with its record. The driver waits for the tasks and then merges
the store's chunks exactly as a single-process run does (integer sums), so the results equal a
single-process run's whatever the number of workers.

Tasks carry the run's resolved settings as plain JSON and the run folder's path; workers read
and write only that folder. Dask ships the task function between its own processes with its
serialisation; nothing the user supplies is unpickled.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from stress.errors import InputError

_PREPARED: dict[str, Any] = {}
"""Per worker process: the prepared run and metrics of the settings last seen (by their hash)."""


def config_from_json(text: str) -> Any:
    """The typed config from :func:`dataclasses.asdict`'s JSON (as tasks carry it)."""
    from omegaconf import OmegaConf

    from stress.config import Config

    merged = OmegaConf.merge(OmegaConf.structured(Config), json.loads(text))
    return OmegaConf.to_object(merged)


def work(chunks: list[int], payload: str, run_dir: str) -> dict[str, Any]:
    """A Dask task: compute ``chunks`` of the run described by ``payload`` into the store of
    ``run_dir``; returns the chunks done and the seconds they took. Refused (InputError) where
    this worker's settings, input files, code or JAX differ from the store's manifest."""
    from stress import pipeline, store

    t0 = time.perf_counter()
    key = store.digest(payload)
    if key not in _PREPARED:
        _PREPARED.clear()
        cfg = config_from_json(payload)
        prep = pipeline.prepare(cfg)
        metrics = pipeline.make_metrics(cfg, prep)
        st = store.ChunkStore.open(Path(run_dir))
        store.check(st.manifest, pipeline.run_header(cfg, prep, metrics), Path(run_dir), backend=False)
        st.refuse_other_backends(st.finished(), "cluster", cfg.cluster.kind, "this worker")  # before computing anything
        _PREPARED[key] = (cfg, prep, metrics, st)
    cfg, prep, metrics, st = _PREPARED[key]
    res = pipeline.run_engine(cfg, prep, metrics, chunks=chunks, sink=st.write)
    return {"chunks": list(res.done), "seconds": time.perf_counter() - t0, "engine_seconds": res.run_seconds}


class Connection:
    """A Dask client (and the cluster it started, if any) for one run; a context manager."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.client, self.cluster, self.workers = client_for(cfg)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def run(self, run_dir: Path, chunks: list[int], progress: Any = None, stop: Any = None) -> tuple[int, float]:
        """Compute ``chunks`` into the store in ``run_dir``; returns the number of workers and the
        seconds the tasks spent in the engine (summed over workers). ``stop()`` true (Ctrl-C)
        cancels the tasks not yet finished and returns: the chunks already written stay in the
        store, and the caller merges them into a partial result."""
        from stress.engine import ChunkDone, Layout

        cfg = self.cfg
        payload = json.dumps(dataclasses.asdict(cfg), default=str)
        k = cfg.cluster.chunks_per_task
        tasks = [chunks[i : i + k] for i in range(0, len(chunks), k)]
        layout = Layout.of(cfg.sampler.n_paths, cfg.sampler.chunk_size)
        client = self.client
        futures = [client.submit(work, t, payload, str(Path(run_dir).resolve()), pure=False, key=f"stress-chunks-{t[0]}-{t[-1]}-{time.time_ns()}") for t in tasks]
        done, engine_seconds = 0, 0.0
        t_last = time.perf_counter()
        remaining = list(futures)
        try:
            while remaining:
                finished = [f for f in remaining if f.done()]
                for fut in finished:
                    remaining.remove(fut)
                    out = fut.result()  # a worker's InputError or crash is raised here
                    engine_seconds += out["engine_seconds"]
                    for c in out["chunks"]:
                        done += 1
                        now = time.perf_counter()
                        if progress is not None:
                            first = c * layout.chunk_size
                            progress(ChunkDone(c, layout.n_chunks, first, first + layout.paths_in(c) - 1, now - t_last, done, len(chunks)))
                        t_last = now
                if stop is not None and stop() and remaining:
                    client.cancel(remaining)
                    print("stress: cancelled the cluster's remaining tasks", file=sys.stderr, flush=True)
                    break
                if not finished:
                    time.sleep(0.2)
        except BaseException:
            client.cancel(remaining)
            raise
        if self.cluster is not None and cfg.cluster.kind == "local":
            self.workers = len(client.scheduler_info().get("workers", {})) or self.workers
        return self.workers, engine_seconds


def connect(cfg: Any) -> Connection:
    """Start or reach the Dask cluster named by ``cfg.cluster`` (bad settings: InputError)."""
    return Connection(cfg)


def _test_submit(script: str) -> None:
    """``sbatch --test-only`` on the workers' job script: a wrong account, queue or resource
    request is refused now, instead of dask-jobqueue retrying the submission forever."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(["sbatch", "--test-only", fh.name], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise InputError("cluster.kind", "slurm", f"a working sbatch ({type(exc).__name__}: {exc})") from None
    finally:
        Path(fh.name).unlink(missing_ok=True)
    if out.returncode != 0:
        why = (out.stderr or out.stdout).strip().splitlines()
        raise InputError("cluster", "slurm", "settings SLURM accepts (sbatch --test-only: " + (why[-1] if why else f"exit code {out.returncode}") + ")")


def client_for(cfg: Any) -> tuple[Any, Any, int]:
    """A Dask client (and the cluster object to close, or None) for ``cfg.cluster``."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a dependency
        raise InputError("cluster.kind", cfg.cluster.kind, "none here: dask.distributed is not installed (pip install distributed)") from None
    c = cfg.cluster
    for name in ("distributed", "dask_jobqueue"):  # their INFO lines would bury the progress
        logging.getLogger(name).setLevel(logging.WARNING)
    if c.kind == "local":
        cluster = LocalCluster(n_workers=c.workers, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit=0, silence_logs=logging.ERROR)
        return Client(cluster), cluster, c.workers
    if c.kind == "slurm":
        import shutil

        try:
            from dask_jobqueue import SLURMCluster
        except ImportError:
            raise InputError("cluster.kind", "slurm", "none, local or address here: dask-jobqueue is not installed (pip install dask-jobqueue)") from None
        if shutil.which("sbatch") is None:
            raise InputError("cluster.kind", "slurm", "a machine where SLURM's sbatch is on PATH (it is not here): run from a SLURM login node, or use cluster=local")
        extra = [*([f"--gres=gpu:{c.gpus}"] if c.gpus else []), *c.job_extra]
        prologue = [*c.prologue, *(["export JAX_PLATFORMS=cuda"] if c.gpus else [])]
        try:
            cluster = SLURMCluster(
                cores=c.cores,
                processes=1,  # one JAX process a job: it owns the job's devices
                memory=c.memory,
                walltime=c.walltime,
                queue=c.queue,
                account=c.account,
                job_extra_directives=extra,
                job_script_prologue=prologue,
                worker_extra_args=["--nthreads", "1"],
            )
            _test_submit(cluster.job_script())
            cluster.scale(jobs=c.workers)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - dask-jobqueue reports bad settings in several ways
            raise InputError("cluster", c.kind, f"SLURM settings dask-jobqueue accepts ({type(exc).__name__}: {exc})") from None
        return Client(cluster), cluster, c.workers
    if c.kind == "address":
        try:
            client = Client(c.address, timeout="30s")
        except (OSError, ValueError, TypeError) as exc:
            raise InputError("cluster.address", c.address, f"the address of a reachable Dask scheduler, e.g. tcp://10.0.0.5:8786 ({type(exc).__name__}: {exc})") from None
        return client, None, max(1, len(client.scheduler_info().get("workers", {})))
    raise InputError("cluster.kind", c.kind, "local, slurm or address")
