"""One control-plane process: start it detached, wait until healthy, stop it for sure.

Modelled on controller-runtime's envtest ``process.State``: start races "healthy" against
"exited" against "timeout", a process that dies while starting fails fast with the tail of its
log, and stop sends SIGTERM, waits, then SIGKILL. Processes run in their own session so they
outlive the ``ckslab up`` that started them; stop works from any later command given the pid.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cluster import ports
from cluster.errors import ComponentFailed

#: Seconds a component may take to become healthy (the API server's first start, which
#: creates its bootstrap RBAC objects, takes ~5 s on 2 cores).
DEFAULT_START_TIMEOUT = 60.0
#: Seconds to wait after SIGTERM before SIGKILL.
DEFAULT_STOP_TIMEOUT = 10.0
#: Seconds between health probes.
POLL_INTERVAL = 0.1


@dataclass
class Process:
    """A component to run: its command, log file and health URL."""

    name: str
    command: list[str]
    log_file: Path
    health_url: str
    #: CA bundle that verifies the health endpoint's TLS certificate; None skips verification
    #: (the controller manager serves a self-signed certificate on 127.0.0.1).
    health_ca: Path | None = None
    #: Client certificate and key the health probe presents (etcd with --client-cert-auth);
    #: None presents none.
    health_client_cert: tuple[Path, Path] | None = None
    #: Text the health response must contain (empty: any 200 answer is healthy).
    health_text: str = ""
    start_timeout: float = DEFAULT_START_TIMEOUT
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None

    def start(self) -> int:
        """Launch the process and wait until it answers 200 at its health URL; return the pid.

        "It" is proven (:func:`answers`): another process answering on the same port, another
        cluster's started at the same moment, is never taken for this one.
        """
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"--- ckslab starting {self.name}: {' '.join(self.command)}\n".encode())
            log.flush()
            popen = subprocess.Popen(  # noqa: S603 - our own command line
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        self.pid = popen.pid
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = popen.poll()
            if code is not None:
                raise ComponentFailed(
                    f"{self.name} exited with code {code} while starting; the end of "
                    f"{self.log_file}:\n{log_tail(self.log_file)}",
                    hint="Fix the cause above, then run `make up` again.",
                )
            if answers(popen.pid, self.health_url, self.health_ca, self.health_text, self.health_client_cert):
                return popen.pid
            if time.monotonic() >= deadline:
                stop_pid(popen.pid, self.name)
                raise ComponentFailed(
                    f"{self.name} did not become healthy at {self.health_url} within "
                    f"{self.start_timeout:.0f}s; the end of {self.log_file}:\n{log_tail(self.log_file)}",
                    hint="Run `make down` and `make up` again; if it repeats, read the log above.",
                )
            time.sleep(POLL_INTERVAL)


def probe(url: str, ca_file: Path | None = None, text: str = "", timeout: float = 2.0,
          client_cert: tuple[Path, Path] | None = None) -> bool:
    """True when ``url`` answers HTTP 200 with a body containing ``text``.

    ``client_cert`` is a (certificate, key) pair presented in the TLS handshake.
    """
    context = None
    if url.startswith("https://"):
        try:
            if ca_file is None:
                context = ssl._create_unverified_context()  # noqa: S323 - loopback, self-signed
            else:
                context = ssl.create_default_context(cafile=str(ca_file))
            if client_cert is not None:
                context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
        except (OSError, ssl.SSLError):  # a CA or client file missing or unreadable: not healthy
            return False
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:  # noqa: S310
            return bool(resp.status == 200) and text in resp.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def answers(pid: int, url: str, ca_file: Path | None = None, text: str = "",
            client_cert: tuple[Path, Path] | None = None) -> bool:
    """True when process ``pid`` listens on ``url``'s port and ``url`` answers healthy (:func:`probe`).

    The listener is checked before and after the probe: while ``pid`` holds the listening socket no
    other process can, so the answer came from it.
    """
    port = urlsplit(url).port or (443 if url.startswith("https://") else 80)
    return (ports.listens(pid, port) and probe(url, ca_file, text, client_cert=client_cert)
            and ports.listens(pid, port))


def start_time(pid: int) -> dt.datetime | None:
    """When ``pid`` started, to 10 ms: its start in clock ticks after boot (proc(5) stat field 22).

    The boot time is now minus ``/proc/uptime`` (10 ms), not ``btime`` in /proc/stat (whole
    seconds), so that a start can be compared with a file's modification time.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat(5); fields[0] is field 3
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    seconds = time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


def is_running(pid: int, marker: str = "") -> bool:
    """True when ``pid`` is alive (not a zombie) and its command line contains ``marker``.

    The marker guards against a recycled pid: a stale state file must never make us signal
    somebody else's process.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return False
    return marker in cmdline


def stop_pid(pid: int, name: str, marker: str = "", timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds, then SIGKILL. Safe when already gone."""
    if pid <= 0:  # none recorded (os.waitpid(0) would reap any child of ours)
        return
    if not is_running(pid, marker):
        _reap(pid)
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not is_running(pid, marker):
                return
            time.sleep(0.05)
    raise ComponentFailed(f"{name} (pid {pid}) did not stop after SIGKILL")


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (tests start them)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def reap_children() -> None:
    """Collect the exit status of every child that ended (a long-lived parent's zombies)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def program_name(pid: int) -> str:
    """The base name of the program ``pid`` runs ('' when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return os.path.basename(fh.read().split(b"\0", 1)[0].decode(errors="replace"))
    except OSError:
        return ""


def processes_with(marker: str, programs: tuple[str, ...]) -> list[int]:
    """Pids of live ``programs`` whose command line contains ``marker`` (repairs lost state)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            pid = int(entry.name)
            if program_name(pid) in programs and is_running(pid, marker):
                pids.append(pid)
    return pids
