"""The fast kernel against the reference: ``Ario(kernel="compact")`` carries the orders as
per-path factors of ``Z_0`` instead of the ``(n, n)`` matrix of ``kernel="plain"``. Both compute
the same model; here every shipped scenario, the shipped policies that reach a step of the
kernel the scenarios do not (on ``full_cutoff``: added capacity, rated rationing, reserves,
floors, tariffs, licences lifted for the coalition) and the ``noalt`` order split run the same
sampled paths through both, and every recorded daily trajectory must agree to 1e-9 relative in
float64. (The other policies act through the same channels: the regime chain, licences,
capacity; the suite's time budget leaves them out.)

Tolerance: the two forms sum the same products in a different order, so each step differs by a
few ulps (1e-16 relative) and the dynamics carry that forward; 1e-9 is the contract of the
performance issue. Each trajectory's error is measured against its own largest value over the
horizon, so a quantity that falls to zero on some day is not divided by zero.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from stress.cli import check_composition
from stress.pipeline import keys, prepare
from stress.propagation.ario import Record
from stress.sampler import sample_path_params

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p.stem for p in (ROOT / "configs" / "scenario").glob("*.yaml"))
SHIPPED_POLICIES = sorted(p.stem for p in (ROOT / "configs" / "policy").glob("*.yaml") if p.stem != "none")
POLICIES = ["allied_capacity", "defence_priority", "joint_stockpile", "price_floor", "tariff_wall", "us_only"]
JOIN = "policy.coalition.join_probability={USA: 1.0, EU: 1.0, JPN: 1.0, KOR: 1.0, ALLY: 1.0}"
CASES = (
    [pytest.param(["+scenario=" + s], id=s) for s in SCENARIOS]
    + [pytest.param(["+scenario=full_cutoff", "+policy=" + p, JOIN], id="full_cutoff+" + p) for p in POLICIES]
    + [pytest.param(["+scenario=full_cutoff", "model.order_type=noalt"], id="full_cutoff-noalt")]
)
PATHS = 6
HORIZON = 240
RTOL = 1e-9


def test_every_shipped_scenario_and_policy_is_covered():
    assert len(SCENARIOS) >= 9 and set(POLICIES) <= set(SHIPPED_POLICIES)
    assert "baseline" in SCENARIOS


def _both(prep):
    """Records ``(plain, compact)`` of the first ``PATHS`` paths of the run, stacked ``(path, day, ...)``."""
    _, key_paths = keys(0)
    ids = jnp.arange(PATHS)
    models = [dataclasses.replace(prep.model, kernel=k) for k in ("plain", "compact")]

    @jax.jit
    def run(ids):
        def one(pid):
            dis, pp = sample_path_params(jr.fold_in(key_paths, pid), prep.spec, prep.tables, prep.params)
            tab, par = prep.tables._replace(s=pp.s), prep.params._replace(psi=pp.psi)
            return tuple(m.simulate(tab, par, dis, HORIZON) for m in models)

        return jax.vmap(one)(ids)

    return jax.device_get(run(ids))


@pytest.mark.parametrize("overrides", CASES)
def test_compact_kernel_matches_the_plain_kernel(overrides):
    cfg = check_composition([*overrides, f"model.horizon_days={HORIZON}", "sampler.n_paths=8"])
    assert cfg.runtime.precision == "float64"
    prep = prepare(cfg)
    plain, compact = _both(prep)
    worst = {}
    for name in Record._fields:
        a, b = np.asarray(getattr(plain, name)), np.asarray(getattr(compact, name))
        if a.dtype == bool:
            np.testing.assert_array_equal(a, b, err_msg=name)
            continue
        assert np.isfinite(a).all() and np.isfinite(b).all(), name
        # each element's trajectory against its own largest magnitude over the horizon (unmet
        # final demand is a difference of two near-equal terms: against the demand itself)
        scale = np.abs(a).max(axis=1, keepdims=True)
        if name == "final_demand_unmet":
            scale = np.maximum(scale, np.asarray(prep.tables.Y0).sum(axis=1))
        err = np.abs(a - b) / np.where(scale > 0, scale, 1)
        worst[name] = float(err.max())
    bad = {k: v for k, v in worst.items() if v > RTOL}
    assert not bad, f"relative differences above {RTOL:g}: {bad}"
    assert not np.asarray(plain.crashed).any()
    X0 = np.asarray(prep.tables.X0)
    live = X0 > 0
    moved = (np.abs(np.asarray(plain.production) - X0)[..., live] / X0[live]).max()  # largest relative change of any industry
    if overrides[0] == "+scenario=baseline":
        assert moved < 1e-9  # nothing happens: a check that the comparison below is not vacuous elsewhere
    else:
        assert moved > 1e-3, f"the paths barely move (largest relative change of output {moved:.2e}): the comparison would be vacuous"
