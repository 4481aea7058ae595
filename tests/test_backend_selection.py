"""Choosing a backend: what the engine answers decides ``auto``; a forced backend is obeyed or refused.

The engine is played by small fake `docker` scripts (tests/fake_engine.py); PATH holds nothing
else, so the host's own docker never answers in their place.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import backends, docker
from cluster.backends.existing import ExistingBackend
from cluster.backends.kind import KindBackend
from cluster.backends.local import LocalBackend
from cluster.errors import BackendUnavailable, UsageError
from cluster.paths import LabPaths
from fake_engine import DAEMON_DOWN, calls, use_engine, write_engine


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def install(engine: str | None) -> Path:
        return use_engine(monkeypatch, tmp_path, engine)
    return install


@pytest.mark.parametrize("engine, reason", [
    (None, "Docker is not installed (no `docker` or `podman` on PATH)"),
    ("stopped", "Docker is installed but its engine does not answer: Cannot connect to the Docker daemon at "
                "unix:///var/run/docker.sock"),
    ("no caps", "Docker 28.2.2 answers but cannot run kind's privileged node containers: docker: Error response "
                "from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable "
                "to start container process: unable to apply caps: operation not permitted: unknown"),
])
def test_auto_falls_back_to_local_and_says_why(fake_docker, tmp_path: Path, engine: str | None, reason: str) -> None:
    fake_docker(engine)
    backend, why = backends.select("auto", LabPaths(tmp_path))
    assert isinstance(backend, LocalBackend)
    assert why == f"auto chose local (no Docker needed): {reason}"


def test_auto_picks_kind_when_docker_can_run_it(fake_docker, tmp_path: Path) -> None:
    fake_docker("usable")
    backend, why = backends.select("auto", LabPaths(tmp_path))
    assert isinstance(backend, KindBackend)
    assert why == "auto chose kind: Docker 28.2.2 runs privileged containers; the node image docker.io/kindest/node:v1.37.0 is present"


def test_the_check_never_pulls_and_says_the_image_is_absent(fake_docker) -> None:
    fake = fake_docker("usable without image")
    found = docker.check()
    assert found.usable and found.image_present is False and found.provider == "docker"
    assert found.reason.endswith("the node image docker.io/kindest/node:v1.37.0 is not present (not pulled by this check)")
    assert not [call for call in calls(fake) if call.startswith("pull")]
    assert [call.split()[0] for call in calls(fake)] == ["version", "import", "run", "rmi", "image"]


def test_the_privileged_probe_leaves_no_image_behind(fake_docker) -> None:
    fake = fake_docker("usable")
    docker.check()
    made = [call.split()[-1] for call in calls(fake) if call.startswith("import")]
    removed = [call.split()[-1] for call in calls(fake) if call.startswith("rmi")]
    assert len(made) == 1 and made == removed and made[0].startswith("ckslab-engine-probe:")
    run = next(call for call in calls(fake) if call.startswith("run"))
    assert "--privileged" in run.split() and run.endswith(made[0])


def test_a_stopped_engine_is_one_sentence_with_the_fix(fake_docker) -> None:
    fake_docker("stopped")
    found = docker.check()
    assert found.stopped and not found.usable and "\n" not in found.reason
    assert "template:" not in found.reason and DAEMON_DOWN.split(".")[0] in found.reason
    assert found.fix == "Start it: `make kind-ready` (or `sudo systemctl start docker`)."


def test_no_permission_on_the_socket_says_how_to_get_it(fake_docker) -> None:
    fake_docker("denied")
    found = docker.check()
    assert "permission denied while trying to connect" in found.reason and "usermod -aG docker" in found.fix


def test_the_hosts_docker_is_never_found_when_the_fake_is_absent(fake_docker) -> None:
    fake_docker(None)  # Debian's /usr/bin/docker, if installed, must stay out of reach
    assert docker.engine_command() is None
    assert docker.check().reason == "Docker is not installed (no `docker` or `podman` on PATH)"


def test_podman_is_used_where_docker_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    podman = use_engine(monkeypatch, tmp_path, "usable", name="podman")
    found = docker.check()
    assert found.usable and found.provider == "podman" and found.command == str(podman)
    assert found.reason.startswith("Podman 4.3.1 runs privileged containers")
    assert calls(podman)[0] == "info --format {{.Version.Version}}"


def test_podman_stands_in_for_a_docker_that_does_not_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_client = use_engine(monkeypatch, tmp_path, "stopped")
    podman = write_engine(docker_client.parent, "usable", name="podman")
    found = docker.check()
    assert found.usable and found.provider == "podman" and found.command == str(podman)
    write_engine(docker_client.parent, "stopped", name="podman")
    found = docker.check()  # neither answers: the reason is Docker's
    assert not found.usable and found.provider == "docker" and found.stopped


def test_a_docker_that_answers_is_never_replaced_by_podman(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_client = use_engine(monkeypatch, tmp_path, "no caps")
    podman = write_engine(docker_client.parent, "usable", name="podman")
    found = docker.check()
    assert not found.usable and found.provider == "docker" and "unable to apply caps" in found.reason
    assert calls(podman) == []


def test_ckslab_engine_forces_the_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_engine(monkeypatch, tmp_path, "stopped")
    forced = write_engine(tmp_path / "elsewhere", "usable")
    monkeypatch.setenv("CKSLAB_ENGINE", str(forced))
    assert docker.check().usable
    monkeypatch.setenv("CKSLAB_ENGINE", str(tmp_path / "absent"))
    assert docker.check().reason == f"CKSLAB_ENGINE={tmp_path / 'absent'} is not a program"


@pytest.mark.parametrize("stderr, line", [
    (DAEMON_DOWN, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"),
    ("docker: Error response from daemon: boom.\n\nRun 'docker run --help' for more information",
     "docker: Error response from daemon: boom"),
    ("warning: something\nlast words.\n", "last words"),
    ("", "no error message"),
    ('time="2026-11-30T07:55:35Z" level=error msg="finding config on system: CONTAINERS_CONF file: stat '
     '/x.conf: no such file or directory"', "finding config on system: CONTAINERS_CONF file: stat /x.conf: no such "
     "file or directory"),
])
def test_what_is_wrong_picks_the_line_that_says_it(stderr: str, line: str) -> None:
    assert docker.what_is_wrong(stderr) == line


@pytest.mark.parametrize("engine", ["usable", "stopped"])
def test_forced_local_ignores_docker(fake_docker, tmp_path: Path, engine: str) -> None:
    fake_docker(engine)
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


@pytest.mark.parametrize("engine, message", [
    (None, "ckslab: error: BACKEND=kind cannot run here: Docker is not installed (no `docker` or `podman` on PATH). "
           "Run `make kind-ready`"),
    ("stopped", "ckslab: error: BACKEND=kind cannot run here: Docker is installed but its engine does not answer: "
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Start it: `make kind-ready` "
                "(or `sudo systemctl start docker`). Or use `make up BACKEND=local`, which needs no Docker."),
])
def test_up_kind_without_an_engine_is_one_line_and_leaves_nothing(tmp_path: Path, engine: str | None,
                                                                  message: str) -> None:
    folder = tmp_path / "bin"
    if engine is not None:
        write_engine(folder, engine)
    folder.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("BACKEND", "CKSLAB_ENGINE", "DOCKER_HOST")}
    env |= {"CKSLAB_ROOT": str(tmp_path), "PATH": str(folder), "COLUMNS": "1000"}
    result = subprocess.run([sys.executable, "-m", "ckslab", "up", "--backend", "kind"], capture_output=True,
                            text=True, env=env, timeout=60, check=False)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert not (tmp_path / ".lab" / "state.json").exists() and not (tmp_path / ".lab" / "kubeconfig").exists()


def test_existing_backend_never_deletes_anything(tmp_path: Path) -> None:
    lab = LabPaths(tmp_path)
    assert ExistingBackend(lab).down(lambda _m: None) is False


def test_an_image_that_cannot_be_pulled_is_said_once(fake_docker, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """`make up` on kind without a registry: the pull's error is one line, not repeated by the image line."""
    from types import SimpleNamespace

    from cluster.backends import kind
    from cluster.nodeimage import build as nodeimage

    monkeypatch.setenv("CKSLAB_CACHE", str(tmp_path / "cache"))
    fake_docker("usable without image")
    kind.detected_engine.cache_clear()
    monkeypatch.setattr(nodeimage, "ensure", lambda progress, client: SimpleNamespace(reference="ckslab/node:v1.37.0"))
    said: list[str] = []
    image, local, why = kind.choose_image(said.append)
    assert (image, local) == ("ckslab/node:v1.37.0", True)
    shown = "\n".join([*said, f"node image {image}: {why}"])
    assert shown.count("no such host") == 1, shown
    assert shown.count("cannot be pulled") == 1, shown


def test_a_refused_pull_is_remembered_for_an_hour_not_retried_by_every_up(fake_docker, monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    from types import SimpleNamespace

    from cluster.backends import kind
    from cluster.nodeimage import build as nodeimage
    from fake_engine import calls

    monkeypatch.setenv("CKSLAB_CACHE", str(tmp_path / "cache"))
    fake = fake_docker("usable without image")
    kind.detected_engine.cache_clear()
    monkeypatch.setattr(nodeimage, "ensure", lambda progress, client: SimpleNamespace(reference="ckslab/node:v1.37.0"))
    pulls = lambda: [c for c in calls(fake) if c.startswith("pull ")]  # noqa: E731
    kind.choose_image(lambda _m: None)
    assert len(pulls()) == 1
    said: list[str] = []
    image, local, _why = kind.choose_image(said.append)  # the next `up`, minutes later
    assert (image, local) == ("ckslab/node:v1.37.0", True) and len(pulls()) == 1, calls(fake)
    (line,) = said
    # Said in full at the refusal; the next `up` says only that it was refused, when, and when it is tried again.
    assert line.startswith("using the node image built here from the same release (the official one's pull was "
                           "refused 0 min ago; tried again after an hour, or now after `rm "), line
    assert "no such host" not in line and "daemon" not in line, line
    monkeypatch.setattr(kind, "PULL_REFUSAL_SECONDS", 0.0)  # the hour has passed
    kind.choose_image(lambda _m: None)
    assert len(pulls()) == 2
