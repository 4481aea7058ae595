"""A real ``ckslab jupyter`` and Debian's Chromium, for the JupyterLab tests.

``Lab`` runs ``ckslab jupyter`` as a subprocess on a free port with a known token and stops it
as Ctrl-C would, reporting whatever it left running. Chromium is Debian's package (``make test``
installs it, ``make browser``), at ``$CKSLAB_CHROMIUM`` (default /usr/bin/chromium): Playwright
drives it and never downloads a browser of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ckslab import jupyter
from cluster import paths
from cluster.process import log_tail, probe
from cluster.waiting import wait_until

CHROMIUM = Path(os.environ.get("CKSLAB_CHROMIUM") or "/usr/bin/chromium")
# Without these, Chromium in a container tries the network, the GPU or its sandbox and hangs.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Screenshots of the browser tests, kept for a human to look at.
ARTIFACTS = paths.checkout() / "test-artifacts"
#: Seconds for JupyterLab to answer and for its first render (cold caches on 2 cores take ~20 s).
START_TIMEOUT = 90.0
#: Seconds ckslab gets to stop the server: its own SIGTERM-then-SIGKILL takes up to 10 s, and a margin. (The
#: CI runs that saw ckslab still running past it had started it with SIGINT ignored; ckslab now handles that.)
STOP_TIMEOUT = jupyter.STOP_TIMEOUT + 20


def require_chromium() -> None:
    """Fail (never skip) with the command that installs Chromium when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (as root on Debian it runs "
                    "`apt-get install chromium`), or set CKSLAB_CHROMIUM=/path/to/chromium", pytrace=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> dict[int, bytes]:
    """Every live descendant of ``pid`` with its command line (server, kernels, terminal shells)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, bytes] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found[child] = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        todo.extend(children.get(child, []))
    return found


def _alive(pid: int, cmdline: bytes) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        return state != b"Z" and Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline
    except (OSError, IndexError):
        return False


class Lab:
    """``ckslab jupyter`` running as a subprocess, on a free port with a known token."""

    def __init__(self, root: Path, project: Path | None = None, cache: Path | None = None) -> None:
        """Serve ``project`` (default root/project) with the binaries of ``cache`` (default root/cache)."""
        self.port = _free_port()
        self.token = os.urandom(16).hex()
        self.log = root / "jupyter.log"
        env = {**os.environ, "CKSLAB_ROOT": str(project or root / "project"),
               "CKSLAB_CACHE": str(cache or root / "cache"),
               # The user's JupyterLab settings, workspaces and runtime files stay untouched.
               "JUPYTER_CONFIG_DIR": str(root / "jupyter-config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(root / "user-settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(root / "lab-workspaces")}
        env.pop("CKSLAB_USER", None)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ckslab", "jupyter", "--port", str(self.port), "--token", self.token],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                # With SIGINT ignored, as a script's background job starts it (POSIX; CI was once run so, and
                # Ctrl-C then stopped nothing): `ckslab jupyter` must stop on SIGINT all the same.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # noqa: PLW1509

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}?token={self.token}"

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"ckslab jupyter exited with {self.proc.returncode}:\n{log_tail(self.log, 30)}")
            return probe(self.url("/api/status"))

        wait_until(ready, START_TIMEOUT, interval=0.25, what=f"JupyterLab on port {self.port}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> tuple[int, dict[int, bytes]]:
        """Stop ckslab (it stops the server); the exit code and whatever it left running."""
        before = _descendants(self.proc.pid)
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        # The server's kernels and terminals may take a moment to be reaped after it exits.
        left = {p: c for p, c in before.items() if _alive(p, c)}
        deadline = time.monotonic() + 5
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = {p: c for p, c in left.items() if _alive(p, c)}
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        return code, left
