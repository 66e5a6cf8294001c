"""Mergeable streaming statistics (stress.sketch): bucket index, rank statistics within the
stated relative accuracy on adversarial inputs, exact sums against Fractions, and merges that
equal single passes bit for bit."""

from __future__ import annotations

import decimal
from fractions import Fraction

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SEED

from stress.results.dataset import tail_stats
from stress.sketch import (
    Sketch,
    exact_add,
    exact_empty,
    exact_total,
    exceedance,
    mean_se,
    quantile_rank,
    rank_values,
    sketch_overflow,
    tail_from_sketch,
)

SK = Sketch()
A = SK.relative_accuracy


def jax_counts(x: np.ndarray, sk: Sketch = SK) -> np.ndarray:
    """The engine's path: Sketch.add on the device, one column."""
    x = np.asarray(x, np.float64)
    return np.asarray(sk.add(sk.empty(), jnp.asarray(x), jnp.ones(x.shape[0], jnp.int64)))


def edge_values(sk: Sketch) -> np.ndarray:
    """Every bucket edge tiny g^b, its two float neighbours, both signs."""
    e = sk.edges
    pos = np.concatenate([e, np.nextafter(e, 0), np.nextafter(e, np.inf)])
    return np.concatenate([pos, -pos])


# ------------------------------------------------------------------------------ bucket index


def test_numpy_index_gives_the_jax_buckets_and_edges_open_their_bucket():
    """The NumPy twin must count exactly as the device does (sample_dataset relies on it): on
    every edge and its float neighbours (where numpy's and XLA's logarithms disagree in ~5 % of
    cases before the edge-table correction), random values over 25 decades, and NaN/inf/0."""
    rng = np.random.default_rng(SEED)
    x = np.concatenate(
        [edge_values(SK), rng.choice([-1, 1], 20_000) * 10.0 ** rng.uniform(-12, 13, 20_000), [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, SK.tiny]]
    )
    got_jax = np.asarray(SK.index(jnp.asarray(x)))
    np.testing.assert_array_equal(SK.index_numpy(x), got_jax)
    # an edge tiny g^b opens bucket b; its float predecessor closes bucket b - 1
    b = np.arange(SK.n)
    assert np.array_equal(got_jax[: SK.n], SK.n + 1 + b)
    assert np.array_equal(got_jax[SK.n + 2 : 2 * SK.n + 1], SK.n + b[1:])  # predecessors of edges 1 .. n - 1
    assert got_jax[SK.n + 1] == SK.n  # nextafter(tiny, 0) < tiny: the zero bucket
    # Sketch.add (scatter-add, duplicates accumulate) and add_numpy (np.add.at) count alike
    x2 = np.stack([x[np.isfinite(x)][:5000], -x[np.isfinite(x)][:5000]], axis=1)
    w = (rng.random(5000) < 0.8).astype(np.int64)
    dev = np.asarray(SK.add(SK.empty(2), jnp.asarray(x2), jnp.asarray(w)))
    np.testing.assert_array_equal(SK.add_numpy(np.zeros((2, SK.width), np.int64), x2, w), dev)
    assert dev.sum() == 2 * w.sum()


def test_quantile_rank_is_numpys_inverted_cdf():
    """VaR ranks must be the raw-value statistics' (tail_stats uses numpy's inverted_cdf); the
    old tolerance gave rank 7 for q = 0.07, N = 100 where numpy takes 8 (100 * 0.07 rounds to
    7.000000000000001)."""
    for n in (1, 2, 3, 10, 100, 101, 1000, 12_345):
        v = np.arange(1, n + 1, dtype=np.float64)
        for q in [*(np.arange(1, 1000) / 1000), 0.07, 0.14, 0.28, 0.57, 1.0]:
            assert quantile_rank(n, q) == int(np.quantile(v, q, method="inverted_cdf")), (n, q)


# ------------------------------------------------------------------------------ accuracy


def adversarial_samples(rng: np.random.Generator) -> dict[str, np.ndarray]:
    e = SK.edges[::37]
    return {
        "bucket edges and neighbours": np.concatenate([e, np.nextafter(e, 0), np.nextafter(e, np.inf)]),
        "20 decades": 10.0 ** rng.uniform(-8, 12, 3000),
        "signed mix": rng.choice([-1, 1], 3000) * 10.0 ** rng.uniform(-9, 11, 3000),
        "ties": np.repeat([0.0, 1.0, -1.0, 3.7, 1e6], [400, 700, 300, 500, 100]),
        "below tiny": np.concatenate([rng.uniform(-1e-9, 1e-9, 500), [5e-324, -1e-300, np.nextafter(1e-9, 0)], rng.normal(size=500)]),
        "at +-huge": np.concatenate([[SK.huge, -SK.huge, np.nextafter(SK.huge, 0)], rng.normal(size=200)]),
    }


@pytest.mark.parametrize("name", list(adversarial_samples(np.random.default_rng(0))))
def test_every_rank_statistic_is_within_the_relative_accuracy(name):
    """The sketch's promise: the r-th smallest value read from it is within a relative a of
    np.sort(x)[r - 1] for every rank r, and exactly 0 where |x| < tiny. Tolerance a |x| plus 4
    ulps: the bucket edges and representative values are float64 products (a few roundings)."""
    x = adversarial_samples(np.random.default_rng(SEED))[name]
    counts = jax_counts(x)
    want = np.sort(np.where(np.abs(x) < SK.tiny, 0.0, x))
    got = rank_values(counts, SK.values(), np.arange(1, x.size + 1))[:, ]
    err = np.abs(got - want)
    assert np.all(err <= A * np.abs(want) + 4 * np.spacing(np.abs(want))), float((err / np.maximum(np.abs(want), 1e-300)).max())
    assert np.all(got[want == 0] == 0.0)
    assert sketch_overflow(SK, counts) == (name == "at +-huge")


def test_values_beyond_huge_are_flagged():
    """Beyond tiny g^n a value is clipped into the last bucket: the flag must say so."""
    assert SK.edges[-1] >= SK.huge
    assert sketch_overflow(SK, jax_counts(np.array([1.0, 1e15])))
    assert sketch_overflow(SK, jax_counts(np.array([1.0, -1e15])))
    assert not sketch_overflow(SK, jax_counts(np.array([1.0, 1e11, -1e11])))


def test_tail_statistics_follow_the_raw_values_within_the_accuracy():
    """tail_from_sketch against tail_stats on the raw losses (same ranks): VaR and the bounds
    within a relative a (each is one order statistic read from the sketch); ES within a (a mean
    of values each within a)."""
    rng = np.random.default_rng(SEED + 1)
    x = rng.lognormal(1.0, 1.5, 5000)
    q = np.array([0.07, 0.5, 0.9, 0.99, 0.999, 1.0])
    raw = tail_stats(x[:, None], q)
    st = tail_from_sketch(jax_counts(x), SK.values(), q)
    for mine, theirs in ((st.quantile, raw["quantile"][:, 0]), (st.lower, raw["lower"][:, 0]), (st.upper, raw["upper"][:, 0]), (st.es, raw["es"][:, 0])):
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs))
        ok = ~np.isnan(theirs)
        assert np.all(np.abs(mine[ok] - theirs[ok]) <= A * np.abs(theirs[ok]) * (1 + 1e-12))


def test_all_zero_sample_gives_exact_zeros():
    c = jax_counts(np.zeros(300))
    st = tail_from_sketch(c, SK.values(), np.array([0.5, 0.9, 0.99]))
    for f in (st.quantile, st.lower, st.es):
        assert np.all(f == 0.0), f
    # ES intervals: exactly 0 with enough tail paths; NaN with 3 (fewer than ES_MIN_TAIL)
    for f in (st.es_lower, st.es_upper):
        assert np.all(f[:2] == 0.0) and np.isnan(f[2]), f
    # with 300 paths no rank gives a 97.5 % upper bound of the 0.99 quantile (P(B <= 299) = 0.95)
    assert np.all(st.upper[:2] == 0.0) and np.isnan(st.upper[2])
    assert exceedance(c, SK.values(), 0.0) == 0.0


# ------------------------------------------------------------------------------ merges


def test_merges_and_chunkings_equal_one_pass_bit_for_bit():
    """Integer counts and exact-sum limbs: any chunking, in any order, gives the single pass's
    arrays exactly, and so the same statistics."""
    rng = np.random.default_rng(SEED + 2)
    x = np.concatenate([rng.pareto(1.5, 3000) * 1e3, -rng.exponential(size=500), np.zeros(200)])
    x = rng.permutation(x)[:, None]
    w = jnp.ones(x.shape[0], jnp.int64)
    one_sk = SK.add(SK.empty(1), jnp.asarray(x), w)
    one_s1 = exact_add(exact_empty(1), jnp.asarray(x), w)
    one_s2 = exact_add(exact_empty(1), jnp.asarray(x), w, jnp.asarray(x))
    cuts = np.sort(rng.choice(np.arange(1, x.shape[0]), 9, replace=False))
    chunks = np.split(x, cuts)
    width = max(len(c) for c in chunks)  # one padded shape (one compilation); padding weighs 0
    sk_parts, s1_parts, s2_parts = [], [], []
    for j in rng.permutation(len(chunks)):
        pad = width - len(chunks[j])
        c = jnp.asarray(np.concatenate([chunks[j], np.full((pad, 1), 7.0)]))
        cw = jnp.asarray(np.r_[np.ones(len(chunks[j]), np.int64), np.zeros(pad, np.int64)])
        sk_parts.append(SK.add(SK.empty(1), c, cw))
        s1_parts.append(exact_add(exact_empty(1), c, cw))
        s2_parts.append(exact_add(exact_empty(1), c, cw, c))
    for parts, one in ((sk_parts, one_sk), (s1_parts, one_s1), (s2_parts, one_s2)):
        merged = parts[0]
        for p in parts[1:]:
            merged = merged + p
        np.testing.assert_array_equal(np.asarray(merged), np.asarray(one))
    # A, B added into one accumulator in sequence == the two accumulators summed
    half = x.shape[0] // 2
    seq = SK.add(SK.add(SK.empty(1), jnp.asarray(x[:half]), w[:half]), jnp.asarray(x[half:]), w[half:])
    np.testing.assert_array_equal(np.asarray(seq), np.asarray(one_sk))


# ------------------------------------------------------------------------------ exact sums


def exact_mean_se(x: np.ndarray) -> tuple[float, float]:
    """Reference: mean and SE from Fractions of the float64 values; the square root with 40
    significant digits (decimal), correctly rounded to float64 but for a double rounding."""
    f = [Fraction(float(v)) for v in x]
    n = len(f)
    s1 = sum(f)
    s2 = sum(v * v for v in f)
    v = (n * s2 - s1 * s1) / (n * (n - 1)) / n
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        se = float((decimal.Decimal(v.numerator) / decimal.Decimal(v.denominator)).sqrt())
    return float(s1 / n), se


def device_mean_se(x: np.ndarray) -> tuple[float, float]:
    col = jnp.asarray(np.asarray(x)[:, None])
    w = jnp.ones(len(x), jnp.int64)
    s1 = exact_total(np.asarray(exact_add(exact_empty(1), col, w)))[0]
    s2 = exact_total(np.asarray(exact_add(exact_empty(1), col, w, col)))[0]
    return mean_se(s1, s2, len(x))


def test_exact_sums_equal_fractions_on_adversarial_data():
    """Bit-identical to the Fraction reference: a large offset with tiny noise (naive float
    variance cancels), 1e-300/1e300 mixes (squares out of float range), subnormals (which XLA
    flushes: read from the bits), and 200 values with variance 1e-12 of the mean squared."""
    rng = np.random.default_rng(SEED + 3)
    cases = {
        "offset": 1e8 + 1e-6 * rng.normal(size=2000),
        "extremes": rng.permutation(np.concatenate([rng.uniform(1, 2, 50) * 1e-300, rng.uniform(1, 2, 50) * 1e300, -rng.uniform(1, 2, 50) * 1e300])),
        "subnormal": np.array([5e-324, 1e-310, -3e-315, 2.2250738585072014e-308, 1e-320]),
        "tight": 3.0 * (1 + 1e-6 * rng.normal(size=200)),
    }
    for name, x in cases.items():
        (m, se), (m_ref, se_ref) = device_mean_se(x), exact_mean_se(x)
        assert m == m_ref, name  # float(S1 / n): correctly rounded
        # SE: sqrt of the correctly rounded variance (or an integer root out of float range);
        # two roundings, so within 1 ulp of the correctly rounded root
        assert abs(se - se_ref) <= np.spacing(se_ref), (name, se, se_ref)
    # the naive float64 SE of "tight" is off: the exact one is what it should be
    x = cases["tight"]
    assert device_mean_se(x)[1] == pytest.approx(np.std(x, ddof=1) / np.sqrt(200), rel=1e-6)


def test_exact_sums_of_float32_values():
    """float32 kernel values: cast exactly to float64, so the sums are those of the float32
    numbers themselves, while a float32 running sum of 2^24 + ... stalls."""
    rng = np.random.default_rng(SEED + 4)
    x32 = (1e4 + rng.normal(size=1000)).astype(np.float32)
    col = jnp.asarray(x32[:, None])
    w = jnp.ones(1000, jnp.int64)
    s1 = exact_total(np.asarray(exact_add(exact_empty(1), col, w)))[0]
    s2 = exact_total(np.asarray(exact_add(exact_empty(1), col, w, col)))[0]
    assert (s1, s2) == (sum(Fraction(float(v)) for v in x32), sum(Fraction(float(v)) ** 2 for v in x32))
    m, se = mean_se(s1, s2, 1000)
    m_ref, se_ref = exact_mean_se(x32.astype(np.float64))
    assert m == m_ref and abs(se - se_ref) <= np.spacing(se_ref)
