"""Run provenance (stress.runtime.provenance): versions, the source's git revision, devices."""

from __future__ import annotations

import shutil
import subprocess
from importlib import metadata

import jax
import pytest

from stress import runtime

KEYS = (
    "stress_version", "git_commit", "jax_version", "jaxlib_version", "jax_backend", "platform",
    "device_kind", "device_count", "local_device_count", "x64", "workers",
)


def test_provenance_records_versions_and_devices():
    prov = runtime.provenance()
    assert set(KEYS) <= set(prov)
    assert prov["stress_version"] == metadata.version("stress")
    assert prov["jax_version"] == jax.__version__ and prov["jaxlib_version"] == metadata.version("jaxlib")
    assert prov["jax_backend"] == jax.default_backend() == prov["platform"] == "cpu"  # conftest runs on the CPU
    assert prov["device_kind"] == jax.devices()[0].device_kind
    assert prov["local_device_count"] == jax.local_device_count() >= 1
    assert prov["x64"] is True and prov["workers"] == 1


git = shutil.which("git")


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(repo), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.mark.skipif(git is None, reason="needs git")
def test_git_commit_clean_dirty_and_not_a_checkout(tmp_path):
    repo = tmp_path / "src"
    repo.mkdir()
    assert runtime.git_commit(repo) == "unknown"  # not a git checkout: no failure
    _git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "commit", "-qm", "one")
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert runtime.git_commit(repo) == sha
    (repo / "untracked.txt").write_text("not part of the source\n")
    assert runtime.git_commit(repo) == sha
    (repo / "a.py").write_text("x = 2\n")
    assert runtime.git_commit(repo) == sha + "+dirty"
    inner = repo / "site-packages"  # an installed copy inside another project's checkout
    inner.mkdir()
    assert runtime.git_commit(inner) == "unknown"


def test_git_commit_without_git(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on the PATH
    assert runtime.git_commit() == "unknown"


@pytest.mark.skipif(git is None, reason="needs git")
def test_git_commit_ignores_the_runs_git_settings(monkeypatch, tmp_path):
    """A config's hydra.job.env_set could set GIT_* variables: git must not run a hook from them."""
    marker = tmp_path / "ran"
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.fsmonitor")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", f"touch {marker}; false")
    runtime.git_commit()
    assert not marker.exists()
