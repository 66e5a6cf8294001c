"""Shock modules: host-side tables (tariffs, prices, controlled content) and per-path shock draws."""
