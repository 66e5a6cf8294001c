"""The chunk store: each finished chunk's contribution on disk, so that no run loses its work.

A run folder holds ``store/``:

- ``manifest.json``: what the chunks belong to (written once, when the run starts): the resolved
  settings that change numbers and their hash, the code (package version and a fingerprint of
  its source), JAX's versions, backend and precision, the path layout (paths, chunk size,
  chunks) and the fields' shapes. A resume is refused unless all of it matches.
- ``chunks.zarr``: a Zarr group with one int64 array per accumulator field
  (:class:`stress.metrics.Accumulator`), shaped ``(chunk, ...)`` and chunked one run chunk per
  Zarr chunk, and the retained per-path ``scalars`` and ``drivers`` of the first path ids (rows
  chunked as the run's chunks). Each run chunk writes only its own Zarr chunks, so several
  processes can fill one store. ``xarray.open_zarr(RUN_DIR/store/chunks.zarr)`` reads it lazily
  with Dask; the sum over ``chunk`` of a field is the run's total (unfinished chunks read 0).
- ``done/CCCCCCCC.json``: one record per finished chunk (its path range, a SHA-256 of its data,
  who wrote it, when), written after the chunk's data and renamed into place: the manifest of
  finished chunks. A chunk without a record (killed while it was being written) is recomputed;
  one whose data no longer matches its record's hash is reported and recomputed.

Only JSON and Zarr arrays of numbers are read back: nothing in a store can run code.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from stress.errors import InputError
from stress.files import replace_atomic

FORMAT = 1
NOT_NUMBERS = ("resume", "report", "cluster", "runtime.progress", "runtime.devices", "runtime.width", "metrics.top_n", "simulate", "compare", "policies", "calibration.chains", "calibration.warmup", "calibration.samples", "calibration.seed", "calibration.thin", "calibration.force", "calibration.output", "calibration.models")
"""Settings that cannot change a run's numbers (display, resuming, where chunks run, other
commands' settings): a resume may change them."""


class CorruptChunk(Exception):
    """A chunk's data does not match its record."""


def settings(cfg: Any) -> dict[str, Any]:
    """The resolved settings of a run that can change its numbers, as plain JSON values."""
    plain = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    for key in NOT_NUMBERS:
        node, *rest = key.split(".")
        if rest:
            plain.get(node, {}).pop(rest[0], None)
        else:
            plain.pop(node, None)
    return plain


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 over the package's source files and bundled data (names and bytes): a resume with
    changed code is refused even when the version number did not move."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix in (".py", ".csv", ".j2", ".nc", ".yaml") and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    configs = root.parent / "configs"
    for f in sorted(configs.rglob("*.yaml")) if configs.is_dir() else []:
        h.update(str(f.relative_to(configs)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def input_files(cfg: Any) -> dict[str, str]:
    """SHA-256 of the files a run reads that the user named (``world.path``'s folder,
    ``calibration.posterior``): a resume after they changed is refused."""
    out: dict[str, str] = {}
    paths = []
    if getattr(cfg.world, "path", None):
        folder = Path(cfg.world.path).expanduser()
        paths += sorted(f for f in folder.iterdir() if f.is_file()) if folder.is_dir() else [folder]
    post = getattr(cfg.calibration, "posterior", None)
    if post and str(post).lower() not in ("none", "bundled"):
        paths.append(Path(post).expanduser())
    for f in paths:
        try:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
        except OSError:
            out[str(f)] = "unreadable"
    return out


def writer() -> dict[str, str]:
    """What computed a chunk: backend, device kind, JAX versions, code (kept in its record)."""
    from importlib import metadata

    import jax

    dev = jax.local_devices()[0]
    return {
        "backend": jax.default_backend(),
        "device_kind": str(getattr(dev, "device_kind", dev.platform)),
        "jax_version": jax.__version__,
        "jaxlib_version": metadata.version("jaxlib"),
        "code": code_fingerprint(),
    }


def header(
    cfg: Any,
    layout: Any,
    n_kept: int,
    fields: dict[str, tuple[tuple[int, ...], str]],
    provenance: dict[str, Any],
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """The manifest of a new store (:func:`check` compares a resume's against it);
    ``overrides``: the command line's overrides, which ``resume=RUN_DIR`` reuses."""
    import jax

    s = settings(cfg)
    return {
        "overrides": list(overrides or []),
        "inputs": input_files(cfg),
        "format": FORMAT,
        "stress_version": provenance.get("stress_version", "unknown"),
        "code": code_fingerprint(),
        "jax_version": provenance.get("jax_version", "unknown"),
        "jaxlib_version": provenance.get("jaxlib_version", "unknown"),
        "backend": jax.default_backend(),
        "precision": cfg.runtime.precision,
        "settings": s,
        "settings_hash": digest(s),
        "n_paths": layout.n_paths,
        "chunk_size": layout.chunk_size,
        "n_chunks": layout.n_chunks,
        "n_kept": n_kept,
        "fields": {k: {"shape": list(v[0]), "dtype": v[1]} for k, v in fields.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def check(old: dict[str, Any], new: dict[str, Any], run_dir: Path, *, backend: bool = True) -> None:
    """Refuse to resume a store written by other settings, input files, code or JAX (and, with
    ``backend``, another JAX backend: a cluster's workers may differ from its driver)."""
    where = str(run_dir)
    if old.get("format") != FORMAT:
        raise InputError("resume", where, f"a run folder written by this version of stress (its store has format {old.get('format')!r}, this version reads {FORMAT})")
    if old["settings_hash"] != new["settings_hash"] or old["settings_hash"] != digest(old["settings"]):
        a, b = flatten(old["settings"]), flatten(new["settings"])
        diff = [f"{k}={a.get(k, '(unset)')!r} (now {b.get(k, '(unset)')!r})" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        shown = "; ".join(diff[:6]) + (f"; and {len(diff) - 6} more" if len(diff) > 6 else "") if diff else "(the manifest's settings do not match its hash)"
        raise InputError("resume", where, f"the settings it was started with: {shown}. Resume with the same settings, or start a new run")
    if old.get("inputs", {}) != new.get("inputs", {}):
        a, b = old.get("inputs", {}), new.get("inputs", {})
        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) or ["(the manifest's list of input files)"]
        raise InputError("resume", where, "the input files it was started with, unchanged (changed since: " + ", ".join(changed[:4]) + "); start a new run")
    for key, what in (("code", "stress code"), ("stress_version", "stress version"), ("jax_version", "JAX version"), ("jaxlib_version", "jaxlib version"), ("backend", "JAX backend")):
        if key == "backend" and not backend:
            continue
        if old.get(key) != new.get(key):
            raise InputError("resume", where, f"the same {what} as the run it continues (it was started with {old.get(key)!r}, this is {new.get(key)!r}); start a new run")
    if old["fields"] != new["fields"]:
        raise InputError("resume", where, "a store with the fields this run writes (they differ); start a new run")


MANIFEST_KEYS = ("format", "overrides", "settings", "settings_hash", "n_paths", "chunk_size", "n_chunks", "n_kept", "fields")


def check_manifest(manifest: Any, run_dir: Path) -> None:
    """A manifest read back must hold every key this version writes."""
    missing = [k for k in MANIFEST_KEYS if k not in manifest] if isinstance(manifest, dict) else list(MANIFEST_KEYS)
    bad_types = not isinstance(manifest.get("fields"), dict) or not isinstance(manifest.get("overrides"), list) or not isinstance(manifest.get("settings"), dict) or not isinstance(manifest.get("inputs", {}), dict) if not missing else False
    if missing or bad_types:
        raise InputError("resume", str(run_dir), f"a run folder whose store/manifest.json is complete (it lacks {', '.join(missing) or 'fields'}); start a new run")


class ChunkStore:
    """A run's chunk store (see the module docstring). Create with :meth:`create`, open with
    :meth:`open`."""

    def __init__(self, root: Path, manifest: dict[str, Any]):
        import zarr

        self.root = Path(root)
        self.manifest = manifest
        self.group = zarr.open_group(str(self.root / "chunks.zarr"), mode="r+")
        from stress.metrics import Accumulator

        self.fields = list(Accumulator._fields)  # the manifest's JSON keys are sorted: the order is the Accumulator's
        if sorted(self.fields) != sorted(manifest["fields"]):
            raise InputError("resume", str(self.root.parent), "a store with the fields this version of stress writes; start a new run")
        self.chunk_size = int(manifest["chunk_size"])
        self.n_chunks = int(manifest["n_chunks"])
        self.n_kept = int(manifest["n_kept"])
        self._writer: dict[str, str] | None = None

    @property
    def writer(self) -> dict[str, str]:
        if self._writer is None:
            self._writer = writer()
        return self._writer

    @staticmethod
    def exists(run_dir: Path) -> bool:
        return (Path(run_dir) / "store" / "manifest.json").is_file()

    @classmethod
    def create(cls, run_dir: Path, manifest: dict[str, Any], n_scalars: int, n_drivers: int, scalar_dtype: str) -> ChunkStore:
        import zarr
        from zarr.codecs import ZstdCodec

        root = Path(run_dir) / "store"
        root.mkdir(parents=True, exist_ok=True)
        (root / "done").mkdir(exist_ok=True)
        group = zarr.open_group(str(root / "chunks.zarr"), mode="w")
        zstd = [ZstdCodec(level=3)]  # the contributions are mostly zeros: about 200 times smaller
        n_chunks = manifest["n_chunks"]
        for name, spec in manifest["fields"].items():
            shape = tuple(spec["shape"])
            group.create_array(
                name,
                shape=(n_chunks, *shape),
                chunks=(1, *shape),
                dtype=spec["dtype"],
                fill_value=0,
                compressors=zstd,
                dimension_names=["chunk", *(f"{name}_{i}" for i in range(len(shape)))],
            )
        rows = max(1, manifest["n_kept"])
        b = manifest["chunk_size"]
        group.create_array("scalars", shape=(rows, n_scalars), chunks=(b, n_scalars), dtype=scalar_dtype, fill_value=np.nan, compressors=zstd, dimension_names=["path", "scalar"])
        group.create_array("drivers", shape=(rows, n_drivers), chunks=(b, n_drivers), dtype="float64", fill_value=np.nan, compressors=zstd, dimension_names=["path", "driver"])
        # The manifest last: a folder without one is not a store (a kill before this point leaves nothing to resume).
        write_json(root / "manifest.json", manifest)
        return cls(root, manifest)

    @classmethod
    def open(cls, run_dir: Path) -> ChunkStore:
        root = Path(run_dir) / "store"
        try:
            manifest = json.loads((root / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise InputError("resume", str(run_dir), f"a run folder with a readable store/manifest.json ({exc})") from None
        check_manifest(manifest, run_dir)
        try:
            return cls(root, manifest)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError("resume", str(run_dir), f"a run folder whose store/chunks.zarr can be opened ({type(exc).__name__}: {exc}); start a new run") from None

    # -- writing ---------------------------------------------------------------------------

    def write(self, out: Any) -> None:
        """Store one chunk's contribution (a :class:`stress.engine.ChunkOutput`), then its record."""
        c = int(out.index)
        h = hashlib.sha256(f"chunk {c}".encode())  # a chunk's data copied onto another's fails
        for name, a in zip(self.fields, out.acc, strict=True):
            a = np.require(a, np.int64, "C")
            self.group[name][c] = a
            h.update(a.tobytes())
        rows = np.asarray(out.rows, np.int64)
        if rows.size:
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            if hi - lo != rows.size:
                raise AssertionError("retained rows of a chunk are contiguous")
            sc, dr = np.ascontiguousarray(out.scalars), np.ascontiguousarray(out.drivers, np.float64)
            self.group["scalars"][lo:hi] = sc
            self.group["drivers"][lo:hi] = dr
            h.update(sc.tobytes())
            h.update(dr.tobytes())
        first = c * self.chunk_size
        record = {
            "chunk": c,
            "first_path": first,
            "paths": min(self.chunk_size, int(self.manifest["n_paths"]) - first),
            "retained_rows": int(rows.size),
            "sha256": h.hexdigest(),
            **self.writer,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_json(self.record_path(c), record)

    def record_path(self, c: int) -> Path:
        return self.root / "done" / f"{c:08d}.json"

    # -- reading ---------------------------------------------------------------------------

    def finished(self) -> list[int]:
        """Chunks with a record (their data is checked when loaded)."""
        out = []
        for f in (self.root / "done").glob("*.json"):
            try:
                c = int(f.stem)
            except ValueError:
                continue
            if 0 <= c < self.n_chunks:
                out.append(c)
        return sorted(out)

    def load(self, c: int) -> tuple[Any, int, np.ndarray, np.ndarray]:
        """Chunk ``c``'s accumulator, first retained row and retained scalars and drivers; raises
        :class:`CorruptChunk` when the data does not match the record's hash."""
        try:
            record = json.loads(self.record_path(c).read_text())
        except (OSError, ValueError) as exc:
            raise CorruptChunk(f"chunk {c}: unreadable record ({exc})") from None
        if record.get("chunk") != c:
            raise CorruptChunk(f"chunk {c}: its record {self.record_path(c).name} names chunk {record.get('chunk')!r}")
        h = hashlib.sha256(f"chunk {c}".encode())
        parts = []
        lo = c * self.chunk_size
        n_rows = int(record.get("retained_rows", 0))
        try:
            for name in self.fields:
                a = np.require(self.group[name][c], np.int64, "C")
                parts.append(a)
                h.update(a.tobytes())
            sc = np.ascontiguousarray(self.group["scalars"][lo : lo + n_rows])
            dr = np.ascontiguousarray(self.group["drivers"][lo : lo + n_rows], np.float64)
        except Exception as exc:  # noqa: BLE001 - a damaged file fails in the codec, whatever its error
            raise CorruptChunk(f"chunk {c}: its data cannot be read ({type(exc).__name__}: {exc})") from None
        if n_rows:
            h.update(sc.tobytes())
            h.update(dr.tobytes())
        if h.hexdigest() != record.get("sha256"):
            raise CorruptChunk(f"chunk {c}: its data does not match the SHA-256 in {self.record_path(c).name}")
        from stress.metrics import Accumulator

        return Accumulator(*parts), lo, sc, dr

    def writers(self, chunks: Iterable[int]) -> dict[tuple[str, str], list[int]]:
        """The (backend, device kind) that computed each of ``chunks``, from their records."""
        out: dict[tuple[str, str], list[int]] = {}
        for c in chunks:
            try:
                r = json.loads(self.record_path(c).read_text())
            except (OSError, ValueError):
                continue
            out.setdefault((str(r.get("backend", "unknown")), str(r.get("device_kind", "unknown"))), []).append(c)
        return out

    def refuse_other_backends(self, chunks: Iterable[int], field: str, value: Any, who: str) -> None:
        """Refuse (InputError on ``field``) when the records of ``chunks`` name a JAX backend
        other than this process's: chunks of two backends are never merged."""
        mine = self.writer["backend"]
        other = {k: v for k, v in self.writers(chunks).items() if k[0] != mine}
        if other:
            (b, kind), cs = next(iter(other.items()))
            raise InputError(field, value, f"the JAX backend the run's chunks were computed on ({len(cs)} chunks on {b} ({kind}); {who} runs {mine}): chunks of different backends would mix")

    def forget(self, chunks: Iterable[int]) -> None:
        """Drop the records of ``chunks`` (to recompute them)."""
        for c in chunks:
            self.record_path(c).unlink(missing_ok=True)



def write_json(path: Path, obj: Any) -> Path:
    """A JSON file written whole or not at all."""
    return replace_atomic(
        path,
        lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=1, sort_keys=True)),
        field="hydra.run.dir",
        value=str(Path(path).parent),
        allowed="a writable run folder",
    )
