"""``ckslab jupyter``: its command line and environment, and the real JupyterLab it starts.

The browser test opens the learner's notebook in Debian's ``chromium`` driven by Playwright (never
a browser Playwright downloads) and keeps a screenshot in ``test-artifacts/``. A whole learner's
session on a real cluster is ``tests/test_jupyter_session.py``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import websocket
from lab_server import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT, Lab, require_chromium

from ckslab import cli, jupyter
from cluster import paths
from cluster.process import log_tail
from cluster.waiting import wait_until
from labs import catalog

NOTEBOOK = "01-certificates-api.ipynb"
NOTEBOOK_TITLE = "Lab 1 — jane's certificate"
SCREENSHOT = ARTIFACTS / "jupyterlab-notebook.png"


def _flag(argv: list[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} given {len(values)} times in {argv}"
    return values[0]


# --- command(): no server needed ---------------------------------------------------------------

def test_command_listens_on_loopback_on_the_learners_side(lab_root: Path) -> None:
    argv, env = jupyter.command(9999, "t0ken")
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert _flag(argv, "ServerApp.ip") == "127.0.0.1"
    assert _flag(argv, "ServerApp.port") == "9999"
    assert _flag(argv, "ServerApp.port_retries") == "0"
    # The workspace, not the tracked notebooks/: autosave can never write into the checkout.
    assert _flag(argv, "ServerApp.root_dir") == str(lab_root / "workspace")
    assert env["PYTHONSTARTUP"] == str(paths.checkout() / "labs" / "startup.py")
    assert "--no-browser" in argv
    assert _flag(argv, "ServerApp.terminals_enabled") == "True"
    assert _flag(argv, "FileCheckpoints.checkpoint_dir") == str(lab_root / ".lab" / "jupyter-checkpoints")


def test_the_news_popup_is_turned_off_by_a_settings_override_shipped_with_ckslab() -> None:
    argv, _env = jupyter.command(None, None)
    settings = Path(_flag(argv, "LabApp.app_settings_dir"))
    assert settings == paths.checkout() / "ckslab" / "jupyterlab" / "settings"
    overrides = json.loads((settings / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}


def test_the_learner_gets_a_copy_of_every_lab_notebook(lab_root: Path) -> None:
    said: list[str] = []
    runs = jupyter.prepare_notebooks("alice", said.append)
    copies = sorted(p.relative_to(lab_root / "workspace").as_posix() for p in (lab_root / "workspace").glob("*/*.ipynb"))
    assert copies == sorted(f"{r.workspace.name}/{Path(r.lab.notebook).name}" for r in runs)
    labs = len(catalog.known())  # every lab, those for another backend too (their setup cell says so)
    assert "certificates-api-alice/01-certificates-api.ipynb" in copies and len(copies) == labs
    assert "node-certificates-alice/07-node-certificates.ipynb" in copies
    assert len(said) == labs
    assert jupyter.prepare_notebooks("alice", said.append) and len(said) == labs  # made once


def test_command_defaults_to_port_8888() -> None:
    argv, _env = jupyter.command(None, None)
    assert _flag(argv, "ServerApp.port") == "8888"


def test_command_environment_points_at_the_lab_cluster(lab_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv_bin = str(Path(sys.executable).parent)
    kubectl_dir = str(paths.kubernetes_bin_dir())
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", kubectl_dir, "/bin", venv_bin]))
    _argv, env = jupyter.command(None, "t0ken")
    assert env["PATH"].split(os.pathsep) == [str(jupyter.SHELL_BIN), kubectl_dir, venv_bin, "/usr/bin", "/bin"]
    assert env["KUBECONFIG"] == str(lab_root / ".lab" / "kubeconfig")
    assert env["CKSLAB_ROOT"] == str(lab_root)


def test_each_project_keeps_its_own_jupyterlab_layout(lab_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A learner found another checkout's tabs open: JupyterLab's layout file is per user, not per project."""
    monkeypatch.delenv("JUPYTERLAB_WORKSPACES_DIR", raising=False)
    _argv, env = jupyter.command(None, "t0ken")
    assert env["JUPYTERLAB_WORKSPACES_DIR"] == str(lab_root / ".lab" / "jupyterlab-workspaces")
    monkeypatch.setenv("JUPYTERLAB_WORKSPACES_DIR", "/somewhere/chosen")  # the user's choice stands
    assert jupyter.command(None, "t0ken")[1]["JUPYTERLAB_WORKSPACES_DIR"] == "/somewhere/chosen"


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


def test_in_a_class_jupyterlab_ckslab_jupyter_starts_no_other_and_says_where_the_notebook_is(lab_root: Path) -> None:
    """A learner of a class (JupyterHub gives their server's terminals JUPYTERHUB_USER) who types what a lab
    says, `make jupyter LAB=...`, is in the lab's JupyterLab already: one line, and no second server."""
    done = subprocess.run([sys.executable, "-m", "ckslab", "jupyter", "--lab", "csr-review"], capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "CKSLAB_ROOT": str(lab_root), "JUPYTERHUB_USER": "ann"})
    said = " ".join(done.stderr.split())
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert "this is your class's JupyterLab already" in said and \
        "Open csr-review/02-csr-review.ipynb in its file browser." in said, said
    assert not (lab_root / ".lab" / "jupyter.json").exists()


# --- a real JupyterLab --------------------------------------------------------------------------

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
        ws.send(json.dumps(["stdin", 'printf "seen:%s|%s|%s\\n" "$KUBECONFIG" "$(command -v kubectl)" "$PWD"\r']))
        # A terminal opened without a folder (File > New > Terminal) starts in the lab's workspace.
        workspace = tmp_path / "project" / "workspace" / "certificates-api"
        expected = f"seen:{tmp_path / 'project' / '.lab' / 'kubeconfig'}|{kubectl}|{workspace}"
        output = ""

        def printed() -> bool:
            nonlocal output
            output += _received(ws)
            return "seen:/" in output and "\n" in output.split("seen:/", 1)[1]

        wait_until(printed, 30, interval=0, what="the terminal's answer")
        assert expected in output, output
    finally:
        ws.close()
    code, left = lab.stop(signal.SIGINT)  # what Ctrl-C sends
    assert code == 0, log_tail(lab.log, 30)
    assert not left, f"still running after ckslab stopped: {left}"


def test_checkpoints_go_to_the_lab_folder_not_the_workspace(lab: Lab, tmp_path: Path) -> None:
    lab.wait_ready()
    request = urllib.request.Request(lab.url(f"/api/contents/certificates-api/{NOTEBOOK}/checkpoints"), method="POST")
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
        pass
    checkpoint = tmp_path / "project" / ".lab" / "jupyter-checkpoints" / NOTEBOOK.replace(".ipynb", "-checkpoint.ipynb")
    copy = tmp_path / "project" / "workspace" / "certificates-api" / NOTEBOOK
    assert checkpoint.read_bytes() == copy.read_bytes()
    assert not list((tmp_path / "project" / "workspace").rglob(".ipynb_checkpoints"))
    code, left = lab.stop()
    assert code == 0 and not left, log_tail(lab.log, 30)


#: Seconds to wait for JupyterLab's "Jupyter news" question, which comes a few seconds after load.
NEWS_WAIT = 8.0


@pytest.mark.browser
def test_the_learners_notebook_opens_in_chromium_without_the_news_question(lab: Lab, tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    tracked = {p: p.read_bytes() for p in (paths.checkout() / "notebooks").iterdir()}
    lab.wait_ready()
    with tempfile.TemporaryDirectory(prefix="ckslab-chromium-") as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 900})
        try:
            page = browser.new_page()
            page.goto(lab.url(f"/lab/tree/certificates-api/{NOTEBOOK}"), timeout=START_TIMEOUT * 1000)
            title = page.locator(".jp-RenderedMarkdown h1", has_text=NOTEBOOK_TITLE)
            expect(title).to_be_visible(timeout=START_TIMEOUT * 1000)
            expect(page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")).to_contain_text(NOTEBOOK)
            # JupyterLab shortens long names in the window title: "01-certifica… - JupyterLab".
            expect(page).to_have_title(re.compile(r"^01-certifica.* - JupyterLab$"))
            # The file browser is in the lab's workspace: the learner's files are one click away.
            expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text("certificates-api")
            # The kernel started and answered kernel_info: JupyterLab has written its language_info and
            # kernelspec into the notebook. Nothing the learner did: the tab carries no unsaved mark.
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
                timeout=START_TIMEOUT * 1000)
            time.sleep(NEWS_WAIT)
            assert page.locator(".Toastify__toast", has_text="Jupyter news").count() == 0
            tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=NOTEBOOK).first
            assert "jp-mod-dirty" not in (tab.get_attribute("class") or "").split(), \
                "the notebook opened as modified before the learner did anything"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    code, left = lab.stop()
    assert code == 0, log_tail(lab.log, 30)
    assert not left, f"still running after ckslab stopped: {left}"
    assert {p: p.read_bytes() for p in (paths.checkout() / "notebooks").iterdir()} == tracked
    copy = tmp_path / "project" / "workspace" / "certificates-api" / NOTEBOOK
    assert json.loads(copy.read_text())["metadata"]["ckslab"]["lab"] == "certificates-api"


def _terminal(lab: Lab) -> websocket.WebSocket:
    request = urllib.request.Request(lab.url("/api/terminals"), method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback
        name = json.load(resp)["name"]
    ws = websocket.create_connection(f"ws://127.0.0.1:{lab.port}/terminals/websocket/{name}?token={lab.token}",
                                     timeout=10)
    ws.send(json.dumps(["set_size", 50, 250]))
    return ws


def _received(ws: websocket.WebSocket) -> str:
    """The terminal's next stdout message; "" for another kind, or for 10 s of quiet (the socket's own
    timeout: a loaded machine starting ckslab is quiet that long; the caller's wait_until bounds the whole)."""
    try:
        kind, *data = json.loads(ws.recv())
    except websocket.WebSocketTimeoutException:
        return ""
    return "".join(data) if kind == "stdout" else ""


def _typed(ws: websocket.WebSocket, command: str, timeout: float = 60) -> str:
    """Type ``command`` in the terminal; what it printed, up to the exit code it ended with."""
    marker = os.urandom(4).hex()
    ws.send(json.dumps(["stdin", f'{command}; echo "{marker}-exit-$?"\r']))
    output = ""

    def done() -> bool:
        nonlocal output
        output += _received(ws)
        return re.search(rf"{marker}-exit-\d+", output.split(command, 1)[-1]) is not None

    wait_until(done, timeout, interval=0, what=f"the terminal's answer to {command!r}")
    return output.split(command, 1)[-1].replace("\r", "")


def test_what_the_notebooks_say_to_type_works_in_a_jupyterlab_terminal(lab: Lab, tmp_path: Path) -> None:
    """The notebooks' `make grade LAB=...` and `make jupyter LAB=...` work where a terminal starts.

    A terminal starts in workspace/<lab>/, which has no Makefile: make must run the project's. A
    second `make jupyter` gives this server's URL for the lab asked for instead of another server.
    """
    lab.wait_ready()
    ws = _terminal(lab)
    try:
        said = _typed(ws, "make list")
        assert "certificates-api" in said and "not started" in said, said
        assert re.search(r"-exit-0\n", said), said
        said = _typed(ws, "make grade LAB=csr-review")  # no cluster is up: ckslab's own message
        assert "No rule to make target" not in said and "no cluster" in said, said
        said = _typed(ws, "make jupyter LAB=jane-access", timeout=30)
        assert lab.url("/lab/tree/jane-access/03-jane-access.ipynb") in said, said
        assert re.search(r"-exit-0\n", said), said
        for noise in ("make[", "Entering directory", "Traceback"):
            assert noise not in said, said
        said = _typed(ws, "printf 'level=%s\\n' \"$MAKELEVEL\"; command -v ckslab")
        assert "level=\n" in said and f"{Path(sys.executable).parent}/ckslab\n" in said, said
    finally:
        ws.close()
    record = tmp_path / "project" / ".lab" / "jupyter.json"
    assert record.stat().st_mode & 0o777 == 0o600
    code, left = lab.stop()
    assert code == 0 and not left, log_tail(lab.log, 30)
    assert not record.exists()  # a stopped server is not found by the next `make jupyter`
