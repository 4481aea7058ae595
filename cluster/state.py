"""The record of the running cluster in ``.lab/state.json``.

Written once a backend's ``up`` succeeded, read by every later command, removed by ``down``.
A file that cannot be read is reported as :class:`StateCorrupted` with the way out
(``make down`` always repairs it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cluster.errors import StateCorrupted
from cluster.paths import write_private

REPAIR_HINT = "Run `make down` to clean it up, then `make up`."


@dataclass
class ClusterState:
    """What ``up`` started: the backend, its version and API server, and per-backend details."""

    backend: str
    version: str
    server: str
    #: Backend-specific data (the local backend: ports and pids).
    details: dict[str, Any] = field(default_factory=dict)


def read(path: Path) -> ClusterState | None:
    """The state in ``path``; None when there is none; StateCorrupted when unreadable."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StateCorrupted(f"cannot read {path}: {err.strerror}.", REPAIR_HINT) from err
    try:
        data = json.loads(text)
        state = ClusterState(**data)
    except (ValueError, TypeError) as err:
        raise StateCorrupted(f"the lab state {path} is damaged ({err}).", REPAIR_HINT) from err
    if not all(isinstance(v, str) for v in (state.backend, state.version, state.server)) or not isinstance(
        state.details, dict
    ):
        raise StateCorrupted(f"the lab state {path} is damaged (unexpected field types).", REPAIR_HINT)
    return state


def write(path: Path, state: ClusterState) -> None:
    write_private(path, json.dumps(asdict(state), indent=2).encode())
