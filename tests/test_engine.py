"""The engine: chunk-size invariance, one compilation, padding, determinism, monotone losses."""

from __future__ import annotations

import dataclasses

import jax.random as jr
import numpy as np
import pytest

from stress import engine
from stress.config import CalibrationConfig, Config, CutoffConfig, ModelConfig, SamplerConfig, ScenarioConfig, WorldConfig
from stress.errors import InputError
from stress.metrics import Metrics
from stress.pipeline import prepare

NO_POSTERIOR = CalibrationConfig(posterior="none")


def world_output_column(mrio_regions) -> int:
    return Metrics().scalar_names(mrio_regions).index("output_loss/WORLD")


def cutoff_config(world="pymrio_test", horizon=60, **cut) -> Config:
    """A cut-off scenario valid on pymrio's test MRIO (reg1 stops exporting two products), with
    the scenario's hand-set priors (no posterior)."""
    if world == "pymrio_test":
        sc = ScenarioConfig(name="test_cutoff", kind="export_cutoff", exporter="reg1", products=["mining", "manufactoring"])
    else:
        sc = ScenarioConfig(name="test_cutoff", kind="export_cutoff", exporter="CHN", products=["ree_separation", "magnets"])
    if cut:
        sc = dataclasses.replace(sc, cutoff=CutoffConfig(**cut))
    return Config(world=WorldConfig(name=world), model=ModelConfig(horizon_days=horizon), scenario=sc, calibration=NO_POSTERIOR)


def run_engine(cfg: Config, n_paths: int, chunk_size: int, seed: int = 0, metrics: Metrics | None = None, width: int | None = None):
    prep = prepare(cfg)
    key_paths = jr.split(jr.key(seed))[1]
    return engine.run(
        key_paths,
        prep.model,
        metrics or Metrics(),
        prep.tables,
        prep.params,
        prep.spec,
        horizon=cfg.model.horizon_days,
        n_paths=n_paths,
        chunk_size=chunk_size,
        width=width,
    )


def _same(a, b):
    np.testing.assert_array_equal(a.scalars, b.scalars)
    np.testing.assert_array_equal(a.drivers, b.drivers)
    for x, y in zip(a.acc, b.acc, strict=True):
        np.testing.assert_array_equal(x, y)


def test_chunk_size_does_not_change_results():
    # The contract is bit-identity, not closeness: per-path arithmetic is vectorised in groups
    # of a fixed width and the accumulators add integers.
    cfg = cutoff_config(horizon=40)
    a = run_engine(cfg, n_paths=2100, chunk_size=1000)
    b = run_engine(cfg, n_paths=2100, chunk_size=2048)
    assert a.n_chunks == 3 and b.n_chunks == 2
    _same(a, b)
    assert int(a.acc.count) == 2100
    assert a.scalars[:, world_output_column(["r"] * 6)].std() > 0  # the paths really differ


def test_vector_width_does_not_change_results():
    # Widths are a speed setting tuned per platform (runtime.width); the numbers must not move.
    # Before availability took its mean in the kernel's dtype, XLA rounded that float32 mean
    # differently at different widths and lost output moved by about 1e-8.
    assert engine.padded(256, 96) == (88, 264) and engine.padded(256, 1024) == (256, 256) and engine.padded(4072, 1024) == (1024, 4096)
    assert engine.padded(1104, 1024) == (552, 1104) and engine.padded(1000, 32) == (32, 1024)
    # (padded slots: test_chunk_size_does_not_change_results runs a chunk of 1,000 in 4 groups of 256)
    # The default world at the GPU's default width with a lever (coalition members joining at
    # random, so per-path reserve sizes, rates and quotas differ) and the run's own metrics
    # (monitored flows, directly hit industries): every retained value compared, drivers too.
    from stress.cli import check_composition
    from stress.pipeline import keys, make_metrics

    cfg = check_composition(["+scenario=full_cutoff", "+policy=joint_stockpile", "model.horizon_days=30", "policy.joint_stockpile.holder=national"])
    prep = prepare(cfg)
    metrics = make_metrics(cfg, prep)
    runs = [
        engine.run(keys(0)[1], prep.model, metrics, prep.tables, prep.params, prep.spec, horizon=30, n_paths=1024, chunk_size=1024, width=w)
        for w in (8, 1024)
    ]
    _same(*runs)
    assert int(runs[0].acc.count) == 1024 and np.nanstd(runs[0].drivers, axis=0).max() > 0  # the drivers vary across paths
    with pytest.raises(InputError, match="runtime.width"):
        engine.resolve_width(12, "cpu")
    assert engine.resolve_width(None, "cpu", "plain") == 128 and engine.resolve_width(None, "gpu") == engine.ACCELERATOR_WIDTH


def test_one_compilation_across_chunks():
    cfg = cutoff_config(horizon=37)  # a horizon no other test uses: a fresh trace
    before = engine.TRACES["run_chunk"]
    res = run_engine(cfg, n_paths=50, chunk_size=16)
    assert res.n_chunks == 4
    assert engine.TRACES["run_chunk"] - before == 1
    # Another scenario with the same shapes (different numbers) reuses the compiled chunk.
    run_engine(cutoff_config(horizon=37, median_days=10.0), n_paths=20, chunk_size=16)
    assert engine.TRACES["run_chunk"] - before == 1


def test_padding_is_masked_exactly():
    cfg = cutoff_config(horizon=30)
    a = run_engine(cfg, n_paths=10, chunk_size=8)  # 16 slots, 6 padded
    b = run_engine(cfg, n_paths=10, chunk_size=16)
    c = run_engine(cfg, n_paths=16, chunk_size=16)
    _same(a, b)
    assert int(a.acc.count) == 10 and a.acc.share_sketch.sum() == 10 * a.acc.share_sketch.shape[0]
    np.testing.assert_array_equal(a.scalars, c.scalars[:10])  # a path depends on its id only


def test_seed_determines_results():
    cfg = cutoff_config(horizon=30)
    a = run_engine(cfg, 24, 8, seed=3)
    b = run_engine(cfg, 24, 8, seed=3)
    c = run_engine(cfg, 24, 8, seed=4)
    _same(a, b)
    assert not np.array_equal(a.scalars, c.scalars)


def test_baseline_gives_zero_loss(ree_world):
    cfg = Config(world=WorldConfig(name="ree_world"), scenario=ScenarioConfig(name="baseline"), model=ModelConfig(horizon_days=365))
    res = run_engine(cfg, n_paths=8, chunk_size=8)
    world_output = ree_world.x.sum()  # money per year, the horizon is one year
    # No disruption: the state stays at its fixed point; losses are rounding noise.
    assert np.abs(res.scalars).max() < 1e-9 * world_output
    assert res.acc.halt_week[:, -1].min() == 8  # no industry ever halted


def test_loss_grows_with_cutoff_duration():
    # Fixed cut-off durations (sigma = 0), common random numbers for the licence draws.
    losses = []
    for days in (20.0, 60.0, 120.0):
        res = run_engine(cutoff_config("ree_world", horizon=365, median_days=days, sigma=0.0), n_paths=8, chunk_size=8)
        losses.append(res.scalars[:, world_output_column(["r"] * 7)])  # world lost output per path
    means = [float(v.mean()) for v in losses]
    assert means[0] > 0
    assert means[0] < means[1] < means[2]
    # Path by path too: the same licence draws, a longer cut-off, a larger loss.
    assert np.all(losses[0] < losses[1]) and np.all(losses[1] < losses[2])


def test_sampler_config_n_paths_lower_bound():
    from stress.config import validate
    from stress.errors import InputError

    with pytest.raises(InputError) as err:
        validate(Config(sampler=SamplerConfig(n_paths=0)))
    assert err.value.field == "sampler.n_paths"


def test_float32_kernel_agrees_with_float64():
    """The same paths in single precision: draws are made in float64 either way, so the only
    difference is rounding in the dynamics. Over 120 days it stays below 1e-4 of the loss
    (measured: about 1e-5 on the default world), far inside the Monte Carlo error."""
    cfg64 = cutoff_config(horizon=120)
    cfg32 = dataclasses.replace(cfg64, runtime=dataclasses.replace(cfg64.runtime, precision="float32"))
    a = run_engine(cfg64, n_paths=16, chunk_size=16)
    b = run_engine(cfg32, n_paths=16, chunk_size=16)
    k = world_output_column(["r"] * 6)
    np.testing.assert_allclose(b.scalars[:, k], a.scalars[:, k], rtol=1e-4)


def test_one_compilation_across_policy_settings_and_seeds():
    # A sweep over a lever's settings, the coalition or the seed changes numbers, not the
    # program: one trace of the chunk function for all of them (the trace counter).
    from stress.cli import check_composition
    from stress.pipeline import keys, make_metrics

    # (the program of the width test's first run: at most one trace here, none if it ran first)
    def chunk_run(*overrides, seed=0):
        cfg = check_composition(["+scenario=full_cutoff", "+policy=joint_stockpile", "model.horizon_days=30", "policy.joint_stockpile.holder=national", f"sampler.seed={seed}", *overrides])
        prep = prepare(cfg)
        _, key_paths = keys(seed)
        return engine.run(key_paths, prep.model, make_metrics(cfg, prep), prep.tables, prep.params, prep.spec, horizon=30, n_paths=1024, chunk_size=1024, width=8)

    a = chunk_run("policy.joint_stockpile.days={ree_separation: 20, magnets: 20}")
    after_first = engine.TRACES["run_chunk"]
    b = chunk_run("policy.joint_stockpile.days={ree_separation: 80, magnets: 80}")
    c = chunk_run("policy.coalition.join_probability={USA: 1.0, EU: 0.2, JPN: 1.0, KOR: 0.5, ALLY: 0.0}", seed=5)
    assert engine.TRACES["run_chunk"] == after_first  # no new trace for other settings, coalition or seed
    assert not np.array_equal(a.scalars, b.scalars) and not np.array_equal(a.scalars, c.scalars)  # the numbers did change
