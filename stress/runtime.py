"""Process-level JAX setup, done once before any array exists, and run provenance."""

from __future__ import annotations

import os
import platform as _platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from stress.config import RuntimeConfig
from stress.errors import InputError


# The device platform a setting asks for (``jax.Device.platform`` names CUDA devices "gpu").
DEVICE_PLATFORM = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu", "tpu": "tpu"}


def setup(cfg: RuntimeConfig) -> dict[str, Any]:
    """Enable 64-bit types and fix the platform for the whole process; return provenance.

    ``jax_enable_x64`` is a process-wide switch and is always on: the accumulators are int64
    and the ARIO equality tests (``zeta == 0``, ``allclose`` short-cuts, 6-decimal rounding) are
    float64 behaviours. ``precision`` only chooses the dtype of the kernel's arrays.

    Raises
    ------
    InputError
        If ``cfg.platform`` names a platform JAX cannot use on this machine (or, JAX being
        already set up in this process, not the one it uses).
    """
    want = "cuda" if cfg.platform == "gpu" else cfg.platform
    if want:
        os.environ.setdefault("JAX_PLATFORMS", want)
    import jax

    jax.config.update("jax_enable_x64", True)
    if want:
        previous = jax.config.jax_platforms
        jax.config.update("jax_platforms", want)
        try:
            platform = jax.devices()[0].platform
        except (RuntimeError, AssertionError):  # no such backend; JAX asserts when no GPU is visible
            platform = None
        if platform != DEVICE_PLATFORM[want]:
            jax.config.update("jax_platforms", previous)
            raise InputError("runtime.platform", cfg.platform, "a platform this machine has: " + ", ".join(available_platforms()))
    return provenance()


def available_platforms() -> list[str]:
    """The device platforms JAX finds on this machine (``cpu``, ``gpu``, ``tpu``)."""
    import jax
    from jax.extend import backend

    previous = jax.config.jax_platforms
    jax.config.update("jax_platforms", "")  # every platform JAX can initialise
    try:
        return sorted({d.platform for b in backend.backends().values() for d in b.devices()})
    except (RuntimeError, AssertionError):
        return ["none found"]
    finally:
        jax.config.update("jax_platforms", previous)


def provenance() -> dict[str, Any]:
    """Versions and device of this process."""
    import jax

    dev = jax.devices()[0]

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "stress_version": version("stress"),
        "git_commit": git_commit(),
        "jax_version": jax.__version__,
        "jaxlib_version": version("jaxlib"),
        "device": f"{dev.platform} ({getattr(dev, 'device_kind', dev.platform)})",
        "device_count": jax.device_count(),
        "x64": bool(jax.config.jax_enable_x64),
        "python_version": _platform.python_version(),
        "host": _platform.machine(),
    }


def git_commit() -> str:
    """The checkout's commit (with ``-dirty`` if it has uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty.strip() else "")
