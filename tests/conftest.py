"""Shared fixtures. JAX runs on the CPU with 64-bit types, as the CLI sets it up."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402

from stress.config import RuntimeConfig  # noqa: E402
from stress.runtime import setup  # noqa: E402

# One persistent compilation cache for the session, this process and the CLI subprocesses the
# tests start (they inherit the environment): the same programs are compiled again in many
# modules (jax.clear_caches below) and subprocesses, and XLA's compiled code does not depend on
# whether it came from the cache. A fresh folder per session: nothing carries over between runs.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _cache = tempfile.mkdtemp(prefix="stress-test-xla-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.5"
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

setup(RuntimeConfig())
jax.config.update("jax_numpy_rank_promotion", "raise")



@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Free each test module's compiled executables when it ends. XLA's CPU code for one engine
    compilation takes about a thousand memory mappings; a whole suite in one process would
    otherwise pass the kernel's limit (vm.max_map_count, 65,530) and crash in a later compile."""
    yield
    jax.clear_caches()


# Fixed seed for randomised tests; set STRESS_TEST_SEED to fuzz.
SEED = int(os.environ.get("STRESS_TEST_SEED", "0"))


@pytest.fixture(scope="session")
def pymrio_test():
    """pymrio's test MRIO, sorted as BoARIO sorts it."""
    from stress.config import WorldConfig
    from stress.mrio.io import load

    return load(WorldConfig(name="pymrio_test"))


@pytest.fixture(scope="session")
def ree_world():
    """The default world shipped with the package."""
    from stress.mrio.ree_world import load

    return load()


def ario_setup(mrio, *, boario_quirks=True, **params):
    """Tables, parameters and model with ARIO.md's parameter set (overridable)."""
    from stress.propagation import ario

    p = dict(psi=0.8, inventory_tau=60.0, alpha_base=1.0, alpha_max=1.25, alpha_tau=365.0)
    p.update(params)
    tables = ario.build_tables(mrio, inventory_days=90.0, year_to_day=365.0, boario_quirks=boario_quirks, dtype=jnp.float64)
    return tables, ario.build_params(dtype=jnp.float64, **p)
