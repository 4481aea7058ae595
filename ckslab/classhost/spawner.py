"""JupyterHub's side of a class: the roster's authenticator and the spawner that starts a learner's cluster.

``ClassSpawner`` is JupyterHub's ``LocalProcessSpawner`` (each server runs as its learner's Unix
user) whose ``start`` first brings the learner's local control plane up, as that user, and whose
``stop`` stops it keeping its data. ``RosterAuthenticator`` checks the passwords ``class up``
generated (scrypt hashes, ``hub/passwords.json``); at a learner's login it brings back a control
plane that died while their server kept running.
"""

from __future__ import annotations

import asyncio
import json
import pwd
import sys
from typing import Any

from jupyterhub.auth import Authenticator
from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from tornado import web

from ckslab.classhost import accounts, layout, learnerenv

#: Seconds a learner's control plane gets to come up (about 4 s, up to a minute on a busy 2-core server).
CONTROL_PLANE_TIMEOUT = 150.0
#: Control planes start one at a time (about 4 s each). A class logs in together: three planes
#: starting at once on 2 cores missed the preflight's 30 s, and two starting in the same instant can
#: pick the same preferred port, where the controller manager's health probe (a self-signed
#: certificate, no CA to check) may be answered by the other learner's.
STARTS = asyncio.Semaphore(1)


async def control_plane(name: str, action: str, log: Any) -> tuple[int, str]:
    """Run ``python -m ckslab.classhost.learner ACTION`` as learner ``name``; (exit code, its line)."""
    if action == "stop":
        return await _run_as(name, action, log)
    async with STARTS:
        return await _run_as(name, action, log)


async def _run_as(name: str, action: str, log: Any) -> tuple[int, str]:
    where = layout.class_paths()
    home = layout.learner_home(name)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ckslab.classhost.learner", action,
        env=learnerenv.environment(where, home), cwd=str(home.home),
        preexec_fn=set_user_setuid(name), start_new_session=True,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), CONTROL_PLANE_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        return 1, f"the control plane did not come up within {CONTROL_PLANE_TIMEOUT:.0f}s"
    lines = output.decode(errors="replace").strip().splitlines()
    line = lines[-1] if lines else ""
    log.info("control plane of %s, %s: %s", name, action, line)
    return proc.returncode or 0, line


class ClassSpawner(LocalProcessSpawner):  # type: ignore[misc]
    """A learner's JupyterLab, as their Unix user, started after their control plane."""

    async def start(self) -> Any:
        name = self.user.name
        if name == layout.INSTRUCTOR:
            raise web.HTTPError(400, "The instructor has no server of their own: the scoreboard is at "
                                     f"/services/{layout.SCOREBOARD}/ and the learners at /hub/admin.")
        code, line = await control_plane(name, "up", self.log)
        if code != 0:
            raise web.HTTPError(500, f"{name}'s control plane did not start: {line}")
        return await super().start()

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        await control_plane(self.user.name, "stop", self.log)

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        env.update(learnerenv.environment(layout.class_paths(), layout.learner_home(self.user.name)))
        return env

    def get_args(self) -> list[str]:
        args: list[str] = super().get_args()
        return args + learnerenv.singleuser_args(layout.learner_home(self.user.name))


class RosterAuthenticator(Authenticator):  # type: ignore[misc]
    """The logins ``class up`` made: the roster's learners and the instructor, by password."""

    async def authenticate(self, handler: Any, data: dict[str, str]) -> str | None:
        name = (data.get("username") or "").strip()
        try:
            stored = json.loads(layout.class_paths().passwords.read_text())
        except (OSError, ValueError):
            self.log.error("cannot read the class's password hashes")
            return None
        if name not in stored or not accounts.check_password(data.get("password") or "", stored[name]):
            return None
        if name != layout.INSTRUCTOR:
            asyncio.ensure_future(self._revive(name))
        return name

    async def _revive(self, name: str) -> None:
        """A running server whose control plane died: start the plane again (its data kept)."""
        try:
            home = layout.learner_home(name)
        except KeyError:
            return
        if not (home.lab.state_file.exists() and _owns(home)):
            return  # never started: the spawner's start brings it up
        await control_plane(name, "up", self.log)


def _owns(home: layout.LearnerHome) -> bool:
    """The learner's ckslab root is theirs (never run anything on a root someone else made)."""
    try:
        return home.root.stat().st_uid == home.uid == pwd.getpwnam(home.name).pw_uid
    except (OSError, KeyError):
        return False
