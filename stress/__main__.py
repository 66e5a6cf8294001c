"""``python -m stress <command> [overrides…]``: pick the subcommand, then hand over to Hydra.

Hydra has no subcommands (a bare ``run`` token is a parse error), so the command is removed
from ``sys.argv`` first. Before Hydra starts, the overrides that Hydra would report with a
traceback or a generic exit code are checked here: config-group choices (``world=``,
``+scenario=`` …) and the output folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stress.errors import InputError

USAGE = """usage: python -m stress <command> [key=value ...] [--multirun]

commands:
  run        Monte Carlo over disruption paths; writes results.nc (needs +scenario=NAME)
  simulate   one deterministic path; writes trajectory.nc with the daily trajectory
  calibrate  NumPyro calibration on the 2025-26 observations; writes posterior.nc
  backtest   replay the April 2025 controls; writes backtest.nc with predictive percentiles

examples:
  python -m stress run +scenario=full_cutoff
  python -m stress run +scenario=full_cutoff sampler.n_paths=10000 sampler.seed=1
  python -m stress simulate world=pymrio_test shock=capacity_loss shock.region=reg3 shock.sector=mining
  python -m stress calibrate calibration.chains=4
  python -m stress backtest sampler.n_paths=4096
"""

GROUPS = ("world", "model", "sampler", "shock", "scenario", "calibration")


def _choices(config_dir: Path, group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir / group).glob("*.yaml"))


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
            for choice in value.split(","):
                if choice not in allowed:
                    raise InputError(bare, choice, "one of " + ", ".join(allowed))
        elif bare in ("hydra.run.dir", "hydra.sweep.dir"):
            _check_dir(bare, value)
    if not any(o.split("=", 1)[0] in ("hydra.run.dir", "hydra.sweep.dir") for o in overrides):
        _check_dir("hydra.run.dir", "outputs")


def _check_dir(field: str, value: str) -> None:
    """The folder, or its nearest existing parent, must be a writable directory."""
    path = Path(value).expanduser().absolute()
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


def backtest_overrides(rest: list[str]) -> list[str]:
    """The backtest's own scenario and Monte Carlo size, unless the user chose a sampler."""
    for item in rest:
        if item.split("=", 1)[0].lstrip("+~") == "scenario":
            print("stress: error: scenario is not allowed for backtest: it replays +scenario=april_2025_controls", file=sys.stderr)
            sys.exit(2)
    extra = ["+scenario=april_2025_controls"]
    if not any(item.split("=", 1)[0].lstrip("+~") == "sampler" for item in rest):
        extra.append("sampler=backtest")
    return extra + rest


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m stress``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0 if args else 2)
    command, rest = args[0], args[1:]
    from stress import cli

    if command not in cli.COMMANDS:
        print(
            f"stress: error: unknown command {command!r}; allowed: {', '.join(cli.COMMANDS)} (see python -m stress --help)", file=sys.stderr
        )
        sys.exit(2)
    if command == "backtest":
        rest = backtest_overrides(rest)
    try:
        precheck(rest, Path(cli.CONFIG_DIR))
        if not any(a in ("-m", "--multirun") for a in rest):
            overrides = [a for a in rest if not a.startswith("-")]
            check_posterior_overrides(overrides, cli.check_composition(overrides))
    except InputError as exc:
        print(f"stress: error: {exc}", file=sys.stderr)
        sys.exit(2)
    cli.STATE["command"] = command
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
