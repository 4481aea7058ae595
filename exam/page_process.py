"""Finding, starting and stopping the exam's page server (``exam/page.py``) of a project.

The server records its pid, port and token in ``.lab/exam/page.json`` (0600: the token opens the
page and its terminal); ``running`` trusts that record only when the pid is a live ckslab and the
port answers with the token. ``ckslab exam start`` and ``resume`` start the page in the background
with ``launch`` (``ckslab exam page --until-down``: it stops by itself once the exam's attempt or
clusters are gone); ``ckslab exam down`` and ``abandon`` ``stop`` it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from cluster.errors import CkslabError
from cluster.paths import write_private
from cluster.waiting import WaitTimeout, wait_until
from exam.session import Session

#: Seconds a server started in the background gets to answer.
START_TIMEOUT = 20.0


def record_file(session: Session) -> Path:
    """``.lab/exam/page.json``: the running server's pid, port and token (0600)."""
    return session.dir / "page.json"


def url(port: int, token: str) -> str:
    return f"http://127.0.0.1:{port}/?token={token}"


def record(session: Session, port: int, token: str) -> None:
    """Record this process as the project's page server on ``port`` with ``token``."""
    write_private(record_file(session), json.dumps({"pid": os.getpid(), "port": port, "token": token}).encode())


def forget(session: Session) -> None:
    """Remove the record when it is this process's."""
    try:
        if json.loads(record_file(session).read_text()).get("pid") == os.getpid():
            record_file(session).unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _recorded(session: Session) -> tuple[int, int, str] | None:
    """(pid, port, token) of the recorded server when its process is a live ckslab, else None."""
    try:
        doc = json.loads(record_file(session).read_text())
        pid, port, token = int(doc["pid"]), int(doc["port"]), str(doc["token"])
        alive = b"ckslab" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (pid, port, token) if alive else None


def running(session: Session) -> str | None:
    """The URL of this project's exam page when its server runs and answers, else None."""
    found = _recorded(session)
    if found is None:
        return None
    _pid, port, token = found
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5):  # noqa: S310
            return url(port, token)
    except (OSError, urllib.error.URLError):
        return None


def launch(session: Session) -> str:
    """The URL of the exam's page, started in the background when it does not run; it stops with the exam.

    Its log is ``.lab/exam/page.log``; a CkslabError when it does not answer within START_TIMEOUT.
    """
    found = running(session)
    if found:
        return found
    log = session.dir / "page.log"
    env = {**os.environ, "CKSLAB_ROOT": str(session.project.root)}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ckslab", "exam", "page", "--until-down"],  # noqa: S603
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=session.project.root, start_new_session=True)

    def answered() -> str | None:
        if proc.poll() is not None:
            raise CkslabError(f"the exam's page exited with code {proc.returncode} (see {log}).",
                              "Start it yourself to see why: ckslab exam page")
        return running(session)

    try:
        return wait_until(answered, START_TIMEOUT, interval=0.2, what="the exam's page")
    except WaitTimeout as err:
        raise CkslabError(f"the exam's page did not answer within {START_TIMEOUT:.0f} s (see {log}).",
                          "Start it yourself: ckslab exam page") from err


def stop(session: Session) -> bool:
    """Stop the recorded exam page server (SIGTERM); whether one was running."""
    found = _recorded(session)
    if found is None:
        return False
    try:
        os.kill(found[0], signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True
