"""Mergeable streaming statistics whose size does not depend on the number of paths.

Two structures, each a plain integer array on the device, added to chunk by chunk and merged by
adding arrays. Integer additions are exact and commutative, so a result does not depend on the
chunk size, the vector width, the device count or the order of merges.

**Exact sums** (``exact_add`` / ``exact_total``). A float64 value ``x = M 2^(e - 53)`` with an
integer mantissa ``|M| < 2^53`` (``frexp``) is split into two limbs, ``M = hi 2^26 + lo`` with
``0 <= lo < 2^26``, and each limb is added into the bin of its exponent ``e``. The host
reassembles the bins with Python integers, so the sum of any number of finite float64 values is
computed exactly (subnormal ones included: the mantissa and exponent are read from the bits, since
XLA flushes subnormals to zero in arithmetic). Every addition into a bin is below ``2^29`` in
magnitude, so a bin holds ``2^34`` of them before int64 could overflow: 1.7e10 paths.
Means and variances then come from exact sums of ``x`` and ``x^2``:
``N S2 - S1^2`` is exact integer arithmetic, so there is no cancellation however small the
variance is against the mean (the squares are exact for float32 kernels; for float64 each carries
one rounding, a relative 1.1e-16).

**Log-bucketed quantile sketch** (``sketch_add`` and the host functions below; the DDSketch
construction of Masson, Rim & Lee, VLDB 2019). With relative accuracy ``a`` and
``g = (1 + a) / (1 - a)``, a value with ``|x| >= tiny`` falls in bucket ``b = floor(log_g(|x| /
tiny))`` of its sign, whose representative value ``2 tiny g^(b+1) / (g + 1)`` is within a relative
``a`` of every value in the bucket; ``|x| < tiny`` is counted in an exact zero bucket, whose value
is 0. Any rank statistic read from the sketch (a quantile, an order statistic bounding it) is
therefore within ``a`` of the exact order statistic of the sample, relatively, and exactly 0 where
that order statistic is 0 (or below ``tiny`` in magnitude). Values beyond ``tiny g^n`` (``n``
buckets a sign) are counted in the last bucket and flagged (:func:`sketch_overflow`).

A value's bucket is decided against one table of bucket edges ``tiny g^b`` (float64), after a
first guess from the logarithm, so that the JAX index (:meth:`Sketch.index`) and its NumPy twin
(:meth:`Sketch.index_numpy`) give identical buckets even for values within an ulp of an edge
(the two libraries' logarithms differ in the last bits).

JAX is imported when a device function is first called, so reading sketches (NumPy) does not
load it; the device functions need 64-bit types (``jax_enable_x64``, set by
:func:`stress.runtime.setup`) and refuse to run without them.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

if TYPE_CHECKING:
    import jax
    import xarray as xr


def _jnp() -> Any:
    """``jax.numpy``, imported on first use; refuses to run without 64-bit types (the counters
    are int64 and the bucket index is computed in float64: without x64 JAX would silently use
    int32 and float32)."""
    import jax

    if not jax.config.jax_enable_x64:
        raise RuntimeError(
            "stress.sketch needs 64-bit JAX types: call jax.config.update('jax_enable_x64', True) "
            "(stress.runtime.setup does) before using its device functions"
        )
    import jax.numpy as jnp

    return jnp

# ------------------------------------------------------------------------------------- exact sums

EXP_SHIFT = 2260  # a term T at bin k is worth T 2^(k - EXP_SHIFT)
EXP_BINS = 4260  # bins of values (k = e - 53 + EXP_SHIFT) and of products of two values (k >= 2e - 106 + EXP_SHIFT)
LIMB = 26
MANTISSA = 53


def exact_empty(k: int) -> jax.Array:
    """Zero exact sums of ``k`` columns, shape ``(k, 2, EXP_BINS)`` int64."""
    jnp = _jnp()
    return jnp.zeros((k, 2, EXP_BINS), jnp.int64)


def _split(values: jax.Array, keep: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``x = (hi 2^26 + lo) 2^(e - 53)`` with integers ``hi`` (signed, ``|hi| <= 2^27``) and
    ``0 <= lo < 2^26``, exact for every finite float64.

    The integer mantissa ``M`` (``|M| < 2^53``) and exponent are read from the IEEE bits, not
    with ``frexp``: XLA flushes subnormals to zero on CPU and GPU, and its ``frexp`` returns
    wrong exponents for them (``frexp(1e-310)`` gave ``(0.5, -1074)``). Subnormals keep an
    unnormalised ``M < 2^52`` with ``e = -1021``; 0 gives ``M = 0``."""
    jnp = _jnp()
    from jax import lax

    x = jnp.where(keep & jnp.isfinite(values), values, 0.0)  # a select: subnormals pass unflushed
    bits = lax.bitcast_convert_type(x, jnp.int64)
    field = jnp.bitwise_and(jnp.right_shift(bits, 52), 0x7FF)  # biased exponent (0: zero or subnormal)
    frac = jnp.bitwise_and(bits, (1 << 52) - 1)
    normal = field > 0
    mag = jnp.where(normal, jnp.bitwise_or(frac, 1 << 52), frac)
    M = jnp.where(bits < 0, -mag, mag)  # x = M 2^(e - 53)
    e = jnp.where(normal, field - 1022, -1021)
    hi = jnp.right_shift(M, LIMB)  # floor division by 2^26
    return hi, M - jnp.left_shift(hi, LIMB), e.astype(jnp.int32)


def _add_term(bins: jax.Array, col: jax.Array, k: jax.Array, T: jax.Array) -> jax.Array:
    """Add integers ``T`` (``|T| < 2^55``) worth ``T 2^(k - EXP_SHIFT)``, split into the two limbs
    of bin ``k`` (each addition below ``2^29`` in magnitude: ``2^34`` of them fit in int64)."""
    jnp = _jnp()
    t1 = jnp.right_shift(T, LIMB)
    return bins.at[col, 0, k].add(t1).at[col, 1, k].add(T - jnp.left_shift(t1, LIMB))


def exact_add(bins: jax.Array, values: jax.Array, weights: jax.Array, other: jax.Array | None = None) -> jax.Array:
    """Add ``values`` ``(B, k)`` of the rows whose ``weights`` ``(B,)`` (or entries whose weights
    ``(B, k)``) are positive to ``bins`` ``(k, 2, EXP_BINS)``; with ``other`` ``(B, k)``, add the exact products ``values * other``
    instead (``other = values`` for the squares). Non-finite values of weighted rows are added as
    0 (callers exclude crashed paths through ``weights``). float32 values are converted to
    float64 exactly, except float32 subnormals (below 1.2e-38), which XLA flushes to 0."""
    jnp = _jnp()
    keep = weights > 0 if weights.ndim == 2 else (weights > 0)[:, None]
    x = jnp.asarray(values).astype(jnp.float64)
    col = jnp.broadcast_to(jnp.arange(x.shape[1])[None, :], x.shape)
    hx, lx, ex = _split(x, keep)
    if other is None:
        return _add_term(bins, col, ex - MANTISSA + EXP_SHIFT + LIMB, hx).at[col, 1, ex - MANTISSA + EXP_SHIFT].add(lx)
    hy, ly, ey = _split(jnp.asarray(other).astype(jnp.float64), keep)
    # (hx 2^26 + lx)(hy 2^26 + ly) 2^(ex + ey - 106): three exact integer terms
    k0 = ex + ey - 2 * MANTISSA + EXP_SHIFT
    bins = _add_term(bins, col, k0 + 2 * LIMB, hx * hy)
    bins = _add_term(bins, col, k0 + LIMB, hx * ly + lx * hy)
    return _add_term(bins, col, k0, lx * ly)


def exact_total(bins: np.ndarray) -> list[Fraction]:
    """The exact sums of an ``exact_add`` array ``(..., 2, EXP_BINS)``, flattened over the
    leading axes, as Fractions."""
    b = np.asarray(bins).reshape(-1, 2, EXP_BINS)
    out = []
    scale = 1 << EXP_SHIFT
    for row in b:
        total = 0
        for k in np.flatnonzero(row[0] | row[1]):
            total += ((int(row[0, k]) << LIMB) + int(row[1, k])) << int(k)
        out.append(Fraction(total, scale))
    return out


def exact_sums(bins: np.ndarray) -> np.ndarray:
    """``exact_total`` rounded to float64 (correctly rounded), in the leading shape of ``bins``."""
    b = np.asarray(bins)
    return np.array([float(f) for f in exact_total(b)], np.float64).reshape(b.shape[:-2])


def mean_se(s1: Fraction, s2: Fraction, n: int) -> tuple[float, float]:
    """Mean and its standard error ``sd / sqrt(n)`` (``ddof=1``) from exact sums of ``x`` and
    ``x^2`` over ``n`` values; the variance ``(n S2 - S1^2) / (n (n - 1))`` is computed exactly."""
    if n <= 0:
        return math.nan, math.nan
    mean = float(s1 / n)
    if n < 2:
        return mean, math.nan
    var = (n * s2 - s1 * s1) / (n * (n - 1))
    return mean, sqrt_fraction(var / n)


def sqrt_fraction(v: Fraction) -> float:
    """``sqrt(v)`` of a non-negative Fraction as float64: ``math.sqrt(float(v))`` where ``v`` is
    a normal float64, else from an integer square root, since ``float(v)`` overflows (values
    near 1e300 have variances near 1e600: ``float`` raised OverflowError) or underflows to 0
    (values near 1e-300) while the square root itself is representable (to ~1 ulp)."""
    if v <= 0:
        return 0.0
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if math.isfinite(f) and f >= 2.2250738585072014e-308:
        return math.sqrt(f)
    p, q = v.numerator, v.denominator
    k = 64 - (p.bit_length() - q.bit_length()) // 2  # about 64 significant bits in the root
    num = (p << (2 * k)) // q if k >= 0 else p // (q << (-2 * k))
    return math.ldexp(float(math.isqrt(num)), -k)


def covariance(s_x: Fraction, s_y: Fraction, s_xy: Fraction, n: int) -> float:
    """Sample covariance (``ddof=1``) from exact sums."""
    if n < 2:
        return math.nan
    return float((n * s_xy - s_x * s_y) / (n * (n - 1)))


# ------------------------------------------------------------------------------------- the sketch


@dataclass(frozen=True)
class Sketch:
    """A log-bucketed quantile sketch's layout (static). ``relative_accuracy`` ``a``; values with
    ``|x| < tiny`` count as 0; ``n`` buckets a sign reach ``tiny g^n`` (at least ``huge``)."""

    relative_accuracy: float = 0.005
    tiny: float = 1e-9
    huge: float = 1e12

    @property
    def gamma(self) -> float:
        a = self.relative_accuracy
        return (1 + a) / (1 - a)

    @property
    def n(self) -> int:
        """Buckets a sign."""
        return int(math.ceil(math.log(self.huge / self.tiny) / math.log(self.gamma)))

    @property
    def width(self) -> int:
        """Buckets in all: ``n`` negative, the zero bucket, ``n`` positive, in ascending order."""
        return 2 * self.n + 1

    def empty(self, *shape: int) -> jax.Array:
        jnp = _jnp()
        return jnp.zeros((*shape, self.width), jnp.int64)

    @functools.cached_property
    def edges(self) -> np.ndarray:
        """Lower edges ``tiny g^b`` of the buckets of each sign, ``b = 0 .. n`` (float64; the last
        is the top of bucket ``n - 1``). A value ``|x|`` falls in bucket ``b`` exactly when
        ``edges[b] <= |x| < edges[b + 1]``."""
        return self.tiny * np.power(self.gamma, np.arange(self.n + 1, dtype=np.float64))

    def _index(self, xp: Any, x: Any) -> Any:
        """The bucket index with array module ``xp`` (``jax.numpy`` or ``numpy``): a first guess
        from the logarithm (whose error is ~1e-12 of a bucket), corrected by one step against
        :attr:`edges`, so that both modules give the same bucket however their logarithms round."""
        ax = xp.abs(x)
        pos = ax >= self.tiny  # False for NaN: the zero bucket
        lg = xp.log(xp.where(pos, ax, self.tiny) / self.tiny) / math.log(self.gamma)
        b = xp.clip(xp.floor(lg), 0, self.n - 1).astype(xp.int32)
        edges = xp.asarray(self.edges)
        b = b - (ax < edges[b]).astype(xp.int32) + (ax >= edges[b + 1]).astype(xp.int32)
        b = xp.clip(b, 0, self.n - 1)
        return xp.where(pos, xp.where(x > 0, self.n + 1 + b, self.n - 1 - b), self.n).astype(xp.int32)

    def index(self, x: jax.Array) -> jax.Array:
        """Bucket (0 .. width - 1, ascending in value) of each value (computed in float64): the
        ``b`` with ``edges[b] <= |x| < edges[b + 1]`` of its sign, the zero bucket for ``|x| <
        tiny`` or NaN, the last bucket of its sign beyond ``edges[n]``."""
        jnp = _jnp()
        return self._index(jnp, jnp.asarray(x).astype(jnp.float64))

    def index_numpy(self, x: np.ndarray) -> np.ndarray:
        """:meth:`index` in NumPy, bucket for bucket (both decide against :attr:`edges`)."""
        return self._index(np, np.asarray(x, np.float64))

    def add_numpy(self, counts: np.ndarray, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """:meth:`add` in NumPy (``np.add.at``): a new counts array ``(*S, width)`` with ``values``
        ``(B, *S)`` of the rows whose ``weights`` ``(B,)`` are 1 (all rows without ``weights``)
        added; non-finite values of weighted rows go to the zero bucket, as in :meth:`add`."""
        x = np.asarray(values, np.float64)
        w = np.ones(x.shape[0], np.int64) if weights is None else np.asarray(weights).astype(np.int64)
        w = np.broadcast_to(w.reshape((-1,) + (1,) * (x.ndim - 1)), x.shape)
        idx = self.index_numpy(np.where(np.isfinite(x), x, 0.0))
        lead = np.meshgrid(*[np.arange(s) for s in x.shape[1:]], indexing="ij")
        lead = [np.broadcast_to(g[None], x.shape) for g in lead]
        out = np.array(counts, np.int64, copy=True)
        np.add.at(out, (*lead, idx), w)
        return out

    def add(self, counts: jax.Array, values: jax.Array, weights: jax.Array) -> jax.Array:
        """Count ``values`` ``(B, *S)`` of the rows whose ``weights`` ``(B,)`` (or entries whose
        weights ``(B, *S)``) are 1 into ``counts`` ``(*S, width)``. Non-finite values of weighted
        rows go to the zero bucket (callers exclude crashed paths through ``weights``)."""
        jnp = _jnp()
        x = jnp.asarray(values)
        w = weights if weights.ndim == x.ndim else weights.reshape((-1,) + (1,) * (x.ndim - 1))
        w = jnp.broadcast_to(w, x.shape).astype(jnp.int64)
        x = jnp.where(jnp.isfinite(x), x, 0)
        idx = self.index(x)
        lead = jnp.meshgrid(*[jnp.arange(s) for s in x.shape[1:]], indexing="ij")
        lead = [jnp.broadcast_to(g[None], x.shape) for g in lead]
        return counts.at[(*lead, idx)].add(w)

    def values(self, index: np.ndarray | None = None) -> np.ndarray:
        """Representative value of each bucket (all of them, or those in ``index``), float64."""
        i = np.arange(self.width) if index is None else np.asarray(index)
        g = self.gamma
        b = np.abs(i - self.n) - 1
        mag = self.tiny * np.power(g, b.astype(np.float64)) * 2 * g / (g + 1)
        return np.where(i == self.n, 0.0, np.sign(i - self.n) * mag)

    def attrs(self) -> dict[str, float | int | str]:
        """Attributes that let a reader rebuild the layout (stored with a sketch in a Dataset)."""
        return {
            "relative_accuracy": self.relative_accuracy,
            "tiny": self.tiny,
            "huge": self.huge,
            "buckets_per_sign": self.n,
            "method": (
                "log-bucketed quantile sketch (DDSketch): a value x with |x| >= tiny is counted in bucket floor(log_g(|x| / tiny)) "
                "of its sign, g = (1 + a) / (1 - a), whose value is within a relative a of every value in it; |x| < tiny counts as 0"
            ),
        }

    @classmethod
    def from_attrs(cls, attrs: dict) -> Sketch:
        return cls(float(attrs["relative_accuracy"]), float(attrs["tiny"]), float(attrs["huge"]))


def sketch_overflow(sk: Sketch, counts: np.ndarray) -> bool:
    """True where values beyond ``tiny g^n`` (or below ``-tiny g^n``) may have been clipped."""
    c = np.asarray(counts)
    return bool(c[..., 0].any() or c[..., -1].any())


def order_ranks(n: int, q: float, level: float = 0.95) -> tuple[int | None, int | None]:
    """Ranks (1-based) of the order statistics that bound the ``q`` quantile with confidence
    ``level``: exact binomial intervals. With ``B ~ Binomial(n, q)`` the number of values at or
    below the true quantile, ``P(l <= B <= u - 1) >= level``; ``l`` is the largest rank with
    ``P(B <= l - 1) <= (1 - level) / 2`` and ``u`` the smallest with ``P(B <= u - 1) >= (1 +
    level) / 2``. None where no rank in ``1..n`` qualifies: the sample cannot support that bound."""
    from scipy.stats import binom

    if n <= 0:
        return None, None
    tail = (1 - level) / 2
    ranks = np.arange(1, n + 1)
    cdf = binom.cdf(ranks - 1, n, q)
    lo = np.flatnonzero(cdf <= tail)
    hi = np.flatnonzero(cdf >= 1 - tail)
    return (int(lo[-1]) + 1 if lo.size else None), (int(hi[0]) + 1 if hi.size else None)


def quantile_rank(n: int, q: float) -> int:
    """Rank (1-based) of the ``q`` quantile by the inverted empirical CDF, as numpy's
    ``method="inverted_cdf"`` and :func:`stress.results.dataset.tail_stats` take it:
    ``ceil(n q)`` with ``n q`` rounded to float64, within ``1 .. n``. (``q = 0.07, n = 100``:
    ``n q = 7.000000000000001``, rank 8, as numpy; a tolerance that gave 7 disagreed with the
    raw-value statistics by one rank.)"""
    return min(max(int(math.ceil(float(n) * float(q))), 1), max(n, 1))


def rank_values(counts: np.ndarray, values: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The value of the ``ranks``-th smallest (1-based) entry of each sketch. Shapes:
    ``(..., width), (width,), (k,) -> (k, ...)``."""
    c = np.asarray(counts)
    cdf = np.cumsum(c, axis=-1)
    flat = cdf.reshape(-1, c.shape[-1])
    out = np.empty((len(ranks), flat.shape[0]))
    for j, row in enumerate(flat):
        idx = np.searchsorted(row, np.asarray(ranks), side="left").clip(0, c.shape[-1] - 1)
        out[:, j] = values[idx]
    return out.reshape((len(ranks), *c.shape[:-1]))


ES_MIN_TAIL = 10
"""Fewest tail values for an expected-shortfall interval (assumption: below it the normal
approximation of the tail mean is not worth printing; the interval is NaN)."""


@dataclass(frozen=True)
class TailStats:
    """Quantile statistics of one sketch (float64), each an array over the quantile levels."""

    quantile: np.ndarray
    lower: np.ndarray  # 95 % bounds (exact order statistics, read within the sketch's accuracy); NaN: unsupported
    upper: np.ndarray
    es: np.ndarray  # expected shortfall: mean of the values at or beyond the quantile's rank
    es_lower: np.ndarray  # 95 % normal interval of the expected shortfall; NaN with fewer than ES_MIN_TAIL tail values
    es_upper: np.ndarray


def tail_from_sketch(counts: np.ndarray, values: np.ndarray, q: np.ndarray, level: float = 0.95, *, accuracy: float | None = None) -> TailStats:
    """Value at risk, its exact order-statistic bounds and the expected shortfall with its
    interval, from one sketch ``(width,)`` of ``N`` values.

    With ``accuracy`` (the sketch's relative accuracy ``a``) the bounds are the outer edges of the
    buckets holding the bounding order statistics (``v / (1 + a)`` and ``v / (1 - a)`` of a bucket
    value ``v > 0``), so that the interval holds the exact order-statistic interval and keeps its
    coverage however narrow the loss distribution is; without, the bucket values.

    ``ES_q`` is the mean of the ``N - k + 1`` largest values, ``k`` the quantile's rank (as
    :func:`stress.results.dataset.tail_stats` on the raw values), each read as its bucket's value.
    Its interval is the asymptotic normal one for the tail mean (Manistre & Hancock 2005;
    Brazauskas et al. 2008): ``Var = (s^2_tail + q (ES - VaR)^2) / (N (1 - q))`` with ``s^2_tail``
    the variance of the tail values, with Student's ``t`` quantile on ``m - 1`` degrees of freedom
    for ``m`` tail values (a small-sample allowance; the interval still undercovers heavy tails
    with few tail values); NaN with fewer than :data:`ES_MIN_TAIL` values in the tail.
    """
    from scipy.stats import t as student

    c = np.asarray(counts, np.int64)
    N = int(c.sum())
    nan = np.full(len(q), np.nan)
    if N == 0:
        return TailStats(nan, nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy())
    cdf = np.cumsum(c)
    var, lo, hi, es, es_lo, es_hi = (np.full(len(q), np.nan) for _ in range(6))
    for j, qj in enumerate(np.asarray(q, float)):
        k = quantile_rank(N, qj)
        var[j] = values[np.searchsorted(cdf, k)]
        rl, ru = order_ranks(N, qj, level)
        if rl is not None:
            lo[j] = _edge(values[np.searchsorted(cdf, rl)], accuracy, lower=True)
        if ru is not None:
            hi[j] = _edge(values[np.searchsorted(cdf, ru)], accuracy, lower=False)
        # tail: ranks k..N; the quantile's bucket contributes the part of its count at ranks >= k
        b = int(np.searchsorted(cdf, k))
        take = c.copy()
        take[:b] = 0
        take[b] = cdf[b] - (k - 1)
        m = N - k + 1
        # sums over the buckets that hold tail values only, correctly rounded (fsum): the result
        # does not depend on how the sketch was trimmed or padded (aligned with another run's)
        nz = np.flatnonzero(take)
        t, v = take[nz].astype(np.float64), values[nz]
        mean = math.fsum(t * v) / m
        es[j] = mean
        if m >= ES_MIN_TAIL:
            s2 = math.fsum(t * (v - mean) ** 2) / (m - 1)
            se = math.sqrt((s2 + qj * (mean - var[j]) ** 2) / (N * max(1 - qj, 1.0 / N)))
            z = float(student.ppf(0.5 + level / 2, m - 1))
            es_lo[j], es_hi[j] = mean - z * se, mean + z * se
    return TailStats(var, lo, hi, es, es_lo, es_hi)


def _edge(v: float, a: float | None, *, lower: bool) -> float:
    """The outer edge of the bucket whose value is ``v`` (``v`` itself without ``a``, and 0 for
    the zero bucket): ``v / (1 + a)`` below and ``v / (1 - a)`` above a positive value, the
    mirror for a negative one."""
    if a is None or v == 0:
        return float(v)
    small, big = v / (1 + a), v / (1 - a)  # for v < 0, big is the more negative
    return float(min(small, big) if lower else max(small, big))


def exceedance(counts: np.ndarray, values: np.ndarray, x: float | np.ndarray) -> np.ndarray:
    """``P(X > x)`` from sketches ``(..., width)``: the share of values whose bucket value is above
    ``x``. The error is in the threshold, not the share: it is the exact share of values above
    some threshold within a relative accuracy of ``x`` (values in ``x``'s own bucket may fall on
    either side). Shapes: ``(..., width), () or (m,) -> (...) or (m, ...)``."""
    c = np.asarray(counts, np.float64)
    total = c.sum(axis=-1)
    xs = np.atleast_1d(np.asarray(x, np.float64))
    out = np.stack([np.where(values > xi, c, 0).sum(axis=-1) for xi in xs]) / np.where(total > 0, total, np.nan)
    return out[0] if np.ndim(x) == 0 else out


def to_xarray(counts: np.ndarray, sk: Sketch, dims: tuple[str, ...], coords: dict | None = None, long_name: str = "") -> "xr.DataArray":
    """A sketch array ``(*S, width)`` as a DataArray with dims ``(*dims, "bucket")``, trimmed to the
    buckets that hold any value (always keeping the zero bucket). Coordinates: ``bucket`` (the
    absolute bucket index, so that sketches of the same layout align and merge by adding) and
    ``bucket_value`` (its representative value); attrs: the layout (:meth:`Sketch.attrs`)."""
    import xarray as xr

    c = np.asarray(counts, np.int64)
    used = np.flatnonzero(c.reshape(-1, c.shape[-1]).any(axis=0))
    lo = min(int(used[0]), sk.n) if used.size else sk.n
    hi = max(int(used[-1]), sk.n) if used.size else sk.n
    idx = np.arange(lo, hi + 1)
    return xr.DataArray(
        c[..., lo : hi + 1],
        dims=(*dims, "bucket"),
        coords={**(coords or {}), "bucket": ("bucket", idx), "bucket_value": ("bucket", sk.values(idx), {"long_name": "representative value of the sketch bucket"})},
        attrs={"units": "1", "long_name": long_name or "paths counted in each bucket of a quantile sketch", **sk.attrs()},
    )


def from_xarray(da: "xr.DataArray") -> tuple[np.ndarray, np.ndarray, Sketch]:
    """Counts ``(..., buckets)`` (bucket last), their bucket values, and the layout, from a
    DataArray written by :func:`to_xarray` (possibly merged or aligned: missing counts are 0)."""
    sk = Sketch.from_attrs(da.attrs)
    da = da.transpose(..., "bucket")
    counts = np.nan_to_num(np.asarray(da.values, np.float64)).astype(np.int64)
    return counts, sk.values(np.asarray(da["bucket"].values)), sk
