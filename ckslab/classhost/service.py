"""``class up`` and ``class down``: the ordered actions that start and stop a class, each undone on failure.

up: check (root, roster, port, TLS) → learners' accounts → shared binaries → passwords → the hub's
settings → the hub (which starts the proxy and the scoreboard). A hub found dead is started again
from the same settings and finds the learners' servers and clusters that kept running.
down: every learner's server through the REST API (the spawner stops their control plane, data
kept) → the hub → any process a learner left (kernels, terminals) → the state. Files stay.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Callable

from ckslab.classhost import accounts, grading, hub, layout, learnerenv, proxy, tls
from ckslab.classhost.layout import ClassPaths, ClassState
from ckslab.classhost.roster import Roster
from cluster import binaries, paths, ports, process
from cluster.errors import CkslabError

Progress = Callable[[str], None]
#: Seconds a learner's server gets to stop (JupyterLab's shutdown, then their control plane's).
STOP_TIMEOUT = 90.0
#: Stop requests sent to the hub at once by ``class down``.
STOP_WORKERS = 10
#: Seconds between two gradings of the whole class on the scoreboard.
GRADE_INTERVAL = 60


def _share_binaries(where: ClassPaths) -> None:
    """Hard links (or copies) of the cluster binaries where every learner can run them."""
    found = binaries.require(binaries.CLUSTER_BINARIES)
    for folder, names in learnerenv.SHARED_BINARIES.items():
        target = where.cache / folder
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            source, dest = found.path(name), target / name
            if dest.exists() and dest.stat().st_size == source.stat().st_size:
                continue
            dest.unlink(missing_ok=True)
            try:
                os.link(source, dest)
            except OSError:
                shutil.copy2(source, dest)
            dest.chmod(0o755)
    for entry in [where.cache, *where.cache.rglob("*")]:
        if entry.is_dir():
            entry.chmod(0o755)


def _check_readable_by_all(path: Path) -> None:
    """Learners run this ckslab and its Python: every folder above them (symbolic links followed) must be open."""
    for target in dict.fromkeys([path, path.resolve()]):
        for parent in [target, *target.parents]:
            if parent.exists() and not parent.stat().st_mode & (0o001 if parent.is_dir() else 0o005):
                raise CkslabError(f"learners cannot run {path}: {parent} is closed to other users.",
                                  "Make ckslab's environment from a Python every user can run, in a folder they can "
                                  "read (e.g. /opt/ckslab: make setup PYTHON=/usr/bin/python3).")


def up(roster: Roster, ip: str, port: int, cert: tuple[Path, Path] | None, progress: Progress) -> ClassState:
    """Start the class (or find it up, or start its hub again); the class state."""
    accounts.require_root()
    where = layout.class_paths()
    current = layout.read_state(where)
    if current is not None and current.details.get("kubernetes"):
        raise CkslabError(f"a class is already up on Kubernetes (namespace {current.details.get('namespace')}).",
                          "Run `ckslab class down` first, or add --kubernetes to update that class.")
    if current is not None:
        if sorted(current.learners) != sorted(roster.names):
            raise CkslabError(f"a class of {len(current.learners)} learners is already up at {current.url}, "
                              f"with another roster than {roster.source}.",
                              "Run `ckslab class down` first to change the roster.")
        if hub.is_running(current.pid) and hub.answers(where):
            current.details["already_up"] = True
            return current
        progress("the class's hub was not running: starting it again (learners' servers and clusters are found again)")
    elif not ports.is_free(port, ip):
        raise CkslabError(f"port {port} on {ip} is taken by another program.",
                          "Stop it, or give another port with --port N.")
    _check_readable_by_all(Path(sys.executable))
    _check_readable_by_all(Path(__file__))
    _check_readable_by_all(where.base.parent)
    for folder, mode in ((where.base, 0o711), (where.hub, 0o700), (where.grades, 0o700)):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(mode)
    made = []
    for name in roster.names:
        if accounts.ensure_user(name):
            made.append(name)
    if made:
        progress(f"made the Unix users {', '.join(made)} (homes 0700)")
    _share_binaries(where)
    chp = proxy.ensure(progress)
    passwords = _passwords(where, roster)
    settings = _settings(where, roster, ip, port, cert, chp, current)
    paths.write_private(where.settings, json.dumps(settings, indent=2).encode())
    scheme = "https" if settings.get("ssl_cert") else "http"
    shown = "127.0.0.1" if ip in ("0.0.0.0", "::") else ip  # noqa: S104
    url = f"{scheme}://{shown}:{port}/"
    _write_credentials(where, passwords, url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "PYTEST_"))}
    env["CKSLAB_CLASS_DIR"] = str(where.base)
    pid = hub.start(where, env)
    state = ClassState(url, ip, port, pid, list(roster.names), bool(settings.get("ssl_cert")),
                       {"restarted": current is not None, "made_users": made})
    layout.write_state(where, state)
    return state


def up_kubernetes(roster: Roster, kubeconfig: str | None, progress: Progress) -> ClassState:
    """Deploy the class on a Kubernetes cluster (kubeclass.py); the class state. No root needed."""
    from ckslab.classhost import kubeclass

    where = layout.class_paths()
    current = layout.read_state(where)
    if current is not None and not current.details.get("kubernetes"):
        raise CkslabError(f"a class is already up on this server at {current.url}.",
                          "Run `ckslab class down` first, then `ckslab class up ROSTER.csv --kubernetes`.")
    if current is not None and sorted(current.learners) != sorted(roster.names):
        raise CkslabError(f"a class of {len(current.learners)} learners is already up on Kubernetes, with another "
                          f"roster than {roster.source}.", "Run `ckslab class down` first to change the roster.")
    for folder, mode in ((where.base, 0o711), (where.hub, 0o700), (where.grades, 0o700)):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(mode)
    passwords = _passwords(where, roster)
    target = kubeclass.Target(str(Path(kubeconfig).resolve()) if kubeconfig else None)
    state = kubeclass.up(where, list(roster.names), passwords, target, progress)
    state.details["restarted"] = current is not None
    _write_credentials(where, passwords, state.url)
    layout.write_state(where, state)
    return state


def _passwords(where: ClassPaths, roster: Roster) -> dict[str, str]:
    """Everyone's password in clear (new ones for new logins; the hashes go to the hub)."""
    known: dict[str, str] = {}
    if where.credentials.exists():
        for row in csv.DictReader(where.credentials.read_text().splitlines()):
            known[row["name"]] = row["password"]
    clear = {n: known.get(n) or accounts.new_password() for n in (layout.INSTRUCTOR, *roster.names)}
    hashed = {n: accounts.hash_password(p) for n, p in clear.items()}
    paths.write_private(where.passwords, json.dumps(hashed, indent=2).encode())
    return clear


def _write_credentials(where: ClassPaths, passwords: dict[str, str], url: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "password", "url"])
    for name, password in passwords.items():
        writer.writerow([name, password, url])
    paths.write_private(where.credentials, buffer.getvalue().encode())


def _settings(where: ClassPaths, roster: Roster, ip: str, port: int, cert: tuple[Path, Path] | None,
              chp: Path, current: ClassState | None) -> dict[str, object]:
    """What jupyterhub_config.py reads; a restarted hub keeps its tokens and ports when they are free."""
    old: dict[str, object] = layout.read_settings(where) if current is not None and where.settings.exists() else {}
    taken = {port}

    def free(key: str, preferred: int) -> int:
        value = old.get(key)
        # A restarted hub must keep its port: the learners' running servers call its API there.
        chosen = value if isinstance(value, int) and ports.is_free(value) else ports.pick(preferred, taken)
        taken.add(chosen)
        return chosen

    settings: dict[str, object] = {
        "ip": ip, "port": port, "learners": list(roster.names),
        "hub_port": free("hub_port", 8081), "proxy_api_port": free("proxy_api_port", 8001),
        "scoreboard_port": free("scoreboard_port", 8090),
        "proxy": str(chp), "python": sys.executable,
        "api_token": old.get("api_token") or secrets.token_hex(32),
        "proxy_token": old.get("proxy_token") or secrets.token_hex(32),
        "interval": GRADE_INTERVAL,
    }
    if cert is not None:
        settings["ssl_cert"], settings["ssl_key"] = str(cert[0]), str(cert[1])
    elif ip != "127.0.0.1":
        crt, key, _ca = tls.class_certificate(where, ip)
        settings["ssl_cert"], settings["ssl_key"] = str(crt), str(key)
    return settings


def down(progress: Progress, delete_data: bool = False) -> tuple[ClassState | None, list[str]]:
    """Stop the class: (the state it had, the learners whose server was running). Files are kept, unless
    ``delete_data``: then each learner's Unix account is removed with its home (their files and cluster), on this
    server; on Kubernetes the namespace with their PVCs. The class folder (grades, credentials) stays."""
    where = layout.class_paths()
    current = layout.read_state(where)
    if current is None:
        return None, []
    if current.details.get("kubernetes"):
        from ckslab.classhost import kubeclass

        had = kubeclass.down(current, delete_data, progress)
        where.state.unlink(missing_ok=True)
        return current, had
    accounts.require_root()
    running: list[str] = []
    if hub.is_running(current.pid) and hub.answers(where):
        try:
            running = _stop_servers(where, current, progress, delete_data)
        except hub.HubError as err:  # whatever the hub says, the sweep below stops what is left
            progress(f"the hub did not stop every server ({err.message}): stopping what is left directly")
    progress("stopping JupyterHub, its proxy and the scoreboard")
    hub.stop(current.pid)
    _stop_leftover_proxy(where)
    known = [n for n in current.learners if layout.has_account(n)]
    for name, (plane, _lab) in grading.look(where, known, stop=True).items():  # as each learner, never as root
        if plane in ("damaged", "unknown"):
            progress(f"{name}'s control plane could not be stopped by its state ({plane}): its processes are")
    for name in known:
        _stop_learner(name, progress)
    where.state.unlink(missing_ok=True)
    if delete_data:
        for name in known:
            progress(f"removing {name}'s Unix account and home, with their files and cluster (--delete-data)")
            accounts.remove_user(name)
    return current, running


def _stop_servers(where: ClassPaths, current: ClassState, progress: Progress, delete_data: bool = False) -> list[str]:
    """Ask the hub to stop every learner's server (the spawner stops their control plane); who had one."""
    running = [user["name"] for user in hub.api(where, "GET", "/users")
               if user["name"] in current.learners and (user.get("servers") or {}).get("", None) is not None]
    kept = "their files are deleted next, --delete-data" if delete_data else "their files are kept"
    for name in running:
        progress(f"stopping {name}'s server and control plane ({kept})")
    if running:
        # Asked together (the hub stops servers concurrently): one after the other, each took up to the
        # hub's slow_stop_timeout (10 s) before its 202, so a class of 30 took minutes to stop.
        with concurrent.futures.ThreadPoolExecutor(min(STOP_WORKERS, len(running))) as pool:
            for _ in pool.map(lambda name: hub.api(where, "DELETE", f"/users/{name}/server", timeout=STOP_TIMEOUT),
                              running):
                pass
    deadline = time.monotonic() + STOP_TIMEOUT
    while running and time.monotonic() < deadline:
        users = {u["name"]: u for u in hub.api(where, "GET", "/users")}
        if not any((users.get(n, {}).get("servers") or {}).get("") for n in running):
            break
        time.sleep(0.5)
    return running


def _stop_leftover_proxy(where: ClassPaths) -> None:
    pid_file = where.hub / "jupyterhub-proxy.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    process.stop_pid(pid, "configurable-http-proxy", "configurable-http-proxy")
    pid_file.unlink(missing_ok=True)


def _stop_learner(name: str, progress: Progress) -> None:
    """Whatever still runs as a learner (kernels, a terminal's jobs, a control plane its state did not name):
    stopped by uid, data kept. Their control plane was stopped first as them (``grading.look``)."""
    try:
        home = layout.learner_home(name)
    except KeyError:
        return
    left = learner_processes(home.uid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while left and time.monotonic() < deadline:
            left = learner_processes(home.uid)
            time.sleep(0.1)


def learner_processes(uid: int) -> list[int]:
    """Pids of live processes running as ``uid`` (a learner's account runs nothing but the class)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid and process.is_running(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
