"""``python -m stress report``: the HTML risk report.

Unit checks on a synthetic Dataset with the full variable contract, on today's partial one and
on a compare.nc; bad input through the command line; and the page rendered in headless
Chromium (skipped only where Chromium is not installed): a screenshot, the expected sections,
every image loaded and no console errors.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stress.errors import InputError
from stress.report import SECTIONS, write_report
from stress.results.dataset import write_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report_fixture as fx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTION_IDS = [sid for sid, _ in SECTIONS]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """The three reports: full contract, today's partial Dataset, a compare.nc."""
    base = tmp_path_factory.mktemp("reports")
    out = {}
    for name, ds, file in (("full", fx.full_dataset(), "results.nc"), ("partial", fx.partial_dataset(), "results.nc"), ("compare", fx.compare_dataset(), "compare.nc")):
        folder = base / name
        write_atomic(ds, folder / file)
        out[name] = write_report(folder)
    return out


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


def test_full_contract_has_every_section(reports):
    html = reports["full"].read_text()
    assert reports["full"].name == "report.html"
    for sid in SECTION_IDS:
        body = _section(html, sid)
        if sid != "policy":
            assert "Not in this Dataset" not in body, sid
    assert "Not in this Dataset" in _section(html, "policy")  # a run has no policy dimension
    # the first screen tells the risk: scenario, paths, headline table, key findings
    summary = _section(html, "summary")
    assert "full_cutoff" in summary and "Full cut-off of Chinese exports" in summary
    assert "4,000 simulated paths" in summary
    assert "Value at risk 99 % (1 in 100)" in summary and "Expected shortfall 99 %" in summary
    assert "billion USD (2024)" in summary
    assert "Most exposed industry" in summary and "within 8 weeks with probability" in summary
    assert re.search(r"\d,\d{3}", summary), "thousands separators"
    # every figure is embedded
    imgs = re.findall(r"<img [^>]*src=\"([^\"]*)\"", html)
    assert len(imgs) == 7  # distribution, exceedance, heatmap, fan, halts, tornado, convergence
    assert all(src.startswith("data:image/png;base64,") for src in imgs)


@pytest.mark.parametrize("name", ["full", "partial", "compare"])
def test_self_contained(reports, name):
    html = reports[name].read_text()
    assert not re.search(r"https?://", html), "no network reference at view time"
    assert "<link" not in html and "@import" not in html and "<script src" not in html
    assert all(src.startswith("data:") for src in re.findall(r"src=\"([^\"]*)\"", html))


def test_partial_dataset_notes_what_is_absent(reports):
    html = reports["partial"].read_text()
    for sid in ("production", "drivers", "convergence", "policy"):
        assert "Not in this Dataset" in _section(html, sid), sid
    assert "loss_sketch" in _section(html, "distribution")
    # what today's Datasets hold is drawn
    for sid in ("regions", "halts"):
        assert "Not in this Dataset" not in _section(html, sid), sid
    assert "<img" in _section(html, "distribution")  # the VaR points, without the sketch


def test_compare_report_shows_the_policies(reports):
    html = reports["compare"].read_text()
    pol = _section(html, "policy")
    assert "Not in this Dataset" not in pol
    for p in ("joint_stockpile", "price_floor"):
        assert p in pol
    assert "95 % paired interval" in pol and "<img" in pol
    assert "reference policy <b>none</b>" in _section(html, "summary")


def test_nan_bound_is_reported_as_too_few_paths(tmp_path):
    ds = fx.partial_dataset()
    ds["world_value_added_loss_quantile_upper"].loc[{"quantile": 0.995}] = float("nan")
    write_atomic(ds, tmp_path / "results.nc")
    html = write_report(tmp_path, tmp_path / "out" / "r.html").read_text()
    assert "n/a (too few paths)" in _section(html, "summary")


def test_library_errors_name_the_field(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        write_report(tmp_path / "missing")
    with pytest.raises(InputError, match="neither results.nc nor compare.nc"):
        write_report(tmp_path)


def _stress(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stress", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_cli_bad_input_exits_2(tmp_path):
    import xarray as xr

    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "results.nc").write_text("not a netCDF file")
    (tmp_path / "foreign").mkdir()
    xr.Dataset({"x": ("a", [1, 2])}).to_netcdf(tmp_path / "foreign" / "results.nc")
    cases = [
        ((str(tmp_path / "nope"),), "no such file or folder"),
        ((str(tmp_path / "empty"),), "neither results.nc nor compare.nc"),
        ((str(tmp_path / "junk"),), "could not be read as netCDF"),
        ((str(tmp_path / "foreign"),), "no variable world_value_added_loss_mean"),
        ((), "RUN_DIR"),
    ]
    for args, text in cases:
        r = _stress("report", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert r.stderr.startswith("stress: error:") and text in r.stderr, r.stderr
        assert not list(tmp_path.rglob("report.html"))


def test_cli_writes_the_report(tmp_path, reports):
    out = tmp_path / "sub" / "mine.html"
    r = _stress("report", str(reports["partial"].parent), "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert f"report: {out.resolve()}" in r.stdout
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- the browser


CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium package)")
@pytest.mark.parametrize("name", ["full", "partial"])
def test_renders_in_headless_chromium(reports, tmp_path, name):
    url = reports[name].resolve().as_uri()
    shot = tmp_path / "shot.png"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    r = subprocess.run([*common, f"--screenshot={shot}", "--window-size=1280,2400", url], capture_output=True, text=True, timeout=60)
    assert shot.exists() and shot.stat().st_size > 50_000, r.stderr[-2000:]
    keep = os.environ.get("STRESS_REPORT_SCREENSHOTS")
    if keep:  # to look at the page: STRESS_REPORT_SCREENSHOTS=/some/folder
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / f"report_{name}.png")
    r = subprocess.run(
        [*common, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", url], capture_output=True, text=True, timeout=60
    )
    dom = r.stdout
    for sid in SECTION_IDS:
        assert f'id="{sid}"' in dom, sid
    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert m, "the page's load check did not run"
    assert m.group(1) == m.group(2) and int(m.group(2)) >= (7 if name == "full" else 3), m.group(0)
    assert 'data-console-errors="0"' in dom
    # the page writes nothing to the console: any console line from it (console.error, an uncaught error) is a failure
    page_errors = [line for line in r.stderr.splitlines() if "Uncaught" in line or ("CONSOLE" in line and (url in line or "error" in line.lower()))]
    assert not page_errors, page_errors
