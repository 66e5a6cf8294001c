"""``python -m stress <command> [overrides…]``: pick the subcommand, then hand over to Hydra.

Hydra has no subcommands (a bare ``run`` token is a parse error), so the command is removed
from ``sys.argv`` first. Before Hydra starts, the overrides that Hydra would report with a
traceback or a generic exit code are checked here: config-group choices (``world=``,
``+scenario=`` …), the output folder and the composed, validated config. Hydra's own flags
(``--cfg job``, ``--multirun`` …) are told apart from overrides by Hydra's own parser.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import sys
from pathlib import Path
from typing import NoReturn

from stress.errors import InputError

USAGE = """usage: python -m stress <command> [key=value ...] [--multirun]

commands:
  run        Monte Carlo over disruption paths; writes results.nc (needs +scenario=NAME)
  simulate   one deterministic path; writes trajectory.nc with the daily trajectory
  calibrate  NumPyro calibration on the 2025-26 observations; writes posterior.nc
  backtest   replay the April 2025 controls; writes backtest.nc with predictive percentiles
  compare    the same paths under each of policies=[none,...] (the first is the reference);
             writes compare.nc with paired differences, tail risk, halts and costs
  report     python -m stress report RUN_DIR [--output FILE]: one self-contained HTML risk
             report from a run's results.nc or compare.nc (default RUN_DIR/report.html);
             report=true on run or compare writes it at the end of the job

examples:
  python -m stress run +scenario=full_cutoff
  python -m stress run +scenario=full_cutoff sampler.n_paths=10000 sampler.seed=1
  python -m stress simulate world=pymrio_test shock=capacity_loss shock.region=reg3 shock.sector=mining
  python -m stress calibrate calibration.chains=4
  python -m stress backtest sampler.n_paths=4096
  python -m stress compare +scenario=full_cutoff policies=[none,joint_stockpile,price_floor,defence_priority]
  python -m stress compare +scenario=full_cutoff policies=[none,joint_stockpile+price_floor] sampler.n_paths=4096
  python -m stress run +scenario=full_cutoff report=true
  python -m stress report outputs/run/2026-01-01_12-00-00_full_cutoff_1a2b3c4d
"""

GROUPS = ("world", "model", "sampler", "shock", "scenario", "calibration", "policy", "cluster")


def _choices(config_dir: Path, group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir / group).glob("*.yaml"))


def parse_args(command: str, args: list[str]) -> argparse.Namespace:
    """Split the arguments as Hydra will: its flags with their values (``--cfg job``,
    ``-cn NAME``, ``--info [WHAT]`` …) apart from the ``key=value`` overrides.

    Hydra's own parser is used, so a flag's value is never taken for an override and what is
    accepted here is exactly what Hydra accepts; its errors become an :class:`InputError`.
    """
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.prog = f"python -m stress {command}"

    def fail(message: str) -> NoReturn:
        hint = "; keep the key=value overrides together, before or after the flags" if message.startswith("unrecognized") else ""
        raise InputError("arguments", " ".join(args), f"Hydra's command line ({message}{hint})")

    parser.error = fail  # type: ignore[method-assign]
    return parser.parse_args(args)


def precheck(overrides: list[str], config_dir: Path) -> None:
    """Check group choices and output folders named on the command line."""
    for item in overrides:
        if item.startswith("-") or "=" not in item:
            continue
        key, value = item.split("=", 1)
        bare = key.lstrip("+~")
        if bare in GROUPS:
            allowed = _choices(config_dir, bare)
            if bare == "scenario" and not key.startswith(("+", "~")):
                raise InputError("scenario", value, "a scenario added with a plus sign: +scenario=" + "|".join(allowed))
            if "(" in value:  # sweep functions such as glob(*) are Hydra's to expand
                continue
            if bare == "policy":
                for group in re.findall(r"\[([^\]]*)\]", value):  # each list of levers, +policy=[a,b] (or a sweep of lists)
                    levers = [c.strip() for c in group.split(",") if c.strip()]
                    if len(set(levers)) < len(levers):
                        raise InputError("policy", levers, "each lever once in +policy=[...] (e.g. +policy=[joint_stockpile,price_floor])")
            # a list of options (+policy=[a,b]), a sweep (a,b) or both ([a,b],[c])
            for choice in value.replace("[", ",").replace("]", ",").split(","):
                if choice.strip() and choice.strip() not in allowed:
                    raise InputError(bare, choice.strip(), "one of " + ", ".join(allowed))
        elif bare == "policies" and "(" not in value:
            from stress.config import check_policies, policy_names

            allowed = policy_names()
            for entry in value.replace("[", ",").replace("]", ",").split(","):
                if entry.strip():
                    check_policies([entry.strip()], allowed)
        elif bare in ("hydra.run.dir", "hydra.sweep.dir"):
            _check_dir(bare, value)
    if not any(o.split("=", 1)[0].lstrip("+~") in ("hydra.run.dir", "hydra.sweep.dir") for o in overrides):
        _check_dir("hydra.run.dir", "outputs")


#: More jobs than this in a sweep and the jobs are not composed beforehand (Hydra checks each).
MAX_PRECHECKED_JOBS = 64


def sweep_jobs(overrides: list[str]) -> list[list[str]] | None:
    """The override lists of every job of a ``--multirun`` sweep, as Hydra's basic sweeper
    expands them (the cartesian product of the comma lists, in order); ``None`` where a sweep
    uses something other than a plain list of choices (``range(…)``, ``glob(…)`` …), where
    Hydra cannot parse the overrides (Hydra reports it) or where the sweep has more than
    MAX_PRECHECKED_JOBS jobs."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001 - Hydra's to report
        return None
    axes: list[list[str]] = []
    for given, o in zip(overrides, parsed, strict=True):
        if not o.is_sweep_override():
            axes.append([given])
        elif isinstance(o.value(), ChoiceSweep) and not o.value().shuffle:
            axes.append([f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()])
        else:
            return None
    if math.prod(len(a) for a in axes) > MAX_PRECHECKED_JOBS:
        return None
    return [list(job) for job in itertools.product(*axes)]


def check_job(command: str, overrides: list[str], *, runs: bool) -> None:
    """Compose and check one job's overrides as the run will: composition, the posterior's
    settings and the shocks and levers (each compare entry for ``compare``); no simulation."""
    from stress import cli

    composed = cli.check_composition(overrides)
    check_posterior_overrides(overrides, composed)
    if runs and command != "calibrate":
        check_files(composed)
    if command == "compare":
        cli.compare_entries(overrides, composed.policies)
    else:
        cli.check_lever_settings(overrides, composed)
        if runs:
            cli.check_shocks(composed)
    if runs and composed.runtime.devices is not None:  # needs JAX's device list: before the run folder
        from stress import engine, runtime

        runtime.setup(composed.runtime)
        engine.local_devices(composed.runtime.devices)


def check_files(cfg) -> None:
    """Read the files a job names (``world.path``, a ``calibration.posterior`` file it uses)
    before Hydra creates the run folder: a missing or malformed table is refused with nothing
    written. The bundled world and posterior are the package's own and are read by the job."""
    from stress.mrio import io as mrio_io

    if cfg.world.path is not None:  # a table the user named (pymrio_test and the bundled REE world are the job's to read)
        mrio_io.load(cfg.world)
    choice = cfg.calibration.posterior
    uses = (cfg.scenario is not None and cfg.scenario.kind != "baseline") or cfg.shocks.licensing.enabled
    if uses and choice is not None and str(choice).lower() not in ("none", "bundled"):
        from stress.pipeline import load_posterior

        load_posterior(cfg)


def make_output_dir(overrides: list[str], *, multirun: bool = False) -> None:
    """Create the output folder given with ``hydra.run.dir`` (``hydra.sweep.dir`` for a sweep)
    now: only trying proves that it can be (``os.access`` says yes to root for ``/proc``). The
    default folder under ``outputs/`` is left to Hydra."""
    field = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    for item in overrides:
        if "=" in item and item.split("=", 1)[0].lstrip("+~") == field:
            _check_dir(field, item.split("=", 1)[1], create=True)


def _check_dir(field: str, value: str, *, create: bool = False) -> None:
    """The folder, or its nearest existing parent, must be a writable directory; with ``create``
    the folder is made now (a path holding an interpolation such as ``${now:…}`` is not)."""
    path = Path(value).expanduser().absolute()
    if create and "${" not in value:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(field, value, f"a folder that can be created and written ({exc.strerror or exc})") from None
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(field, value, f"a folder that can be created and written ({probe} is not writable)")


#: Scenario settings that a posterior replaces path by path (see stress.sampler).
POSTERIOR_REPLACES = ("scenario.cutoff.", "scenario.licence.approval_a", "scenario.licence.approval_b", "scenario.licence.review_days")


def check_posterior_overrides(overrides: list[str], cfg) -> None:
    """Refuse a hand-set value that the posterior in use would silently replace."""
    if cfg.calibration.posterior is None or str(cfg.calibration.posterior).lower() == "none":
        return
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key.startswith(POSTERIOR_REPLACES) or key in ("scenario.cutoff", "scenario.licence"):
            raise InputError(
                key,
                item.split("=", 1)[1] if "=" in item else None,
                f"not used while calibration.posterior={cfg.calibration.posterior}: each path draws it from the posterior; "
                "add calibration.posterior=none to use hand-set values",
            )


#: What a backtest user may change in its scenario: the hand-set priors and controlled share
#: (used with calibration.posterior=none). The rest defines the episode being replayed.
BACKTEST_SCENARIO_KEYS = ("scenario.controlled_share", "scenario.licence.")


def backtest_overrides(rest: list[str]) -> list[str]:
    """The backtest's own scenario and Monte Carlo size (unless the user chose a sampler),
    placed next to the user's overrides so that Hydra's flags keep working."""
    for item in rest:
        key = item.split("=", 1)[0].lstrip("+~")
        if key == "scenario" or (key.startswith("scenario.") and not key.startswith(BACKTEST_SCENARIO_KEYS)):
            value = item.split("=", 1)[1] if "=" in item else None
            print(
                f"stress: error: {key}={value!r} is not allowed: the backtest replays +scenario=april_2025_controls as it happened "
                "(only scenario.controlled_share and scenario.licence.* may be set)",
                file=sys.stderr,
            )
            sys.exit(2)
    extra = ["+scenario=april_2025_controls"]
    if not any(item.split("=", 1)[0].lstrip("+~") == "sampler" for item in rest):
        extra.append("sampler=backtest")
    try:
        overrides = parse_args("backtest", rest).overrides
    except InputError:
        return rest + extra  # main() reports the bad arguments
    if not overrides:
        return rest + extra
    first = max(k for k in range(len(rest)) if rest[k:k + len(overrides)] == overrides)
    return rest[:first] + extra + rest[first:]


def resume_overrides(command: str, rest: list[str]) -> list[str]:
    """``resume=RUN_DIR``: the overrides the run in RUN_DIR was started with (recorded in its
    store's manifest), then those given now, with ``hydra.run.dir=RUN_DIR``; the store's
    manifest later refuses any setting that would change the numbers."""
    given = [o for o in rest if "=" in o and not o.startswith("-")]
    value = next((o.split("=", 1)[1] for o in given if o.split("=", 1)[0].lstrip("+~") == "resume"), None)
    if value is None:
        return rest
    if command != "run":
        raise InputError("resume", value, "a setting of python -m stress run only (the run folder to continue)")
    if "--multirun" in rest or "-m" in rest:
        raise InputError("resume", value, "one run folder, continued without --multirun")
    run_dir = Path(value).expanduser()
    if not (run_dir / "store" / "manifest.json").is_file():
        raise InputError("resume", value, "the folder of a run started by python -m stress run (it holds store/manifest.json)")
    keys = {o.split("=", 1)[0].lstrip("+~") for o in given}
    for o in given:
        if o.split("=", 1)[0].lstrip("+~") == "hydra.run.dir" and Path(o.split("=", 1)[1]).expanduser().resolve() != run_dir.resolve():
            raise InputError("hydra.run.dir", o.split("=", 1)[1], f"the folder being resumed ({value}) or left out")
    # The overrides the run was started with, as its store's manifest recorded them (Hydra's own
    # .hydra/overrides.yaml is rewritten by every attempt, refused ones included).
    import json

    try:
        manifest = json.loads((run_dir / "store" / "manifest.json").read_text())
        loaded = manifest.get("overrides", []) if isinstance(manifest, dict) else None
    except (OSError, ValueError) as exc:
        raise InputError("resume", value, f"a run folder with a readable store/manifest.json ({exc})") from None
    from stress.store import check_manifest

    check_manifest(manifest, run_dir)
    if not all(isinstance(o, str) for o in loaded):
        raise InputError("resume", value, "a run folder whose store/manifest.json lists the run's overrides")
    stored = [o for o in loaded if o.split("=", 1)[0].lstrip("+~") not in (keys | {"resume", "hydra.run.dir"})]
    extra = [] if "hydra.run.dir" in keys else [f"hydra.run.dir={run_dir}"]
    return stored + rest + extra


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m stress``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0 if args else 2)
    command, rest = args[0], args[1:]
    if command == "report":  # no Hydra: a positional folder and --output
        from stress import report

        report.main(rest)
        return
    from stress import cli

    if command not in cli.COMMANDS:
        print(
            f"stress: error: unknown command {command!r}; allowed: {', '.join([*cli.COMMANDS, 'report'])} (see python -m stress --help)", file=sys.stderr
        )
        sys.exit(2)
    if command == "backtest":
        rest = backtest_overrides(rest)
    try:
        rest = resume_overrides(command, rest)
        flags = parse_args(command, rest)
        if flags.experimental_rerun:
            raise InputError(
                "--experimental-rerun",
                flags.experimental_rerun,
                "not accepted: Hydra reloads the config from a pickle file, which can run any code; "
                "run again with the overrides in RUN_DIR/.hydra/overrides.yaml",
            )
        # Another config folder or root config: group choices and composition are Hydra's to check.
        own_configs = not (flags.config_path or flags.config_dir or flags.config_name or flags.experimental_rerun)
        # Only a run creates its output folder; --cfg, --info, --help … print and stop.
        runs = not (flags.cfg or flags.info or flags.help or flags.hydra_help or flags.shell_completion)
        if own_configs:
            precheck(flags.overrides, Path(cli.CONFIG_DIR))
            if command != "compare" and any(o.split("=", 1)[0].lstrip("+~") == "policies" for o in flags.overrides):
                value = next(o.split("=", 1)[1] for o in flags.overrides if o.split("=", 1)[0].lstrip("+~") == "policies")
                raise InputError("policies", value, "a setting of python -m stress compare only (one policy in a run: +policy=NAME)")
            if not flags.multirun:
                check_job(command, flags.overrides, runs=runs)
            elif runs:
                # every job of a sweep of plain comma lists, before Hydra writes the sweep folder
                for job in sweep_jobs(flags.overrides) or []:
                    try:
                        check_job(command, job, runs=runs)
                    except InputError as exc:
                        swept = " ".join(o for o in job if o not in flags.overrides)
                        raise InputError(exc.field, exc.value, f"{exc.allowed} (in the sweep's job {swept})" if swept else exc.allowed) from None
        if runs:
            make_output_dir(flags.overrides, multirun=flags.multirun)
    except InputError as exc:
        print(f"stress: error: {exc}", file=sys.stderr)
        sys.exit(2)
    cli.STATE["command"] = command
    cli.STATE["hydra_main"] = True  # a config naming code to run ends in one line and exit 2 (cli.check_untrusted)
    sys.argv = [f"stress-{command}", *rest]
    try:
        cli.COMMANDS[command]()
    except SystemExit as exc:
        # Hydra reports composition errors (unknown key, wrong type) with exit code 1 before
        # the task starts (for sweeps, which are not composed beforehand): that is bad input.
        if exc.code == 1 and not cli.STATE["started"]:
            sys.exit(2)
        raise


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # output piped into a command that stopped reading (e.g. head)
        sys.stderr.close()
        sys.exit(1)
    except KeyboardInterrupt:  # before the job started (checks, compilation of the config)
        print("stress: interrupted before the run started; nothing was written", file=sys.stderr)
        sys.exit(130)
