"""The regime and tariff chains (stress/shocks/regime.py): transition laws, coupling, events, input checks.

Monte Carlo tolerances: a frequency estimated from ``n`` independent trials of probability
``p`` has standard error ``sqrt(p (1 - p) / n)``; every check allows 4 of them (a false alarm
about once in 16 000 checks per comparison; the seed is fixed, ``STRESS_TEST_SEED`` fuzzes it).
For a Markov chain the moves out of state ``i`` are independent draws from row ``i`` given the
number of visits to ``i`` (Markov property), so ``n`` is the number of visits.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from conftest import SEED

from stress.errors import InputError
from stress.shocks.regime import NEVER, _coupled_row, build_chain, occupancy, sample_chain

N_SE = 4.0  # Monte Carlo standard errors allowed in every frequency check

# Regimes of China's export controls, in escalation order by level; rows are weekly and
# deliberately much more mobile than the real ones so that every move is seen often.
REGIME = {
    "enabled": True,
    "initial": "calm",
    "states": {
        "calm": {"level": 0, "next": {"calm": 0.85, "targeted": 0.1, "truce": 0.05}},
        "targeted": {"level": 2, "next": {"targeted": 0.75, "wider": 0.1, "truce": 0.1, "calm": 0.05}},
        "wider": {"level": 3, "next": {"wider": 0.7, "global": 0.1, "targeted": 0.1, "truce": 0.1}},
        "global": {"level": 4, "next": {"global": 0.7, "cutoff": 0.1, "wider": 0.1, "truce": 0.1}},
        "cutoff": {"level": 5, "next": {"cutoff": 0.8, "global": 0.1, "truce": 0.1}},
        "truce": {"level": 1, "next": {"truce": 0.8, "calm": 0.1, "targeted": 0.1}},
    },
    "coupling_cn_to_us": 1.0,
    "coupling_us_to_cn": 1.0,
    "events": [],
}

# US tariff levels of 2025 (apr_2025 above the may_2025 truce).
TARIFFS = {
    "enabled": True,
    "initial": "base_2024",
    "levels": {
        "base_2024": {"level": 0, "next": {"base_2024": 0.85, "feb_2025": 0.15}, "rules": []},
        "feb_2025": {"level": 1, "next": {"feb_2025": 0.8, "apr_2025": 0.1, "base_2024": 0.1}},
        "apr_2025": {"level": 3, "next": {"apr_2025": 0.7, "may_2025": 0.2, "threat": 0.1}},
        "may_2025": {"level": 2, "next": {"may_2025": 0.8, "apr_2025": 0.1, "threat": 0.05, "base_2024": 0.05}},
        "threat": {"level": 4, "next": {"threat": 0.7, "apr_2025": 0.2, "may_2025": 0.1}},
    },
}

HORIZON = 365


def _build(regime=REGIME, tariffs=TARIFFS, *, start_date=None, dtype=jnp.float64, horizon=HORIZON):
    return build_chain(copy.deepcopy(regime), copy.deepcopy(tariffs), horizon_days=horizon, start_date=start_date, dtype=dtype)


_sample_paths = jax.jit(jax.vmap(sample_chain, in_axes=(0, None, None)), static_argnums=2)


def _draw(spec, weeks, n, seed=SEED):
    key = jr.key(seed)
    keys = jax.vmap(lambda i: jr.fold_in(key, i))(jnp.arange(n))
    r, t = _sample_paths(keys, spec, weeks)
    return np.asarray(r), np.asarray(t)


def _transition_counts(states, size):
    counts = np.zeros((size, size), np.int64)
    np.add.at(counts, (states[:, :-1].ravel(), states[:, 1:].ravel()), 1)
    return counts


def _assert_frequency(hits, trials, p, what):
    """``hits / trials`` matches ``p`` within N_SE binomial standard errors (exactly when p is 0 or 1)."""
    assert trials > 0, what
    se = np.sqrt(p * (1.0 - p) / trials)
    freq = hits / trials
    assert abs(freq - p) <= N_SE * se, f"{what}: {freq:.4f} vs {p:.4f} (SE {se:.4f}, {trials} trials)"


def _assert_rows(counts, P, name):
    for i in range(P.shape[0]):
        visits = counts[i].sum()
        for j in range(P.shape[1]):
            _assert_frequency(counts[i, j], visits, P[i, j], f"{name} {i}->{j}")


def test_transition_frequencies_match_matrices():
    spec, labels = _build()
    r, t = _draw(spec, 60, 2000)
    assert r.shape == t.shape == (2000, 60) and r.dtype == t.dtype == np.int32
    assert (r[:, 0] == labels.regimes.index("calm")).all() and (t[:, 0] == 0).all()
    _assert_rows(_transition_counts(r, 6), np.asarray(spec.P_reg), "regime")
    _assert_rows(_transition_counts(t, 5), np.asarray(spec.P_tar), "tariff")


# Two-state chains for the coupling: regime calm (0) / targeted (2), tariff base (0) / high (1).
def _two_by_two(cn_to_us, us_to_cn):
    regime = {
        "states": {
            "calm": {"level": 0, "next": {"calm": 0.9, "targeted": 0.1}},
            "targeted": {"level": 2, "next": {"targeted": 0.7, "calm": 0.3}},
        },
        "coupling_cn_to_us": cn_to_us,
        "coupling_us_to_cn": us_to_cn,
    }
    tariffs = {
        "levels": {
            "base": {"level": 0, "next": {"base": 0.9, "high": 0.1}},
            "high": {"level": 1, "next": {"high": 0.5, "base": 0.5}},
        },
    }
    return _build(regime, tariffs)[0]


@pytest.mark.parametrize(
    ("cn_to_us", "us_to_cn"),
    [(1.0, 1.0), (5.0, 1.0), (1.0, 3.0), (100.0, 100.0), (0.0, 0.0)],
)
def test_coupling_scales_up_moves_after_the_other_chain_escalates(cn_to_us, us_to_cn):
    """After a regime escalation the tariff's up-move is min(0.1 c, 1) (room: no other moves), and vice versa.

    With c = 5 that is 0.5 against 0.1 in other weeks; c = 100 clips it to 1, c = 0 blocks it.
    """
    r, t = _draw(_two_by_two(cn_to_us, us_to_cn), 60, 4000)
    prev, last, now = slice(0, -2), slice(1, -1), slice(2, None)  # weeks w-2, w-1, w for w >= 2
    reg_up = r[:, last] > r[:, prev]
    tar_up = t[:, last] > t[:, prev]
    # tariff at base in week w-1: the up-move is scaled when the regime just escalated
    base = t[:, last] == 0
    for cond, p in ((reg_up, min(0.1 * cn_to_us, 1.0)), (~reg_up, 0.1)):
        sel = base & cond
        _assert_frequency((t[:, now] == 1)[sel].sum(), sel.sum(), p, f"tariff up, regime escalated={cond is reg_up}")
    calm = r[:, last] == 0
    for cond, p in ((tar_up, min(0.1 * us_to_cn, 1.0)), (~tar_up, 0.1)):
        sel = calm & cond
        _assert_frequency((r[:, now] == 1)[sel].sum(), sel.sum(), p, f"regime up, tariff escalated={cond is tar_up}")


def test_coupled_row_keeps_other_moves_and_clips():
    """Exact row arithmetic: up-moves scaled, down-moves kept, stay absorbs; clipped at stay = 0."""
    P = jnp.array([[0.9, 0.1, 0.0], [0.1, 0.6, 0.3], [0.0, 0.5, 0.5]])
    level = jnp.array([0.0, 1.0, 2.0])
    s, yes = jnp.int32(1), jnp.bool_(True)
    np.testing.assert_allclose(_coupled_row(P, level, s, yes, jnp.float64(2.0)), [0.1, 0.3, 0.6], atol=1e-15)
    np.testing.assert_allclose(_coupled_row(P, level, s, yes, jnp.float64(5.0)), [0.1, 0.0, 0.9], atol=1e-15)
    np.testing.assert_allclose(_coupled_row(P, level, s, yes, jnp.float64(0.0)), [0.1, 0.9, 0.0], atol=1e-15)
    np.testing.assert_array_equal(_coupled_row(P, level, s, jnp.bool_(False), jnp.float64(5.0)), P[1])
    # top state: nothing above it, the row is unchanged
    np.testing.assert_allclose(_coupled_row(P, level, jnp.int32(2), yes, jnp.float64(5.0)), P[2], atol=1e-15)


def _truce_regime(events):
    return {
        "initial": "calm",
        "states": {
            "calm": {"level": 0, "next": {"calm": 0.8, "truce": 0.2}},
            "truce": {"level": 1, "next": {"truce": 0.7, "calm": 0.2, "global": 0.1}},
            "global": {"level": 4, "next": {"global": 0.8, "truce": 0.2}},
        },
        "events": events,
    }


def test_scheduled_event_moves_only_paths_in_from():
    """Expiry of a truce at week 10: truce paths renew (0.6) or go global (0.4); others untouched.

    The event has its own key, so the run without it shows each path's state just before it.
    """
    event = {"day": 72, "chain": "regime", "from": ["truce"], "to": {"truce": 0.6, "global": 0.4}}
    spec_with, labels = _build(_truce_regime([event]), None)
    spec_without, _ = _build(_truce_regime([]), None)
    assert np.asarray(spec_with.event_week).tolist() == [10]
    assert np.asarray(spec_without.event_week).tolist() == [NEVER]
    r_with, _ = _draw(spec_with, 12, 4000)
    r_without, _ = _draw(spec_without, 12, 4000)
    np.testing.assert_array_equal(r_with[:, :10], r_without[:, :10])
    truce, glob = labels.regimes.index("truce"), labels.regimes.index("global")
    before, after = r_without[:, 10], r_with[:, 10]
    was = before == truce
    np.testing.assert_array_equal(after[~was], before[~was])
    _assert_frequency((after[was] == truce).sum(), was.sum(), 0.6, "renewed truce")
    _assert_frequency((after[was] == glob).sum(), was.sum(), 0.4, "global after truce")


def test_event_by_date_at_week_zero_and_on_disabled_tariffs():
    start = "2026-11-01"
    events = [
        {"date": "2026-11-03", "chain": "regime", "from": "calm", "to": {"truce": 1.0}},  # week 0
        {"date": "2026-11-10", "chain": "regime", "from": ["truce"], "to": {"truce": 0.6, "global": 0.4}},  # week 1
        {"day": 3, "chain": "tariff", "from": ["nonexistent"], "to": {"x": 1.0}},  # tariffs off: dropped
    ]
    spec, labels = _build(_truce_regime(events), {"enabled": False}, start_date=start)
    assert np.asarray(spec.event_week).tolist() == [0, 1]
    r, t = _draw(spec, 3, 50)
    assert (r[:, 0] == labels.regimes.index("truce")).all()
    assert (t == 0).all() and labels.tariffs == ("base",)


@pytest.mark.parametrize(("regime", "tariffs"), [(None, None), ({"enabled": False, "states": {}}, {"enabled": False})])
def test_disabled_chains_are_constant(regime, tariffs):
    spec, labels = _build(regime, tariffs)
    assert labels.regimes == ("calm",) and labels.tariffs == ("base",)
    r, t = _draw(spec, 30, 20)
    assert (r == 0).all() and (t == 0).all()


def test_only_one_chain_enabled():
    spec, labels = _build(REGIME, None)
    r, t = _draw(spec, 30, 200)
    assert (t == 0).all() and len(np.unique(r)) > 1 and len(labels.regimes) == 6


def test_deterministic_per_key_and_independent_of_dtype_and_horizon():
    spec, _ = _build()
    spec32, _ = _build(dtype=jnp.float32)
    assert spec32.level_reg.dtype == jnp.float32 and spec32.P_reg.dtype == jnp.float64
    key = jr.fold_in(jr.key(SEED), 7)
    a = sample_chain(key, spec, 80)
    b = jax.jit(sample_chain, static_argnums=2)(key, spec, 80)
    c = sample_chain(key, spec32, 80)
    long = sample_chain(key, spec, 600)  # about 11.5 years of weeks
    for x in (b, c):
        np.testing.assert_array_equal(a[0], x[0])
        np.testing.assert_array_equal(a[1], x[1])
    assert long[0].shape == (600,)
    np.testing.assert_array_equal(long[0][:80], a[0])
    np.testing.assert_array_equal(long[1][:80], a[1])
    other = sample_chain(jr.fold_in(jr.key(SEED), 8), spec, 80)
    assert not (np.array_equal(a[0], other[0]) and np.array_equal(a[1], other[1]))


def test_occupancy_shares():
    regime = jnp.array([[0, 1, 2], [0, 1, 1], [0, 0, 2], [0, 2, 2]], jnp.int32)
    occ = np.asarray(occupancy(regime, 3))
    np.testing.assert_allclose(occ, [[1, 0, 0], [0.25, 0.5, 0.25], [0, 0.25, 0.75]])


def _set(path, value):
    """A (regime, tariffs, start_date) editor that sets ``path`` (tuple of keys) to ``value``."""

    def edit(regime, tariffs):
        target = regime if path[0] == "regime" else tariffs
        for k in path[1:-1]:
            target = target[k]
        target[path[-1]] = value

    return edit


EVENT = {"day": 70, "chain": "regime", "from": ["truce"], "to": {"truce": 0.6, "global": 0.4}}


def _event(**change):
    e = dict(EVENT)
    for k, v in change.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return _set(("regime", "events"), [e])


BAD = [
    ("initial", _set(("regime", "initial"), "panic"), "shocks.regime.initial"),
    ("next name", _set(("regime", "states", "calm", "next"), {"calm": 0.9, "panic": 0.1}), "shocks.regime.states.calm.next"),
    ("next negative", _set(("regime", "states", "calm", "next"), {"calm": 1.5, "targeted": -0.5}), "shocks.regime.states.calm.next.calm"),
    ("next NaN", _set(("regime", "states", "calm", "next", "truce"), float("nan")), "shocks.regime.states.calm.next.truce"),
    ("next text", _set(("regime", "states", "calm", "next", "truce"), "0.05"), "shocks.regime.states.calm.next.truce"),
    ("row sum", _set(("regime", "states", "calm", "next", "truce"), 0.04), "shocks.regime.states.calm.next"),
    ("next missing", _set(("regime", "states", "calm", "next"), None), "shocks.regime.states.calm.next"),
    ("level text", _set(("regime", "states", "wider", "level"), "high"), "shocks.regime.states.wider.level"),
    ("level missing", _set(("regime", "states", "wider", "level"), None), "shocks.regime.states.wider.level"),
    ("level inf", _set(("regime", "states", "wider", "level"), float("inf")), "shocks.regime.states.wider.level"),
    ("coupling negative", _set(("regime", "coupling_cn_to_us"), -1.0), "shocks.regime.coupling_cn_to_us"),
    ("coupling inf", _set(("regime", "coupling_us_to_cn"), float("inf")), "shocks.regime.coupling_us_to_cn"),
    ("coupling NaN", _set(("regime", "coupling_us_to_cn"), float("nan")), "shocks.regime.coupling_us_to_cn"),
    ("event day late", _event(day=HORIZON), "shocks.regime.events.0.day"),
    ("event day negative", _event(day=-1), "shocks.regime.events.0.day"),
    ("event day fractional", _event(day=3.5), "shocks.regime.events.0.day"),
    ("event date no start", _event(day=None, date="2026-11-10"), "shocks.regime.events.0.date"),
    ("event both", _event(date="2026-11-10"), "shocks.regime.events.0"),
    ("event neither", _event(day=None), "shocks.regime.events.0"),
    ("event key", _event(prob=0.5), "shocks.regime.events.0"),
    ("event chain", _event(chain="licences"), "shocks.regime.events.0.chain"),
    ("event from", _event(**{"from": ["peace"]}), "shocks.regime.events.0.from"),
    ("event from empty", _event(**{"from": []}), "shocks.regime.events.0.from"),
    ("event to name", _event(to={"peace": 1.0}), "shocks.regime.events.0.to"),
    ("event to sum", _event(to={"truce": 0.6, "global": 0.3}), "shocks.regime.events.0.to"),
    ("event to range", _event(to={"truce": 1.4, "global": -0.4}), "shocks.regime.events.0.to.truce"),
    ("tariff event from", _event(chain="tariff", **{"from": ["truce"]}), "shocks.regime.events.0.from"),
    ("tariff next", _set(("tariffs", "levels", "threat", "next", "peace"), 0.0), "shocks.tariffs.levels.threat.next"),
    ("tariff initial", _set(("tariffs", "initial"), "free_trade"), "shocks.tariffs.initial"),
    ("tariff levels empty", _set(("tariffs", "levels"), {}), "shocks.tariffs.levels"),
]


@pytest.mark.parametrize(("case", "edit", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_the_field(case, edit, field):
    regime, tariffs = copy.deepcopy(REGIME), copy.deepcopy(TARIFFS)
    edit(regime, tariffs)
    with pytest.raises(InputError) as err:
        build_chain(regime, tariffs, horizon_days=HORIZON, start_date=None, dtype=jnp.float64)
    assert err.value.field == field, (case, err.value)
    assert err.value.allowed


@pytest.mark.parametrize(
    ("date", "start", "field"),
    [
        ("2026-13-01", "2026-01-01", "shocks.regime.events.0.date"),  # malformed date
        ("2025-12-31", "2026-01-01", "shocks.regime.events.0.date"),  # before day 0
        ("2027-01-01", "2026-01-01", "shocks.regime.events.0.date"),  # day 365: past the horizon
        ("2026-03-12", "1 Jan 2026", "scenario.start_date"),  # malformed start date
    ],
)
def test_bad_event_dates(date, start, field):
    regime = copy.deepcopy(REGIME)
    regime["events"] = [{**{k: v for k, v in EVENT.items() if k != "day"}, "date": date}]
    with pytest.raises(InputError) as err:
        build_chain(regime, TARIFFS, horizon_days=HORIZON, start_date=start, dtype=jnp.float64)
    assert err.value.field == field


def test_allowed_lists_the_names():
    regime = copy.deepcopy(REGIME)
    regime["initial"] = "panic"
    with pytest.raises(InputError) as err:
        build_chain(regime, None, horizon_days=HORIZON, start_date=None, dtype=jnp.float64)
    for name in REGIME["states"]:
        assert name in err.value.allowed
