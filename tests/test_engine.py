"""``ckslab kind-ready``: what it checks, what it changes, and that the engine it leaves really works.

Unit tests play the engine with fakes (tests/fake_engine.py) and give kind-ready a private layout
under tmp_path, so nothing of the host is read or written. The real tests (root, Debian's dockerd
installed — as on CI after `make kind-ready`) start a private second dockerd in its own network
namespace and drive kind-ready against it for real, and run privileged containers on the machine's
own engine. Elsewhere they skip with the reason; with CI=true they fail instead.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from conftest import cannot_run

from cluster import docker, dockerd, engine, podman
from cluster.engine import EngineNotReady, kind_ready
from fake_engine import calls, use_engine, write_engine


def private_layout(root: Path) -> dockerd.Layout:
    return dockerd.Layout(daemon_json=root / "daemon.json", pid_file=root / "docker.pid",
                          socket=f"unix://{root}/docker.sock", log_file=root / "dockerd.log",
                          wrapper=root / "libexec" / "runc-capfilter", data_root=root / "data")


def managed_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dockerd.Layout:
    """A private layout that kind-ready may manage (DOCKER_HOST names its socket); call after use_engine."""
    layout = private_layout(tmp_path / "d")
    monkeypatch.setenv("DOCKER_HOST", layout.socket)
    return layout


@pytest.fixture(autouse=True)
def inotify_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The inotify limit kind-ready reads, as a file of the test's (512: nothing to raise unless a test says)."""
    from cluster import engine

    limit = tmp_path / "max_user_instances"
    limit.write_text("512\n")
    monkeypatch.setattr(engine, "INOTIFY_INSTANCES", limit)
    return limit


def test_the_inotify_limit_is_raised_for_two_kind_clusters_as_root_and_named_otherwise(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inotify_limit: Path) -> None:
    use_engine(monkeypatch, tmp_path, "usable")
    inotify_limit.write_text("128\n")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    said: list[str] = []
    ready = kind_ready(said.append, managed_layout(tmp_path, monkeypatch))  # not root: said, not changed
    assert ready.changes == () and inotify_limit.read_text() == "128\n"
    assert any("sudo sysctl -w fs.inotify.max_user_instances=512" in line for line in said), said
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    ready = kind_ready(said.append, managed_layout(tmp_path, monkeypatch))
    assert inotify_limit.read_text() == "512\n"
    assert [c for c in ready.changes if c.startswith("raised fs.inotify.max_user_instances from 128 to 512")]


@pytest.fixture
def as_root_on_debian(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(dockerd, "is_debian", lambda: True)


def test_a_working_engine_is_left_alone_and_the_checks_are_named(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake = use_engine(monkeypatch, tmp_path, "usable")
    said: list[str] = []
    ready = kind_ready(said.append, managed_layout(tmp_path, monkeypatch))
    assert ready.check.usable and not ready.changed and ready.changes == ()
    assert said[0].endswith("1. does a container engine answer? 2. does it start a privileged container?")
    assert said[1].startswith("ok, nothing to change: Docker 28.2.2 runs privileged containers")
    assert not (tmp_path / "d").exists()
    assert [c.split()[0] for c in calls(fake)] == ["version", "import", "run", "rmi", "image"]


def test_not_root_gets_the_exact_command_and_nothing_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_engine(monkeypatch, tmp_path, "stopped")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(dockerd, "is_debian", lambda: True)
    monkeypatch.setattr(dockerd, "systemd_runs", lambda: False)
    with pytest.raises(EngineNotReady) as info:
        kind_ready(lambda _m: None, managed_layout(tmp_path, monkeypatch))
    assert info.value.message == ("Docker is installed but its engine does not answer: Cannot connect to the "
                                  "Docker daemon at unix:///var/run/docker.sock.")
    assert "`sudo .venv/bin/ckslab kind-ready`" in info.value.hint
    assert not (tmp_path / "d").exists()


def test_a_stopped_docker_service_under_systemd_is_started_with_systemctl(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    found = docker.EngineCheck(False, "Docker is installed but its engine does not answer: x", docker.START_FIX,
                               "docker", "/usr/bin/docker", stopped=True)
    monkeypatch.setattr(dockerd, "is_debian", lambda: True)
    monkeypatch.setattr(dockerd, "systemd_runs", lambda: True)
    monkeypatch.setattr(dockerd, "dockerd_binary", lambda: "/usr/sbin/dockerd")
    assert engine.manual_fix(found) == "Run `sudo systemctl start docker`, then `make kind-ready` again."


def test_elsewhere_than_debian_it_points_to_dockers_install_page(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    use_engine(monkeypatch, tmp_path, None)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(dockerd, "is_debian", lambda: False)
    with pytest.raises(EngineNotReady) as info:
        kind_ready(lambda _m: None, managed_layout(tmp_path, monkeypatch))
    assert info.value.message == "Docker is not installed (no `docker` or `podman` on PATH)."
    assert "https://docs.docker.com/engine/install/" in info.value.hint


@pytest.mark.parametrize("engine_name, hint", [("denied", "usermod -aG docker"), ("no caps", "")])
def test_podman_and_socket_permissions_are_not_repaired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         as_root_on_debian: None, engine_name: str, hint: str) -> None:
    use_engine(monkeypatch, tmp_path, engine_name, name="podman" if engine_name == "no caps" else "docker")
    with pytest.raises(EngineNotReady) as info:
        kind_ready(lambda _m: None, managed_layout(tmp_path, monkeypatch))
    assert hint in info.value.hint and not (tmp_path / "d").exists()
    assert "\n" not in info.value.message


def test_podman_gets_its_containers_conf_where_it_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           as_root_on_debian: None) -> None:
    use_engine(monkeypatch, tmp_path, "podman without conf", name="podman")
    conf = tmp_path / "containers.conf"
    monkeypatch.setenv("CONTAINERS_CONF", str(conf))
    monkeypatch.setattr(podman, "LIB_MODULES", tmp_path / "lib" / "modules")
    (tmp_path / "lib" / "modules").mkdir(parents=True)
    assert "error setting rlimit type 7" in docker.check().reason
    ready = kind_ready(lambda _m: None)
    assert ready.check.usable and ready.check.provider == "podman"
    assert ready.changes == (f"wrote {conf}: podman's default_ulimits within this host's hard limits, and "
                             'runtime = "runc"',)
    assert conf.read_text() == podman.wanted_settings()


def test_podman_gets_the_lib_modules_its_kind_nodes_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          as_root_on_debian: None) -> None:
    """A kernel without loadable modules has no /lib/modules; podman refuses to mount a missing path."""
    use_engine(monkeypatch, tmp_path, "podman without conf", name="podman")
    conf = tmp_path / "containers.conf"
    conf.write_text(podman.wanted_settings())
    monkeypatch.setenv("CONTAINERS_CONF", str(conf))
    modules = tmp_path / "lib" / "modules"
    monkeypatch.setattr(podman, "LIB_MODULES", modules)
    said: list[str] = []
    ready = kind_ready(said.append)
    assert ready.check.usable and modules.is_dir() and not list(modules.iterdir())
    assert ready.changes == (f"created {modules}, empty (this kernel has no loadable modules): kind's podman nodes "
                             "mount it, and podman refuses a missing mount source",)
    assert not [line for line in said if line.startswith("ok, nothing to change")]
    assert kind_ready(lambda _m: None).changes == ()  # twice: nothing more to do
    modules.rmdir()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(EngineNotReady) as info:
        kind_ready(lambda _m: None)
    assert info.value.hint == f"Run `sudo mkdir -p {modules}`, then `make kind-ready` again."
    assert not modules.exists()


def test_containers_conf_settings_are_within_the_hard_limits_and_valid_toml() -> None:
    import resource
    import tomllib

    settings = tomllib.loads(podman.wanted_settings())
    assert settings["engine"]["runtime"] == "runc"
    nofile = next(u for u in settings["containers"]["default_ulimits"] if u.startswith("nofile="))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert nofile == f"nofile={hard}:{hard}" or hard == resource.RLIM_INFINITY
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = 32768 if hard == resource.RLIM_INFINITY else min(hard, 32768)  # podman's own ceiling
    assert f"nproc={nproc}:{nproc}" in settings["containers"]["default_ulimits"]


def test_an_existing_containers_conf_is_never_rewritten(tmp_path: Path) -> None:
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nevents_logger = "file"\n')
    with pytest.raises(dockerd.EngineSetupFailed, match="exists without default_ulimits") as info:
        podman.configure(conf)
    assert "default_ulimits = [" in info.value.hint and conf.read_text() == '[engine]\nevents_logger = "file"\n'
    conf.write_text(podman.wanted_settings())
    assert podman.configure(conf) is None
    conf.write_text("[engine\n")
    with pytest.raises(dockerd.EngineSetupFailed, match="cannot read"):
        podman.configure(conf)


def test_another_docker_host_is_not_managed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            as_root_on_debian: None) -> None:
    use_engine(monkeypatch, tmp_path, "stopped")
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2376")
    with pytest.raises(EngineNotReady, match="DOCKER_HOST=tcp://10.0.0.1:2376 names an engine kind-ready does not"):
        kind_ready(lambda _m: None)


def test_an_engine_failing_for_another_reason_than_capabilities_is_not_touched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root_on_debian: None) -> None:
    use_engine(monkeypatch, tmp_path, "no caps")
    monkeypatch.setattr(dockerd, "missing_capabilities", lambda: [])
    monkeypatch.setattr(dockerd, "dockerd_binary", lambda: "/usr/sbin/dockerd")
    layout = managed_layout(tmp_path, monkeypatch)
    with pytest.raises(EngineNotReady, match="kind-ready knows no fix for this engine"):
        kind_ready(lambda _m: None, layout)
    assert not layout.daemon_json.exists() and not layout.wrapper.exists()


@pytest.mark.parametrize("lacks", [[], ["CAP_SYS_RESOURCE"]])
def test_an_engine_started_by_its_package_is_reloaded_not_started_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root_on_debian: None, lacks: list[str]) -> None:
    """Under systemd, installing docker.io starts dockerd before kind-ready has configured it."""
    fake = use_engine(monkeypatch, tmp_path, None)
    layout = managed_layout(tmp_path, monkeypatch)
    done: list[str] = []

    def install() -> str:
        write_engine(fake.parent, "usable")  # the package's service is up and answering
        return "installed docker.io"

    monkeypatch.setattr(dockerd, "dockerd_binary", lambda: None)
    monkeypatch.setattr(dockerd, "install_docker_io", install)
    monkeypatch.setattr(dockerd, "missing_capabilities", lambda: lacks)
    monkeypatch.setattr(dockerd, "running_dockerd_pid", lambda _layout: 4242)
    monkeypatch.setattr(dockerd, "reload_dockerd", lambda pid, _layout: done.append(f"reload {pid}") or "reloaded")
    monkeypatch.setattr(dockerd, "start_dockerd", lambda _layout: pytest.fail("started a second dockerd"))
    ready = kind_ready(lambda _m: None, layout)
    assert ready.check.usable
    if lacks:
        assert done == ["reload 4242"] and layout.wrapper.exists()
        installed, wrapper, configured, reloaded = ready.changes
        assert (installed, reloaded) == ("installed docker.io", "reloaded")
        assert wrapper == f"installed the runtime wrapper {layout.wrapper} (from cluster/runc_capfilter.py)"
        assert configured.startswith(f"changed {layout.daemon_json}: added runtime 'ckslab-runc'")
    else:
        assert done == [] and ready.changes == ("installed docker.io",) and not layout.daemon_json.exists()


def test_daemon_json_keeps_what_it_had_and_says_what_changed(tmp_path: Path) -> None:
    layout = private_layout(tmp_path)
    layout.daemon_json.write_text(json.dumps({"log-driver": "journald", "runtimes": {"nvidia": {"path": "nv"}},
                                              "default-runtime": "nvidia"}))
    said = dockerd.configure_daemon(layout)
    assert said == (f"changed {layout.daemon_json}: added runtime 'ckslab-runc' ({layout.wrapper}) and set "
                    "\"default-runtime\" to it (was nvidia)")
    assert json.loads(layout.daemon_json.read_text()) == {
        "log-driver": "journald", "default-runtime": "ckslab-runc",
        "runtimes": {"nvidia": {"path": "nv"}, "ckslab-runc": {"path": str(layout.wrapper)}}}
    assert dockerd.configure_daemon(layout) is None  # already so: nothing written, nothing said


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_an_unreadable_daemon_json_is_never_overwritten(tmp_path: Path, content: str) -> None:
    layout = private_layout(tmp_path)
    layout.daemon_json.write_text(content)
    with pytest.raises(dockerd.EngineSetupFailed, match=f"Fix or remove {layout.daemon_json}"):
        dockerd.configure_daemon(layout)
    assert layout.daemon_json.read_text() == content


def test_the_wrapper_is_installed_once_executable_and_identical(tmp_path: Path) -> None:
    layout = private_layout(tmp_path)
    assert dockerd.install_wrapper(layout) == f"installed the runtime wrapper {layout.wrapper} (from " \
                                              "cluster/runc_capfilter.py)"
    assert layout.wrapper.read_bytes() == dockerd.WRAPPER_SOURCE.read_bytes()
    assert layout.wrapper.stat().st_mode & 0o777 == 0o755
    assert layout.wrapper.read_text().startswith("#!/usr/bin/python3\n")
    assert dockerd.install_wrapper(layout) is None


def test_dockerd_listens_on_its_unix_socket_only_and_a_private_one_has_its_own_network() -> None:
    assert dockerd.SYSTEM.dockerd_args("/usr/sbin/dockerd", hosts_configured=False) == [
        "/usr/sbin/dockerd", "--host", "unix:///var/run/docker.sock"]
    assert dockerd.SYSTEM.dockerd_args("/usr/sbin/dockerd", hosts_configured=True) == ["/usr/sbin/dockerd"]
    private = private_layout(Path("/x")).dockerd_args("dockerd", hosts_configured=False)
    # `--bridge none` deletes the host's docker0: only ever inside a network namespace of its own
    assert private[:3] == ["unshare", "--net", "dockerd"] and "--bridge" in private
    assert [a for a in private if a.startswith(("tcp:", "fd:"))] == []


# --- for real ------------------------------------------------------------------------------------

def _cannot_run_for_real() -> str | None:
    if os.geteuid() != 0:
        return "needs root (a second dockerd)"
    if dockerd.dockerd_binary() is None or shutil.which("unshare") is None:
        return "needs Debian's dockerd and unshare (run `make kind-ready`)"
    if shutil.which("docker") is None:
        return "needs a docker client (run `make kind-ready`)"
    return None


@pytest.fixture
def private_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[dockerd.Layout]:
    """A layout for a second dockerd (short path: unix sockets are limited to 108 bytes); stopped after."""
    reason = _cannot_run_for_real()
    if reason:
        cannot_run(reason)
    root = Path(tempfile.mkdtemp(prefix="ckd-", dir="/tmp"))
    layout = private_layout(root)
    monkeypatch.setenv("DOCKER_HOST", layout.socket)
    # Docker's client only: a podman that works here (kind on podman) would answer for the stopped dockerd.
    monkeypatch.setenv("CKSLAB_ENGINE", str(shutil.which("docker")))
    try:
        yield layout
    finally:
        _stop(layout)
        subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False, timeout=120)


def _stop(layout: dockerd.Layout) -> None:
    pid = dockerd.running_dockerd_pid(layout)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    try:
        from cluster.waiting import wait_until
        wait_until(lambda: dockerd.running_dockerd_pid(layout) is None, 60, what="the private dockerd to stop")
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)


def _kind_ready_in_a_child(layout: dockerd.Layout) -> subprocess.CompletedProcess[str]:
    """kind_ready() in a process of its own, as `make kind-ready` runs it: what it starts must outlive it."""
    fields = json.dumps({name: str(value) for name, value in vars(layout).items()})
    code = ("import json, sys; from pathlib import Path; from cluster import dockerd, engine; "
            "f = {k: v if k == 'socket' else Path(v) for k, v in json.loads(sys.argv[1]).items()}; "
            "ready = engine.kind_ready(print, dockerd.Layout(**f)); print('CHANGES', len(ready.changes))")
    return subprocess.run([sys.executable, "-c", code, fields], capture_output=True, text=True, timeout=300,
                          check=False)


def test_kind_ready_configures_reloads_and_starts_a_real_dockerd(private_engine: dockerd.Layout) -> None:
    layout = private_engine
    lacks = dockerd.missing_capabilities()
    # 1. a dockerd as Debian installs it: an empty configuration, no wrapper
    layout.daemon_json.write_text("{}\n")
    _started, process = dockerd.start_dockerd(layout)
    engine._wait_for_engine(process, layout.log_file)
    before = docker.check()
    if lacks:
        assert not before.usable and "unable to apply caps" in before.reason, before.reason
        # 2. kind-ready registers the wrapper and reloads the running engine, saying so
        fixed = _kind_ready_in_a_child(layout)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert f"changed {layout.daemon_json}: added runtime" in fixed.stdout
        assert f"reloaded the running dockerd (pid {dockerd.running_dockerd_pid(layout)})" in fixed.stdout
        assert json.loads(layout.daemon_json.read_text())["default-runtime"] == "ckslab-runc"
        assert docker.check().usable
    else:
        assert before.usable, before.reason
    # 3. the engine stopped: kind-ready starts it, and it outlives kind-ready's process
    _stop(layout)
    assert not docker.check().usable
    restarted = _kind_ready_in_a_child(layout)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "started unshare --net" in restarted.stdout and f"log {layout.log_file}" in restarted.stdout
    after = docker.check()
    assert after.usable and after.reason.startswith("Docker "), after.reason
    pid = dockerd.running_dockerd_pid(layout)
    assert pid is not None and os.getsid(pid) == pid  # a session of its own: it outlived kind-ready's process
    for table in ("tcp", "tcp6"):  # its network namespace is its own: any listener there is dockerd's
        rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        assert [row for row in rows if row.split()[3] == "0A"] == [], f"dockerd listens on {table}"
    again = _kind_ready_in_a_child(layout)
    assert "ok, nothing to change" in again.stdout and "CHANGES 0" in again.stdout


def test_kind_ready_makes_the_real_podman_run_privileged_containers(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Podman 4.3 where it is installed (not on CI): its containers.conf written by kind-ready, for real."""
    client = shutil.which("podman")
    if client is None or os.geteuid() != 0:
        cannot_run("needs root and podman (`apt-get install podman`; .ci/run installs it)")
    monkeypatch.setenv("CKSLAB_ENGINE", client)
    (tmp_path / "containers.conf").write_text("")  # podman refuses a CONTAINERS_CONF that does not exist
    monkeypatch.setenv("CONTAINERS_CONF", str(tmp_path / "containers.conf"))
    monkeypatch.setattr(podman, "LIB_MODULES", tmp_path / "modules")
    (tmp_path / "modules").mkdir()
    before = docker.check()
    ready = kind_ready(lambda _m: None)
    assert ready.check.usable and ready.check.provider == "podman", ready.check.reason
    if not before.usable:
        assert ready.changes == (f"wrote {tmp_path / 'containers.conf'}: podman's default_ulimits within this "
                                 'host\'s hard limits, and runtime = "runc"',)


def _host_usr_image() -> bytes:
    """An image of symlinks into /usr (bind-mounted read-only at run time): the host's own programs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in ("bin", "sbin", "lib", "lib64"):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, f"usr/{name}"
            archive.addfile(link)
        for name in ("proc", "sys", "dev", "tmp", "usr"):
            folder = tarfile.TarInfo(name)
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(folder)
    return buffer.getvalue()


def test_the_machines_engine_runs_and_execs_privileged_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker run --privileged` and `docker exec --privileged` on this machine's engine, for real."""
    monkeypatch.delenv("CKSLAB_ENGINE", raising=False)
    found = docker.engine_command()
    if found is None or not docker.server_version(*found)[0]:
        cannot_run("no container engine answers here (run `make kind-ready`)")
    assert found is not None
    client = found[1]
    tag = f"ckslab-test-usr:{uuid.uuid4().hex[:8]}"
    name = tag.replace(":", "-")
    subprocess.run([client, "import", "-", tag], input=_host_usr_image(), check=True, capture_output=True,
                   timeout=60)
    try:
        run = subprocess.run([client, "run", "-d", "--name", name, "--privileged", "--network", "none",
                              "-v", "/usr:/usr:ro", tag, "sleep", "300"], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        shown = subprocess.run([client, "exec", "--privileged", name, "grep", "CapEff", "/proc/self/status"],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        effective = int(shown.stdout.split()[1], 16)
        assert effective >> 21 & 1, "CAP_SYS_ADMIN missing: the container is not privileged"
        for cap in dockerd.missing_capabilities():  # what the host lacks, the wrapper dropped
            number = dockerd.runc_capfilter.CAPABILITY_NUMBERS[cap.removeprefix("CAP_")]
            assert not effective >> number & 1
        assert subprocess.run([client, "run", "--rm", "--privileged", "--network", "none", "-v", "/usr:/usr:ro",
                               tag, "true"], capture_output=True, timeout=60).returncode == 0
    finally:
        subprocess.run([client, "rm", "-f", name], capture_output=True, timeout=60)
        subprocess.run([client, "rmi", "-f", tag], capture_output=True, timeout=60)
