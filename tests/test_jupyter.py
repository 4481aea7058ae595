"""``ckslab jupyter``: its command line and environment, and the real JupyterLab it starts.

The browser test opens the lab notebook in Debian's ``chromium`` driven by Playwright (never a
browser Playwright downloads) and keeps a screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import websocket

from ckslab import cli, jupyter
from cluster import paths
from cluster.process import log_tail, probe
from cluster.waiting import wait_until

NOTEBOOK = "01-certificates-api.ipynb"
NOTEBOOK_TITLE = "Lab 1 — jane's certificate"
CHROMIUM = Path("/usr/bin/chromium")
# Without these, Chromium in a container tries the network, the GPU or its sandbox and hangs.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = paths.checkout() / "test-artifacts" / "jupyterlab-notebook.png"
#: Seconds for JupyterLab to answer and for its first render (cold caches on 2 cores take ~20 s).
START_TIMEOUT = 90.0
#: Seconds ckslab gets to stop the server: its own SIGTERM-then-SIGKILL takes up to 10 s.
STOP_TIMEOUT = jupyter.STOP_TIMEOUT + 5


def _flag(argv: list[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} given {len(values)} times in {argv}"
    return values[0]


# --- command(): no server needed ---------------------------------------------------------------

def test_command_listens_on_loopback_in_the_notebooks_folder(lab_root: Path) -> None:
    argv, _env = jupyter.command(9999, "t0ken")
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert _flag(argv, "ServerApp.ip") == "127.0.0.1"
    assert _flag(argv, "ServerApp.port") == "9999"
    assert _flag(argv, "ServerApp.port_retries") == "0"
    assert _flag(argv, "ServerApp.root_dir") == str(paths.checkout() / "notebooks")
    assert "--no-browser" in argv
    assert _flag(argv, "ServerApp.terminals_enabled") == "True"
    assert _flag(argv, "FileCheckpoints.checkpoint_dir") == str(lab_root / ".lab" / "jupyter-checkpoints")


def test_command_defaults_to_port_8888() -> None:
    argv, _env = jupyter.command(None, None)
    assert _flag(argv, "ServerApp.port") == "8888"


def test_command_environment_points_at_the_lab_cluster(lab_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv_bin = str(Path(sys.executable).parent)
    kubectl_dir = str(paths.kubernetes_bin_dir())
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", kubectl_dir, "/bin", venv_bin]))
    _argv, env = jupyter.command(None, "t0ken")
    assert env["PATH"].split(os.pathsep) == [kubectl_dir, venv_bin, "/usr/bin", "/bin"]
    assert env["KUBECONFIG"] == str(lab_root / ".lab" / "kubeconfig")
    assert env["CKSLAB_ROOT"] == str(lab_root)


def test_command_passes_the_token_in_the_environment_not_the_command_line(lab_root: Path) -> None:
    argv, env = jupyter.command(None, "s3cret-t0ken")
    assert not [a for a in argv if "s3cret-t0ken" in a], "the token would show in `ps` for every user"
    assert not [a for a in argv if a.startswith(("--ServerApp.token", "--IdentityProvider.token"))]
    assert env["JUPYTER_TOKEN"] == "s3cret-t0ken"


def test_command_makes_a_random_token_when_none_is_given() -> None:
    tokens = {jupyter.command(None, None)[1]["JUPYTER_TOKEN"] for _ in range(3)}
    assert len(tokens) == 3 and all(len(t) >= 32 for t in tokens)


def test_command_names_the_terminal_shell_so_it_is_not_a_login_shell() -> None:
    # A login shell would read /etc/profile, which resets PATH on Debian.
    argv, _env = jupyter.command(None, None)
    assert _flag(argv, "ServerApp.terminado_settings").startswith("shell_command=")


def test_cli_registers_jupyter() -> None:
    args = cli.parser().parse_args(["jupyter", "--port", "9000", "--token", "abc"])
    assert (args.func, args.port, args.token) == (jupyter.run, 9000, "abc")


# --- a real JupyterLab --------------------------------------------------------------------------

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

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.token = os.urandom(16).hex()
        self.log = root / "jupyter.log"
        env = {**os.environ, "CKSLAB_ROOT": str(root / "project"), "CKSLAB_CACHE": str(root / "cache"),
               # The user's JupyterLab settings, workspaces and runtime files stay untouched.
               "JUPYTER_CONFIG_DIR": str(root / "jupyter-config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ckslab", "jupyter", "--port", str(self.port), "--token", self.token],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)

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


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    started = Lab(tmp_path)
    try:
        yield started
    finally:
        if started.proc.poll() is None:
            started.stop(signal.SIGKILL)


def test_terminal_sees_kubeconfig_and_runs_the_pinned_kubectl(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CKSLAB_CACHE", str(tmp_path / "cache"))  # as in the Lab's environment
    kubectl = paths.kubernetes_bin_dir() / "kubectl"
    kubectl.parent.mkdir(parents=True)
    kubectl.write_text("#!/bin/sh\necho pinned\n")
    kubectl.chmod(0o755)
    lab.wait_ready()
    request = urllib.request.Request(lab.url("/api/terminals"), method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback
        name = json.load(resp)["name"]
    ws = websocket.create_connection(f"ws://127.0.0.1:{lab.port}/terminals/websocket/{name}?token={lab.token}",
                                     timeout=10)
    try:
        ws.send(json.dumps(["set_size", 50, 250]))
        # Whatever the user's ~/.bashrc adds to PATH, `kubectl` must be the pinned one.
        ws.send(json.dumps(["stdin", 'printf "seen:%s|%s\\n" "$KUBECONFIG" "$(command -v kubectl)"\r']))
        expected = f"seen:{tmp_path / 'project' / '.lab' / 'kubeconfig'}|{kubectl}"
        output = ""

        def printed() -> bool:
            nonlocal output
            kind, *data = json.loads(ws.recv())
            output += "".join(data) if kind == "stdout" else ""
            return "seen:/" in output and "\n" in output.split("seen:/", 1)[1]

        wait_until(printed, 30, interval=0, what="the terminal's answer")
        assert expected in output, output
    finally:
        ws.close()
    code, left = lab.stop(signal.SIGINT)  # what Ctrl-C sends
    assert code == 0, log_tail(lab.log, 30)
    assert not left, f"still running after ckslab stopped: {left}"


def test_checkpoints_go_to_the_lab_folder_not_the_checkout(lab: Lab, tmp_path: Path) -> None:
    lab.wait_ready()
    request = urllib.request.Request(lab.url(f"/api/contents/{NOTEBOOK}/checkpoints"), method="POST")
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
        pass
    checkpoint = tmp_path / "project" / ".lab" / "jupyter-checkpoints" / NOTEBOOK.replace(".ipynb", "-checkpoint.ipynb")
    assert checkpoint.read_bytes() == (paths.checkout() / "notebooks" / NOTEBOOK).read_bytes()
    code, left = lab.stop()
    assert code == 0 and not left, log_tail(lab.log, 30)


@pytest.mark.browser
def test_notebook_opens_in_chromium(lab: Lab) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `apt-get install chromium` (Debian's package)", pytrace=False)
    from playwright.sync_api import expect, sync_playwright

    notebook = paths.checkout() / "notebooks" / NOTEBOOK
    stored, entries = notebook.read_bytes(), set(notebook.parent.iterdir())
    lab.wait_ready()
    with tempfile.TemporaryDirectory(prefix="ckslab-chromium-") as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 900})
        try:
            page = browser.new_page()
            page.goto(lab.url(f"/lab/tree/{NOTEBOOK}"), timeout=START_TIMEOUT * 1000)
            title = page.locator(".jp-RenderedMarkdown h1", has_text=NOTEBOOK_TITLE)
            expect(title).to_be_visible(timeout=START_TIMEOUT * 1000)
            expect(page.locator(".jp-MainAreaWidget .lm-TabBar-tab.lm-mod-current, "
                                "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")).to_contain_text(NOTEBOOK)
            # JupyterLab shortens long names in the window title: "01-certifica… - JupyterLab".
            expect(page).to_have_title(re.compile(r"^01-certifica.* - JupyterLab$"))
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    code, left = lab.stop()
    assert code == 0, log_tail(lab.log, 30)
    assert not left, f"still running after ckslab stopped: {left}"
    assert notebook.read_bytes() == stored, f"JupyterLab changed {notebook}"
    made = {p.name for p in set(notebook.parent.iterdir()) - entries if p.name.startswith(".")}
    assert not made, f"JupyterLab left {made} in notebooks/"  # (new notebooks are the authors')
