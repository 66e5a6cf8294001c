"""Untrusted configs cannot run code: no _target_ outside the allow-list, no logging factories,
no pickle. Also a source scan so that pickle-like loaders and eval cannot creep into the package."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stress import cli
from stress.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stress"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("+hydra.callbacks.x._target_=builtins.open", "hydra.callbacks.x._target_"),
        ("hydra.callbacks.frontier._target_=os.system", "hydra.callbacks.frontier._target_"),
        ("+hydra.callbacks.frontier.extra._target_=builtins.open", "hydra.callbacks.frontier.extra._target_"),
        ("hydra.launcher._target_=builtins.open", "hydra.launcher._target_"),
        ("hydra.sweeper._target_=builtins.open", "hydra.sweeper._target_"),
        ("+hydra.callbacks.x._target_=${oc.env:HOME}", "hydra.callbacks.x._target_"),
        ("+hydra.callbacks.x._target_=stress.cli.FrontierCallback", None),  # allowed class, but a second one is fine
        ("hydra.job_logging.handlers.console.class=os.system", "hydra.job_logging.handlers.console.class"),
        ("hydra.hydra_logging.handlers.console.stream=ext://antigravity.x", "hydra.hydra_logging.handlers.console.stream"),
        ("+hydra.job.env_set.LD_PRELOAD=/tmp/x.so", "hydra.job.env_set.LD_PRELOAD"),
        ("+hydra.job.env_set.GIT_CONFIG_COUNT=1", "hydra.job.env_set.GIT_CONFIG_COUNT"),
        ("+hydra.job.env_set.JAX_COMPILATION_CACHE_DIR=/tmp/x", "hydra.job.env_set.JAX_COMPILATION_CACHE_DIR"),
        ("+hydra.job.env_set.XLA_FLAGS=--xla_cpu_fast", "hydra.job.env_set.XLA_FLAGS"),
    ],
)
def test_composition_refuses_code_in_the_config(override, field):
    if field is None:
        cli.check_composition([override])
        return
    with pytest.raises(InputError) as err:
        cli.check_composition([override])
    assert err.value.field == field


def test_default_config_passes_the_guard():
    cli.check_composition(["+scenario=full_cutoff"])
    cli.check_untrusted({"hydra": {"callbacks": {"frontier": {"_target_": "stress.cli.FrontierCallback"}}}})
    with pytest.raises(InputError):
        cli.check_untrusted({"model": {"x": [{"_target_": "os.system"}]}})  # anywhere, lists too
    with pytest.raises(InputError):
        cli.check_untrusted({"hydra": {"job_logging": {"formatters": {"f": {"()": "os.system"}}}}})


def _stress(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stress", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_user_config_dir_cannot_run_code(tmp_path):
    """A --config-dir (Hydra composes it, not the prechecks) naming a callback that would create a
    file: refused in one line, exit code 2, and the file never appears (single run and sweep)."""
    marker = tmp_path / "PWNED"
    (tmp_path / "cd" / "hack").mkdir(parents=True)
    (tmp_path / "cd" / "hack" / "evil.yaml").write_text(
        f"# @package _global_\nhydra:\n  callbacks:\n    evil:\n      _target_: builtins.open\n      _args_: [{marker}, w]\n"
    )
    single = ([], [f"hydra.run.dir={tmp_path / 'run'}"])
    sweep = (["--multirun"], [f"hydra.sweep.dir={tmp_path / 'sweep'}", "sampler.seed=1,2"])
    for flags, extra in (single, sweep):
        res = _stress("run", *flags, "-cd", str(tmp_path / "cd"), "+scenario=baseline", "+hack=evil", "model.horizon_days=5", *extra)
        assert res.returncode == 2, res.stderr
        assert res.stderr.startswith("stress: error: hydra.callbacks.evil._target_='builtins.open'"), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr + res.stdout
        assert not marker.exists()
    res = _stress("run", "--experimental-rerun", str(tmp_path / "config.pickle"))
    assert res.returncode == 2 and res.stderr.startswith("stress: error: --experimental-rerun="), res.stderr


# -- the source itself: nothing that unpickles or evaluates ----------------------------------

FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "marshal", "shelve", "jsonpickle"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "read_pickle", "to_pickle", "unsafe_load", "full_load"}


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def _problems(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FORBIDDEN_MODULES:
            found.append(f"from {node.module} import")
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in FORBIDDEN_CALLS:
                found.append(f"call {name}()")
            if name == "load" and isinstance(f, ast.Attribute):
                owner = f.value.id if isinstance(f.value, ast.Name) else getattr(f.value, "attr", None)
                kw = {k.arg: k.value for k in node.keywords}
                if owner == "np" or owner == "numpy":  # np.load must say allow_pickle=False
                    if not (isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False):
                        found.append("np.load without allow_pickle=False")
                if owner == "yaml":
                    found.append("yaml.load (use yaml.safe_load)")
    return found


def test_scan_finds_what_it_looks_for():
    bad = "import pickle\nfrom joblib import load\nnp.load('x')\neval('1')\nyaml.load(s)\npd.read_pickle(p)\n"
    assert len(_problems(ast.parse(bad))) == 6
    assert _problems(ast.parse("np.load('x', allow_pickle=False)\nyaml.safe_load(s)\n")) == []


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_package_source_has_no_pickle_or_eval(path):
    assert _problems(ast.parse(path.read_text(), filename=str(path))) == [], path
