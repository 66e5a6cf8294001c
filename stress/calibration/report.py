"""Plain-text summary of a calibration: per model, each parameter's posterior and diagnostics."""

from __future__ import annotations

import pandas as pd

HEADER = f"{'parameter':<34} {'mean':>9} {'sd':>8} {'5%':>9} {'50%':>9} {'95%':>9} {'R-hat':>7} {'ESS bulk':>9} {'ESS tail':>9}"


def _num(x: float) -> str:
    return f"{x:9.3g}" if abs(x) < 1e4 else f"{x:9.3e}"


def summary_table(diag: pd.DataFrame, seconds: dict[str, float], *, published: bool, forced: bool) -> str:
    """One block per model: mean, sd, 5/50/95 % and R-hat, bulk and tail ESS of every parameter."""
    state = "published" if published else ("published WITH WARNINGS (force=True)" if forced else "NOT published")
    lines = [f"calibration: {state}"]
    for model, d in diag.groupby("model", sort=False):
        div = int(d["divergences"].iloc[0])
        lines += ["", f"{model}: {div} divergent transitions, {seconds[model]:.1f} s", HEADER]
        for _, r in d.iterrows():
            rhat = "   -   " if r["constant"] else f"{r['rhat']:7.3f}"
            lines.append(
                f"{r['parameter']:<34} {_num(r['mean'])} {r['sd']:8.3g} {_num(r['q05'])} {_num(r['q50'])} {_num(r['q95'])}"
                f" {rhat} {r['ess_bulk']:9.0f} {r['ess_tail']:9.0f}"
            )
    return "\n".join(lines)
