"""The channels through which every shock acts on the kernel, and how shocks compose.

A shock module is a small per-path ``NamedTuple`` of arrays (drawn from the path's key) with a
method ``channels(t) -> Channels``: the values of a few generic channels on day ``t``. The
kernel reads only these channels, never a shock's name, so shocks compose in one path and a new
shock needs no kernel change.

==============  =======  =======  ===================================================================
channel         shape    neutral  meaning
==============  =======  =======  ===================================================================
capacity        (n,)     1        capacity factor ``1 - Delta(t)`` of each industry (> 1: capacity added)
beta            (n, R)   1        share of supplier ``i``'s flow to buyer region ``r`` that may pass
price           (n,)     1        producer price index of ``i`` (1: the table's year)
tariff          (n, R)   0        extra ad valorem tariff on ``i``'s deliveries to region ``r``
markdown        (n, R)   1        supplier-side price factor on those deliveries (price cuts, discounts)
halt_below      (n,)     0        buyer ``j`` halts the part of its output that needs an input whose
                                  stock ratio ``rho`` falls below this (0: never halts)
restart_lag     (n,)     0        days that part stays down after the input is back
penalty         (n,)     0        share of that part's output lost while lines are re-sequenced
penalty_days    (n,)     0        days of re-sequencing after the lag
priority        (n,)     0        1: buyer ``j``'s orders are served first when its suppliers ration
                                  (rated orders), the others share what is left
honour          (n,)     0        1: supplier ``i`` serves rated orders first (0: it rations all
                                  its clients alike, rated or not)
floor           (n,)     0        guaranteed minimum price of producer ``i`` (a public price floor);
                                  the kernel records ``max(floor - price, 0) X`` as paid out
reserve_size    (p,)     0        size of a public reserve of product ``q`` (money at table prices);
                                  read on day 0 (the reserve starts full) and as the refill target
release_rate    (p,)     0        most of the reserve released per day
release_trigger (p, n)   0        buyer ``j`` draws on the reserve while ``S_qj`` is below this share
                                  of its target stock (0: not entitled)
release_price   (p, R)   inf      ... or while the delivered price index of ``q`` in its region is at
                                  least this (entitled buyers only)
release_first   (p, n)   0        1: served first from the day's release (e.g. defence first)
release_quota   (p, R)   1        share of the day's release region ``r`` may take (1 everywhere:
                                  pooled, pro rata to the buyers' stock gaps)
refill_rate     (p,)     0        bought back per day once no entitled buyer is short
==============  =======  =======  ===================================================================

Several modules in one path combine channel by channel: capacity, beta, price and markdown
multiply; tariffs add; the halt and restart settings, priority, honour, floor, release trigger and
release-first flag take the larger value; reserve size, release and refill rates add; the release
price threshold and quota take the smaller value. The delivered price
index of ``i`` in region ``r`` is ``price_i (1 + tariff_ir) markdown_ir``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Channels(NamedTuple):
    """One day's channel values for one path (module docstring)."""

    capacity: jax.Array  # (n,)
    beta: jax.Array  # (n, R)
    price: jax.Array  # (n,)
    tariff: jax.Array  # (n, R)
    markdown: jax.Array  # (n, R)
    halt_below: jax.Array  # (n,)
    restart_lag: jax.Array  # (n,)
    penalty: jax.Array  # (n,)
    penalty_days: jax.Array  # (n,)
    priority: jax.Array  # (n,)
    honour: jax.Array  # (n,)
    floor: jax.Array  # (n,)
    reserve_size: jax.Array  # (p,)
    release_rate: jax.Array  # (p,)
    release_trigger: jax.Array  # (p, n)
    release_price: jax.Array  # (p, R)
    release_first: jax.Array  # (p, n)
    release_quota: jax.Array  # (p, R)
    refill_rate: jax.Array  # (p,)


def neutral(n: int, R: int, dtype: Any) -> Channels:
    """Channels that change nothing."""
    one, zero = jnp.ones((n,), dtype), jnp.zeros((n,), dtype)
    p = n // R
    return Channels(
        capacity=one,
        beta=jnp.ones((n, R), dtype),
        price=one,
        tariff=jnp.zeros((n, R), dtype),
        markdown=jnp.ones((n, R), dtype),
        halt_below=zero,
        restart_lag=zero,
        penalty=zero,
        penalty_days=zero,
        priority=zero,
        honour=zero,
        floor=zero,
        reserve_size=jnp.zeros((p,), dtype),
        release_rate=jnp.zeros((p,), dtype),
        release_trigger=jnp.zeros((p, n), dtype),
        release_price=jnp.full((p, R), jnp.inf, dtype),
        release_first=jnp.zeros((p, n), dtype),
        release_quota=jnp.ones((p, R), dtype),
        refill_rate=jnp.zeros((p,), dtype),
    )


NONE = Channels(*([None] * len(Channels._fields)))
"""A module's channels start from this: a field left ``None`` is one the module does not touch."""

_RULES = {
    "capacity": jnp.multiply,
    "beta": jnp.multiply,
    "price": jnp.multiply,
    "tariff": jnp.add,
    "markdown": jnp.multiply,
    "halt_below": jnp.maximum,
    "restart_lag": jnp.maximum,
    "penalty": jnp.maximum,
    "penalty_days": jnp.maximum,
    "priority": jnp.maximum,
    "honour": jnp.maximum,
    "floor": jnp.maximum,
    "reserve_size": jnp.add,
    "release_rate": jnp.add,
    "release_trigger": jnp.maximum,
    "release_price": jnp.minimum,
    "release_first": jnp.maximum,
    "release_quota": jnp.minimum,
    "refill_rate": jnp.add,
}


def combine(a: Channels, b: Channels) -> Channels:
    """Both shocks at once (module docstring); a ``None`` field is neutral."""
    out = {}
    for name in Channels._fields:
        x, y = getattr(a, name), getattr(b, name)
        out[name] = y if x is None else x if y is None else _RULES[name](x, y)
    return Channels(**out)


def week_of(t: jax.Array, weeks: int) -> jax.Array:
    """Index of day ``t``'s week in a per-week array of length ``weeks`` (clipped to its ends)."""
    return jnp.clip(jnp.floor_divide(t, 7).astype(jnp.int32), 0, weeks - 1)


class Composite(NamedTuple):
    """Several shock modules in one path: their channels combined (module docstring).

    ``parts`` is a tuple of module values, each with ``channels(t)``; the first part's channels
    are complete and the starting point, the others may leave fields ``None`` (untouched).
    """

    parts: tuple

    def channels(self, t: jax.Array) -> Channels:
        ch = self.parts[0].channels(t)  # the first part sets every channel (the export cut-off)
        for part in self.parts[1:]:
            ch = combine(ch, part.channels(t))
        return ch

    def touched(self, t: jax.Array) -> frozenset[str]:
        """Names of the channels that a part after the first sets (found from shapes alone, at
        trace time: no work is done), so the kernel can leave out the steps nothing moves."""
        out: set[str] = set()
        for part in self.parts[1:]:
            shapes = jax.eval_shape(part.channels, t)
            out.update(name for name in Channels._fields if getattr(shapes, name) is not None)
        return frozenset(out)


class Context(NamedTuple):
    """What a path's shock modules share, drawn before them (one path).

    ``regime`` and ``tariff`` are the weekly states of the escalation chain
    (:mod:`stress.shocks.regime`; constant 0 when the chain is off). From the path's posterior
    draw (NaN where the posterior has no value, or no posterior is used): ``post_p`` the weekly
    probability that a pending licence application is approved, by destination, and
    ``post_share`` the controlled share of China's magnet exports, by destination.
    """

    regime: jax.Array  # (W,) int32
    tariff: jax.Array  # (W,) int32
    post_p: jax.Array  # (R,) float64
    post_share: jax.Array  # (R,) float64
    policy: Any = None  # Effects of the path's allied levers on its shocks (None: no lever)


class Effects(NamedTuple):
    """What a path's allied levers (:mod:`stress.policy`) change in its shocks. The levers draw
    nothing from the shocks' keys: a shock module given these factors uses the same uniforms as
    without them (inversion), so a policy changes outcomes, never the random numbers."""

    up: jax.Array  # () factor on the regime chain's weekly probabilities of moving up in level
    down: jax.Array  # () factor on its probabilities of moving down
    approval: jax.Array  # (W, R) factor on the weekly licence-approval hazard, by week and destination
    protect: jax.Array  # (n,) lowest price a producer receives (a guaranteed floor), table price = 1; 0: none
    wall: jax.Array  # (n,) extra tariff on competing imports in the producer's home market
    closure: jax.Array  # (n,) factor on the closure hazard (guaranteed offtake)
    screen: jax.Array  # (n,) factor on the hazard of passing under Chinese control


def one_hot_rows(index: Any, n: int) -> Any:
    """``(J, n)`` 0/1 matrix with a 1 at ``(k, index[k])`` (host NumPy)."""
    out = np.zeros((len(index), n))
    out[np.arange(len(index)), np.asarray(index, int)] = 1.0
    return out


def module_key(key: jax.Array, tag: int) -> jax.Array:
    """A module's own key from the path's key, so switching one module never moves another's draws."""
    return jax.random.fold_in(key, 1_000_003 + tag)
