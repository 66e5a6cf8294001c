"""Hydra entry points, kept thin: config -> plain dataclasses -> :mod:`stress.pipeline`.

Only this module and :mod:`stress.config` import Hydra. Bad input of any kind ends in one
line on stderr and exit code 2; :mod:`stress.__main__` also maps Hydra's own composition
errors (unknown keys, wrong types) to exit code 2.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import sys
import typing
import uuid
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stress import config
from stress.errors import InputError

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "configs")
STATE = {"command": "run", "started": False, "hydra_main": False}

OmegaConf.register_new_resolver("stress_command", lambda: STATE["command"], replace=True)
# A short random id in the default run folder: two runs started in the same second differ.
OmegaConf.register_new_resolver("stress_uid", lambda: uuid.uuid4().hex[:8], use_cache=True, replace=True)
config.register()

#: The classes a composed config may name with ``_target_``, by the node that holds it: Hydra
#: instantiates these (callbacks, launcher, sweeper); nothing else in a config is instantiated.
ALLOWED_TARGETS: dict[str, tuple[str, ...]] = {
    "hydra.callbacks.*": ("stress.cli.FrontierCallback",),
    "hydra.launcher": ("hydra._internal.core_plugins.basic_launcher.BasicLauncher",),
    "hydra.sweeper": ("hydra._internal.core_plugins.basic_sweeper.BasicSweeper",),
}
#: What ``hydra.job_logging`` and ``hydra.hydra_logging`` may name: ``logging.config.dictConfig``
#: calls any ``class`` or ``()`` factory it is given and imports any ``ext://`` module.
LOGGING_CLASSES = ("logging.StreamHandler", "logging.FileHandler", "logging.NullHandler", "logging.Formatter")
LOGGING_EXT = ("ext://sys.stdout", "ext://sys.stderr")
#: Environment variables ``hydra.job.env_set`` may not set: they make the subprocesses of a run
#: (git for the provenance) load libraries or run commands.
ENV_REFUSED = ("LD_", "DYLD_", "GIT_", "PYTHON", "BASH_ENV", "ENV", "PATH", "PERL5", "RUBY", "HOME", "XDG_", "JAX_", "XLA_", "TF_", "CUDA_", "NCCL_")
# JAX_COMPILATION_CACHE_DIR would load compiled executables from a folder of the config's
# choosing, XLA_FLAGS can dump or load programs: code too.

_PRECHECK: contextvars.ContextVar[bool] = contextvars.ContextVar("stress_precheck", default=False)


def check_untrusted(cfg: typing.Any) -> None:
    """Refuse a composed config (the ``hydra`` node included) that would make Hydra run code of
    the config's choosing: a ``_target_`` anywhere outside :data:`ALLOWED_TARGETS`, a logging
    factory (``()``), class or ``ext://`` import outside :data:`LOGGING_CLASSES` and
    :data:`LOGGING_EXT`, or an environment variable of :data:`ENV_REFUSED` in ``hydra.job.env_set``.
    Interpolations are not resolved: a ``_target_`` given as ``${…}`` is refused too.
    """
    raw = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else cfg
    _check_untrusted(raw, "")
    env = ((raw or {}).get("hydra") or {}).get("job", {}) if isinstance(raw, dict) else {}
    for name in (env or {}).get("env_set") or {}:
        if str(name).upper().startswith(ENV_REFUSED):
            raise InputError(f"hydra.job.env_set.{name}", env["env_set"][name], "no variable starting with " + ", ".join(ENV_REFUSED))


def _check_untrusted(node: typing.Any, prefix: str) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        where = f"{prefix}{key}"
        parent = prefix[:-1]
        if key == "_target_":
            slot = "hydra.callbacks.*" if parent.rsplit(".", 1)[0] == "hydra.callbacks" else parent
            allowed = ALLOWED_TARGETS.get(slot, ())
            if value not in allowed:
                raise InputError(
                    where,
                    value,
                    (f"one of {', '.join(allowed)}" if allowed else "no _target_ here")
                    + ": configs may not name code to run (the allowed targets are stress.cli.ALLOWED_TARGETS)",
                )
        if prefix.startswith(("hydra.job_logging.", "hydra.hydra_logging.")):
            if key == "()":
                raise InputError(where, value, "no logging factories: configs may not name code to run")
            if key == "class" and value not in LOGGING_CLASSES:
                raise InputError(where, value, "one of " + ", ".join(LOGGING_CLASSES))
            if isinstance(value, str) and value.startswith("ext://") and value not in LOGGING_EXT:
                raise InputError(where, value, "one of " + ", ".join(LOGGING_EXT))
        _check_untrusted(value, f"{where}.")


def _guard_composition() -> None:
    """Check every config Hydra composes (run, sweep, each sweep job, ``compose``, ``--cfg``)
    with :func:`check_untrusted` as soon as it is loaded, before Hydra configures logging or
    instantiates a callback, launcher or sweeper. In ``python -m stress`` a refusal is one line
    and exit code 2; elsewhere (the prechecks, library use of ``compose``) an InputError."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    original = ConfigLoaderImpl.load_configuration
    if getattr(original, "stress_guard", False):
        return

    @functools.wraps(original)
    def load_configuration(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        cfg = original(self, *args, **kwargs)
        try:
            check_untrusted(cfg)
        except InputError as exc:
            if STATE["hydra_main"] and not _PRECHECK.get():
                print(f"stress: error: {exc}", file=sys.stderr)
                sys.exit(2)
            raise
        return cfg

    load_configuration.stress_guard = True  # type: ignore[attr-defined]
    ConfigLoaderImpl.load_configuration = load_configuration  # type: ignore[method-assign]


_guard_composition()


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
    from stress import scenario

    mrio = mrio_io.load(cfg.world)
    scenario.check_labels(cfg, mrio)
    _, labels = pipeline.build_shocks(cfg, mrio)
    pipeline.build_policies(cfg, mrio, labels.regimes)


def check_composition(overrides: list[str]) -> config.Config:
    """Compose and validate the config as Hydra will, before any work: unknown keys, wrong types
    and out-of-range values become one :class:`InputError` instead of Hydra's report."""
    from hydra.errors import HydraException

    given = {o.split("=", 1)[0].lstrip("+~"): (o.split("=", 1)[1] if "=" in o else None) for o in overrides}
    if not any(o.startswith("+") and o.lstrip("+").split("=", 1)[0] == "scenario" for o in overrides):
        key = next((k for k in given if k.startswith("scenario.")), None)
        if key is not None:  # Hydra would fail on the missing node with an assertion
            raise InputError(key, given[key], "a setting of a scenario chosen with +scenario=NAME (e.g. +scenario=full_cutoff)")
    try:
        cfg = _compose(overrides)
    except InputError:
        raise
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


def _compose(overrides: list[str]) -> DictConfig:
    """Compose ``configs/config.yaml`` with ``overrides``: inside a running Hydra app (whose
    GlobalHydra is set up) through it, before Hydra starts through a temporary one."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    token = _PRECHECK.set(True)
    try:
        if GlobalHydra.instance().is_initialized():
            return compose(config_name="config", overrides=overrides)
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=overrides)
    finally:
        _PRECHECK.reset(token)


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def policy_overrides(entry: str) -> list[str]:
    """What ``compare`` adds to the user's overrides for one entry of ``policies``: nothing for
    ``none``, ``+policy=a`` for one lever, ``+policy=[a,b]`` for ``a+b``."""
    levers = config.policy_levers(entry)
    if levers == ["none"]:
        return []
    return [f"+policy={levers[0]}" if len(levers) == 1 else "+policy=[" + ",".join(levers) + "]"]


def compare_entries(overrides: list[str], policies: list[str] | None = None) -> list[tuple[str, config.Config, list[str]]]:
    """Compose, validate and check every entry of ``policies`` as Hydra would, from the user's
    ``overrides`` (``policies=`` left out) plus the entry's ``+policy=…``; returns
    ``(entry, config, overrides used)`` for each, the reference first.

    A lever's own settings (``policy.NAME.…``) go to the entries that use lever NAME only; one
    set for a lever no entry uses is refused, as is choosing ``+policy=`` by hand (``policies``
    does that here). Every entry must share the reference's paths: same seed, path count,
    horizon, world and scenario (common random numbers).
    """
    base = [o for o in overrides if _key(o) != "policies"]
    for o in base:
        if _key(o) == "policy":
            raise InputError("policy", o.split("=", 1)[1] if "=" in o else None, "chosen through policies=[none,NAME,…] by compare, not with +policy=")
    if policies is None:
        policies = check_composition(overrides).policies
    policies = config.check_policies(policies)
    used = {lever for entry in policies for lever in config.policy_levers(entry)}
    names = config.policy_names()
    for o in base:
        parts = _key(o).split(".")
        if parts[0] == "policy" and len(parts) > 1 and parts[1] in names and parts[1] not in used:
            raise InputError(_key(o), o.split("=", 1)[1] if "=" in o else None, f"a setting of a lever listed in policies={policies}")
    out = []
    for entry in policies:
        levers = config.policy_levers(entry)
        mine = [
            o for o in base
            if not (_key(o).startswith("policy.") and _key(o).split(".")[1] in names and _key(o).split(".")[1] not in levers)
        ]
        ov = mine + policy_overrides(entry)
        cfg = check_composition(ov)
        cfg.policies = [entry]
        out.append((entry, cfg, ov))
    ref = out[0][1]
    for entry, cfg, _ in out[1:]:
        for field, a, b in (
            ("sampler.seed", ref.sampler.seed, cfg.sampler.seed),
            ("sampler.n_paths", ref.sampler.n_paths, cfg.sampler.n_paths),
            ("model.horizon_days", ref.model.horizon_days, cfg.model.horizon_days),
            ("world.name", ref.world.name, cfg.world.name),
            ("scenario.name", ref.scenario and ref.scenario.name, cfg.scenario and cfg.scenario.name),
        ):
            if a != b:
                raise InputError("policies", entry, f"a policy that keeps {field}={a!r} of the reference {out[0][0]!r} (it sets {b!r}): compare runs the same paths")
    for _, cfg, _ in out:
        check_shocks(cfg)
    return out


def check_lever_settings(overrides: list[str], cfg: config.Config) -> None:
    """Refuse a setting of a lever that is not switched on (or of the coalition when no lever is),
    which would be silently ignored."""
    on = set(cfg.policy.enabled())
    names = config.policy_names()
    for o in overrides:
        parts = _key(o).split(".")
        if parts[0] != "policy" or len(parts) < 2 or (len(parts) == 3 and parts[2] == "enabled"):
            continue
        value = o.split("=", 1)[1] if "=" in o else None
        if parts[1] in names and parts[1] not in on:
            raise InputError(_key(o), value, f"a setting of a lever switched on with +policy={parts[1]} (it is off in this run)")
        if parts[1] == "coalition" and not on:
            raise InputError(_key(o), value, "a setting used only with a lever switched on (+policy=NAME)")


def _task(fn: Callable[..., object], cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from stress.pipeline import Interrupted

    STATE["started"] = True
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        fn(to_config(cfg), run_dir, OmegaConf.to_yaml(cfg, resolve=True))  # the config as run, interpolations resolved
    except InputError as exc:
        print(f"stress: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as exc:
        print(f"stress: {exc}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        kept = f"; the finished chunks are kept: continue with python -m stress run resume={run_dir.resolve()}" if (run_dir / "store" / "manifest.json").is_file() else ""
        written = "" if any(run_dir.glob("*.nc")) else "; no result file was written"
        print(f"stress: interrupted{written}{kept}", file=sys.stderr)
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


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def compare(cfg: DictConfig) -> None:
    """``python -m stress compare``: the same paths under each of ``policies``; writes compare.nc."""
    from hydra.core.hydra_config import HydraConfig

    from stress import compare as cmp

    def job(plain: config.Config, run_dir: Path, config_yaml: str) -> Path:
        overrides = list(HydraConfig.get().overrides.task)
        entries = [(entry, c, OmegaConf.to_yaml(_compose(ov), resolve=True)) for entry, c, ov in compare_entries(overrides, plain.policies)]
        return cmp.run(entries, run_dir, overrides=[o for o in overrides if _key(o) != "policies"], compare=plain.compare)

    _task(job, cfg)


class FrontierCallback(Callback):
    """``hydra.callbacks.frontier`` (configs/config.yaml): after a sweep, the cost / tail-risk
    frontier over the compare.nc files its jobs wrote; nothing for sweeps of other commands."""

    def __init__(self) -> None:
        self.started = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: typing.Any) -> None:
        import time

        self.started = time.time() - 1.0  # file times may be rounded to the second

    def on_multirun_end(self, config: DictConfig, **kwargs: typing.Any) -> None:
        from stress import compare as cmp

        cmp.print_sweep_frontier(Path(str(config.hydra.sweep.dir)), self.started)


COMMANDS: dict[str, Callable[[], None]] = {"run": run, "simulate": simulate, "calibrate": calibrate, "backtest": backtest, "compare": compare}
