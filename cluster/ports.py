"""TCP ports on 127.0.0.1: chosen free, reserved against concurrent ``up``s, proven to be ours.

Choosing a port by binding it and letting it go leaves a gap: two ``up``s at the same moment (a
class on one machine, an exam's second cluster) both find 10257 free, and the loser's health
check is answered by the winner's controller manager. Two guards close it:

- :func:`reserve` picks ports under an exclusive lock (flock) on a registry shared by every ckslab
  of this user (``ports.json`` in ``$XDG_RUNTIME_DIR/ckslab``, else in the cache folder): a port
  another live cluster reserved is never picked. A reservation belongs to a cluster's folder and
  lapses when that folder is gone, or when no process of the cluster and not the one that reserved
  it is alive (a reboot, a ``kill -9``).
- :func:`listens` asks the kernel which process listens on a port (``/proc/<pid>/net/tcp`` and
  ``tcp6``, then the socket inodes among ``/proc/<pid>/fd``), so a health check can prove it
  reached the process it started, whoever else (another user, another program) took the port.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Iterator, Sequence

from cluster import paths

#: TCP state LISTEN in /proc/net/tcp (include/net/tcp_states.h).
_TCP_LISTEN = "0A"


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on ``port`` now. With SO_REUSEADDR, as every server ckslab starts binds (Go's
    net.Listen, tornado, node): a closed server's connections in TIME_WAIT (a minute after `down`) do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick(preferred: int, avoid: set[int], host: str = "127.0.0.1") -> int:
    """``preferred`` when it is free and not in ``avoid``, else a free ephemeral port."""
    if preferred not in avoid and is_free(preferred, host):
        return preferred
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port


# --- the registry ---------------------------------------------------------------------------


def registry_dir() -> Path:
    """``$XDG_RUNTIME_DIR/ckslab`` (emptied at logout or reboot) when it exists, else ``<cache>/run``;
    ``~/.cache/ckslab/run`` when this user may not write there (a hosted class's learners share a
    cache that root owns)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "ckslab"
    shared = paths.cache_root() / "run"
    return shared if _may_write(shared) else Path.home() / ".cache" / "ckslab" / "run"


def _may_write(folder: Path) -> bool:
    """Whether this user can use ``folder``: write in it, or create it in its nearest existing parent."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.access(probe, os.W_OK | os.X_OK)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[Path]:
    """Hold the registry's lock (flock on ``ports.lock``); yield the registry file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "ports.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder / "ports.json"
    finally:
        os.close(fd)  # closing releases the lock


def _load(registry: Path) -> dict[int, dict[str, object]]:
    try:
        data = json.loads(registry.read_text())
        return {int(port): dict(entry) for port, entry in data.items() if isinstance(entry, dict)}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # none yet, or damaged: rebuilt from what is reserved next


def _save(registry: Path, entries: dict[int, dict[str, object]]) -> None:
    paths.write_private(registry, json.dumps({str(p): e for p, e in sorted(entries.items())}, indent=1).encode())


def _cmdlines() -> list[str]:
    """Every live process's command line, NULs as spaces."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return lines


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live(entries: dict[int, dict[str, object]]) -> dict[int, dict[str, object]]:
    """The reservations whose cluster still exists (its folder, and a process of it or its reserver)."""
    cmdlines: list[str] | None = None
    kept = {}
    for port, entry in entries.items():
        owner = str(entry.get("owner", ""))
        if not owner or not Path(owner).is_dir():
            continue
        if not _pid_alive(entry.get("pid")):
            cmdlines = _cmdlines() if cmdlines is None else cmdlines
            if not any(owner in line for line in cmdlines):
                continue
        kept[port] = entry
    return kept


def reserve(owner: Path, wanted: Sequence[tuple[str, int]], avoid: set[int] | None = None,
            folder: Path | None = None, host: str = "127.0.0.1") -> dict[str, int]:
    """Choose a free port for each ``(name, preferred)`` and reserve them for the cluster at ``owner``.

    Returns ``{name: port}``: ``preferred`` when it is free, not in ``avoid`` and not reserved by
    another live cluster, else (and for a ``preferred`` of 0) a free ephemeral port that is none of those. The owner's earlier
    reservations are replaced. ``folder`` is the registry's folder (default :func:`registry_dir`).
    """
    avoid = set(avoid or ())
    with _locked(folder or registry_dir()) as registry:
        entries = {p: e for p, e in _live(_load(registry)).items() if e.get("owner") != str(owner)}
        taken = avoid | set(entries)
        chosen: dict[str, int] = {}
        for name, preferred in wanted:
            free = preferred > 0 and preferred not in taken and is_free(preferred, host)
            port = preferred if free else _free_port(taken, host)
            chosen[name] = port
            taken.add(port)
            entries[port] = {"owner": str(owner), "pid": os.getpid(), "name": name}
        _save(registry, entries)
    return chosen


def _free_port(taken: set[int], host: str) -> int:
    while True:
        port = pick(0, taken | {0}, host)
        if port not in taken:
            return port


def release(owner: Path, folder: Path | None = None) -> None:
    """Drop the reservations of the cluster at ``owner`` (and any that lapsed)."""
    with _locked(folder or registry_dir()) as registry:
        entries = _load(registry)
        if entries:
            _save(registry, {p: e for p, e in _live(entries).items() if e.get("owner") != str(owner)})


# --- who listens ----------------------------------------------------------------------------


def listening_inodes(port: int, pid: int | str = "self") -> set[int]:
    """Inodes of the TCP sockets in LISTEN on ``port`` (any address, IPv4 or IPv6), as seen in
    ``pid``'s network namespace (``/proc/<pid>/net/tcp`` and ``tcp6``, proc(5))."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
            if len(fields) > 9 and fields[3] == _TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def listens(pid: int, port: int) -> bool:
    """True when process ``pid`` holds a socket listening on TCP ``port`` (False when it is gone)."""
    inodes = listening_inodes(port, pid)
    if not inodes:
        return False
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                return True
    return False
