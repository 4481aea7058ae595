"""Installing, configuring and starting Debian's Docker engine, each step reported as a change.

Used by ``ckslab kind-ready`` (cluster/engine.py) as root on Debian only. Every function that
changes the machine returns the sentence that says what it changed (None when nothing had to
change), so the caller can print exactly which file or process it touched. dockerd is configured
through /etc/docker/daemon.json ("runtimes" and "default-runtime" are documented daemon options,
both reloadable with SIGHUP: docs.docker.com/reference/cli/dockerd/#configuration-reload-behavior).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster import runc_capfilter
from cluster.errors import CkslabError

WRAPPER_SOURCE = Path(runc_capfilter.__file__)
#: The runtime name registered in daemon.json.
RUNTIME_NAME = "ckslab-runc"

#: Seconds for apt-get to install docker.io (18 s with `apt-get update` measured on this project's VMs).
APT_TIMEOUT = 900.0


@dataclass(frozen=True)
class Layout:
    """Where a dockerd keeps its configuration, pid, socket and log; defaults are the system's.

    A layout with a ``data_root`` is a private second engine: its own --data-root and --exec-root,
    no iptables rules, and its own network namespace (``unshare --net``) — dockerd started with
    ``--bridge none`` deletes the host's docker0, so it must never share the host's network. The
    tests start one to exercise kind-ready for real without touching the machine's engine.
    """

    #: The daemon configuration file (dockerd --config-file; default /etc/docker/daemon.json).
    daemon_json: Path = Path("/etc/docker/daemon.json")
    #: dockerd's pid file (dockerd --pidfile; default /var/run/docker.pid).
    pid_file: Path = Path("/var/run/docker.pid")
    #: The only address it listens on (dockerd --host): a unix socket, never TCP.
    socket: str = "unix:///var/run/docker.sock"
    #: Where a dockerd started without systemd writes its output (appended).
    log_file: Path = Path("/var/log/ckslab/dockerd.log")
    #: Where the runtime wrapper is installed (outside the checkout: dockerd runs it for every container).
    wrapper: Path = Path("/usr/local/libexec/ckslab/runc-capfilter")
    #: For a private engine: its --data-root (its --exec-root is ``data_root/exec``); None for the system's.
    data_root: Path | None = None

    def dockerd_args(self, dockerd: str, hosts_configured: bool) -> list[str]:
        """The command line that starts this layout's dockerd (``hosts_configured``: daemon.json has "hosts")."""
        args = [dockerd]
        if self.data_root is not None:
            args = ["unshare", "--net", dockerd, "--config-file", str(self.daemon_json),
                    "--pidfile", str(self.pid_file), "--data-root", str(self.data_root),
                    "--exec-root", str(self.data_root / "exec"), "--bridge", "none", "--iptables=false",
                    "--ip-masq=false"]
        if not hosts_configured:
            args += ["--host", self.socket]  # daemon.json's "hosts" would conflict with --host
        return args


SYSTEM = Layout()


class EngineSetupFailed(CkslabError):
    """A step that installs, configures or starts the engine failed."""


def missing_capabilities() -> list[str]:
    """The capabilities this kernel has that this process's bounding set lacks (/proc/self/status)."""
    status = Path("/proc/self/status").read_text()
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    return runc_capfilter.missing_from_bounding_set(runc_capfilter.bounding_set(status), last)


def is_debian() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def systemd_runs() -> bool:
    """Whether systemd is PID 1 (sd_booted(3): /run/systemd/system exists)."""
    return Path("/run/systemd/system").is_dir()


def dockerd_binary() -> str | None:
    return shutil.which("dockerd") or next((p for p in ("/usr/sbin/dockerd", "/usr/bin/dockerd")
                                            if os.access(p, os.X_OK)), None)


def install_docker_io() -> str:
    """``apt-get install docker.io`` (Debian's Docker engine, with containerd and runc)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends", "docker.io"]):
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=APT_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise EngineSetupFailed(f"`{' '.join(args)}` failed:\n{tail}",
                                    "Fix apt (network, sources) and run `make kind-ready` again.")
    return "installed Debian's docker.io with apt-get (dockerd, containerd, runc, docker client)"


def install_wrapper(layout: Layout = SYSTEM) -> str | None:
    """Copy cluster/runc_capfilter.py to the layout's wrapper (0755) unless it is there, identical."""
    source, wrapper = WRAPPER_SOURCE.read_bytes(), layout.wrapper
    if wrapper.exists() and wrapper.read_bytes() == source and os.access(wrapper, os.X_OK):
        return None
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    temporary = wrapper.with_name(wrapper.name + ".new")
    temporary.write_bytes(source)
    temporary.chmod(0o755)
    temporary.replace(wrapper)
    return f"installed the runtime wrapper {wrapper} (from cluster/{WRAPPER_SOURCE.name})"


def with_wrapper_runtime(config: dict[str, Any], wrapper: Path) -> dict[str, Any]:
    """``config`` (daemon.json's content) with ``wrapper`` registered as the default runtime."""
    runtimes = dict(config.get("runtimes") or {})
    runtimes[RUNTIME_NAME] = {"path": str(wrapper)}
    return {**config, "runtimes": runtimes, "default-runtime": RUNTIME_NAME}


def configure_daemon(layout: Layout = SYSTEM) -> str | None:
    """Register the wrapper as dockerd's default runtime in daemon.json; the change made, or None."""
    path = layout.daemon_json
    try:
        current: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as err:
        raise EngineSetupFailed(f"cannot read {path}: {err}.", f"Fix or remove {path}, then run `make kind-ready` "
                                "again.") from err
    if not isinstance(current, dict):
        raise EngineSetupFailed(f"{path} does not hold a JSON object.", f"Fix or remove {path}, then run "
                                "`make kind-ready` again.")
    wanted = with_wrapper_runtime(current, layout.wrapper)
    if wanted == current:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".ckslab-new")
    temporary.write_text(json.dumps(wanted, indent=2) + "\n")
    temporary.replace(path)
    was = current.get("default-runtime", "unset (runc)")
    return (f"changed {path}: added runtime {RUNTIME_NAME!r} ({layout.wrapper}) and set \"default-runtime\" to it "
            f"(was {was})")


def running_dockerd_pid(layout: Layout = SYSTEM) -> int | None:
    """The pid in dockerd's pid file when that process is alive."""
    try:
        pid = int(layout.pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def reload_dockerd(pid: int, layout: Layout = SYSTEM) -> str:
    """SIGHUP: dockerd rereads daemon.json (runtimes, default-runtime) without stopping containers."""
    os.kill(pid, signal.SIGHUP)
    return f"reloaded the running dockerd (pid {pid}) with SIGHUP so it reads {layout.daemon_json}"


def start_dockerd(layout: Layout = SYSTEM) -> tuple[str, subprocess.Popen[bytes] | None]:
    """Start dockerd: with systemctl where systemd runs, else as a daemon of its own.

    The daemon listens on its unix socket only, logs to LOG_FILE and is in a session of its own,
    so it outlives ``make kind-ready``. Returns the change and the process (None under systemd).
    """
    if systemd_runs() and layout == SYSTEM:
        done = subprocess.run(["systemctl", "start", "docker"], capture_output=True, text=True, timeout=120,
                              check=False)
        if done.returncode != 0:
            raise EngineSetupFailed(f"`systemctl start docker` failed: {done.stderr.strip()}",
                                    "See `journalctl -u docker`.")
        return "started the docker service (systemctl start docker)", None
    dockerd = dockerd_binary()
    if dockerd is None:
        raise EngineSetupFailed("dockerd is not installed.", "Run `apt-get install docker.io`.")
    args = layout.dockerd_args(dockerd, "hosts" in _daemon_json(layout.daemon_json))
    layout.log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(layout.log_file, "ab") as log:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, close_fds=True)
    return f"started {' '.join(args)} (pid {process.pid}), log {layout.log_file}", process


def _daemon_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
