"""Shock modules: each draws its per-path parameters and produces daily channels (stress.shocks.base)."""
