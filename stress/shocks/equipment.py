"""New capacity outside China, slowed by China's controls on mining, separation and magnet
equipment and superhard materials.

Each planned project adds ``added_share`` of its industry's capacity after a nominal lead time and
ramps up linearly over ``ramp_days``. Under the regimes listed in ``regimes`` (those with
equipment and technology controls, e.g. the October 2025 package) lead times stretch: the online
day is ``lead (1 + (f - 1) u)`` with ``f`` drawn per path from ``[stretch_min, stretch_max]`` and
``u`` the share of the weeks before the nominal date spent under such a regime (weeks beyond the
horizon count as the last simulated week's regime).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.errors import InputError, check_names, check_range
from stress.shocks.base import NONE, Channels, Context, module_key, one_hot_rows

TAG = 5


class EquipmentSpec(NamedTuple):
    onehot: jax.Array  # (J, n)
    added: jax.Array  # (J,)
    lead_days: jax.Array  # (J,)
    ramp_days: jax.Array  # (J,)
    stretch_min: jax.Array  # ()
    stretch_max: jax.Array  # ()
    controls: jax.Array  # (G,) 1 for regimes with equipment controls


class EquipmentPath(NamedTuple):
    onehot: jax.Array  # (J, n)
    added: jax.Array  # (J,)
    online: jax.Array  # (J,) first day of production
    ramp_days: jax.Array  # (J,)

    def channels(self, t: jax.Array) -> Channels:
        frac = jnp.clip((t - self.online + 1) / jnp.maximum(self.ramp_days, 1), 0, 1)
        return NONE._replace(capacity=1 + (self.added * frac) @ self.onehot)


def stretched_online(lead: jax.Array, under: jax.Array, f: jax.Array) -> jax.Array:
    """Online day ``lead (1 + (f - 1) u)`` of projects with nominal lead times ``lead`` (J,),
    ``u`` the share of the weeks before the nominal date spent under controls (``under`` (W,) 1
    for a controlled week; weeks beyond the horizon count as the last one), rounded to a day."""
    f64 = jnp.float64
    W = under.shape[0]
    lead = lead.astype(f64)
    lead_weeks = jnp.maximum(jnp.ceil(lead / 7.0), 1.0)  # (J,)
    w = jnp.arange(W, dtype=f64)
    inside = jnp.minimum(lead_weeks, W)
    counted = (under[None, :] * (w[None, :] < inside[:, None])).sum(axis=1) + under[-1] * jnp.maximum(lead_weeks - W, 0)
    u = counted / lead_weeks
    return jnp.round(lead * (1 + (f - 1) * u))


def draw(spec: EquipmentSpec, key: jax.Array, ctx: Context) -> EquipmentPath:
    f64 = jnp.float64
    f = jr.uniform(module_key(key, TAG), (), f64, spec.stretch_min.astype(f64), spec.stretch_max.astype(f64))
    under = spec.controls[ctx.regime].astype(f64)  # (W,)
    dt = spec.onehot.dtype
    return EquipmentPath(spec.onehot, spec.added, stretched_online(spec.lead_days, under, f).astype(dt), spec.ramp_days)


def build(cfg: dict[str, Any], mrio: Any, regimes: tuple[str, ...], dtype: Any) -> EquipmentSpec:
    fld = "shocks.equipment"
    projects = cfg.get("projects") or []
    if not projects:
        raise InputError(f"{fld}.projects", projects, "one or more projects {region, sector, added_share, lead_days, ramp_days}")
    idx, added, lead, ramp = [], [], [], []
    for k, pr in enumerate(projects):
        f = f"{fld}.projects[{k}]"
        if not isinstance(pr, dict):
            raise InputError(f, pr, "a mapping {region, sector, added_share, lead_days, ramp_days, source}")
        check_names(f"{f}.region", [pr.get("region")], [r for r in mrio.regions if r != "CHN"])
        check_names(f"{f}.sector", [pr.get("sector")], list(mrio.sectors))
        check_range(f"{f}.added_share", pr.get("added_share"), lo=0.0, lo_open=True, hi=10.0)
        check_range(f"{f}.lead_days", pr.get("lead_days"), lo=0.0, finite=True)
        check_range(f"{f}.ramp_days", pr.get("ramp_days"), lo=0.0, finite=True)
        i = mrio.index(pr["region"], pr["sector"])
        if mrio.x[i] <= 0:
            raise InputError(f"{f}.sector", pr["sector"], f"a sector with output in {pr['region']} (capacity is added as a share of it)")
        idx.append(i)
        added.append(pr["added_share"])
        lead.append(pr["lead_days"])
        ramp.append(pr["ramp_days"])
    check_range(f"{fld}.stretch_min", cfg.get("stretch_min"), lo=1.0, finite=True)
    check_range(f"{fld}.stretch_max", cfg.get("stretch_max"), lo=cfg["stretch_min"], finite=True)
    ctrl = list(cfg.get("regimes") or [])
    check_names(f"{fld}.regimes", ctrl, list(regimes))
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    return EquipmentSpec(
        onehot=a(one_hot_rows(idx, mrio.n)),
        added=a(added),
        lead_days=a(lead),
        ramp_days=a(ramp),
        stretch_min=a(cfg["stretch_min"]),
        stretch_max=a(cfg["stretch_max"]),
        controls=a(np.array([g in ctrl for g in regimes], float)),
    )
