"""Risk metrics of a run's Dataset: the ``.stress`` accessor.

``import stress`` registers it (when xarray is imported, so that ``import stress`` alone stays
light); then any run Dataset (``results.nc``, or ``compare.nc`` with its ``policy`` dimension)
answers questions about the loss distribution from the quantile sketches it stores::

    ds = xr.open_dataset("outputs/.../results.nc")
    ds.stress.var([0.95, 0.99])                    # value at risk of world lost value added
    ds.stress.expected_shortfall(0.99, measure=None)
    ds.stress.return_period(1e3)                   # years between losses above 1e3

Every method takes the Dataset's ``loss_sketch`` (``measure``, default
``"value_added_loss/WORLD"``; ``measure=None``: every measure along ``measure``) or, with
``share=True``, ``loss_share_sketch`` (each industry's lost output as a share of its baseline,
along ``region`` and ``sector``). A ``policy`` dimension is kept. Results are DataArrays or
Datasets with named dimensions, ``units`` and ``long_name``.

Statistics read from a sketch are within the sketch's relative accuracy ``a`` (its
``relative_accuracy`` attribute, 0.5 % by default) of the same statistic of the raw per-path
losses, and exactly 0 where that statistic is 0 (see :mod:`stress.sketch`).

A small Dataset to try things on, from raw per-path losses:

>>> import numpy as np
>>> from stress.results.accessor import sample_dataset
>>> losses = np.repeat([0.0, 10.0, 100.0, 1000.0], [500, 300, 150, 50])   # 1000 paths
>>> ds = sample_dataset({"value_added_loss/WORLD": losses}, frequency_per_year=0.25)
>>> round(float(ds.stress.var(0.9)), 2)          # the 900th smallest loss, 100, within 0.5 %
99.68
>>> float(ds.stress.exceedance(50.0))            # P(L > 50)
0.2
>>> float(ds.stress.return_period(50.0))         # 1 / (0.25 per year x 0.2)
20.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import xarray as xr

from stress.errors import InputError
from stress.sketch import Sketch, from_xarray, mean_se, tail_from_sketch, to_xarray

DEFAULT_MEASURE = "value_added_loss/WORLD"
LAYOUT = ("relative_accuracy", "tiny", "huge")

__all__ = ["DEFAULT_MEASURE", "StressAccessor", "sample_dataset"]


# ------------------------------------------------------------------------------ a sample Dataset


def exact_sums_numpy(x: np.ndarray) -> tuple[Fraction, Fraction]:
    """Exact sums of ``x`` and ``x^2`` (finite float64 values) as Fractions, with Python
    integers: the host twin of :func:`stress.sketch.exact_add` / :func:`~stress.sketch.exact_total`."""
    x = np.asarray(x, np.float64).ravel()
    if x.size == 0:
        return Fraction(0), Fraction(0)
    m, e = np.frexp(x)  # NumPy's frexp is exact for subnormals too
    M = (m * 2.0**53).astype(np.int64)
    E = e.astype(np.int64) - 53  # x = M 2^E
    lo = int(E.min())
    s1 = sum(int(a) << int(b - lo) for a, b in zip(M, E, strict=True))
    s2 = sum((int(a) * int(a)) << int(2 * (b - lo)) for a, b in zip(M, E, strict=True))
    return Fraction(s1, 1) * Fraction(2) ** lo, Fraction(s2, 1) * Fraction(2) ** (2 * lo)


def sample_dataset(
    samples: dict[str, np.ndarray],
    *,
    frequency_per_year: float | None = None,
    sketch: Sketch = Sketch(),  # noqa: B008 (frozen dataclass: immutable)
    share_samples: dict[tuple[str, str], np.ndarray] | None = None,
    halt_probability: np.ndarray | None = None,
    money_unit: str = "USD million",
) -> xr.Dataset:
    """A minimal stress-like Dataset from raw per-path losses, for examples and tests.

    ``samples`` maps a measure name (``"value_added_loss/WORLD"`` …) to its 1-D per-path losses,
    all of the same length (the paths counted); non-finite values count as 0, as in the engine.
    The Dataset holds ``loss_sketch`` (``measure``, ``bucket``) counted with ``sketch``'s layout
    (:meth:`Sketch.add_numpy`, bucket for bucket the engine's :meth:`Sketch.add`), the exact
    ``loss_mean`` and ``loss_se`` (:func:`stress.sketch.mean_se` of exact sums), attrs
    ``n_paths_counted``, ``money_unit`` and, when given, ``frequency_per_year``.
    ``share_samples`` maps ``(region, sector)`` to per-path loss shares (``loss_share_sketch``;
    pairs not given have no values); ``halt_probability`` ``(W,)`` or ``(W, R, S)`` (regions and
    sectors of ``share_samples``) becomes ``halt_probability`` with weeks ``1 .. W``.

    >>> ds = sample_dataset({"output_loss/WORLD": np.array([0.0, 2.0, 4.0])})
    >>> ds.loss_sketch.sizes["measure"], int(ds.loss_sketch.sum()), float(ds.loss_mean[0])
    (1, 3, 2.0)
    """
    names = list(samples)
    if not names:
        raise InputError("samples", samples, "at least one measure with its per-path losses")
    arrays = [np.asarray(samples[k], np.float64) for k in names]
    n = arrays[0].shape[0] if arrays[0].ndim == 1 else -1
    if any(a.ndim != 1 or a.shape[0] != n for a in arrays):
        raise InputError("samples", {k: np.shape(v) for k, v in samples.items()}, "1-D arrays of the same length, one value a path")
    x = np.stack([np.where(np.isfinite(a), a, 0.0) for a in arrays], axis=1)  # (N, measures)
    counts = sketch.add_numpy(np.zeros((len(names), sketch.width), np.int64), x)
    data: dict[str, Any] = {
        "loss_sketch": to_xarray(counts, sketch, ("measure",), long_name="paths counted in each bucket of the quantile sketch of the loss over the horizon"),
    }
    ms = [mean_se(*exact_sums_numpy(x[:, j]), n) for j in range(len(names))]
    data["loss_mean"] = xr.DataArray([m for m, _ in ms], dims="measure", attrs={"units": money_unit, "long_name": "expected loss over the horizon (exact sum over the paths counted)"})
    data["loss_se"] = xr.DataArray([s for _, s in ms], dims="measure", attrs={"units": money_unit, "long_name": "Monte Carlo standard error of the expected loss"})
    coords: dict[str, Any] = {"measure": ("measure", names)}
    if share_samples:
        regions = sorted({r for r, _ in share_samples})
        sectors = sorted({s for _, s in share_samples})
        sc = np.zeros((len(regions), len(sectors), sketch.width), np.int64)
        for (r, s), v in share_samples.items():
            sc[regions.index(r), sectors.index(s)] = sketch.add_numpy(sc[regions.index(r), sectors.index(s)], np.asarray(v, np.float64))
        data["loss_share_sketch"] = to_xarray(sc, sketch, ("region", "sector"), long_name="paths counted in each bucket of the quantile sketch of lost output as a share of baseline output")
        coords.update(region=("region", regions), sector=("sector", sectors))
    if "loss_share_sketch" in data:  # one bucket axis for both sketches: the union of their ranges
        a, b = xr.align(data["loss_sketch"], data["loss_share_sketch"], join="outer")
        idx = np.asarray(a["bucket"].values)
        data = {**data, "loss_sketch": a.fillna(0).astype(np.int64).assign_attrs(a.attrs), "loss_share_sketch": b.fillna(0).astype(np.int64).assign_attrs(b.attrs)}
        for k in ("loss_sketch", "loss_share_sketch"):
            data[k] = data[k].assign_coords(bucket_value=("bucket", sketch.values(idx), {"long_name": "representative value of the sketch bucket"}))
    ds = xr.Dataset(data, coords=coords)
    if halt_probability is not None:
        h = np.asarray(halt_probability, np.float64)
        dims = ("week",) if h.ndim == 1 else ("week", "region", "sector")
        ds["halt_probability"] = xr.DataArray(
            h, dims=dims, attrs={"units": "1", "long_name": "probability of a first plant halt within N weeks"}
        ).assign_coords(week=("week", np.arange(1, h.shape[0] + 1), {"units": "week", "long_name": "weeks since day 0"}))
    ds.attrs.update(n_paths_counted=int(n), money_unit=money_unit)
    if frequency_per_year is not None:
        ds.attrs["frequency_per_year"] = float(frequency_per_year)
    return ds


# ------------------------------------------------------------------------------------ the accessor


def _as_levels(q: float | Sequence[float] | np.ndarray, field: str = "q") -> tuple[np.ndarray, bool]:
    """Probability levels as a 1-D float array, and whether ``q`` was a scalar."""
    arr = np.asarray(q, np.float64)
    if arr.ndim > 1 or arr.size == 0:
        raise InputError(field, q, "a probability level or a 1-D list of them, each in (0, 1]")
    bad = ~((arr > 0) & (arr <= 1))
    if bad.any():
        raise InputError(field, q, "probability levels in (0, 1] (e.g. 0.99 for the 99 % value at risk)")
    return np.atleast_1d(arr), arr.ndim == 0


@xr.register_dataset_accessor("stress")
class StressAccessor:
    """Risk metrics of a stress run Dataset, read from its quantile sketches (``ds.stress``).

    >>> ds = sample_dataset({"value_added_loss/WORLD": np.arange(1.0, 101.0)})
    >>> ds.stress.measures
    ['value_added_loss/WORLD']
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    # ---------------------------------------------------------------- plumbing

    def _require(self, name: str = "loss_sketch") -> xr.DataArray:
        ds = self._ds
        if "loss_sketch" not in ds.data_vars:
            raise InputError(
                "Dataset", f"<Dataset with {sorted(map(str, ds.data_vars))[:6]}...>",
                "a stress run Dataset with a loss_sketch variable (this one is not a stress run Dataset, or was written before the sketches existed)",
            )
        if name not in ds.data_vars:
            raise InputError("share", True, f"a Dataset with {name} (this run has none)")
        da = ds[name]
        missing = [k for k in LAYOUT if k not in da.attrs]
        if missing:
            raise InputError(
                name, f"attrs without {', '.join(missing)}",
                "the sketch layout attributes written by stress.sketch.to_xarray (relative_accuracy, tiny, huge); a concat or merge "
                "with combine_attrs='drop' removes them: copy them back from one run's loss_sketch",
            )
        return da

    @property
    def measures(self) -> list[str]:
        """The measures of ``loss_sketch``."""
        return [str(m) for m in self._require()["measure"].values]

    @property
    def sketch(self) -> Sketch:
        """The layout of ``loss_sketch``."""
        return Sketch.from_attrs(self._require().attrs)

    def _counts(self, measure: str | None, share: bool) -> tuple[xr.DataArray, str]:
        """The sketch counts to read (dims ``(..., bucket)``) and their units."""
        if share:
            if measure not in (DEFAULT_MEASURE, None):
                raise InputError("measure", measure, "the default with share=True (the share sketch is per region and sector, not per measure)")
            return self._require("loss_share_sketch"), "1"
        da = self._require()
        unit = str(self._ds.attrs.get("money_unit", ""))
        if measure is None:
            return da, unit
        allowed = self.measures
        if measure not in allowed:
            raise InputError("measure", measure, "one of " + ", ".join(allowed) + " (or None for all)")
        return da.sel(measure=measure), unit

    def _apply(
        self, da: xr.DataArray, fn: Callable[[np.ndarray, np.ndarray, Sketch], np.ndarray], dim: str, coord: np.ndarray, scalar: bool, attrs: dict[str, Any], coord_attrs: dict[str, Any] | None = None, name: str | None = None
    ) -> xr.DataArray:
        """``fn(counts, values, sketch) -> (k,)`` on each sketch of ``da`` (one a combination of
        its non-bucket dims), as a DataArray ``(policy, dim, other dims...)``."""
        counts, values, sk = from_xarray(da)
        lead = [d for d in da.transpose(..., "bucket").dims if d != "bucket"]
        out = np.empty((*counts.shape[:-1], len(coord)), np.float64)
        for idx in np.ndindex(*counts.shape[:-1]):
            out[idx] = fn(counts[idx], values, sk)
        coords = {d: da[d] for d in lead if d in da.coords}
        coords.update({k: v for k, v in da.coords.items() if not set(v.dims) & {"bucket"} and k not in coords})
        res = xr.DataArray(out, dims=(*lead, dim), coords={**coords, dim: (dim, np.asarray(coord), coord_attrs or {})}, attrs=attrs, name=name)
        res = res.transpose(*[d for d in ("policy",) if d in lead], dim, ...)
        return res.isel({dim: 0}) if scalar else res

    def _tail(self, q: Any, measure: str | None, share: bool, level: float) -> tuple[dict[str, xr.DataArray], str, float]:
        levels, scalar = _as_levels(q)
        if not (0 < level < 1):
            raise InputError("level", level, "a confidence level in (0, 1), e.g. 0.95")
        da, unit = self._counts(measure, share)
        fields = ("quantile", "lower", "upper", "es", "es_lower", "es_upper")
        out = {}
        for f in fields:
            fn = lambda c, v, sk, f=f: getattr(tail_from_sketch(c, v, levels, level, accuracy=sk.relative_accuracy), f)  # noqa: E731
            out[f] = self._apply(da, fn, "quantile", levels, scalar, {}, {"units": "1", "long_name": "probability level"})
        return out, unit, Sketch.from_attrs(da.attrs).relative_accuracy

    # ---------------------------------------------------------------- value at risk

    def var(self, q: float | Sequence[float], *, measure: str | None = DEFAULT_MEASURE, share: bool = False) -> xr.DataArray:
        """Value at risk: the ``q`` quantile of the loss by the inverted empirical CDF (numpy's
        ``method="inverted_cdf"``: the ``ceil(N q)``-th smallest of the ``N`` paths), read from the
        sketch within its relative accuracy. ``q`` a level in (0, 1] or a list (``quantile`` dim).

        >>> ds = sample_dataset({"value_added_loss/WORLD": np.arange(1.0, 1001.0)})
        >>> ds.stress.var([0.5, 0.9]).round(1).values.tolist()   # 500 and 900 within 0.5 %
        [498.7, 899.6]
        >>> ds.stress.var(1.5)
        Traceback (most recent call last):
        ...
        stress.errors.InputError: q=1.5 is not allowed: probability levels in (0, 1] (e.g. 0.99 for the 99 % value at risk)
        """
        t, unit, a = self._tail(q, measure, share, 0.95)
        return t["quantile"].rename("value_at_risk").assign_attrs(
            units=unit, long_name="value at risk: quantile of the loss by the inverted empirical CDF", relative_accuracy=a,
            method=f"read from the quantile sketch: within a relative {a:g} of the order statistic of the paths counted",
        )

    def var_interval(self, q: float | Sequence[float], level: float = 0.95, *, measure: str | None = DEFAULT_MEASURE, share: bool = False) -> xr.Dataset:
        """The value at risk with its exact binomial order-statistic confidence interval:
        ``lower``/``upper`` are the ``l``-th and ``u``-th smallest losses with ``P(l <= B <= u - 1)
        >= level``, ``B ~ Binomial(N, q)``; NaN where no rank in ``1..N`` qualifies (the sample
        cannot support that bound). Each bound is the outer edge of the sketch bucket holding its
        order statistic, so the interval contains the exact order-statistic interval (the 882nd
        and 918th of 1,000 values below).

        >>> ds = sample_dataset({"value_added_loss/WORLD": np.arange(1.0, 1001.0)})
        >>> iv = ds.stress.var_interval(0.9)
        >>> round(float(iv.lower), 1), round(float(iv.upper), 1)
        (877.4, 922.4)
        >>> bool(np.isnan(ds.stress.var_interval(0.999).upper))   # 1000 paths cannot bound it
        True
        """
        t, unit, a = self._tail(q, measure, share, level)
        return _interval(
            ("value_at_risk", t["quantile"], "value at risk: quantile of the loss by the inverted empirical CDF"),
            t["lower"],
            t["upper"],
            f"{level:.0%} exact binomial order-statistic bound of the value at risk (NaN: the sample cannot support it); within a relative {a:g} (sketch)",
            unit,
            level,
            a,
        )

    # ---------------------------------------------------------------- expected shortfall

    def expected_shortfall(self, q: float | Sequence[float], *, measure: str | None = DEFAULT_MEASURE, share: bool = False) -> xr.DataArray:
        """Expected shortfall: the mean of the ``N - k + 1`` largest losses, ``k = ceil(N q)``
        the value at risk's rank (the mean of the losses at or beyond the VaR), each read as
        its sketch bucket's value (within the relative accuracy).

        >>> ds = sample_dataset({"value_added_loss/WORLD": np.arange(1.0, 1001.0)})
        >>> round(float(ds.stress.expected_shortfall(0.9)), 0)   # mean of 901..1000 = 950.5
        950.0
        """
        t, unit, a = self._tail(q, measure, share, 0.95)
        return t["es"].rename("expected_shortfall").assign_attrs(
            units=unit, long_name="expected shortfall: mean loss at or beyond the value at risk's rank", relative_accuracy=a
        )

    def expected_shortfall_interval(self, q: float | Sequence[float], level: float = 0.95, *, measure: str | None = DEFAULT_MEASURE, share: bool = False) -> xr.Dataset:
        """The expected shortfall with its asymptotic normal interval: ``ES ± z se``,
        ``se^2 = (s^2_tail + q (ES - VaR)^2) / (N (1 - q))`` (Manistre & Hancock 2005); NaN
        with fewer than 10 tail paths (stress.sketch.ES_MIN_TAIL). Asymptotic: it undercovers with few tail paths or heavy
        tails.

        >>> ds = sample_dataset({"value_added_loss/WORLD": np.zeros(200)})
        >>> iv = ds.stress.expected_shortfall_interval(0.9)
        >>> float(iv.lower), float(iv.expected_shortfall), float(iv.upper)
        (0.0, 0.0, 0.0)
        >>> float(sample_dataset({"value_added_loss/WORLD": np.zeros(50)}).stress.expected_shortfall_interval(0.9).upper)  # 5 tail paths
        nan
        """
        t, unit, a = self._tail(q, measure, share, level)
        return _interval(
            ("expected_shortfall", t["es"], "expected shortfall: mean loss at or beyond the value at risk's rank"),
            t["es_lower"],
            t["es_upper"],
            f"{level:.0%} asymptotic normal bound of the expected shortfall (NaN: fewer than 10 tail paths)",
            unit,
            level,
            a,
        )

    # ---------------------------------------------------------------- exceedance and return periods

    def exceedance(self, threshold: float | Sequence[float], *, measure: str | None = DEFAULT_MEASURE, share: bool = False) -> xr.DataArray:
        """``P(L > threshold)``: the share of paths whose loss (its bucket's value) is above
        ``threshold``; an array of thresholds gives a ``threshold`` dimension.

        >>> ds = sample_dataset({"value_added_loss/WORLD": np.array([0.0, 0.0, 5.0, 50.0])})
        >>> ds.stress.exceedance([0.0, 10.0, 100.0]).values.tolist()
        [0.5, 0.25, 0.0]
        """
        th = np.asarray(threshold, np.float64)
        if th.ndim > 1 or th.size == 0 or np.isnan(th).any():
            raise InputError("threshold", threshold, "a loss level or a 1-D list of them (not NaN)")
        da, unit = self._counts(measure, share)

        def fn(c: np.ndarray, v: np.ndarray, sk: Sketch) -> np.ndarray:
            n = c.sum()
            return np.array([c[v > t].sum() / n if n else np.nan for t in np.atleast_1d(th)])

        return self._apply(
            da, fn, "threshold", np.atleast_1d(th), th.ndim == 0, {"units": "1", "long_name": "probability that the loss exceeds the threshold"},
            {"units": unit, "long_name": "loss threshold"}, name="exceedance_probability",
        )

    def exceedance_curve(self, *, measure: str | None = DEFAULT_MEASURE, share: bool = False) -> xr.DataArray:
        """``P(L > x)`` at every bucket value ``x`` of the sketch (dimension ``loss``), monotone
        non-increasing; its last value is 0.

        >>> ds = sample_dataset({"value_added_loss/WORLD": np.array([0.0, 1.0, 1.0, 3.0])})
        >>> c = ds.stress.exceedance_curve()
        >>> c.values.tolist()[0], c.values.tolist()[-1], bool((c.diff("loss") <= 0).all())
        (0.75, 0.0, True)
        """
        da, unit = self._counts(measure, share)
        _, values, _ = from_xarray(da)

        def fn(c: np.ndarray, v: np.ndarray, sk: Sketch) -> np.ndarray:
            n = c.sum()
            return (n - np.cumsum(c)) / n if n else np.full(len(v), np.nan)

        return self._apply(
            da, fn, "loss", values, False, {"units": "1", "long_name": "probability that the loss exceeds the loss level (exceedance curve)"},
            {"units": unit, "long_name": "loss level: value of the sketch bucket"}, name="exceedance_probability",
        )

    def _frequency(self) -> xr.DataArray:
        ds = self._ds
        for name in ("frequency_per_year", "run_frequency_per_year"):
            if name in ds.variables:
                f = ds[name].astype(np.float64)
                break
        else:
            f = xr.DataArray(float(ds.attrs.get("frequency_per_year", np.nan)))
        if bool(np.isnan(f).any()):
            raise InputError(
                "frequency_per_year", "missing or NaN",
                "a scenario with an annual frequency (this run's scenario is conditional: its losses are given that the event happens, "
                "so they have no return period; use exceedance() for the conditional probability)",
            )
        return f

    def return_period(self, threshold: float | Sequence[float], *, measure: str | None = DEFAULT_MEASURE, share: bool = False) -> xr.DataArray:
        """Years between losses above ``threshold``: ``1 / (frequency_per_year P(L > threshold))``
        (inf where no path exceeds it). Needs the scenario's ``frequency_per_year``.

        >>> ds = sample_dataset({"value_added_loss/WORLD": np.array([0.0, 10.0])}, frequency_per_year=0.5)
        >>> float(ds.stress.return_period(5.0))
        4.0
        >>> sample_dataset({"value_added_loss/WORLD": np.array([0.0, 10.0])}).stress.return_period(5.0)
        Traceback (most recent call last):
        ...
        stress.errors.InputError: frequency_per_year='missing or NaN' is not allowed: a scenario with an annual frequency ...
        """
        f = self._frequency()
        p = self.exceedance(threshold, measure=measure, share=share)
        with np.errstate(divide="ignore"):
            rp = 1.0 / (f * p)
        return rp.rename("return_period").assign_attrs(
            units="year", long_name="return period: 1 / (frequency_per_year x P(loss > threshold)); inf: no path exceeded the threshold"
        )

    # ---------------------------------------------------------------- halts

    def halt_within(self, weeks: int | Sequence[int]) -> xr.DataArray:
        """``halt_probability`` at the given weeks (a week or a list, e.g. ``[4, 8, 13, 26]``):
        the probability of a first plant halt within that many weeks.

        >>> ds = sample_dataset({"value_added_loss/WORLD": np.zeros(3)}, halt_probability=np.linspace(0.1, 0.52, 52))
        >>> ds.stress.halt_within([4, 26]).round(3).values.tolist()
        [0.125, 0.306]
        >>> ds.stress.halt_within(60)
        Traceback (most recent call last):
        ...
        stress.errors.InputError: weeks=60 is not allowed: whole weeks from 1 to 52 (the run's horizon)
        """
        if "halt_probability" not in self._ds.data_vars:
            self._require()
            raise InputError("Dataset", "without halt_probability", "a stress run Dataset with halt_probability")
        h = self._ds["halt_probability"]
        have = np.asarray(h["week"].values)
        w = np.asarray(weeks)
        lo, hi = int(have.min()), int(have.max())
        ok = w.ndim <= 1 and w.size > 0 and np.issubdtype(w.dtype, np.integer) and bool(np.isin(w, have).all())
        if not ok:
            raise InputError("weeks", weeks, f"whole weeks from {lo} to {hi} (the run's horizon)")
        return h.sel(week=weeks).assign_attrs(units="1", long_name=h.attrs.get("long_name", "probability of a first plant halt within N weeks"))

    # ---------------------------------------------------------------- two runs

    def compare(self, other: xr.Dataset, q: float | Sequence[float] = 0.99, *, measure: str | None = DEFAULT_MEASURE) -> xr.Dataset:
        """Differences ``other - self`` of the expected loss, the value at risk and the expected
        shortfall. The standard error of the difference of means treats the runs as independent
        samples, ``sqrt(se_self^2 + se_other^2)``: conservative for runs with the same seed,
        which share their paths (common random numbers); ``python -m stress compare`` gives
        paired intervals.

        >>> a = sample_dataset({"value_added_loss/WORLD": np.arange(1.0, 101.0)})
        >>> b = sample_dataset({"value_added_loss/WORLD": np.arange(1.0, 101.0) * 2})
        >>> d = a.stress.compare(b, q=0.5)
        >>> float(d.delta_mean), round(float(d.delta_mean_se), 3)
        (50.5, 6.487)
        """
        o = other.stress
        self._require(), o._require()
        sel = (lambda v: v) if measure is None else (lambda v: v.sel(measure=measure))
        self._counts(measure, False), o._counts(measure, False)  # validates the measure in both
        for ds in (self._ds, other):
            if "loss_mean" not in ds or "loss_se" not in ds:
                raise InputError("Dataset", "without loss_mean/loss_se", "stress run Datasets with loss_mean and loss_se")
        unit = str(self._ds.attrs.get("money_unit", ""))
        d_mean = sel(other["loss_mean"]) - sel(self._ds["loss_mean"])
        d_se = np.sqrt(sel(other["loss_se"]) ** 2 + sel(self._ds["loss_se"]) ** 2)
        d_var = o.var(q, measure=measure) - self.var(q, measure=measure)
        d_es = o.expected_shortfall(q, measure=measure) - self.expected_shortfall(q, measure=measure)
        return xr.Dataset(
            {
                "delta_mean": d_mean.assign_attrs(units=unit, long_name="change in expected loss (other - self)"),
                "delta_mean_se": d_se.assign_attrs(
                    units=unit,
                    long_name="standard error of the change in expected loss as independent samples, sqrt(se_self^2 + se_other^2)",
                ),
                "delta_value_at_risk": d_var.assign_attrs(units=unit, long_name="change in value at risk (other - self), each within the sketch's relative accuracy"),
                "delta_expected_shortfall": d_es.assign_attrs(units=unit, long_name="change in expected shortfall (other - self)"),
            },
            attrs={
                "standard_error": "independent samples: conservative when both runs share paths (same seed); "
                "use `python -m stress compare` for paired intervals",
            },
        )

    def merge(self, other: xr.Dataset) -> xr.Dataset:
        """Two runs of the same scenario over independent paths (different seeds) as one: sketches added bucket
        for bucket (aligned on ``bucket``, missing counts 0), ``n_paths_counted`` summed, the
        means recombined from count-weighted means and the standard errors from the pooled sums
        of squares (float64, not exact), ``halt_probability`` count-weighted. Merging a run with
        itself, or runs over overlapping paths, counts paths twice. Refuses different sketch
        layouts, measures or frequencies, and Datasets with a ``policy`` dimension.

        >>> a = sample_dataset({"value_added_loss/WORLD": np.arange(1.0, 51.0)})
        >>> b = sample_dataset({"value_added_loss/WORLD": np.arange(51.0, 101.0)})
        >>> m = a.stress.merge(b)
        >>> m.attrs["n_paths_counted"], float(m.loss_mean[0]), float(m.stress.var(0.5))
        (100, 50.5, 49.99...)
        """
        ds, other_ds = self._ds, other
        for d in (ds, other_ds):
            d.stress._require()
            if "policy" in d.dims:
                raise InputError("Dataset", "with a policy dimension", "single runs (merge them before `python -m stress compare`)")
            if "n_paths_counted" not in d.attrs:
                raise InputError("Dataset", "without the n_paths_counted attribute", "stress run Datasets with n_paths_counted")
        names = [n for n in ("loss_sketch", "loss_share_sketch") if n in ds.data_vars and n in other_ds.data_vars]
        for n in names:
            la = {k: float(ds[n].attrs[k]) for k in LAYOUT}
            lb = {k: float(other_ds[n].attrs.get(k, np.nan)) for k in LAYOUT}
            if la != lb:
                raise InputError(n, f"layouts {la} and {lb}", "sketches of the same layout (relative_accuracy, tiny, huge): they cannot be merged bucket for bucket")
        ma, mb = self.measures, other_ds.stress.measures
        if ma != mb:
            raise InputError("measure", mb, f"the same measures in both runs ({', '.join(ma)})")
        fa, fb = ds.attrs.get("frequency_per_year"), other_ds.attrs.get("frequency_per_year")
        if not ((fa is None and fb is None) or (fa is not None and fb is not None and (fa == fb or (np.isnan(fa) and np.isnan(fb))))):
            raise InputError("frequency_per_year", (fa, fb), "the same scenario frequency in both runs")
        na, nb = int(ds.attrs["n_paths_counted"]), int(other_ds.attrs["n_paths_counted"])
        n = na + nb
        out = {}
        for name in names:
            a, b = xr.align(ds[name], other_ds[name], join="outer", exclude=[d for d in ds[name].dims if d != "bucket"])
            s = (a.fillna(0) + b.fillna(0)).transpose(..., "bucket")
            counts, _, sk = from_xarray(s.assign_attrs(ds[name].attrs))
            full = np.zeros((*counts.shape[:-1], sk.width), np.int64)  # to_xarray takes every bucket
            full[..., np.asarray(s["bucket"].values)] = counts
            lead_dims = [d for d in s.dims if d != "bucket"]
            out[name] = to_xarray(full, sk, tuple(lead_dims), {d: (d, s[d].values) for d in lead_dims if d in s.coords}, long_name=ds[name].attrs.get("long_name", ""))
        if all(v in ds and v in other_ds for v in ("loss_mean", "loss_se")):
            m_a, m_b, s_a, s_b = ds.loss_mean, other_ds.loss_mean, ds.loss_se, other_ds.loss_se
            mean = (na * m_a + nb * m_b) / n
            # sums of squared deviations: (n_i - 1) var_i + n_i (m_i - mean)^2, var_i = n_i se_i^2
            ss = (na - 1) * na * s_a**2 + na * (m_a - mean) ** 2 + (nb - 1) * nb * s_b**2 + nb * (m_b - mean) ** 2
            out["loss_mean"] = mean.assign_attrs(ds.loss_mean.attrs)
            out["loss_se"] = np.sqrt(ss / (n - 1) / n).assign_attrs(ds.loss_se.attrs)
        if "halt_probability" in ds and "halt_probability" in other_ds:
            out["halt_probability"] = ((na * ds.halt_probability + nb * other_ds.halt_probability) / n).assign_attrs(ds.halt_probability.attrs)
        res = xr.Dataset(out)
        res.attrs.update({k: v for k, v in ds.attrs.items() if k in ("money_unit", "frequency_per_year")})
        res.attrs["n_paths_counted"] = n
        res.attrs["merged_from"] = "two runs over disjoint path ranges (stress accessor merge)"
        return res


def _interval(estimate: tuple[str, xr.DataArray, str], lower: xr.DataArray, upper: xr.DataArray, what: str, unit: str, level: float, a: float) -> xr.Dataset:
    """An estimate (name, values, long name) with its ``lower`` and ``upper`` bounds as a Dataset."""
    name, value, long_name = estimate
    return xr.Dataset(
        {
            name: value.assign_attrs(units=unit, long_name=long_name),
            "lower": lower.assign_attrs(units=unit, long_name="lower " + what),
            "upper": upper.assign_attrs(units=unit, long_name="upper " + what),
        },
        attrs={"confidence_level": level, "relative_accuracy": a},
    )
