"""``ckslab jupyter``: JupyterLab on 127.0.0.1 for the lab notebooks, pointed at the lab's cluster.

JupyterLab opens on the learner's side: its root is ``workspace/``, where each lab's folder holds
the learner's own copy of the lab notebook (made here when missing, ``labs/learner_copy.py``) and
their files (``jane.key``, ``jane-csr.yaml``...), all visible and editable. The tracked
``notebooks/`` are outside its root, so autosave never writes into the checkout. The URL opens
the lab's notebook, so the file browser, and every terminal started from its launcher, is in the
lab's workspace.

Every notebook kernel and every JupyterLab terminal is a child of the server, so the server is
started with the environment a learner needs (``KUBECONFIG``, the pinned kubectl first on
``PATH``, then this environment's ``ckslab``, and ``PYTHONSTARTUP`` that hooks the lab into each
kernel, ``labs/startup.py``) and they inherit it. The token goes to the server through
``JUPYTER_TOKEN``, not its command line, which ``ps`` shows to every user of the machine.
JupyterLab's own defaults (no news popup, no update check) come from the settings overrides
shipped in ``ckslab/jupyterlab/settings/overrides.json``, JupyterLab's supported way to set them.

What the notebooks and ckslab's messages tell the learner to type works in those terminals:
``ckslab`` is on their ``PATH``, and so is ``ckslab/shell/make``, which runs the project's
Makefile (``make grade LAB=...``, ``make up``) from a folder that has none; make's own variables
(``MAKELEVEL``, ``MAKEFLAGS``) of the ``make jupyter`` that started the server are not passed on,
so a terminal's make is a first-level make ("make[1]: Entering directory" is gone).

One server per project: ``.lab/jupyter.json`` (0600: it holds the token) records the running one,
and a second ``ckslab jupyter`` (``make jupyter LAB=...``) prints that server's URL for the lab
asked for instead of starting another on the same workspace.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import labs
from cluster import paths, ports
from cluster.errors import CkslabError
from labs import catalog, engine, learner_copy

#: JupyterLab's usual port; a free one replaces it when it is taken.
DEFAULT_PORT = 8888
#: Seconds the server gets to shut its kernels and terminals down after SIGTERM, before SIGKILL.
STOP_TIMEOUT = 10.0
#: JupyterLab's application settings directory shipped with ckslab (its overrides.json).
APP_SETTINGS_DIR = Path(__file__).resolve().parent / "jupyterlab" / "settings"
#: Run by every kernel the server starts: the lab's hooks (labs/kernel.py), before any cell.
KERNEL_STARTUP = Path(labs.__file__).resolve().parent / "startup.py"
#: Holds ``make``, first on the PATH of terminals and kernels: the project's Makefile from any folder.
SHELL_BIN = Path(__file__).resolve().parent / "shell"
#: make's own variables, which a child of ``make jupyter`` inherits and must not pass on to terminals.
MAKE_VARIABLES = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR")


def checkpoint_dir() -> Path:
    """Where JupyterLab keeps the notebooks' checkpoints (must exist, or it falls back to /tmp)."""
    return paths.lab_paths().lab / "jupyter-checkpoints"


def workspaces_dir() -> Path:
    """``.lab/jupyterlab-workspaces``: this project's JupyterLab layouts (``JUPYTERLAB_WORKSPACES_DIR``)."""
    return paths.lab_paths().lab / "jupyterlab-workspaces"


def record_file() -> Path:
    """``.lab/jupyter.json``: the running server's pid, port and token (0600)."""
    return paths.lab_paths().lab / "jupyter.json"


def running_server() -> tuple[int, str] | None:
    """(port, token) of this project's JupyterLab when it runs and answers, else None.

    Read from ``record_file()``; it answers when its ``/api/status`` accepts the recorded token.
    """
    try:
        record = json.loads(record_file().read_text())
        pid, port, token = int(record["pid"]), int(record["port"]), str(record["token"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):  # noqa: S310
            return port, token
    except (OSError, urllib.error.URLError):
        return None


def _write_record(pid: int, port: int, token: str) -> None:
    path = record_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": pid, "port": port, "token": token}, f)


def _remove_record(pid: int) -> None:
    try:
        if json.loads(record_file().read_text()).get("pid") == pid:
            record_file().unlink()
    except (OSError, ValueError, AttributeError):
        pass


def root_dir() -> Path:
    """JupyterLab's root: the learners' side, ``workspace/`` of the project root."""
    return paths.lab_paths().workspace


def prepare_notebooks(user: str | None, progress: engine.Progress) -> list[engine.LabRun]:
    """Every lab's notebook copy for ``user`` (made when missing; a newer tracked one is offered)."""
    runs = [engine.prepare(lab_id, user) for lab_id in catalog.known()]
    for run in runs:
        engine.ensure_notebook(run, progress)
    return runs


def match_kernel(runs: list[engine.LabRun]) -> None:
    """Bring older notebook copies up to this environment's kernel (``learner_copy.match_kernel``).

    Only before the learner's JupyterLab starts: a copy changed under an open notebook makes its next
    save ask "File Changed".
    """
    for run in runs:
        learner_copy.match_kernel(run.notebook)


def command(port: int | None, token: str | None, user: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The ``jupyter lab`` command line and its environment (a random token when none is given)."""
    lab = paths.lab_paths()
    first = [str(SHELL_BIN), str(paths.kubernetes_bin_dir()), str(Path(sys.executable).parent)]
    rest = [d for d in os.environ.get("PATH", os.defpath).split(os.pathsep) if d and d not in first]
    env = {
        **{k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES},
        "KUBECONFIG": str(lab.kubeconfig),
        "PATH": os.pathsep.join(first + rest),
        "CKSLAB_ROOT": str(lab.root),
        "JUPYTER_TOKEN": token or secrets.token_urlsafe(24),
        "PYTHONSTARTUP": str(KERNEL_STARTUP),
    }
    if user:
        env["CKSLAB_USER"] = user
    # JupyterLab keeps its layout (open tabs, terminals) in ~/.jupyter/lab/workspaces/, one file for every
    # server of the user: a second checkout opened with the first one's tabs. Each project keeps its own,
    # unless the user chose a folder.
    env.setdefault("JUPYTERLAB_WORKSPACES_DIR", str(workspaces_dir()))
    # jupyter-server-terminals runs a login shell when its stdout is not a terminal (`make
    # jupyter | tee`, CI); Debian's /etc/profile then resets PATH and the pinned kubectl is lost.
    # Naming the shell turns that off, so every terminal keeps the environment above.
    shell = os.environ.get("SHELL") or shutil.which("bash") or "/bin/sh"
    argv = [
        sys.executable, "-m", "jupyterlab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port or DEFAULT_PORT}",
        "--ServerApp.port_retries=0",  # another port would not match the URL printed before
        f"--ServerApp.root_dir={root_dir()}",
        # Settings defaults (no news popup) from ckslab's overrides.json, not from flags.
        f"--LabApp.app_settings_dir={APP_SETTINGS_DIR}",
        # Checkpoints are runtime state: in .lab/, not as .ipynb_checkpoints/ in the checkout.
        f"--FileCheckpoints.checkpoint_dir={checkpoint_dir()}",
        "--no-browser",
        "--ServerApp.terminals_enabled=True",
        f"--ServerApp.terminado_settings=shell_command={shlex.quote(shell)}",
        # No calls out to PyPI or to the news feed: the lab works offline.
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
    ]
    if os.geteuid() == 0:
        argv.append("--ServerApp.allow_root=True")  # lab containers and CI run as root; Jupyter refuses by default
    return argv, env


def add_parser(subparsers: Any) -> None:
    """Register ``jupyter`` on the ``ckslab`` command line."""
    s = subparsers.add_parser("jupyter", help="start JupyterLab on 127.0.0.1 for the lab notebooks")
    s.add_argument("--port", type=int, help=f"port to listen on (default {DEFAULT_PORT}, or a free one if taken)")
    s.add_argument("--token", help="the token of the URL (default: a random one)")
    s.add_argument("--lab", default=catalog.known()[0] if catalog.known() else None,
                   help="the lab whose notebook the URL opens (default: the first)")
    s.add_argument("--user", help="the learner's user name (default: $CKSLAB_USER, else each lab's)")
    s.set_defaults(func=run)


def _opened(runs: list[engine.LabRun], lab_id: str | None) -> engine.LabRun | None:
    return next((r for r in runs if r.lab.id == lab_id), runs[0] if runs else None)


def _where(opened: engine.LabRun | None) -> str:
    """The URL path that opens ``opened``'s notebook (JupyterLab's home without one)."""
    if opened is None:
        return "/lab"
    return "/lab/tree/" + opened.notebook.path.relative_to(root_dir()).as_posix()


def in_a_class() -> bool:
    """Whether this runs in a JupyterLab that JupyterHub started (a class's, ``ckslab class``): the hub gives its
    servers, and so their terminals and kernels, ``JUPYTERHUB_USER``."""
    return bool(os.environ.get("JUPYTERHUB_USER"))


def run(args: argparse.Namespace) -> int:
    """Start JupyterLab, print its URL and wait; Ctrl-C or SIGTERM stops it and returns 0.

    When this project's JupyterLab already runs, print its URL for the lab asked for and return 0.
    """
    user = getattr(args, "user", None) or os.environ.get("CKSLAB_USER") or None
    runs = prepare_notebooks(user, lambda message: print(message, flush=True))
    if in_a_class():
        opened = _opened(runs, getattr(args, "lab", None))
        raise CkslabError("this is your class's JupyterLab already (JupyterHub started it): no other is needed.",
                          f"Open {opened.notebook.path.relative_to(root_dir())} in its file browser."
                          if opened is not None else "Open the lab's notebook in its file browser.")
    running = running_server()
    if running is not None:
        print(f"JupyterLab already runs for this project: http://127.0.0.1:{running[0]}"
              f"{_where(_opened(runs, getattr(args, 'lab', None)))}?token={running[1]}", flush=True)
        return 0
    match_kernel(runs)
    port = ports.pick(args.port or DEFAULT_PORT, set())
    token = args.token or secrets.token_urlsafe(24)
    argv, env = command(port, token, user)
    Path(env["JUPYTERLAB_WORKSPACES_DIR"]).mkdir(parents=True, exist_ok=True)
    checkpoint_dir().mkdir(parents=True, exist_ok=True)
    kubeconfig = paths.lab_paths().kubeconfig
    if not kubeconfig.exists():
        print(f"warning: no cluster is up ({kubeconfig} does not exist): run `make up` before the lab's cells.",
              file=sys.stderr, flush=True)
    opened = _opened(runs, getattr(args, "lab", None))
    print(f"JupyterLab: http://127.0.0.1:{port}{_where(opened)}?token={token}", flush=True)
    # Its own session: Ctrl-C reaches only us, and we stop the server without its y/n prompt. It
    # works in the lab's workspace: a terminal opened without a folder (File > New > Terminal)
    # starts in the server's working directory.
    cwd = opened.workspace if opened is not None else root_dir()
    cwd.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True, cwd=cwd)  # noqa: S603
    _write_record(server.pid, port, token)
    # SIGINT too: started from a script's background job (or anything that ignores it), Python leaves
    # Ctrl-C ignored, and the server would run on.
    previous = {sig: signal.signal(sig, signal.default_int_handler)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        code = server.wait()
    except KeyboardInterrupt:
        code = 0  # stopped on purpose
    finally:
        if server.poll() is None:
            _stop(server)
        _remove_record(server.pid)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code != 0:
        raise CkslabError(f"JupyterLab exited with code {code}.", "Its log above says why.")
    return 0


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server (it shuts its kernels and terminals down), then SIGKILL its session."""
    server.terminate()
    try:
        server.wait(STOP_TIMEOUT)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):  # a second Ctrl-C does not wait
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()
