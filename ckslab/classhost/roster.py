"""The class roster: one learner a row, named by the Unix user they become (pure, no I/O but reading).

A learner's name is their JupyterHub login, their Unix user and the lab user their objects are
named after, so it must satisfy all three: lower-case letters, digits and ``-``, starting with a
letter, at most 32 characters (``useradd``'s portable rule, ``NAME_REGEX`` in adduser.conf, without
``_`` and ``.``, which Kubernetes object names and the labs' user names refuse).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from cluster.errors import UsageError

#: A learner's name: a Unix user name that is also a usable lab user (see the module docstring).
NAME_RULE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
#: Names a roster may not take: system accounts and the instructor's own login.
RESERVED = frozenset({"root", "admin", "daemon", "bin", "sys", "nobody", "instructor", "jupyterhub"})


@dataclass(frozen=True)
class Roster:
    """The learners of a class, in roster order."""

    names: tuple[str, ...]
    source: Path


def check_name(name: str, where: str) -> None:
    """UsageError naming ``where`` when ``name`` cannot be a learner's name."""
    if not NAME_RULE.match(name):
        raise UsageError(f"{where}: {name!r} is not a usable Unix user name.",
                         "Use lower-case letters, digits and '-', starting with a letter, at most 32 characters.")
    if name in RESERVED:
        raise UsageError(f"{where}: {name!r} is reserved (a system account or the instructor's login).",
                         "Give the learner another name.")


def read(path: Path) -> Roster:
    """The roster in ``path`` (a CSV with a ``name`` column); UsageError naming the bad line."""
    try:
        text = path.read_text()
    except OSError as err:
        raise UsageError(f"cannot read the roster {path}: {err.strerror}.",
                         "Give a CSV file with a header line `name` and one learner a line.") from err
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or "name" not in rows[0]:
        raise UsageError(f"the roster {path} needs a header line with a `name` column and one learner a line.",
                         "For example: name (then alice, bob, ...)")
    names: list[str] = []
    for number, row in enumerate(rows, start=2):
        name = (row.get("name") or "").strip()
        check_name(name, f"{path}, line {number}")
        if name in names:
            raise UsageError(f"{path}, line {number}: {name} is listed twice (first on line {names.index(name) + 2}).",
                             "List each learner once.")
        names.append(name)
    return Roster(tuple(names), path.resolve())
