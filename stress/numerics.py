"""Sums whose rounding does not depend on how XLA vectorises them.

XLA may reduce an axis in a different order at different batch sizes: per-path loss sums moved by
an ulp between vector widths 64 and 256, and a per-path mean of licence waits between widths 8
and 64. Every per-path number a run reports is therefore summed here, as explicit element-wise
adds in a fixed pairwise order, so results are bit-identical whatever ``runtime.width``.
(Sums of integers or booleans are exact in any order and need none of this.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def tree_sum(x: jax.Array, axis: int = -1) -> jax.Array:
    """The sum of ``x`` over ``axis`` in a fixed pairwise order."""
    x = jnp.moveaxis(jnp.asarray(x), axis, 0)
    if x.shape[0] == 0:
        return jnp.zeros(x.shape[1:], x.dtype)
    while x.shape[0] > 1:
        if x.shape[0] % 2:
            x = jnp.concatenate([x, jnp.zeros_like(x[:1])])
        x = x[0::2] + x[1::2]
    return x[0]


def tree_mean(x: jax.Array, axis: int | None = None) -> jax.Array:
    """The mean over ``axis`` (all elements when None), summed by :func:`tree_sum`."""
    x = jnp.asarray(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return tree_sum(x, axis) / x.shape[axis]
