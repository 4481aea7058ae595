"""Choosing a backend: what Docker answers decides ``auto``; a forced backend is obeyed or refused.

Docker is played by small `docker` scripts on PATH that answer as a real engine would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cluster import backends, docker
from cluster.backends.existing import ExistingBackend
from cluster.backends.kind import KindBackend, kind_config
from cluster.backends.local import LocalBackend
from cluster.errors import BackendUnavailable, UsageError
from cluster.paths import LabPaths

ANSWERS = {
    "missing": None,
    "no engine": 'case "$1" in info) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1;; esac',
    "no caps": 'case "$1" in info) echo 28.2.2;; image) exit 0;; run) echo "docker: Error response from daemon: '
               'failed to create task: unable to apply caps: operation not permitted" >&2; exit 125;; esac',
    "no image": 'case "$1" in info) echo 28.2.2;; image) exit 1;; pull) echo "Error response from daemon: '
                'Get https://registry-1.docker.io/v2/: dial tcp: lookup registry-1.docker.io: no such host" >&2; exit 1;; esac',
    "usable": 'case "$1" in info) echo 28.2.2;; image) exit 0;; run) exit 0;; esac',
}


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def install(kind: str) -> None:
        bin_dir = tmp_path / f"bin-{kind.replace(' ', '-')}"
        bin_dir.mkdir()
        script = ANSWERS[kind]
        if script is not None:
            (bin_dir / "docker").write_text(f"#!/bin/sh\n{script}\n")
            (bin_dir / "docker").chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return install


@pytest.mark.parametrize("kind, reason", [
    ("missing", "Docker is not installed"),
    ("no engine", "does not answer: Cannot connect to the Docker daemon"),
    ("no caps", "cannot run kind's privileged node containers: docker: Error response from daemon: failed "
                "to create task: unable to apply caps"),
    ("no image", "cannot pull the node image kindest/node:v1.37.0"),
])
def test_auto_falls_back_to_local_and_says_why(fake_docker, tmp_path: Path, kind: str, reason: str) -> None:
    fake_docker(kind)
    backend, why = backends.select("auto", LabPaths(tmp_path))
    assert isinstance(backend, LocalBackend)
    assert why.startswith("auto chose local") and reason in why


def test_auto_picks_kind_when_docker_can_run_it(fake_docker, tmp_path: Path) -> None:
    fake_docker("usable")
    backend, why = backends.select("auto", LabPaths(tmp_path))
    assert isinstance(backend, KindBackend)
    assert "auto chose kind" in why and "Docker 28.2.2" in why


@pytest.mark.parametrize("kind", ["usable", "no engine"])
def test_forced_local_ignores_docker(fake_docker, tmp_path: Path, kind: str) -> None:
    fake_docker(kind)
    backend, why = backends.select("local", LabPaths(tmp_path))
    assert isinstance(backend, LocalBackend) and "BACKEND=local" in why


def test_forced_kind_without_usable_docker_is_refused(fake_docker, tmp_path: Path) -> None:
    fake_docker("no caps")
    with pytest.raises(BackendUnavailable) as info:
        backends.select("KIND", LabPaths(tmp_path))
    assert "BACKEND=kind cannot run here" in str(info.value) and "BACKEND=local" in info.value.hint


def test_unknown_backend_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        backends.select("minikube", LabPaths(tmp_path))
    assert "auto, kind, local, existing" in str(info.value)


def test_existing_needs_a_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(BackendUnavailable, match="KUBECONFIG"):
        backends.select("existing", LabPaths(tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(BackendUnavailable, match="does not exist"):
        backends.select("existing", LabPaths(tmp_path))


def test_kind_config_adds_workers_to_the_single_control_plane() -> None:
    assert [n["role"] for n in yaml.safe_load(kind_config(0))["nodes"]] == ["control-plane"]
    config = yaml.safe_load(kind_config(2))
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"


def test_up_kind_without_docker_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()  # no docker in it
    env = {**os.environ, "CKSLAB_ROOT": str(tmp_path), "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"}
    env = {k: v for k, v in env.items() if k != "BACKEND"}
    result = subprocess.run([sys.executable, "-m", "ckslab", "up", "--backend", "kind"], capture_output=True,
                            text=True, env=env, timeout=60, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("ckslab: error: BACKEND=kind cannot run here: Docker is not installed")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".lab" / "state.json").exists() and not (tmp_path / ".lab" / "kubeconfig").exists()


def test_docker_check_of_this_machine_gives_a_reason() -> None:
    found = docker.check()
    assert found.reason  # whatever the machine, the answer says why


def test_existing_backend_never_deletes_anything(tmp_path: Path) -> None:
    lab = LabPaths(tmp_path)
    assert ExistingBackend(lab).down(lambda _m: None) is False
