"""The ARIO daily step written the straightforward way in NumPy, as BoARIO would write it.

One function, :func:`simulate`, runs the kernel's model (``stress.propagation.ario``, ``Ario(
order_type="alt", boario_quirks=True)``) for what the export cut-off scenarios use, and nothing
else: export restrictions as licensed shares ``beta(t)`` (n, R), "alt" orders (capacity-weighted
split with the licensed/blocked redistribution of ``ario.split_orders``), the psi inventory
rule, overproduction alpha, proportional rationing, BoARIO's quirks (alpha relaxes only when
``zeta == 0``; the two ``allclose`` short-cuts) and the criticality ``c`` of the world's inputs
(``c = 1``, ARIO's Leontief constraint, on ``pymrio_test``; the default world has some
``c < 1``); no capacity loss, prices, tariffs, halts, reserves or floors.

It is vectorised NumPy over industries with the ``(n, n)`` orders matrix and one Python loop
over days. Every array may carry leading path axes (``...``): called with one path's schedule
it is the one-path loop; called with a batch of schedules it advances all of them together
(the ``allclose`` short-cuts are decided per path). It is a benchmark baseline and a check of
the JAX kernel, not part of the package.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Tables(NamedTuple):
    """Host copies of the world's daily arrays (``ario.ArioTables``) and parameters, one dtype."""

    X0: np.ndarray  # (n,)
    Z0: np.ndarray  # (n, n)
    Y0: np.ndarray  # (n, R F)
    AS: np.ndarray  # (p, n)
    theta: np.ndarray  # (p, n) bool
    s: np.ndarray  # (p, n)
    crit: np.ndarray  # (p, n) criticality (1: Leontief)
    fd_region: np.ndarray  # (R F,) int
    psi: np.ndarray  # () or (p, n)
    kappa_inv: np.ndarray  # ()
    alpha_base: np.ndarray  # ()
    alpha_max: np.ndarray  # ()
    kappa_alpha: np.ndarray  # ()


def from_jax(tables, params) -> Tables:
    """:class:`Tables` from the kernel's ``ArioTables`` and ``ArioParams`` (in their dtype).

    """
    h = lambda a: np.asarray(a)  # noqa: E731
    return Tables(
        X0=h(tables.X0), Z0=h(tables.Z0), Y0=h(tables.Y0), AS=h(tables.AS), theta=h(tables.theta), s=h(tables.s), crit=h(tables.crit),
        fd_region=h(tables.fd_region), psi=h(params.psi), kappa_inv=h(params.kappa_inv), alpha_base=h(params.alpha_base),
        alpha_max=h(params.alpha_max), kappa_alpha=h(params.kappa_alpha),
    )


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b``, 0 where ``b == 0``."""
    nz = b != 0
    return np.where(nz, a / np.where(nz, b, 1), 0)


def _allclose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.allclose(a, b)`` of each path (over the last two axes)."""
    return np.all(np.abs(a - b) <= 1e-8 + 1e-5 * np.abs(b), axis=(-2, -1))


def split_orders(w: np.ndarray, N: np.ndarray, beta: np.ndarray, p: int) -> np.ndarray:
    """Orders ``O`` (..., n, n) of ``N`` (..., p, n) split by supplier weights ``w`` (..., n, n)
    under the licensed shares ``beta`` (..., n, R) (``ario.split_orders``): a restricted supplier
    gets ``beta w / W`` of the order, the blocked rest goes to the open suppliers of the product
    in proportion to ``w``."""
    n = w.shape[-1]
    R = n // p
    lead = w.shape[:-2]
    w4 = w.reshape(*lead, R, p, R, p)  # (supplier region a, product q, buyer region b, buyer sector c)
    b3 = beta.reshape(*lead, R, p, R)
    open3 = b3 >= 1
    W = w4.sum(axis=-4)  # (..., q, b, c)
    blocked = (w4 * (1 - b3)[..., None]).sum(axis=-4)
    unrestricted = (w4 * open3[..., None]).sum(axis=-4)
    coef = np.where(open3[..., None], 1 + _safe_div(blocked, unrestricted)[..., None, :, :, :], b3[..., None])
    O = _safe_div(w4 * coef, W[..., None, :, :, :]) * N.reshape(*lead, p, R, p)[..., None, :, :, :]
    return O.reshape(*lead, n, n)


def simulate(tab: Tables, beta: np.ndarray) -> np.ndarray:
    """Production ``X(t)`` (T, ..., n) of the paths with licensed shares ``beta`` (T + 1, ..., n, R)
    (``beta[t]``: day ``t``'s; the last is the one the orders of day ``T - 1`` are split under).

    Mirrors ``Ario.init`` and ``Ario.step`` (module docstring of ``stress.propagation.ario``) for
    the channels an export cut-off moves.
    """
    T = beta.shape[0] - 1
    lead = beta.shape[1:-2]
    X0, Z0, Y0, AS, theta, s = tab.X0, tab.Z0, tab.Y0, tab.AS, tab.theta, tab.s
    p, n = AS.shape
    R = n // p
    dt = X0.dtype
    # init: stocks at target, orders Z0 (split under day 0's licences where they bind), alpha base
    S = np.broadcast_to(s * AS * X0[None, :], (*lead, p, n))
    N0 = Z0.reshape(R, p, n).sum(axis=0)
    split = split_orders(np.broadcast_to(Z0 * np.ones(n, dt)[:, None], (*lead, n, n)), np.broadcast_to(N0, (*lead, p, n)), beta[0], p)
    unmoved = np.all(beta[0] >= 1, axis=(-2, -1))
    O = np.where(unmoved[..., None, None], Z0, split)
    alpha = np.broadcast_to(tab.alpha_base.astype(dt), (*lead, n))
    X_prev = np.broadcast_to(X0, (*lead, n))
    target_stock = s * AS  # days of use x input coefficient
    partial = tab.crit != 1
    out = np.empty((T, *lead, n), dt)
    for t in range(T):
        # E: today's licences; final demand passes at beta of the buyer's region
        Y_eff = Y0 * beta[t][..., tab.fd_region]
        D = O.sum(axis=-1) + Y_eff.sum(axis=-1)
        # A: overproduction (BoARIO: relaxes only when zeta == 0), from t = 2
        zeta = _safe_div(D - X_prev, D)
        if t >= 2:
            target = np.where(zeta == 0, tab.alpha_base - alpha, (tab.alpha_max - alpha) * zeta)
            alpha = np.maximum(1.0, alpha + tab.kappa_alpha * target)
        # P: capacity, demand-limited production, psi inventory constraint; only the share c of
        # j's output needs input q (c = 1: Leontief)
        cap = X0 * alpha
        Xopt = np.minimum(D, cap)
        C = tab.psi * s * AS * Xopt[..., None, :]
        binds = theta & (C != 0)
        rho = np.where(binds, np.minimum(1, S / np.where(binds, C, 1)), 1)
        r = np.where(partial, 1 - tab.crit * (1 - rho), rho)
        X = Xopt * r.min(axis=-2)
        out[t] = X
        # D: proportional rationing, stock update (skipped when inflow and use are allclose)
        share = _safe_div(X, D)
        G = O * share[..., :, None]
        inflow = G.reshape(*lead, R, p, n).sum(axis=-3)
        use = AS * X[..., None, :] * np.where(partial, _safe_div(rho, r), 1)  # only the part that needs q
        S_next = S - use + inflow
        S_next = np.where(_allclose(inflow, use)[..., None, None], S, S_next)
        # Q: orders for t + 1 (inventory gap closed at kappa_inv, unless allclose), split "alt"
        goal = target_stock * Xopt[..., None, :]
        gap = tab.kappa_inv * np.maximum(goal - S_next, 0)
        gap = np.where(_allclose(S_next, goal)[..., None, None], 0, gap)
        N = gap + use
        cap_ratio = np.where(X0 != 0, _safe_div(cap, X0), 1)
        O = split_orders(Z0 * cap_ratio[..., :, None], N, beta[t + 1], p)
        S, X_prev = S_next, X
    return out
