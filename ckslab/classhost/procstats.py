"""What a set of processes weighs and burns, read from ``/proc`` (for ``ckslab bench``'s hosted class).

Memory is read from ``/proc/<pid>/smaps_rollup``: RSS counts every page a process maps, so the
pages a class shares (one Python, one set of Kubernetes binaries for every learner) are counted once
per process; PSS splits each shared page between the processes that map it, so PSS summed over
the machine is what it really holds, and what decides how many learners fit. CPU is read from
``/proc/<pid>/stat`` (utime, stime, and cutime, cstime: the children already waited for, so a grading
process that ran and exited between two samples still counts). The parsers take text and are pure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The processes of a learner's control plane (the rest of what runs as them is JupyterLab's).
CONTROL_PLANE = frozenset({"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"})


@dataclass(frozen=True)
class Stat:
    """The fields of ``/proc/<pid>/stat`` used here: parent pid and CPU time in clock ticks."""

    pid: int
    comm: str
    ppid: int
    ticks: int  # utime + stime + cutime + cstime


def parse_stat(text: str) -> Stat:
    """``/proc/<pid>/stat``'s line; ValueError when it is not one.

    ``comm`` is in parentheses and may itself hold spaces and ``)``, so the fields are split after
    the last ``)`` (proc(5): fields 4 ppid, 14-17 utime, stime, cutime, cstime).
    """
    head, sep, tail = text.rpartition(")")
    pid, open_paren, comm = head.partition("(")
    if not sep or not open_paren:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    fields = tail.split()  # fields[0] is field 3 (state)
    if len(fields) < 15:
        raise ValueError(f"a /proc/<pid>/stat line with {len(fields) + 2} fields, expected at least 17")
    return Stat(int(pid), comm, int(fields[1]), sum(int(f) for f in fields[11:15]))


def parse_smaps_rollup(text: str) -> tuple[int, int]:
    """(RSS, PSS) in kB from ``/proc/<pid>/smaps_rollup``; ValueError when either is missing."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            found[key] = int(rest.split()[0])
    if set(found) != {"Rss", "Pss"}:
        raise ValueError(f"no Rss and Pss lines in smaps_rollup (found {sorted(found)})")
    return found["Rss"], found["Pss"]


def descendants(root: int, parents: dict[int, int]) -> set[int]:
    """``root`` and every process below it, from a {pid: ppid} map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root] if root in parents else []
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:  # the process exited meanwhile
        return None


def stats() -> dict[int, Stat]:
    """Every live process's :class:`Stat`."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            text = _read(f"/proc/{entry}/stat")
            if text is not None:
                found[int(entry)] = parse_stat(text)
    return found


def owners(pids: set[int] | list[int]) -> dict[int, int]:
    """{pid: uid} of those of ``pids`` still alive."""
    found = {}
    for pid in pids:
        try:
            found[pid] = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` in kB; (0, 0) when it is gone."""
    text = _read(f"/proc/{pid}/smaps_rollup")
    return parse_smaps_rollup(text) if text else (0, 0)


def name_of(pid: int) -> str:
    """The program ``pid`` runs (argv[0]'s last part), or '' when it is gone."""
    text = _read(f"/proc/{pid}/cmdline")
    return os.path.basename(text.split("\0", 1)[0]) if text else ""


def ticks_per_second() -> int:
    return os.sysconf("SC_CLK_TCK")
