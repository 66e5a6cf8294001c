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
    """Versions, source revision and devices of this process (netCDF-ready scalars).

    ``workers`` is the number of worker processes of the run; 1 here, the pipeline sets it when
    it runs more.
    """
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
        "jax_backend": jax.default_backend(),
        "platform": dev.platform,
        "device_kind": str(getattr(dev, "device_kind", dev.platform)),
        "device": f"{dev.platform} ({getattr(dev, 'device_kind', dev.platform)})",
        "device_count": jax.device_count(),
        "local_device_count": jax.local_device_count(),
        "x64": bool(jax.config.jax_enable_x64),
        "workers": 1,
        "python_version": _platform.python_version(),
        "host": _platform.machine(),
    }


SOURCE_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding the ``stress`` package: a git checkout's root when run from one."""


def git_commit(root: Path | None = None) -> str:
    """The commit of the package's own checkout, with ``+dirty`` if its tracked files have
    uncommitted changes; ``unknown`` where the package is not the root of a git checkout (an
    installed copy, even one inside another project's repository), git is missing or fails.

    git runs with a minimal environment (no ``GIT_*`` settings from the run) and without
    optional locks or the fsmonitor hook, so recording provenance neither writes to the
    checkout nor runs a configured command.
    """
    root = SOURCE_ROOT if root is None else Path(root)
    # No user or system git config (a HOME set by the run could name filters or hooks to run);
    # the checkout's own .git/config is the user's own.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}
    git = ["git", "--no-optional-locks", "-c", "core.fsmonitor=false", "-c", "core.attributesFile=" + os.devnull, "-C", str(root)]

    def out(*args: str) -> str:
        return subprocess.run([*git, *args], capture_output=True, text=True, timeout=5, check=True, env=env).stdout.strip()

    try:
        top = out("rev-parse", "--show-toplevel")
        if not top or Path(top).resolve() != root.resolve():
            return "unknown"
        sha = out("rev-parse", "HEAD")
        dirty = out("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError, ValueError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")
