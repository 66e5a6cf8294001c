"""Fuzzing the inputs: every malformed setting or file ends in one line naming it and exit code 2.

Settings go through ``python -m stress`` in-process (``stress.__main__.main`` with the Hydra job
replaced by a stub that fails the test if it is ever reached): exit code 2, one line on stderr
naming the field, no traceback, nothing written. Range checks are also driven straight through
``stress.config.validate`` for every numeric field (no composition: microseconds a case).
Files (the REE world's CSVs, a pymrio folder, a posterior, calibration observations) are read
by the loaders the command line calls; a few go end to end. ``len(CASES)`` in each list is the
number of bad inputs of that kind (see test_case_count).
"""

from __future__ import annotations

import contextlib
import copy
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stress import cli, config
from stress.__main__ import main
from stress.config import WorldConfig
from stress.errors import InputError
from stress.mrio import io as mrio_io
from stress.mrio.ree_world import DATA_DIR as REE_DATA

CUT = "+scenario=full_cutoff"


@pytest.fixture(scope="module")
def hydra_ready():
    """One Hydra set-up for the module (composition then costs ~0.2 s a case, not more)."""
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        yield


def run_cli(monkeypatch, tmp_path, *args: str) -> tuple[int, str, str]:
    """``python -m stress ARGS hydra.run.dir=TMP/out`` in this process: (exit code, stderr, stdout).
    The Hydra job itself is a stub: reaching it means the input was accepted."""
    for name in cli.COMMANDS:
        monkeypatch.setitem(cli.COMMANDS, name, lambda: pytest.fail("bad input accepted: the job started"))
    monkeypatch.setitem(cli.STATE, "hydra_main", False)
    err, out = io.StringIO(), io.StringIO()
    code: object = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main([*args, f"hydra.run.dir={tmp_path / 'out'}"])
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue(), out.getvalue()


def assert_refused(code, err, out, field: str, tmp_path: Path) -> None:
    assert code == 2, (code, err, out)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stress: error: "), err
    assert field in lines[0], (field, lines[0])
    assert "Traceback" not in err + out
    assert not (tmp_path / "out").exists()  # nothing written, not even the run folder


# ---------------------------------------------------------------------------------------------
# 1. settings on the command line: wrong types, non-finite, out of range, unknown names

FLOATS = [  # (field, needs a scenario)
    ("model.inventory_days", False), ("model.psi", False), ("model.inventory_tau", False), ("model.alpha_base", False),
    ("model.alpha_max", False), ("model.alpha_tau", False), ("model.year_to_day", False), ("model.demand_elasticity", False),
    ("metrics.halt_threshold", False), ("metrics.constraint_threshold", False), ("metrics.relative_accuracy", False),
    ("scenario.cutoff.sigma", True), ("scenario.licence.approval_a", True), ("scenario.controlled_share", True),
]
INTS = [
    ("model.horizon_days", False), ("sampler.n_paths", False), ("sampler.chunk_size", False), ("sampler.seed", False),
    ("metrics.attribution_paths", False), ("metrics.top_n", False), ("scenario.licence.applications", True),
    ("scenario.start_day", True), ("simulate.path_id", False), ("calibration.chains", False), ("compare.bootstrap", False),
]
FLOAT_BAD = ["nan", "abc", "{a:1}"]  # the other non-finite and out-of-range values: RANGE_CASES
INT_BAD = ["1.5", "abc", "[1]"]
CLI_CASES = [((CUT,) if scen else (), f"{f}={v}", f) for f, scen in FLOATS for v in FLOAT_BAD]
CLI_CASES += [((CUT,) if scen else (), f"{f}={v}", f) for f, scen in INTS for v in INT_BAD]
CLI_CASES += [((), f"{f}=null", f) for f in ("model.psi", "sampler.n_paths", "runtime.precision")]
CLI_CASES += [
    ((), "model.alpha_tau=-inf", "model.alpha_tau"),
    ((), "model.psi=''", "model.psi"),
    ((), "metrics.top_n=99999999999999999999999", "metrics.top_n"),
]
CLI_CASES += [
    # names and choices
    ((), "runtime.precision=float16", "runtime.precision"),
    ((), "runtime.progress=loud", "runtime.progress"),
    ((), "runtime.platform=abacus", "runtime.platform"),
    ((), "model.order_type=sideways", "model.order_type"),
    ((), "model.name=leontief", "model.name"),
    ((), "world.name=mars", "world.name"),
    ((), "world=mars", "world"),
    ((), "sampler=huge", "sampler"),
    ((), "+scenario=doomsday", "scenario"),
    ((), "shock.kind=meteor", "shock.kind"),
    ((CUT,), "scenario.kind=invasion", "scenario.kind"),
    ((CUT,), "scenario.start_date=2025-13-45", "scenario.start_date"),
    ((CUT,), "scenario.products=[]", "scenario.products"),
    ((), "calibration.models=[astrology]", "calibration.models"),
    ((), "calibration.models=[]", "calibration.models"),
    ((), "calibration.chains=1", "calibration.chains"),
    ((CUT,), "policies=[none,teleport]", "policies"),
    ((), "metrics.quantiles=[]", "metrics.quantiles"),
    ((), "metrics.quantiles=[0.5,1.5]", "metrics.quantiles"),
    ((), "metrics.quantiles=[nan]", "metrics.quantiles"),
    ((), "metrics.quantiles=[-0.1]", "metrics.quantiles"),
    ((), "metrics.quantiles=abc", "metrics.quantiles"),
    ((), "metrics.quantiles={a:1}", "metrics.quantiles"),
    # unknown keys, at every depth
    ((), "+model.nonsense=1", "model.nonsense"),
    ((), "+nonsense=1", "nonsense"),
    ((CUT,), "+scenario.cutoff.nonsense=1", "scenario.cutoff.nonsense"),
    ((), "+shocks.halts.nonsense=1", "shocks.halts.nonsense"),
    ((), "model.nonsense=1", "model.nonsense"),
    # whole groups replaced by a scalar or a list
    ((), "model=3", "model"),
    ((), "+sampler.n_paths=[1,2]", "sampler.n_paths"),
    # path ids past 31 bits (fold_in would repeat an earlier path's draws)
    ((), "sampler.n_paths=2147483648", "sampler.n_paths"),
    ((), "simulate.path_id=4294967299", "simulate.path_id"),  # 2**32 + 3: path 3's key
    ((), "simulate.path_id=-1", "simulate.path_id"),
    ((), "sampler.chunk_size=0", "sampler.chunk_size"),
    # files named on the command line that do not exist
    ((), "world=pymrio_dir", "world.path"),
    ((), "world=pymrio_dir world.path=/nonexistent/table", "world.path"),
    ((), "world.path=/nonexistent/ree_tables", "world.path"),
    ((CUT,), "calibration.posterior=/nonexistent/posterior.nc", "calibration.posterior"),
    # a config that names code to run
    ((), "+hydra.callbacks.x._target_=builtins.print", "hydra.callbacks.x._target_"),
    ((), "hydra.job_logging.handlers.console.class=os.system", "hydra.job_logging.handlers.console.class"),
]


@pytest.mark.parametrize(("pre", "override", "field"), CLI_CASES, ids=[f"{c[1]}" for c in CLI_CASES])
def test_cli_setting_refused(hydra_ready, monkeypatch, tmp_path, pre, override, field):
    code, err, out = run_cli(monkeypatch, tmp_path, "run", *pre, *override.split(" "))
    assert_refused(code, err, out, field, tmp_path)


# Range checks of validate() on every numeric field, without composing (type errors are Hydra's
# and are covered above). Each value is refused where the schema's type allows it.
NONFINITE = [float("nan"), float("inf"), float("-inf")]
RANGES = {  # field -> bad values
    "model.horizon_days": [0, -1, 3651, 10**12],
    "model.inventory_days": [*NONFINITE, 1.0, 0.0, -5.0],
    "model.psi": [*NONFINITE, -0.1, 1.1, 0.001],  # 0.001 x 90 days < 1
    "model.inventory_tau": [*NONFINITE, 0.0, -1.0],
    "model.alpha_base": [*NONFINITE, 0.5, -1.0],
    "model.alpha_max": [*NONFINITE, 0.9],
    "model.alpha_tau": [*NONFINITE, 0.0, -1.0],
    "model.year_to_day": [*NONFINITE, 0.0, -365.0],
    "model.demand_elasticity": [*NONFINITE, -0.5],
    "model.substitution_elasticity": [*NONFINITE, -0.5],
    "sampler.n_paths": [0, -1, 2**31, 2**40],
    "sampler.chunk_size": [0, -8, 2**31],
    "sampler.seed": [-1, 2**63, 2**80],
    "simulate.path_id": [-1, 2**31, 2**32 + 3],
    "metrics.halt_threshold": [*NONFINITE, -0.1, 1.5],
    "metrics.constraint_threshold": [*NONFINITE, 0.0, 1.0, -0.1],
    "metrics.relative_accuracy": [*NONFINITE, 0.0, -0.01, 0.5],
    "metrics.attribution_paths": [-1, 10**8],
    "metrics.top_n": [0, -1, 10**9],
    "metrics.quantiles": [[], [float("nan")], [float("inf")], [1.5], [-0.5], [0.5, 0.5]],
    "scenario.start_day": [-1, 365, 10**9],
    "scenario.cutoff.median_days": [float("nan"), float("-inf"), -1.0],
    "scenario.cutoff.sigma": [*NONFINITE, -0.1],
    "scenario.licence.approval_a": [*NONFINITE, 0.0, -1.0],
    "scenario.licence.approval_b": [*NONFINITE, 0.0, -1.0],
    "scenario.licence.review_days": [float("nan"), float("-inf"), -1.0],
    "scenario.licence.applications": [0, -1, 1001],
    "scenario.controlled_share": [*NONFINITE, 0.0, -0.5, 1.5],
    "scenario.frequency_per_year": [*NONFINITE, 0.0, -1.0, 366.0],
    "calibration.chains": [0, -1, 100_001],
    "calibration.warmup": [0, -1, 10**6],
    "calibration.samples": [9, -1, 10**6],
    "calibration.thin": [0, -1],
    "calibration.seed": [-1, 2**31],
    "compare.bootstrap": [0, 1, -5, 10**6],
}
RANGE_CASES = [(f, v) for f, values in RANGES.items() for v in values]


@pytest.fixture(scope="module")
def cutoff_config(hydra_ready):
    return cli.check_composition([CUT])


@pytest.mark.parametrize(("field", "value"), RANGE_CASES, ids=[f"{f}={v!r}" for f, v in RANGE_CASES])
def test_validate_refuses_out_of_range(cutoff_config, field, value):
    cfg = copy.deepcopy(cutoff_config)
    *path, last = field.split(".")
    node = cfg
    for part in path:
        node = getattr(node, part)
    setattr(node, last, value)
    with pytest.raises(InputError) as err:
        config.validate(cfg)
    assert err.value.field == field
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------------
# 2. the REE world from a user's folder (world=ree_world world.path=DIR)

def _ree(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder.mkdir(parents=True, exist_ok=True)
    return pd.read_csv(REE_DATA / "Z.csv", index_col=[0, 1]), pd.read_csv(REE_DATA / "Y.csv", index_col=[0, 1])


def _cell(frame: pd.DataFrame, value) -> pd.DataFrame:
    frame = frame.astype(object)
    frame.iloc[3, 4] = value
    return frame


def _write(folder: Path, Z=None, Y=None, **raw: str | bytes) -> None:
    if Z is not None:
        Z.to_csv(folder / "Z.csv")
    if Y is not None:
        Y.to_csv(folder / "Y.csv")
    for name, text in raw.items():
        path = folder / name.replace("_csv", ".csv")
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)


def _zero_output(Z, Y):
    Z.iloc[5, :] = 0.0  # an industry that sells nothing but still buys inputs
    Y.iloc[5, :] = 0.0
    return Z, Y


def _criticality(edit) -> str:
    frame = pd.read_csv(REE_DATA / "criticality.csv", keep_default_na=False)
    return edit(frame).to_csv(index=False)


def _inventories(edit) -> str:
    frame = pd.read_csv(REE_DATA / "inventories.csv", keep_default_na=False)
    return edit(frame).to_csv(index=False)


def _set(frame, col, value):
    frame = frame.astype({col: object})
    frame.loc[0, col] = value
    return frame


REE_CASES = {
    "Z NaN": lambda Z, Y: (_cell(Z, float("nan")), Y, {}),
    "Z inf": lambda Z, Y: (_cell(Z, float("inf")), Y, {}),
    "Z -inf": lambda Z, Y: (_cell(Z, float("-inf")), Y, {}),
    "Z negative": lambda Z, Y: (_cell(Z, -1.0), Y, {}),
    "Z text cell": lambda Z, Y: (_cell(Z, "abc"), Y, {}),
    "Z empty cell": lambda Z, Y: (_cell(Z, ""), Y, {}),
    "Z huge": lambda Z, Y: (_cell(Z, 1e308), Y, {}),
    "Y NaN": lambda Z, Y: (Z, _cell(Y, float("nan")), {}),
    "Y negative": lambda Z, Y: (Z, _cell(Y, -5.0), {}),
    "Y text cell": lambda Z, Y: (Z, _cell(Y, "1,5"), {}),
    "Z column missing": lambda Z, Y: (Z.iloc[:, :-1], Y, {}),
    "Z row missing": lambda Z, Y: (Z.iloc[:-1], Y, {}),
    "Z extra column": lambda Z, Y: (Z.assign(extra=1.0), Y, {}),
    "Z duplicate row label": lambda Z, Y: (Z.set_axis(pd.MultiIndex.from_tuples([Z.index[0], *Z.index[:-1]]), axis=0), Y, {}),
    "Z duplicate column label": lambda Z, Y: (Z.set_axis([Z.columns[0], *Z.columns[:-1]], axis=1), Y, {}),
    "Z rows reordered": lambda Z, Y: (Z.iloc[::-1], Y, {}),
    "Y rows renamed": lambda Z, Y: (Z, Y.set_axis(pd.MultiIndex.from_tuples([("MARS", Y.index[0][1]), *Y.index[1:]]), axis=0), {}),
    "zero output that buys inputs": lambda Z, Y: (*_zero_output(Z, Y), {}),
    "inputs above output": lambda Z, Y: (Z.mul(1.0).assign(**{Z.columns[2]: Z.iloc[:, 2] + 1e4}), Y, {}),
    "Z empty file": lambda Z, Y: (None, Y, {"Z_csv": ""}),
    "Z header only": lambda Z, Y: (None, Y, {"Z_csv": "region,sector\n"}),
    "Z binary": lambda Z, Y: (None, Y, {"Z_csv": b"\xff\xfe\x00\x81garbage"}),
    "Z unclosed quote": lambda Z, Y: (None, Y, {"Z_csv": 'region,sector\n"unclosed\n'}),
    "Z missing": lambda Z, Y: (None, Y, {}),
    "Y missing": lambda Z, Y: (Z, None, {}),
    "criticality share 1.5": lambda Z, Y: (Z, Y, {"criticality_csv": _criticality(lambda f: _set(f, "share", "1.5"))}),
    "criticality share text": lambda Z, Y: (Z, Y, {"criticality_csv": _criticality(lambda f: _set(f, "share", "most"))}),
    "criticality share NaN": lambda Z, Y: (Z, Y, {"criticality_csv": _criticality(lambda f: _set(f, "share", "nan"))}),
    "criticality unknown class": lambda Z, Y: (Z, Y, {"criticality_csv": _criticality(lambda f: _set(f, "class", "vital"))}),
    "criticality unknown product": lambda Z, Y: (Z, Y, {"criticality_csv": _criticality(lambda f: _set(f, "product", "unobtainium"))}),
    "criticality duplicate pair": lambda Z, Y: (Z, Y, {"criticality_csv": _criticality(lambda f: pd.concat([f, f.iloc[:1]]))}),
    "criticality missing pair": lambda Z, Y: (Z, Y, {"criticality_csv": _criticality(lambda f: f.iloc[1:])}),
    "criticality column missing": lambda Z, Y: (Z, Y, {"criticality_csv": _criticality(lambda f: f.drop(columns="share"))}),
    "inventories days 0": lambda Z, Y: (Z, Y, {"inventories_csv": _inventories(lambda f: _set(f, "days", "0"))}),
    "inventories days inf": lambda Z, Y: (Z, Y, {"inventories_csv": _inventories(lambda f: _set(f, "days", "inf"))}),
    "inventories psi 2": lambda Z, Y: (Z, Y, {"inventories_csv": _inventories(lambda f: _set(f, "psi", "2"))}),
    "inventories psi NaN": lambda Z, Y: (Z, Y, {"inventories_csv": _inventories(lambda f: _set(f, "psi", "nan"))}),
    "inventories stockpile negative": lambda Z, Y: (Z, Y, {"inventories_csv": _inventories(lambda f: _set(f, "stockpile_days", "-1"))}),
    "inventories unknown region": lambda Z, Y: (Z, Y, {"inventories_csv": _inventories(lambda f: _set(f, "buyer_region", "MARS"))}),
    "inventories duplicate pair": lambda Z, Y: (Z, Y, {"inventories_csv": _inventories(lambda f: pd.concat([f, f.iloc[:1]]))}),
}


@pytest.mark.parametrize("case", list(REE_CASES))
def test_ree_world_folder_refused(tmp_path, case):
    folder = tmp_path / "tables"
    Z, Y, raw = REE_CASES[case](*_ree(folder))
    _write(folder, Z, Y, **raw)
    with pytest.raises(InputError) as err:
        mrio_io.load(WorldConfig(name="ree_world", path=str(folder)))
    assert err.value.field.startswith(("world.path", "world[ree_world]")), err.value.field
    assert "\n" not in str(err.value) and len(str(err.value)) < 2000


@pytest.mark.parametrize("where", ["a file", "an empty folder", "nowhere", "blank"])
def test_ree_world_path_not_a_table_folder(tmp_path, where):
    path = {"a file": tmp_path / "Z.csv", "an empty folder": tmp_path, "nowhere": tmp_path / "missing", "blank": "  "}[where]
    if where == "a file":
        shutil.copy(REE_DATA / "Z.csv", path)
    with pytest.raises(InputError) as err:
        if where == "blank":
            config.validate(config.Config(world=WorldConfig(name="ree_world", path=str(path))))
        else:
            mrio_io.load(WorldConfig(name="ree_world", path=str(path)))
    assert err.value.field == "world.path"


def test_unproductive_table_refused():
    """Spectral radius of A at 1: two industries that only sell to each other, no value added."""
    from stress.mrio.tables import Mrio, validate

    Z = np.array([[0.0, 1.0], [1.0, 0.0]])
    Y = np.zeros((2, 2))
    with pytest.raises(InputError) as err:
        validate(Mrio("toy", ("r1", "r2"), ("s",), ("hh",), Z, Y, Z.sum(axis=1), "USD"))
    assert err.value.field == "world[toy].A" and "spectral radius 1" in str(err.value)


# ---------------------------------------------------------------------------------------------
# 3. a table saved by pymrio (world=pymrio_dir world.path=DIR)

@pytest.fixture(scope="module")
def pymrio_saved(tmp_path_factory):
    import pymrio

    folder = tmp_path_factory.mktemp("pymrio") / "table"
    pymrio.load_test().save_all(folder)
    return folder


def _edit_z(folder: Path, edit) -> None:
    frame = pd.read_csv(folder / "Z.txt", sep="\t", index_col=[0, 1], header=[0, 1])
    edit(frame).to_csv(folder / "Z.txt", sep="\t")


def _put(value):
    def edit(frame):
        frame = frame.astype(object)
        frame.iloc[2, 3] = value
        return frame
    return edit


PYMRIO_CASES = {
    "Z NaN": lambda d: _edit_z(d, _put("nan")),
    "Z inf": lambda d: _edit_z(d, _put("inf")),
    "Z negative": lambda d: _edit_z(d, _put(-1e9)),
    "Z text cell": lambda d: _edit_z(d, _put("lots")),
    "Z row missing": lambda d: _edit_z(d, lambda f: f.iloc[:-1]),
    "Z duplicate row": lambda d: _edit_z(d, lambda f: pd.concat([f, f.iloc[:1]])),
    "Z column missing": lambda d: _edit_z(d, lambda f: f.iloc[:, :-1]),
    "Z scaled up (inputs above output)": lambda d: _edit_z(d, lambda f: f * 50.0),
    "Z.txt deleted": lambda d: (d / "Z.txt").unlink(),
    "Z.txt empty": lambda d: (d / "Z.txt").write_text(""),
    "Z.txt binary": lambda d: (d / "Z.txt").write_bytes(b"\x00\xff\x81\x00"),
    "Y.txt deleted": lambda d: (d / "Y.txt").unlink(),
    "file_parameters.json deleted": lambda d: (d / "file_parameters.json").unlink(),
    "file_parameters.json malformed": lambda d: (d / "file_parameters.json").write_text("{not json"),
    "folder empty": lambda d: [p.unlink() for p in d.iterdir() if p.is_file()] and [shutil.rmtree(p) for p in d.iterdir()],
}


@pytest.mark.parametrize("case", list(PYMRIO_CASES))
def test_pymrio_folder_refused(tmp_path, pymrio_saved, case):
    folder = tmp_path / "table"
    shutil.copytree(pymrio_saved, folder)
    PYMRIO_CASES[case](folder)
    with pytest.raises(InputError) as err:
        mrio_io.load(WorldConfig(name="pymrio_dir", path=str(folder)))
    assert err.value.field.startswith(("world.path", "world[table]")), err.value.field
    assert "\n" not in str(err.value)


def test_pymrio_folder_loads_unchanged(pymrio_saved):
    """The fixture itself is a good table: the cases above fail for their edit alone."""
    assert mrio_io.load(WorldConfig(name="pymrio_dir", path=str(pymrio_saved))).n == 48


# ---------------------------------------------------------------------------------------------
# 4. a posterior file (calibration.posterior=PATH)

@pytest.fixture(scope="module")
def posterior_tree():
    import xarray as xr

    from stress.calibration.fit import BUNDLED_POSTERIOR

    with xr.open_datatree(BUNDLED_POSTERIOR) as tree:
        return tree["posterior"].to_dataset().load()


def _posterior(path: Path, post) -> None:
    import xarray as xr

    xr.DataTree.from_dict({"/posterior": post}).to_netcdf(path)


POSTERIOR_CASES = {
    "missing": lambda p, post: None,
    "text file": lambda p, post: p.write_text("not netcdf"),
    "empty file": lambda p, post: p.write_bytes(b""),
    "no posterior group": lambda p, post: post.to_netcdf(p, group="elsewhere"),
    "variable missing": lambda p, post: _posterior(p, post.drop_vars("psi")),
    "NaN draw": lambda p, post: _posterior(p, post.assign(psi=post.psi.where(post.draw != 0))),
    "inf draw": lambda p, post: _posterior(p, post.assign(cutoff_median_days=post.cutoff_median_days + np.inf)),
    "negative days": lambda p, post: _posterior(p, post.assign(cutoff_median_days=-post.cutoff_median_days)),
    "probability above 1": lambda p, post: _posterior(p, post.assign(psi=post.psi + 1.0)),
    "wrong dims": lambda p, post: _posterior(p, post.assign(psi=post.psi.isel(chain=0))),
    "wrong labels": lambda p, post: _posterior(p, post.assign_coords(destination=[f"X{i}" for i in range(post.sizes["destination"])])),
}


@pytest.mark.parametrize("case", list(POSTERIOR_CASES))
def test_posterior_file_refused(tmp_path, posterior_tree, case):
    from stress.calibration.fit import load_posterior

    path = tmp_path / "posterior.nc"
    POSTERIOR_CASES[case](path, posterior_tree)
    with pytest.raises(InputError) as err:
        load_posterior(path)
    assert err.value.field == "calibration.posterior"
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------------
# 5. calibration observations from a user's folder (stress.calibration.load_observations)

OBS_CASES = {
    "missing": lambda t: None,
    "empty": lambda t: "",
    "binary": lambda t: b"\xff\xfe\x00garbage",
    "columns renamed": lambda t: t.replace("id", "ident", 1),
    "header only": lambda t: t.splitlines()[0] + "\n",
    "duplicate id": lambda t: t + t.splitlines()[1] + "\n",
    "row too long": lambda t: t + t.splitlines()[1] + ",extra,cells\n",
    "cell text": lambda t: "\n".join([t.splitlines()[0], ",".join(["abc"] * len(t.splitlines()[0].split(",")))]) + "\n",
}


@pytest.mark.parametrize("case", list(OBS_CASES))
def test_observation_file_refused(tmp_path, case):
    from stress.calibration.observations import DATA_DIR, load

    text = (DATA_DIR / "licences.csv").read_text()
    new = OBS_CASES[case](text)
    if new is not None:
        path = tmp_path / "licences.csv"
        path.write_bytes(new) if isinstance(new, bytes) else path.write_text(new)
    try:
        load("licences", tmp_path)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        pytest.fail(f"{case}: accepted")


# ---------------------------------------------------------------------------------------------
# 6. files end to end: refused by python -m stress before the run folder exists

E2E_FILE_CASES = ["Z NaN", "Z duplicate row label", "zero output that buys inputs", "Z binary", "criticality share 1.5"]


@pytest.mark.parametrize("case", E2E_FILE_CASES)
def test_cli_refuses_bad_world_folder(hydra_ready, monkeypatch, tmp_path, case):
    folder = tmp_path / "tables"
    Z, Y, raw = REE_CASES[case](*_ree(folder))
    _write(folder, Z, Y, **raw)
    code, err, out = run_cli(monkeypatch, tmp_path, "run", "+scenario=baseline", f"world.path={folder}")
    assert_refused(code, err, out, "world", tmp_path)


def test_cli_refuses_bad_pymrio_folder_and_posterior(hydra_ready, monkeypatch, tmp_path, pymrio_saved, posterior_tree):
    folder = tmp_path / "table"
    shutil.copytree(pymrio_saved, folder)
    PYMRIO_CASES["Z negative"](folder)
    code, err, out = run_cli(monkeypatch, tmp_path, "simulate", "world=pymrio_dir", f"world.path={folder}")
    assert_refused(code, err, out, "world[table].Z", tmp_path)
    path = tmp_path / "posterior.nc"
    POSTERIOR_CASES["NaN draw"](path, posterior_tree)
    code, err, out = run_cli(monkeypatch, tmp_path, "run", CUT, f"calibration.posterior={path}")
    assert_refused(code, err, out, "calibration.posterior", tmp_path)


# ---------------------------------------------------------------------------------------------

KINDS = {
    "settings on the command line (python -m stress in-process)": CLI_CASES,
    "out-of-range values through validate()": RANGE_CASES,
    "REE world CSV folders": list(REE_CASES) + ["a file", "an empty folder", "nowhere", "blank", "unproductive"],
    "pymrio folders": list(PYMRIO_CASES),
    "posterior files": list(POSTERIOR_CASES),
    "observation files": list(OBS_CASES),
    "files end to end": [*E2E_FILE_CASES, "pymrio", "posterior"],
}


def test_case_count(capsys):
    """The number of bad inputs tried, by kind (printed with -s; asserted so that lists do not shrink)."""
    counts = {kind: len(cases) for kind, cases in KINDS.items()}
    with capsys.disabled():
        print("\nbad inputs tried: " + ", ".join(f"{k}: {n}" for k, n in counts.items()) + f"; total {sum(counts.values())}")
    assert sum(counts.values()) >= 350
