"""Two coupled weekly Markov chains per path: China's export-control regime and the US tariff level.

Real-world reading
------------------
The *regime* chain follows the state of China's export controls on rare earths and related
goods. The default states, in escalation order (``level``), are

- ``calm`` (0): no licensing, free flow;
- ``truce`` (1): controls suspended, as after the November 2025 US–China agreement;
- ``targeted`` (2): licences for the seven medium and heavy rare earths and their magnets, as
  from April 2025;
- ``wider`` (3): licensing widened to more elements, equipment and technology;
- ``global`` (4): global licensing with the extraterritorial (0.1 % content) rule announced in
  October 2025;
- ``cutoff`` (5): no approvals at all.

The *tariff* chain follows the extra US tariff on Chinese goods (and China's retaliation):
``base_2024``, ``feb_2025`` (+20 %), ``apr_2025`` (145 % / 125 %), ``may_2025`` (the Geneva
truce, 30 % / 10 %), ``threat`` (+100 % on top). Which rates a level means is read elsewhere
(``stress/shocks/prices.py``); here only the level's name, its escalation ``level`` and its weekly
transition row matter.

Both chains move once a week. Tit-for-tat coupling: in the week after the regime escalated
(moved to a higher level), the tariff's moves to higher levels are ``coupling_cn_to_us`` times
as likely (the stay probability gives up the difference), and symmetrically with
``coupling_us_to_cn`` after a tariff escalation. Scheduled events (the expiry of a truce on a
known date, say) move paths that are in given states to new states with given probabilities.

Host side, :func:`build_chain` validates plain dicts into a :class:`ChainSpec` of device arrays
(no strings) plus :class:`ChainLabels` (the names). Device side, :func:`sample_chain` draws ONE
path's weekly states from its key; batch it with ``jax.vmap``.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from stress.errors import InputError, check_names, check_range

# Tolerance on the sum of a probability row (the design's 1e-9).
ROW_TOL = 1e-9

# Index of each chain in ``ChainSpec.event_chain``.
CHAINS = ("regime", "tariff")

# A scheduled week no simulation reaches: the padding event is never active.
NEVER = np.iinfo(np.int32).max

_EVENT_KEYS = ("day", "date", "chain", "from", "to")


class ChainSpec(NamedTuple):
    """The two chains' parameters as device arrays (what :func:`sample_chain` reads).

    Probabilities are float64 whatever the kernel's dtype, so that a float32 run draws the
    same weekly states as a float64 run; levels have the kernel's dtype.

    Shapes
    ------
    ``G`` regimes, ``K`` tariff levels, ``E >= 1`` scheduled events (one inactive padding event
    when none is scheduled), ``M = max(G, K)``.
    """

    P_reg: jax.Array  # (G, G) float64 weekly regime transition matrix, rows sum to 1
    P_tar: jax.Array  # (K, K) float64 weekly tariff transition matrix, rows sum to 1
    level_reg: jax.Array  # (G,) escalation level of each regime (calm 0 ... cutoff 5)
    level_tar: jax.Array  # (K,) escalation level of each tariff state
    coupling_cn_to_us: jax.Array  # () float64 factor on tariff up-moves the week after a regime escalation
    coupling_us_to_cn: jax.Array  # () float64 factor on regime up-moves the week after a tariff escalation
    init_reg: jax.Array  # () int32 regime at week 0
    init_tar: jax.Array  # () int32 tariff state at week 0
    event_week: jax.Array  # (E,) int32 week the event applies (NEVER: padding)
    event_chain: jax.Array  # (E,) int32 0 regime, 1 tariff
    event_from: jax.Array  # (E, M) bool states the event acts on (False beyond G or K)
    event_to: jax.Array  # (E, M) float64 probabilities of the new state (0 beyond G or K)


@dataclass(frozen=True)
class ChainLabels:
    """Host-side names of the chains' states, in the order of :class:`ChainSpec`'s indices."""

    regimes: tuple[str, ...]
    tariffs: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Host side: validation


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool | np.bool_)


def _probability(field: str, value: Any) -> float:
    if not _is_number(value):
        raise InputError(field, value, "a probability, a number in [0, 1]")
    check_range(field, float(value), lo=0.0, hi=1.0)
    return float(value)


def _distribution(field: str, probs: Any, names: tuple[str, ...]) -> np.ndarray:
    """A mapping name -> probability over ``names`` as a row summing to 1 (missing names: 0)."""
    if not isinstance(probs, dict) or not probs:
        raise InputError(field, probs, "a mapping from state names (" + ", ".join(names) + ") to probabilities summing to 1")
    check_names(field, [str(k) for k in probs], list(names))
    row = np.zeros(len(names))
    for name, p in probs.items():
        row[names.index(str(name))] = _probability(f"{field}.{name}", p)
    total = math.fsum(row)
    if abs(total - 1.0) > ROW_TOL:
        raise InputError(field, probs, f"probabilities summing to 1 (within {ROW_TOL:g}); these sum to {total!r}")
    return row


def _chain(block: dict[str, Any], prefix: str, states_key: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, int]:
    """Names, transition matrix, levels and initial index of one enabled chain."""
    states = block.get(states_key)
    if not isinstance(states, dict) or not states:
        raise InputError(f"{prefix}.{states_key}", states, "a non-empty mapping from state names to {level, next}")
    names = tuple(str(k) for k in states)
    P = np.zeros((len(names), len(names)))
    level = np.zeros(len(names))
    for i, name in enumerate(names):
        attrs = states[name]
        field = f"{prefix}.{states_key}.{name}"
        if not isinstance(attrs, dict):
            raise InputError(field, attrs, "a mapping with a level (number) and next (next-week probabilities)")
        lv = attrs.get("level")
        if not _is_number(lv) or not math.isfinite(float(lv)):
            raise InputError(f"{field}.level", lv, "a finite number (the escalation order; higher is more severe)")
        level[i] = float(lv)
        P[i] = _distribution(f"{field}.next", attrs.get("next"), names)
    initial = block.get("initial", names[0])
    check_names(f"{prefix}.initial", [str(initial)], list(names))
    return names, P, level, names.index(str(initial))


def _coupling(field: str, value: Any) -> float:
    if not _is_number(value):
        raise InputError(field, value, "a finite number >= 0 (1: no coupling)")
    check_range(field, float(value), lo=0.0, finite=True)
    return float(value)


def _event_day(field: str, event: dict[str, Any], horizon_days: int, start_date: str | None) -> int:
    has_day, has_date = event.get("day") is not None, event.get("date") is not None
    if has_day == has_date:
        raise InputError(field, event, "exactly one of day (whole day, 0 = first simulated day) or date (ISO)")
    if has_day:
        day = event["day"]
        if not isinstance(day, int | np.integer) or isinstance(day, bool | np.bool_):
            raise InputError(f"{field}.day", day, f"a whole day in [0, {horizon_days})")
        day = int(day)
        where = f"{field}.day"
    else:
        where = f"{field}.date"
        if start_date is None:
            raise InputError(where, event["date"], "a day instead of a date, or a date with scenario.start_date set")
        try:
            start = datetime.date.fromisoformat(str(start_date))
        except ValueError:
            raise InputError("scenario.start_date", start_date, "an ISO date such as 2025-04-04, or null") from None
        try:
            date = datetime.date.fromisoformat(str(event["date"]))
        except ValueError:
            raise InputError(where, event["date"], "an ISO date such as 2026-11-10") from None
        day = (date - start).days
    if not 0 <= day < horizon_days:
        raise InputError(where, event.get("day", event.get("date")), f"a day in [0, {horizon_days}) of the simulated horizon")
    return day


def _enabled(block: dict[str, Any] | None, field: str) -> bool:
    if block is None:
        return False
    if not isinstance(block, dict):
        raise InputError(field, block, "a mapping (or null: disabled)")
    return bool(block.get("enabled", True))


def build_chain(
    regime: dict[str, Any] | None,
    tariffs: dict[str, Any] | None,
    *,
    horizon_days: int,
    start_date: str | None,
    dtype: Any,
) -> tuple[ChainSpec, ChainLabels]:
    """Validate the ``shocks.regime`` and ``shocks.tariffs`` blocks into a :class:`ChainSpec`.

    Parameters
    ----------
    regime
        The ``shocks.regime`` block as plain containers (``OmegaConf.to_container``): ``enabled``
        (default true when the block is given), ``initial`` (default: the first state),
        ``states`` (ordered mapping name -> ``{level, next}``; ``next`` is the full weekly row,
        missing names are 0), ``coupling_cn_to_us`` and ``coupling_us_to_cn`` (>= 0, default 1:
        no tit-for-tat), ``events`` (list of ``{day | date, chain, from, to}``). ``None`` or
        ``enabled: false``: one state ``calm`` for ever, and no events.
    tariffs
        The ``shocks.tariffs`` block: ``enabled``, ``initial``, ``levels`` (as ``states`` above;
        other attributes such as ``rules`` are read elsewhere). ``None`` or ``enabled: false``:
        one level ``base`` for ever; events on the tariff chain are then dropped.
    horizon_days
        Simulated days; an event must fall on a day in ``[0, horizon_days)``.
    start_date
        ISO date of day 0 (``scenario.start_date``), needed by events given by ``date``.
    dtype
        Dtype of the levels (the kernel's); probabilities stay float64.

    Returns
    -------
    (ChainSpec, ChainLabels)

    Raises
    ------
    InputError
        Unknown state names (``initial``, ``next``, an event's ``from``/``to``), probabilities
        outside [0, 1] or NaN, rows not summing to 1 within 1e-9, levels that are not finite
        numbers, negative or non-finite couplings, events outside the horizon, a date without
        ``start_date``, a malformed date, ``chain`` not ``regime``/``tariff``.
    """
    pre_r, pre_t = "shocks.regime", "shocks.tariffs"
    c_cn_us = c_us_cn = 1.0
    raw_events: list[Any] = []
    if _enabled(regime, pre_r):
        assert regime is not None
        regimes, P_reg, level_reg, init_reg = _chain(regime, pre_r, "states")
        c_cn_us = _coupling(f"{pre_r}.coupling_cn_to_us", regime.get("coupling_cn_to_us", 1.0))
        c_us_cn = _coupling(f"{pre_r}.coupling_us_to_cn", regime.get("coupling_us_to_cn", 1.0))
        raw_events = regime.get("events") or []
        if not isinstance(raw_events, list | tuple):
            raise InputError(f"{pre_r}.events", raw_events, "a list of {day | date, chain, from, to}")
    else:
        regimes, P_reg, level_reg, init_reg = ("calm",), np.ones((1, 1)), np.zeros(1), 0
    if _enabled(tariffs, pre_t):
        assert tariffs is not None
        tariff_names, P_tar, level_tar, init_tar = _chain(tariffs, pre_t, "levels")
    else:
        tariff_names, P_tar, level_tar, init_tar = ("base",), np.ones((1, 1)), np.zeros(1), 0
    tariffs_on = _enabled(tariffs, pre_t)

    M = max(len(regimes), len(tariff_names))
    weeks, chains, froms, tos = [], [], [], []
    for e, event in enumerate(raw_events):
        field = f"{pre_r}.events.{e}"
        if not isinstance(event, dict):
            raise InputError(field, event, "a mapping {day | date, chain, from, to}")
        check_names(field, [str(k) for k in event], list(_EVENT_KEYS))
        chain = event.get("chain")
        if chain not in CHAINS:
            raise InputError(f"{field}.chain", chain, "one of " + ", ".join(CHAINS))
        day = _event_day(field, event, horizon_days, start_date)
        if chain == "tariff" and not tariffs_on:
            continue  # the tariff chain is off: nothing for the event to move
        names = regimes if chain == "regime" else tariff_names
        src = event.get("from")
        src = [src] if isinstance(src, str) else src
        if not isinstance(src, list | tuple) or not src:
            raise InputError(f"{field}.from", src, "a non-empty list of state names: " + ", ".join(names))
        check_names(f"{field}.from", [str(s) for s in src], list(names))
        row = _distribution(f"{field}.to", event.get("to"), names)
        mask = np.zeros(M, bool)
        mask[[names.index(str(s)) for s in src]] = True
        weeks.append(day // 7)
        chains.append(CHAINS.index(chain))
        froms.append(mask)
        tos.append(np.pad(row, (0, M - len(names))))
    if not weeks:  # fixed shapes: one padding event that never applies and moves no state
        weeks, chains, froms, tos = [NEVER], [0], [np.zeros(M, bool)], [np.eye(1, M)[0]]

    f64 = jnp.float64
    spec = ChainSpec(
        P_reg=jnp.asarray(P_reg, f64),
        P_tar=jnp.asarray(P_tar, f64),
        level_reg=jnp.asarray(level_reg, dtype),
        level_tar=jnp.asarray(level_tar, dtype),
        coupling_cn_to_us=jnp.asarray(c_cn_us, f64),
        coupling_us_to_cn=jnp.asarray(c_us_cn, f64),
        init_reg=jnp.asarray(init_reg, jnp.int32),
        init_tar=jnp.asarray(init_tar, jnp.int32),
        event_week=jnp.asarray(weeks, jnp.int32),
        event_chain=jnp.asarray(chains, jnp.int32),
        event_from=jnp.asarray(np.stack(froms), bool),
        event_to=jnp.asarray(np.stack(tos), f64),
    )
    return spec, ChainLabels(regimes=regimes, tariffs=tariff_names)


# --------------------------------------------------------------------------------------------
# Device side: one path


def _inverse_cdf(row: jax.Array, u: jax.Array) -> jax.Array:
    """Index drawn from the distribution ``row`` (length M) with a uniform ``u`` in [0, 1).

    States with probability 0 are never chosen: interior ones because their cumulative value
    equals their predecessor's, trailing ones (whose cumulative sum may round to just below 1)
    by clipping to the last state with positive probability.
    """
    cum = jnp.cumsum(row)
    idx = jnp.sum(u >= cum[:-1]).astype(jnp.int32)
    last = (row.shape[0] - 1 - jnp.argmax((row > 0)[::-1])).astype(jnp.int32)
    return jnp.minimum(idx, last)


def _coupled_row(P: jax.Array, level: jax.Array, s: jax.Array, escalated: jax.Array, factor: jax.Array) -> jax.Array:
    """Row ``s`` of ``P`` with the moves to higher levels scaled by ``factor`` when ``escalated``.

    The stay probability absorbs the change; if the scaled up-moves exceed what the other moves
    leave (1 - other moves), they are scaled down to exactly that and the stay probability is 0.
    """
    row = P[s]
    idx = jnp.arange(row.shape[0])
    up = level > level[s]
    other = jnp.sum(jnp.where(~up & (idx != s), row, 0.0))
    room = jnp.maximum(1.0 - other, 0.0)
    scaled = jnp.where(up, row * factor, 0.0)
    total = jnp.sum(scaled)
    scaled = scaled * jnp.where(total > room, room / jnp.maximum(total, jnp.finfo(row.dtype).tiny), 1.0)
    stay = jnp.maximum(room - jnp.sum(scaled), 0.0)
    coupled = jnp.where(up, scaled, jnp.where(idx == s, stay, row))
    return jnp.where(escalated, coupled, row)


def scale_moves(P: jax.Array, level: jax.Array, up: jax.Array, down: jax.Array) -> jax.Array:
    """``P`` with every move to a higher level scaled by ``up`` and every move to a lower level by
    ``down`` (moves within a level unchanged); the stay probability absorbs the change. Where the
    scaled moves would exceed 1 they are scaled back to sum to exactly 1 (stay 0). Factors of 1
    return ``P`` itself."""
    hi = level[None, :] > level[:, None]
    lo = level[None, :] < level[:, None]
    eye = jnp.eye(P.shape[0], dtype=bool)
    moved = jnp.where(hi, P * up, jnp.where(lo, P * down, jnp.where(eye, 0.0, P)))
    total = moved.sum(axis=1, keepdims=True)
    moved = moved * jnp.where(total > 1.0, 1.0 / jnp.maximum(total, jnp.finfo(P.dtype).tiny), 1.0)
    scaled = jnp.where(eye, jnp.maximum(1.0 - moved.sum(axis=1, keepdims=True), 0.0), moved)
    return jnp.where((up == 1) & (down == 1), P, scaled)


def _apply_events(spec: ChainSpec, key_event: jax.Array, week: jax.Array, g: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Regime ``g`` and tariff ``k`` after the events scheduled for ``week`` (in listed order)."""

    def one(carry, e):
        g, k = carry
        on_reg = spec.event_chain[e] == 0
        s = jnp.where(on_reg, g, k)
        hit = (spec.event_week[e] == week) & spec.event_from[e, s]
        # One uniform per event and path, from the event's own key: the Markov moves' draws
        # are the same with or without the event.
        new = _inverse_cdf(spec.event_to[e], jr.uniform(jr.fold_in(key_event, e), (), jnp.float64))
        g = jnp.where(hit & on_reg, new, g)
        k = jnp.where(hit & ~on_reg, new, k)
        return (g, k), None

    (g, k), _ = jax.lax.scan(one, (g, k), jnp.arange(spec.event_week.shape[0]))
    return g, k


def sample_chain(key: jax.Array, spec: ChainSpec, weeks: int) -> tuple[jax.Array, jax.Array]:
    """Draw ONE path's regime and tariff state for each week.

    Week ``w`` covers days ``7w .. 7w + 6``. Week 0 starts in the initial states, then the
    events scheduled for week 0 apply. For ``w >= 1`` each chain moves from its week ``w - 1``
    state with one float64 uniform (inverse CDF of its row, with tit-for-tat coupling when the
    other chain rose in level between weeks ``w - 2`` and ``w - 1``; before week 0 the states
    are the initial ones), then week ``w``'s events apply. Week ``w``'s uniforms come from
    ``fold_in(key, w)``, so a longer horizon leaves the earlier weeks unchanged.

    Parameters
    ----------
    key
        This path's key (``fold_in(path_key, MODULE_TAG)`` in the engine).
    spec
        From :func:`build_chain`.
    weeks
        Number of weeks ``W`` (static under ``jax.jit``).

    Returns
    -------
    regime, tariff
        ``(W,)`` int32 state indices (names in :class:`ChainLabels`).
    """
    key_move, key_event = jr.split(key)
    g0, k0 = _apply_events(spec, key_event, jnp.int32(0), spec.init_reg, spec.init_tar)

    def step(carry, w):
        g_prev, k_prev, g, k = carry  # states at weeks w - 2 and w - 1
        reg_up = spec.level_reg[g] > spec.level_reg[g_prev]
        tar_up = spec.level_tar[k] > spec.level_tar[k_prev]
        row_g = _coupled_row(spec.P_reg, spec.level_reg, g, tar_up, spec.coupling_us_to_cn)
        row_k = _coupled_row(spec.P_tar, spec.level_tar, k, reg_up, spec.coupling_cn_to_us)
        u = jr.uniform(jr.fold_in(key_move, w), (2,), jnp.float64)
        g_new = _inverse_cdf(row_g, u[0])
        k_new = _inverse_cdf(row_k, u[1])
        g_new, k_new = _apply_events(spec, key_event, w, g_new, k_new)
        return (g, k, g_new, k_new), (g_new, k_new)

    carry0 = (spec.init_reg, spec.init_tar, g0, k0)
    _, (g_rest, k_rest) = jax.lax.scan(step, carry0, jnp.arange(1, weeks, dtype=jnp.int32))
    regime = jnp.concatenate([g0[None], g_rest]).astype(jnp.int32)
    tariff = jnp.concatenate([k0[None], k_rest]).astype(jnp.int32)
    return regime, tariff


def occupancy(states: jax.Array, n_states: int) -> jax.Array:
    """Share of paths in each state per week.

    Parameters
    ----------
    states
        ``(P, W)`` int state indices of ``P`` paths (regime or tariff from :func:`sample_chain`
        under ``vmap``).
    n_states
        Number of states (``G`` or ``K``).

    Returns
    -------
    ``(W, n_states)`` float64 shares; each week's row sums to 1.
    """
    states = jnp.asarray(states)
    hit = states[:, :, None] == jnp.arange(n_states)[None, None, :]
    return jnp.mean(hit.astype(jnp.float64), axis=0)
