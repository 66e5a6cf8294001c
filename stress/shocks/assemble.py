"""The ``shocks`` config -> the enabled modules' specs (host), and one path's draws (device).

Order of a path's draws: the escalation chain first (regime and tariff level by week), then each
enabled module from its own key (:func:`stress.shocks.base.module_key`), given the chain as
context. A module that is off draws nothing, so switching one on or off leaves every other
module's draws, and the export cut-off's, unchanged (common random numbers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stress.shocks import diversion, equipment, halts, licensing, outages, predatory, regime, tariffs, takeover
from stress.shocks.base import Context

CHAIN_TAG = 1
REE_GROUP_SECTORS = ("ree_separation", "magnets")
"""Sectors whose licensed flows are reported as the controlled flows (the tool's rare-earth focus)."""


class ModuleSpecs(NamedTuple):
    """The enabled modules' device specs (``None``: off)."""

    chain: regime.ChainSpec
    week_slots: jax.Array  # (W,) one entry per simulated week (values unused)
    tariffs: tariffs.TariffSpec | None
    licensing: licensing.LicensingSpec | None
    halts: halts.HaltSpec | None
    outages: outages.OutageSpec | None
    equipment: equipment.EquipmentSpec | None
    diversion: diversion.DiversionSpec | None
    predatory: predatory.PredatorySpec | None
    takeover: takeover.TakeoverSpec | None = None


@dataclass(frozen=True)
class ModuleLabels:
    """Host-side names that go with :class:`ModuleSpecs`."""

    enabled: tuple[str, ...]
    regimes: tuple[str, ...]
    tariff_levels: tuple[str, ...]
    groups: tuple[str, ...]
    monitored: tuple[tuple[int, float], ...]  # (industry, licensed share of its exports) under licensing
    predatory_targets: tuple[int, ...]  # industries that may close under predatory pricing


def weeks_of(horizon: int) -> int:
    """Per-week arrays cover the horizon plus the day after it (orders for day T)."""
    return horizon // 7 + 1


def build(shocks_cfg: Any, mrio: Any, *, horizon: int, start_date: str | None, dtype: Any) -> tuple[ModuleSpecs | None, ModuleLabels]:
    """Specs of the enabled modules (``None`` when none is on: the model runs unchanged)."""
    enabled = tuple(shocks_cfg.enabled())
    if not enabled:
        return None, ModuleLabels((), (), (), (), (), ())
    _refuse_idle(shocks_cfg)
    d = {k: asdict(v) for k, v in ((f, getattr(shocks_cfg, f)) for f in ("regime", "tariffs", "licensing", "extraterritorial"))}
    reg = d["regime"]
    if not reg["enabled"]:
        # the chain stays in its initial state for ever; every state keeps its name, so the other
        # modules' settings by regime still apply
        states = reg.get("states") or {reg["initial"]: {}}
        reg = {
            "enabled": True,
            "initial": reg["initial"],
            "states": {g: {"level": (v or {}).get("level", 0), "next": {g: 1.0}} for g, v in states.items()},
        }
    tar = d["tariffs"]
    chain, labels = regime.build_chain(reg, tar if tar["enabled"] else None, horizon_days=horizon, start_date=start_date, dtype=dtype)
    regimes = labels.regimes
    tariff_spec = None
    tariff_tensor = np.zeros((len(labels.tariffs), mrio.n, len(mrio.regions)))
    if tar["enabled"]:
        from stress.shocks import prices

        rules = [(tar["levels"][k] or {}).get("rules") or [] for k in labels.tariffs]
        price, tariff_tensor = prices.price_table(rules, mrio, "shocks.tariffs.levels", names=list(labels.tariffs))
        tariff_spec = tariffs.TariffSpec(price=jnp.asarray(price, dtype), tariff=jnp.asarray(tariff_tensor, dtype))
    lic_spec, groups, monitored = None, (), ()
    if shocks_cfg.licensing.enabled:
        lic_spec, names = licensing.build(d["licensing"], d["extraterritorial"], mrio, regimes, dtype)
        groups = tuple(names)
        # The tracked controlled flows are the rare-earth ones (separated rare earths and magnets from
        # China, and third regions' magnets under the 0.1 % rule), weighted by the licensed share of
        # the industry's exports: 1 - prod over those groups of (1 - link share).
        M = np.asarray(lic_spec.M, float)
        sector_of = np.arange(mrio.n) % len(mrio.sectors)
        ree = [k for k in range(M.shape[0]) if mrio.sectors[int(sector_of[np.argmax(M[k])])] in REE_GROUP_SECTORS and M[k].max() > 0]
        licensed = 1 - np.prod(1 - M[ree], axis=0) if ree else np.zeros(mrio.n)
        monitored = tuple((int(i), float(licensed[i])) for i in np.flatnonzero(licensed > 0))
    elif shocks_cfg.extraterritorial.enabled:
        from stress.errors import InputError

        raise InputError("shocks.extraterritorial.enabled", True, "false unless shocks.licensing.enabled=true (the rule is a licence)")
    cfg = shocks_cfg
    pred = predatory.build(asdict(cfg.predatory), mrio, regimes, dtype) if cfg.predatory.enabled else None
    specs = ModuleSpecs(
        chain=chain,
        week_slots=jnp.zeros((weeks_of(horizon),), dtype),
        tariffs=tariff_spec,
        licensing=lic_spec,
        halts=halts.build(asdict(cfg.halts), mrio, dtype) if cfg.halts.enabled else None,
        outages=outages.build(asdict(cfg.outages), mrio, horizon, dtype) if cfg.outages.enabled else None,
        equipment=equipment.build(asdict(cfg.equipment), mrio, regimes, dtype) if cfg.equipment.enabled else None,
        diversion=diversion.build(asdict(cfg.diversion), mrio, tariff_tensor, dtype) if cfg.diversion.enabled else None,
        predatory=pred,
        takeover=takeover.build(asdict(cfg.takeover), mrio, dtype) if cfg.takeover.enabled else None,
    )
    targets = () if pred is None else tuple(int(i) for i in np.asarray(pred.targets).argmax(axis=1))
    return specs, ModuleLabels(enabled, regimes, labels.tariffs, groups, monitored, targets)


def _refuse_idle(cfg: Any) -> None:
    """A mechanism switched on that can do nothing is refused, as every setting that would be
    silently ignored is."""
    from stress.errors import InputError

    if cfg.diversion.enabled and not cfg.tariffs.enabled:
        raise InputError("shocks.diversion.enabled", True, "false unless shocks.tariffs.enabled=true (diversion follows the tariff level)")
    if cfg.regime.enabled and not (cfg.licensing.enabled or cfg.tariffs.enabled or cfg.equipment.enabled or cfg.predatory.enabled):
        raise InputError(
            "shocks.regime.enabled", True, "false unless licensing, tariffs, equipment or predatory is enabled too (the chain acts through them)"
        )
    if cfg.extraterritorial.enabled and not cfg.regime.enabled and cfg.regime.initial not in (cfg.extraterritorial.regimes or []):
        raise InputError(
            "shocks.extraterritorial.enabled",
            True,
            f"false, or a regime in which the rule applies: with the chain off the regime stays {cfg.regime.initial!r}, "
            f"not one of shocks.extraterritorial.regimes={list(cfg.extraterritorial.regimes)}",
        )
    if cfg.licensing.enabled and not cfg.regime.enabled:
        scope = (cfg.licensing.regimes or {}).get(cfg.regime.initial) or {}
        if not any(v is None or v > 0 for v in (scope.get("scope") or {}).values()) and not scope.get("cutoff"):
            raise InputError(
                "shocks.licensing.enabled",
                True,
                f"false, or a regime that licenses something: with the chain off the regime stays {cfg.regime.initial!r}, "
                "which licenses nothing (set shocks.regime.enabled=true or shocks.regime.initial=targeted)",
            )


_DRAWS = (
    ("tariffs", tariffs.draw),
    ("licensing", licensing.draw),
    ("halts", halts.draw),
    ("outages", outages.draw),
    ("equipment", equipment.draw),
    ("diversion", diversion.draw),
    ("predatory", predatory.draw),
    ("takeover", takeover.draw),
)


class PathInfo(NamedTuple):
    """What a path's shocks were, for the outputs (one path)."""

    regime: jax.Array  # (W,) int32
    tariff: jax.Array  # (W,) int32
    closed_day: jax.Array  # (J,) day each predatory-pricing target closed (inf: never); (0,) if off


def draw(
    specs: ModuleSpecs, key: jax.Array, post_p: jax.Array, post_share: jax.Array, levers: Any = None
) -> tuple[tuple, PathInfo]:
    """One path's module values (each with ``channels(t)``) and its :class:`PathInfo`.

    ``levers`` (optional) is a callable ``levers(regime) -> Effects`` with the path's allied
    levers (:mod:`stress.policy`), and an attribute ``chain_factors`` ``(up, down)`` applied to the
    regime chain's moves before it is drawn; the draws themselves are the same with or without.
    """
    W = specs.week_slots.shape[0]
    chain = specs.chain
    if levers is not None:
        up, down = levers.chain_factors
        chain = chain._replace(P_reg=regime.scale_moves(chain.P_reg, chain.level_reg, up, down))
    g, k = regime.sample_chain(jax.random.fold_in(key, 1_000_003 + CHAIN_TAG), chain, W)
    ctx = Context(regime=g, tariff=k, post_p=post_p, post_share=post_share, policy=None if levers is None else levers(g))
    parts = []
    closed = jnp.zeros((0,), specs.week_slots.dtype)
    for name, fn in _DRAWS:
        spec = getattr(specs, name)
        if spec is not None:
            part = fn(spec, key, ctx)
            parts.append(part)
            if name == "predatory":
                closed = part.closed_day
    return tuple(parts), PathInfo(regime=g, tariff=k, closed_day=closed)
