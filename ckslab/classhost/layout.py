"""Where a class keeps things, on the instructor's side and in each learner's home.

The class folder (``$CKSLAB_CLASS_DIR``, else ``.class/`` of the project root) is 0711: learners
may pass through it to the shared binaries (``cache/``, 0755) and nothing else; the hub's database,
cookie secret, password hashes and API token (``hub/``), the class CA (``tls/``) and the grades
(``grades/``) are 0700, the instructor's credentials file 0600. A learner's files live in their
home (0700): ``~/ckslab`` is their ckslab root (``.lab/`` with their cluster, ``workspace/``).
"""

from __future__ import annotations

import json
import os
import pwd
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cluster import paths
from cluster.errors import StateCorrupted

#: The instructor's JupyterHub login (an admin, with no server of their own).
INSTRUCTOR = "instructor"
#: The JupyterHub service that serves the scoreboard (its URL is /services/<this>/).
SCOREBOARD = "scoreboard"


def landing(handler: Any) -> str:
    """JupyterHub's ``default_url`` of a class: the scoreboard for the instructor, the spawn for a learner.

    Asked before the login too (the class's URL, ``/``): "" lets the hub log the visitor in and come
    back here, so the instructor lands on the scoreboard, not on a spawn they have no server for.
    """
    user = handler.current_user
    if user is None:
        return ""
    return f"/services/{SCOREBOARD}/" if user.name == INSTRUCTOR else "/hub/spawn"


@dataclass(frozen=True)
class ClassPaths:
    """The layout of one class folder."""

    base: Path

    @property
    def hub(self) -> Path:
        return self.base / "hub"

    @property
    def settings(self) -> Path:
        """What ``jupyterhub_config.py`` reads (written by ``class up``)."""
        return self.hub / "settings.json"

    @property
    def passwords(self) -> Path:
        """The learners' and the instructor's password hashes (the authenticator's)."""
        return self.hub / "passwords.json"

    @property
    def api_token(self) -> Path:
        """The token of the ``ckslab-class`` service: ckslab's own admin access to the hub's REST API."""
        return self.hub / "api_token"

    @property
    def hub_log(self) -> Path:
        return self.hub / "jupyterhub.log"

    @property
    def credentials(self) -> Path:
        """For the instructor only (0600): name, password, URL of every login."""
        return self.base / "credentials.csv"

    @property
    def state(self) -> Path:
        return self.base / "state.json"

    @property
    def tls(self) -> Path:
        return self.base / "tls"

    @property
    def cache(self) -> Path:
        """The binaries every learner runs (``CKSLAB_CACHE`` of their control plane)."""
        return self.base / "cache"

    @property
    def grades(self) -> Path:
        return self.base / "grades"


def class_paths() -> ClassPaths:
    """``$CKSLAB_CLASS_DIR``, else ``.class/`` in the project root."""
    given = os.environ.get("CKSLAB_CLASS_DIR")
    return ClassPaths(Path(given).resolve() if given else paths.project_root() / ".class")


@dataclass(frozen=True)
class LearnerHome:
    """One learner's Unix account and the ckslab root in their home."""

    name: str
    uid: int
    gid: int
    home: Path

    @property
    def root(self) -> Path:
        """Their ``CKSLAB_ROOT``: ``.lab/`` (their cluster) and ``workspace/`` (their files)."""
        return self.home / "ckslab"

    @property
    def lab(self) -> paths.LabPaths:
        return paths.LabPaths(self.root)


def learner_home(name: str) -> LearnerHome:
    """The Unix account ``name``; KeyError when there is none."""
    entry = pwd.getpwnam(name)
    return LearnerHome(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def has_account(name: str) -> bool:
    """A Unix account ``name`` exists (a roster's learner before ``class up`` made it has none)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass
class ClassState:
    """What ``class up`` started: where the hub listens, its pid, the learners."""

    url: str
    ip: str
    port: int
    pid: int
    learners: list[str]
    tls: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def read_state(where: ClassPaths) -> ClassState | None:
    """The class recorded in ``state.json``; None when there is none."""
    try:
        return ClassState(**json.loads(where.state.read_text()))
    except FileNotFoundError:
        return None
    except PermissionError as err:  # a learner's terminal: the class is the instructor's
        raise StateCorrupted(f"only the instructor can read the class state {where.state} (it is root's, 0600).",
                             "Run it as root (sudo); a learner's own lab is `ckslab status`.") from err
    except (OSError, ValueError, TypeError) as err:
        raise StateCorrupted(f"the class state {where.state} is damaged ({err}).",
                             "Run `ckslab class down` to clean it up, then `ckslab class up ROSTER.csv`.") from err


def write_state(where: ClassPaths, state: ClassState) -> None:
    paths.write_private(where.state, json.dumps(asdict(state), indent=2).encode())


def read_settings(where: ClassPaths) -> dict[str, Any]:
    """The settings ``class up`` wrote for ``jupyterhub_config.py``."""
    data: dict[str, Any] = json.loads(where.settings.read_text())
    return data
