"""Hydra entry points, kept thin: config -> plain dataclasses -> :mod:`stress.pipeline`.

Only this module and :mod:`stress.config` import Hydra. Bad input of any kind ends in one
line on stderr and exit code 2; :mod:`stress.__main__` also maps Hydra's own composition
errors (unknown keys, wrong types) to exit code 2.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
import uuid
from collections.abc import Callable
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stress import config
from stress.errors import InputError

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "configs")
STATE = {"command": "run", "started": False}

OmegaConf.register_new_resolver("stress_command", lambda: STATE["command"], replace=True)
# A short random id in the default run folder: two runs started in the same second differ.
OmegaConf.register_new_resolver("stress_uid", lambda: uuid.uuid4().hex[:8], use_cache=True, replace=True)
config.register()


def check_keys(cfg: DictConfig) -> None:
    """Refuse a key that is not a field of the typed schema, at any depth.

    A key added with a plus (``+sampler.foo=1``) is accepted by Hydra even where the schema has
    no such field, and turning the config into dataclasses would drop it silently. The ``hydra``
    node (present when Hydra's own config is composed in) is not part of the schema.
    """
    raw = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(raw, dict)
    raw.pop("hydra", None)
    _check_keys(raw, config.Config, "")


def _check_keys(node: dict, schema: type, prefix: str) -> None:
    names = [f.name for f in dataclasses.fields(schema)]
    hints = typing.get_type_hints(schema)
    for key, value in node.items():
        if key not in names:
            where = f"of {prefix[:-1]}" if prefix else "at the top level"
            raise InputError(f"{prefix}{key}", value, f"no such setting; the keys {where} are " + ", ".join(names))
        sub = [t for t in (hints[key], *typing.get_args(hints[key])) if dataclasses.is_dataclass(t)]
        if sub and isinstance(value, dict):
            _check_keys(value, sub[0], f"{prefix}{key}.")


def to_config(cfg: DictConfig) -> config.Config:
    """Typed dataclasses from a composed config; an unknown key or a missing or ill-typed value
    is an InputError."""
    check_keys(cfg)
    try:
        plain = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        raise InputError(str(key), getattr(exc, "value", None), str(exc).splitlines()[0]) from None
    assert isinstance(plain, config.Config)
    return plain


def check_shocks(cfg: config.Config) -> None:
    """Build the enabled shock modules and allied levers against the world before Hydra creates
    the run folder, so that a bad setting is refused with nothing written."""
    if not cfg.shocks.enabled() and not cfg.policy.enabled():
        return
    from stress import pipeline, runtime
    from stress.mrio import io as mrio_io

    runtime.setup(cfg.runtime)
    mrio = mrio_io.load(cfg.world)
    _, labels = pipeline.build_shocks(cfg, mrio)
    pipeline.build_policies(cfg, mrio, labels.regimes)


def check_composition(overrides: list[str]) -> config.Config:
    """Compose and validate the config as Hydra will, before any work: unknown keys, wrong types
    and out-of-range values become one :class:`InputError` instead of Hydra's report."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    given = {o.split("=", 1)[0].lstrip("+~"): (o.split("=", 1)[1] if "=" in o else None) for o in overrides}
    if not any(o.startswith("+") and o.lstrip("+").split("=", 1)[0] == "scenario" for o in overrides):
        key = next((k for k in given if k.startswith("scenario.")), None)
        if key is not None:  # Hydra would fail on the missing node with an assertion
            raise InputError(key, given[key], "a setting of a scenario chosen with +scenario=NAME (e.g. +scenario=full_cutoff)")
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        cause = exc if isinstance(exc, OmegaConfBaseException) else exc.__cause__
        if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
            key = str(cause.full_key)
            value = getattr(cause, "value", None)
            if value is None:  # an unknown key: show what was given for it
                value = given.get(key)
            raise InputError(key, value, str(cause.msg).splitlines()[0]) from None
        raise InputError("overrides", " ".join(overrides), str(exc).splitlines()[0]) from None
    except Exception as exc:  # Hydra reports a few malformed overrides with other exceptions
        raise InputError("overrides", " ".join(overrides), f"overrides Hydra can compose ({type(exc).__name__}: {exc})") from None
    return config.validate(to_config(cfg))


def _task(fn: Callable[..., object], cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    STATE["started"] = True
    try:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        fn(to_config(cfg), run_dir, OmegaConf.to_yaml(cfg))
    except InputError as exc:
        print(f"stress: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("stress: interrupted; no result file was written", file=sys.stderr)
        sys.exit(130)


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def run(cfg: DictConfig) -> None:
    """``python -m stress run``: the Monte Carlo job."""
    from stress import pipeline

    _task(pipeline.run, cfg)


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def simulate(cfg: DictConfig) -> None:
    """``python -m stress simulate``: one deterministic path and its trajectory."""
    from stress import pipeline

    _task(pipeline.simulate, cfg)


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def calibrate(cfg: DictConfig) -> None:
    """``python -m stress calibrate``: NumPyro calibration; writes the posterior."""
    from stress import pipeline

    _task(pipeline.calibrate, cfg)


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def backtest(cfg: DictConfig) -> None:
    """``python -m stress backtest``: replay the April 2025 controls against the observations."""
    from stress import backtest as bt

    _task(bt.run, cfg)


COMMANDS: dict[str, Callable[[], None]] = {"run": run, "simulate": simulate, "calibrate": calibrate, "backtest": backtest}
