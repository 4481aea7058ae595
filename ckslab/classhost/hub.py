"""The JupyterHub process of a class, and ckslab's client of its REST API.

The hub runs detached (its own session, log in ``hub/jupyterhub.log``); ckslab talks to it on its
internal address (``http://127.0.0.1:<hub_port>/hub/api``) with the ``ckslab-class`` service's
token, so it needs neither the public URL nor its TLS.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ckslab.classhost.layout import ClassPaths, read_settings
from cluster import process
from cluster.errors import CkslabError

CONFIG = Path(__file__).resolve().parent / "jupyterhub_config.py"
#: Seconds the hub gets to answer after it starts (its database, the proxy, the scoreboard service).
START_TIMEOUT = 60.0


class HubError(CkslabError):
    """The hub did not answer, or refused a request."""


def api(where: ClassPaths, method: str, path: str, timeout: float = 10.0) -> Any:
    """Call the hub's REST API; the decoded JSON (None for an empty body)."""
    settings = read_settings(where)
    request = urllib.request.Request(f"http://127.0.0.1:{settings['hub_port']}/hub/api{path}", method=method,
                                     headers={"Authorization": f"token {settings['api_token']}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  (our own hub)
            body = response.read()
    except urllib.error.HTTPError as err:
        raise HubError(f"the hub refused {method} {path}: HTTP {err.code}.") from err
    except OSError as err:
        raise HubError(f"the hub does not answer on 127.0.0.1:{settings['hub_port']} ({err}).",
                       "Run `ckslab class up ROSTER.csv` to start it again.") from err
    return json.loads(body) if body.strip() else None


def answers(where: ClassPaths) -> bool:
    try:
        api(where, "GET", "/", timeout=2.0)
    except (HubError, OSError, ValueError):
        return False
    return True


def routed(where: ClassPaths) -> bool:
    """True once the proxy routes the hub (its API may answer a moment before)."""
    settings = read_settings(where)
    request = urllib.request.Request(f"http://127.0.0.1:{settings['proxy_api_port']}/api/routes",
                                     headers={"Authorization": f"token {settings['proxy_token']}"})
    try:
        with urllib.request.urlopen(request, timeout=2.0) as response:  # noqa: S310  (our own proxy)
            routes = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return "/" in routes


def is_running(pid: int) -> bool:
    return process.is_running(pid, str(CONFIG))


def start(where: ClassPaths, env: dict[str, str]) -> int:
    """Start the hub and wait until its API answers; its pid. CkslabError with its log's tail."""
    log = open(where.hub_log, "ab")  # noqa: SIM115  (the hub keeps it)
    hub = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)],  # noqa: S603
                           cwd=where.hub, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise CkslabError(f"JupyterHub exited (code {hub.returncode}): {_last_error(where.hub_log)}",
                              f"Its log: {where.hub_log}.")
        if answers(where) and routed(where):
            return hub.pid
        time.sleep(0.3)
    stop(hub.pid)
    raise CkslabError(f"JupyterHub did not answer within {START_TIMEOUT:.0f}s: {_last_error(where.hub_log)}",
                      f"Its log: {where.hub_log}.")


def stop(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the hub (it stops its proxy and services), then SIGKILL its session."""
    if not is_running(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_running(pid):
        time.sleep(0.2)
    if is_running(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.stop_pid(pid, "jupyterhub", str(CONFIG))


def _last_error(log: Path) -> str:
    """The hub log's last error line (or its last line)."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines[-60:] if "[E " in line or "Error" in line or "error" in line]
    return (errors or lines or ["no log"])[-1].strip()[:300]
