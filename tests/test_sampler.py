"""Path sampling: keys from global ids, and the priors' moments."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from conftest import SEED

from stress.config import Config, ScenarioConfig, WorldConfig
from stress.sampler import sample_path
from stress.scenario import build


def _spec(mrio, **licence):
    sc = ScenarioConfig(name="t", kind="export_cutoff", exporter="reg1", products=["mining"])
    for k, v in licence.items():
        setattr(sc.licence, k, v)
    return build(Config(world=WorldConfig("pymrio_test"), scenario=sc), mrio, jnp.float64)


def _draw(spec, ids, seed=SEED):
    key = jr.key(seed)
    return jax.vmap(lambda i: sample_path(jr.fold_in(key, i), spec))(jnp.asarray(ids))


def test_path_draws_depend_on_the_id_only(pymrio_test):
    spec = _spec(pymrio_test)
    a = _draw(spec, np.arange(0, 64))
    b = _draw(spec, np.arange(32, 96))
    np.testing.assert_array_equal(a.resume_day[32:], b.resume_day[:32])
    # Distinct ids give distinct draws.
    assert np.unique(np.asarray(a.resume_day).reshape(64, -1), axis=0).shape[0] == 64


def test_cutoff_duration_is_lognormal(pymrio_test):
    """With approval certain (p = 1) every application reopens one week after the cut-off:
    resume - 7 = T_c, log T_c ~ N(log 60, 0.7^2). Tolerances: 4 Monte Carlo standard errors."""
    spec = _spec(pymrio_test, applications=1, approval_a=1e9, approval_b=1e-9)
    N = 40_000
    resume = np.asarray(_draw(spec, np.arange(N)).resume_day)[:, :, 0]
    np.testing.assert_allclose(resume, resume[:, :1] * np.ones_like(resume), rtol=1e-15)  # one duration per path
    logd = np.log(resume[:, 0] - 7.0)
    assert abs(logd.mean() - np.log(60.0)) < 4 * 0.7 / np.sqrt(N)
    assert abs(logd.std(ddof=1) - 0.7) < 4 * 0.7 / np.sqrt(2 * N)


def test_weekly_approvals_are_geometric(pymrio_test):
    """With a fixed 60-day cut-off, the wait G in whole weeks is Geometric(p), p ~ Beta(6, 18):
    E[G] = E[1/p] - 1 = (a + b - 1)/(a - 1) - 1 = 3.6. Tolerance: 4 standard errors."""
    spec = _spec(pymrio_test, applications=4, approval_a=6.0, approval_b=18.0)._replace(cutoff_sigma=jnp.asarray(0.0))
    N = 20_000
    resume = np.asarray(_draw(spec, np.arange(N)).resume_day)
    weeks = (resume - 60.0) / 7.0 - 1.0
    np.testing.assert_allclose(weeks, np.round(weeks), atol=1e-9)  # decisions come weekly
    assert abs(weeks.min()) < 1e-9  # some application is approved in the first week
    # Applications to one destination share p: their waits are positively correlated, so the
    # standard error uses per-path means (independent across paths).
    per_path = weeks.mean(axis=(1, 2))
    assert abs(per_path.mean() - 3.6) < 4 * per_path.std(ddof=1) / np.sqrt(N)


def test_baseline_spec_has_no_restriction(pymrio_test):
    spec = build(Config(world=WorldConfig("pymrio_test"), scenario=ScenarioConfig()), pymrio_test, jnp.float64)
    d = _draw(spec, np.arange(4))
    assert np.all(np.asarray(d.export_mask) == 0)
    assert np.all(np.isinf(np.asarray(d.cut_start)))
