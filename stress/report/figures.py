"""The report's figures: matplotlib (Agg, no pyplot state) -> PNG data URIs.

Every function takes plain arrays or DataArrays and returns a :class:`Img` (a ``data:`` URI
and an alt text) for the page, so that the HTML opens with no network and no side files.
Figures are about 100 dpi, with a title, axis labels with units and readable font sizes.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg", force=False)

import numpy as np  # noqa: E402
from matplotlib import rc_context  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter  # noqa: E402

DPI = 100
STYLE = {
    "font.size": 10.5,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.family": "DejaVu Sans",
}
BLUE, RED, GREY, ORANGE = "#2b6cb0", "#c53030", "#718096", "#dd6b20"


@dataclass
class Img:
    """An embedded figure: ``src`` is a ``data:image/png;base64,…`` URI."""

    src: str
    alt: str


def _fig(w: float, h: float) -> Figure:
    return Figure(figsize=(w, h), dpi=DPI, layout="constrained")


def to_img(fig: Figure, alt: str) -> Img:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return Img("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), alt)


def money(x: float) -> str:
    """A money amount with thousands separators and about 3 significant digits."""
    if x is None or not np.isfinite(x):
        return "n/a"
    a = abs(x)
    if a >= 100 or a == 0:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:,.1f}"
    if a >= 1:
        return f"{x:,.2f}"
    return f"{x:,.3g}"


_money_fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else money(v))


def level_label(q: float) -> str:
    """``0.99`` -> ``"99 %"``; ``0.995`` -> ``"99.5 %"``."""
    return f"{100 * q:g} %"


# ----------------------------------------------------------------------------- loss distribution


def loss_distribution(counts: np.ndarray, values: np.ndarray, unit: str, var: dict[float, float], what: str, bins: int = 60) -> Img:
    """Share of paths per log-spaced bin (the sketch's buckets merged into about ``bins``),
    log x-axis for positive losses; VaR levels marked. Non-positive losses are counted in a note."""
    counts = np.asarray(counts, float)
    values = np.asarray(values, float)
    total = counts.sum()
    share = counts / max(total, 1)
    pos = (values > 0) & (counts > 0)
    nonpos = share[values <= 0].sum()
    with rc_context(STYLE):
        fig = _fig(6.2, 3.9)
        ax = fig.add_subplot()
        if pos.any():
            v, s = values[pos], share[pos]
            lo, hi = v.min() / 1.05, v.max() * 1.05
            edges = np.geomspace(lo, hi, bins + 1)
            hist, _ = np.histogram(v, bins=edges, weights=s)
            ax.bar(edges[:-1], hist, width=np.diff(edges), align="edge", color=BLUE, alpha=0.75, edgecolor="white", lw=0.3)
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(_money_fmt)
            ax.xaxis.set_minor_formatter(NullFormatter())
        styles = [(0, (1, 1)), (0, (4, 2)), (0, (6, 2, 1, 2)), "solid"]
        for k, (q, x) in enumerate(sorted(var.items())):
            if np.isfinite(x) and x > 0:
                ax.axvline(x, color=RED, lw=1.2, ls=styles[k % len(styles)], label=f"VaR {level_label(q)}: {money(x)}")
        ax.set_xlabel(f"{what}, {unit} (log scale)")
        ax.set_ylabel("share of paths")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8)
        note = f"; {nonpos:.1%} with no loss (not on the log axis)" if nonpos > 0 else ""
        ax.set_title(f"Distribution of the {what}\n{int(total):,} paths{note}", fontsize=10.5)
    return to_img(fig, f"Histogram of {what} across paths, {unit}")


def exceedance(
    counts: np.ndarray | None,
    values: np.ndarray | None,
    unit: str,
    var: dict[float, tuple[float, float, float]],
    what: str,
    frequency: float | None = None,
) -> Img:
    """P(L > x) against x on log-log axes from the sketch (or, without it, only the VaR points
    with their 95 % intervals), the VaR levels marked; with a finite event ``frequency`` per
    year a second axis gives the return period 1 / (frequency × P)."""
    with rc_context(STYLE):
        fig = _fig(6.2, 3.8)
        ax = fig.add_subplot()
        if counts is not None:
            counts = np.asarray(counts, float)
            values = np.asarray(values, float)
            order = np.argsort(values)
            v, c = values[order], counts[order]
            p = 1 - np.cumsum(c) / max(c.sum(), 1)
            first = np.flatnonzero((v > 0) & (c > 0))
            keep = np.zeros(len(v), bool)
            if first.size:
                keep[first[0] : first[-1]] = True  # from the smallest positive loss to the largest
            keep &= p > 0
            ax.step(v[keep], p[keep], where="post", color=BLUE, lw=1.8, label="P(loss > x)")
        for k, (q, (x, lo, hi)) in enumerate(sorted(var.items())):
            if not (np.isfinite(x) and x > 0):
                continue
            err = [[x - lo if np.isfinite(lo) else 0], [hi - x if np.isfinite(hi) else 0]]
            ax.errorbar([x], [1 - q], xerr=err, fmt="o", color=RED, ms=5, capsize=3, lw=1.2)
            ax.annotate(f"VaR {level_label(q)}: {money(x)}", (x, 1 - q), xytext=(-8, 4) if k % 2 else (8, 4), ha="right" if k % 2 else "left", textcoords="offset points", fontsize=8.5, color=RED)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"{what}, {unit} (log scale)")
        ax.set_ylabel("probability of a larger loss")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:.3g}"))
        x0, x1 = ax.get_xlim()
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if x1 / x0 < 300 else (1.0,)))
        ax.xaxis.set_major_formatter(_money_fmt)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        lo_y, hi_y = ax.get_ylim()
        ax.set_ylim(lo_y / 1.6, min(max(hi_y * 1.6, 0.8), 1.5))
        ax.margins(x=0.08)
        title = "Exceedance curve" if counts is not None else "Value at risk at the measured levels"
        ax.set_title(f"{title}: {what}", fontsize=11)
        if frequency is not None and np.isfinite(frequency) and frequency > 0:
            sec = ax.secondary_yaxis("right", functions=(lambda p: 1 / (frequency * np.maximum(p, 1e-12)), lambda t: 1 / (frequency * np.maximum(t, 1e-12))))
            sec.set_ylabel("return period, years")
            sec.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}" if y >= 1 else f"{y:.2g}"))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower left")
    return to_img(fig, f"Probability that {what} exceeds a value, log-log, {unit}")


# ----------------------------------------------------------------------------- heatmap


def heatmap(data: np.ndarray, regions: list[str], sectors: list[str], unit: str, title: str) -> Img:
    """Region × sector grid of expected loss with annotated cells."""
    data = np.asarray(data, float)
    R, S = data.shape
    with rc_context(STYLE):
        fig = _fig(max(7.5, 0.78 * S + 2.2), max(3.0, 0.42 * R + 2.0))
        ax = fig.add_subplot()
        ax.grid(False)
        finite = data[np.isfinite(data)]
        vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        im = ax.imshow(np.where(np.isfinite(data), data, 0), cmap="Reds", vmin=0, vmax=vmax, aspect="auto")
        ax.set_xticks(range(S), [s.replace("_", " ") for s in sectors], rotation=35, ha="right")
        ax.set_yticks(range(R), regions)
        ax.set_xlabel("sector")
        ax.set_ylabel("region")
        for i in range(R):
            for j in range(S):
                x = data[i, j]
                if not np.isfinite(x):
                    continue
                txt = money(x) if abs(x) >= 0.005 * vmax else ("0" if x == 0 else "·")
                ax.text(j, i, txt, ha="center", va="center", fontsize=8, color="white" if x > 0.55 * vmax else "#1a202c")
        cb = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.01)
        cb.set_label(unit)
        ax.set_title(title, fontsize=11.5)
    return to_img(fig, f"{title}, {unit}")


# ----------------------------------------------------------------------------- production fan


def fan_chart(weeks: np.ndarray, panels: list[dict], fan_q: list[float]) -> Img:
    """Small multiples: weekly production as % of baseline, 5-95 % and 25-75 % bands, median
    and mean. Each panel: ``{"label", "fan": (Q, W) array, "mean": (W,) or None}``."""
    n = len(panels)
    cols = 3 if n > 4 else 2 if n > 1 else 1
    rows = -(-n // cols)
    fq = np.asarray(fan_q, float)

    def band(lo_q: float, hi_q: float) -> tuple[int, int] | None:
        lo = np.flatnonzero(np.isclose(fq, lo_q))
        hi = np.flatnonzero(np.isclose(fq, hi_q))
        return (int(lo[0]), int(hi[0])) if lo.size and hi.size else None

    outer = band(0.05, 0.95) or (0, len(fq) - 1)
    inner = band(0.25, 0.75)
    med = np.flatnonzero(np.isclose(fq, 0.5))
    with rc_context(STYLE):
        fig = _fig(3.9 * cols + 0.4, 2.7 * rows + 0.9)
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
        for k, ax in enumerate(axes.flat):
            if k >= n:
                ax.set_visible(False)
                continue
            p = panels[k]
            f = 100 * np.asarray(p["fan"], float)
            ax.fill_between(weeks, f[outer[0]], f[outer[1]], color=BLUE, alpha=0.15, lw=0, label=f"{100 * fq[outer[0]]:g}–{100 * fq[outer[1]]:g} % of paths")
            if inner:
                ax.fill_between(weeks, f[inner[0]], f[inner[1]], color=BLUE, alpha=0.3, lw=0, label="25–75 % of paths")
            if med.size:
                ax.plot(weeks, f[med[0]], color=BLUE, lw=1.8, label="median")
            if p.get("mean") is not None:
                ax.plot(weeks, 100 * np.asarray(p["mean"], float), color=ORANGE, lw=1.4, ls="--", label="mean")
            ax.axhline(100, color=GREY, lw=0.8)
            ax.set_title(p["label"], fontsize=10.5)
            if k % cols == 0:
                ax.set_ylabel("production, % of baseline")
            if k // cols == rows - 1 or k + cols >= n:
                ax.set_xlabel("weeks since day 0")
                ax.tick_params(labelbottom=True)
        axes.flat[0].legend(loc="lower right", fontsize=8)
        fig.suptitle("Weekly production of the most exposed industries (share of undisturbed production)", fontsize=12, fontweight="bold")
    return to_img(fig, "Fan charts of weekly production as a share of baseline for the most exposed industries")


# ----------------------------------------------------------------------------- halts


def halt_curves(weeks: np.ndarray, curves: list[tuple[str, np.ndarray]], ttr: list[tuple[str, np.ndarray]] | None = None) -> Img:
    """Cumulative probability of a first plant halt by week for the top industries; with
    ``ttr`` (time-to-recover distributions), a second panel of P(recovered within w weeks)."""
    with rc_context(STYLE):
        two = bool(ttr)
        fig = _fig(11 if two else 6.8, 3.9)
        axes = fig.subplots(1, 2 if two else 1, squeeze=False)[0]
        ax = axes[0]
        for label, c in curves:
            ax.plot(weeks, np.asarray(c, float), lw=1.6, label=label)
        from stress.report import HALT_WEEKS

        for w in HALT_WEEKS:
            if weeks.min() <= w <= weeks.max():
                ax.axvline(w, color=GREY, lw=0.7, ls=":")
        ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("weeks since day 0")
        ax.set_ylabel("probability of a first plant halt")
        ax.set_title("Probability of a plant halt within N weeks", fontsize=11)
        ax.legend(fontsize=8, loc="lower right")
        if two:
            ax2 = axes[1]
            for label, d in ttr:
                d = np.asarray(d, float)
                ax2.plot(weeks[: len(d)], np.cumsum(d), lw=1.6, label=label)
            ax2.set_ylim(0, 1.02)
            ax2.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            ax2.set_xlabel("weeks from the first halt")
            ax2.set_ylabel("probability recovered")
            ax2.set_title("Time to recover after a halt (paths with a halt)", fontsize=11)
            ax2.legend(fontsize=8, loc="lower right")
    return to_img(fig, "Cumulative probability of a first plant halt by week for the most exposed industries")


# ----------------------------------------------------------------------------- drivers


def tornado(labels: list[str], shift: np.ndarray, err: np.ndarray | None, s1: np.ndarray | None, s1_conf: np.ndarray | None, q: float, scaled: bool) -> Img:
    """Left: each driver's shift in the tail (world VA loss ≥ VaR q) against its mean, sorted by
    magnitude; right: the first-order sensitivity index S1 with its confidence."""
    shift = np.asarray(shift, float)
    order = np.argsort(np.abs(np.nan_to_num(shift)))  # largest at the top
    n = len(labels)
    with rc_context(STYLE):
        two = s1 is not None
        fig = _fig(11 if two else 7, max(2.6, 0.42 * n + 1.6))
        axes = fig.subplots(1, 2 if two else 1, squeeze=False, gridspec_kw={"width_ratios": [3, 2]} if two else None)[0]
        ax = axes[0]
        y = np.arange(n)
        vals = shift[order]
        xerr = None if err is None else np.asarray(err, float)[order]
        ax.barh(y, vals, xerr=xerr, color=[RED if v > 0 else BLUE for v in vals], alpha=0.8, capsize=2, error_kw={"lw": 0.8})
        ax.set_yticks(y, [labels[i] for i in order])
        ax.axvline(0, color="#1a202c", lw=0.8)
        ax.grid(axis="y", visible=False)
        if scaled:
            ax.set_xlabel("shift of the driver's mean in the tail, standard deviations")
        else:
            ax.set_xlabel("shift of the driver's mean in the tail, % of its mean")
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_title(f"What the worst {100 * (1 - q):.3g} % of paths look like", fontsize=11)
        if two:
            ax2 = axes[1]
            s1v = np.asarray(s1, float)[order]
            s1e = None if s1_conf is None else np.asarray(s1_conf, float)[order]
            ax2.barh(y, s1v, xerr=s1e, color=GREY, alpha=0.85, capsize=2, error_kw={"lw": 0.8})
            ax2.set_yticks(y, [""] * n)
            ax2.grid(axis="y", visible=False)
            ax2.set_xlim(0, max(0.05, float(np.nanmax(s1v + (0 if s1e is None else np.nan_to_num(s1e)))) * 1.1))
            ax2.set_xlabel("first-order sensitivity index S1 (share of variance)")
            ax2.set_title("Share of the loss variance explained", fontsize=11)
    return to_img(fig, "Tornado chart of the drivers of the world value-added loss")


# ----------------------------------------------------------------------------- convergence


def convergence(paths: np.ndarray, mean: np.ndarray, se: np.ndarray, var: np.ndarray | None, lo: np.ndarray | None, hi: np.ndarray | None, q: float | None, unit: str) -> Img:
    """Mean ± 1.96 SE and VaR q with its 95 % interval against the number of paths (log x)."""
    paths = np.asarray(paths, float)
    with rc_context(STYLE):
        two = var is not None
        fig = _fig(11 if two else 6, 3.5)
        axes = fig.subplots(1, 2 if two else 1, squeeze=False)[0]
        ax = axes[0]
        m, s = np.asarray(mean, float), np.asarray(se, float)
        ax.fill_between(paths, m - 1.96 * s, m + 1.96 * s, color=BLUE, alpha=0.2, lw=0, label="95 % interval")
        ax.plot(paths, m, "o-", color=BLUE, ms=3.5, lw=1.5, label="estimate")
        ax.set_xscale("log")
        ax.set_xlabel("number of paths (log scale)")
        ax.set_ylabel(unit)
        ax.yaxis.set_major_formatter(_money_fmt)
        ax.set_title("Expected world value-added loss", fontsize=11)
        ax.legend(fontsize=8)
        if two:
            ax2 = axes[1]
            v = np.asarray(var, float)
            ax2.fill_between(paths, np.asarray(lo, float), np.asarray(hi, float), color=RED, alpha=0.15, lw=0, label="95 % interval")
            ax2.plot(paths, v, "o-", color=RED, ms=3.5, lw=1.5, label="estimate")
            ax2.set_xscale("log")
            ax2.set_xlabel("number of paths (log scale)")
            ax2.set_ylabel(unit)
            ax2.yaxis.set_major_formatter(_money_fmt)
            ax2.set_title(f"World value-added loss, VaR {level_label(q)}", fontsize=11)
            ax2.legend(fontsize=8)
    return to_img(fig, "Convergence of the estimates with the number of paths")


# ----------------------------------------------------------------------------- policies


def policy_chart(policies: list[str], delta: np.ndarray, se: np.ndarray, unit: str, reference: str) -> Img:
    """Δ mean world VA loss against the reference with 95 % paired intervals, one row per policy."""
    delta, se = np.asarray(delta, float), np.asarray(se, float)
    n = len(policies)
    with rc_context(STYLE):
        fig = _fig(7.5, max(2.4, 0.45 * n + 1.5))
        ax = fig.add_subplot()
        y = np.arange(n)[::-1]
        colors = [GREY if not np.isfinite(s) or abs(d) < 1.96 * s else (BLUE if d < 0 else RED) for d, s in zip(delta, se, strict=True)]
        ax.barh(y, delta, color=colors, alpha=0.8)
        ax.errorbar(delta, y, xerr=np.where(np.isfinite(se), 1.96 * se, 0), fmt="none", ecolor="#1a202c", capsize=3, lw=1)
        ax.axvline(0, color="#1a202c", lw=0.8)
        ax.set_yticks(y, policies)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_formatter(_money_fmt)
        ax.set_xlabel(f"change against {reference}, {unit}")
        ax.set_title("Policies: change in expected world value-added loss (95 % paired interval)", fontsize=11)
    return to_img(fig, "Change in expected world value-added loss by policy with 95 % paired intervals")
