"""Ports reserved against concurrent ``up``s, and health checks that prove who answered.

No cluster: the registry is a temporary folder; the "components" are ``python -m http.server``
and ``sleep``, the foreign answer an HTTP server in this test process.
"""

from __future__ import annotations

import http.server
import os
import multiprocessing
import socket
import subprocess
import time
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from cluster import ports, process
from cluster.errors import ComponentFailed

WANTED = (("etcd", 2379), ("etcd_peer", 2380), ("apiserver", 6443), ("controller_manager", 10257),
          ("scheduler", 10259))


def owners(tmp_path: Path, n: int) -> list[Path]:
    made = [tmp_path / f"root{i}" / ".lab" / "local" for i in range(n)]
    for owner in made:
        owner.mkdir(parents=True)
    return made


def test_ten_concurrent_reservations_never_share_a_port(tmp_path: Path) -> None:
    registry = tmp_path / "run"
    clusters = owners(tmp_path, 10)
    with ThreadPoolExecutor(10) as pool:
        chosen = list(pool.map(lambda o: ports.reserve(o, WANTED, folder=registry), clusters))
    every = [port for c in chosen for port in c.values()]
    assert len(every) == len(set(every)) == 50


def _reserve_in_a_process(args: tuple[str, str]) -> list[int]:
    owner, registry = args
    return sorted(ports.reserve(Path(owner), WANTED, folder=Path(registry)).values())


def test_concurrent_reservations_from_processes_never_share_a_port(tmp_path: Path) -> None:
    """Separate `ckslab up` processes: the flock, not a lock in memory, keeps them apart."""
    registry = tmp_path / "run"
    clusters = owners(tmp_path, 6)
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        chosen = pool.map(_reserve_in_a_process, [(str(o), str(registry)) for o in clusters])
    every = [port for c in chosen for port in c]
    assert len(every) == len(set(every)) == 30


def test_a_reservation_lapses_when_its_cluster_is_gone(tmp_path: Path) -> None:
    registry = tmp_path / "run"
    first, second = owners(tmp_path, 2)
    held = ports.reserve(first, (("apiserver", 0),), folder=registry)["apiserver"]
    assert ports.reserve(second, (("apiserver", held),), folder=registry)["apiserver"] != held
    first.rmdir()  # `down` removed that cluster's folder
    assert ports.reserve(second, (("apiserver", held),), folder=registry)["apiserver"] == held


def test_release_frees_the_owners_ports(tmp_path: Path) -> None:
    registry = tmp_path / "run"
    first, second = owners(tmp_path, 2)
    held = ports.reserve(first, (("apiserver", 0),), folder=registry)["apiserver"]
    ports.release(first, folder=registry)
    assert ports.reserve(second, (("apiserver", held),), folder=registry)["apiserver"] == held


def test_a_reservation_of_a_dead_reserver_lives_while_its_components_run(tmp_path: Path) -> None:
    """After `up` exits its components hold the cluster: their ports stay reserved."""
    registry = tmp_path / "run"
    first, second = owners(tmp_path, 2)
    held = ports.reserve(first, (("apiserver", 0),), folder=registry)["apiserver"]
    data = (registry / "ports.json").read_text().replace(f'"pid": {__import__("os").getpid()}', '"pid": 999999999')
    (registry / "ports.json").write_text(data)
    component = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(first)])
    # Until the child has exec'd, its command line is this process's: wait for the one that names the cluster.
    cmdline = Path(f"/proc/{component.pid}/cmdline")
    deadline = time.monotonic() + 10
    while str(first).encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert ports.reserve(second, (("apiserver", held),), folder=registry)["apiserver"] != held
    finally:
        component.kill()
        component.wait()
    assert ports.reserve(second, (("apiserver", held),), folder=registry)["apiserver"] == held


# --- who listens -----------------------------------------------------------------------------


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def foreign() -> Iterator[int]:
    """A server of somebody else's answering 200 'ok' on a port; yields the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_listens_names_the_process_holding_the_socket(foreign: int) -> None:
    import os

    assert ports.listens(os.getpid(), foreign)
    other = subprocess.Popen(["sleep", "30"])
    try:
        assert not ports.listens(other.pid, foreign)
    finally:
        other.kill()
        other.wait()
    assert not ports.listens(os.getpid(), ports.pick(0, {0}))


def test_a_start_is_not_healthy_on_another_process_answer(foreign: int, tmp_path: Path) -> None:
    """The collision seen with six clusters at once: the health URL answered by someone else's
    process. Before the fix this start returned at once, 'healthy after 0.0s'."""
    started = process.Process(name="kube-scheduler", command=["sleep", "30"], log_file=tmp_path / "s.log",
                              health_url=f"http://127.0.0.1:{foreign}/healthz", health_text="ok",
                              start_timeout=1.5)
    with pytest.raises(ComponentFailed, match="did not become healthy"):
        started.start()
    assert started.pid is not None and not process.is_running(started.pid)


def test_a_start_is_healthy_when_its_own_process_answers(tmp_path: Path) -> None:
    port = ports.pick(0, {0})
    started = process.Process(name="web", command=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                                   str(port)], log_file=tmp_path / "w.log",
                              health_url=f"http://127.0.0.1:{port}/", start_timeout=20)
    pid = started.start()
    try:
        assert ports.listens(pid, port) and process.answers(pid, f"http://127.0.0.1:{port}/")
        assert not process.answers(pid + 100000, f"http://127.0.0.1:{port}/")
    finally:
        process.stop_pid(pid, "web")


def test_a_port_whose_server_just_closed_is_free_and_a_listened_one_is_not() -> None:
    """A server that closed its connections first leaves them in TIME_WAIT for a minute (`class down` then `class
    up` again, `make down` then `make up`): servers bind with SO_REUSEADDR and may listen there, so is_free says so."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    assert not ports.is_free(port)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server's side closes first: TIME_WAIT on the server's port
    client.recv(1)
    client.close()
    server.close()
    waiting = subprocess.run(["ss", "-Htan", "state", "time-wait", f"( sport = :{port} )"], capture_output=True,
                             text=True, check=False)
    assert waiting.returncode != 0 or waiting.stdout.strip(), "no connection in TIME_WAIT: the test proves nothing"
    assert ports.is_free(port)


def test_a_socket_bound_but_not_listening_is_not_a_listener() -> None:
    import os

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        assert not ports.listens(os.getpid(), sock.getsockname()[1])
        sock.listen()
        assert ports.listens(os.getpid(), sock.getsockname()[1])


def test_the_registry_is_in_the_home_when_the_cache_is_not_this_users(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A hosted class's learners share a cache root owns: their reservations go to their own home."""
    shared = tmp_path / "class-cache"
    shared.mkdir()
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("CKSLAB_CACHE", str(shared))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ports.registry_dir() == shared / "run"
    real_access = os.access
    monkeypatch.setattr(ports.os, "access",
                        lambda p, mode: False if Path(p) == shared else real_access(p, mode))
    assert ports.registry_dir() == tmp_path / "home" / ".cache" / "ckslab" / "run"
