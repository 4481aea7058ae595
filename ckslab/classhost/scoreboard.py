"""The instructor's scoreboard: a JupyterHub service behind the hub's OAuth, for admins only.

Run by the hub (``jupyterhub_config.py``'s ``services``). Only a login holding the custom scope
``custom:ckslab-scoreboard:read`` (the instructor's role) gets in; the hub itself refuses the OAuth
of learners, who hold no ``access:services`` scope. Every ``CKSLAB_SCOREBOARD_INTERVAL`` seconds,
and when the instructor presses "Grade now", it runs ``ckslab class grade`` (``grading.py``) in a
process of its own, then shows ``grades.json``; ``grades.csv`` and ``grades.json`` are the exports.
A grading under way when the scoreboard ends (the hub stopping it: SIGINT, then SIGTERM; or the hub
gone) is killed with its process group: ``class down`` leaves no grading behind.
"""

from __future__ import annotations

import asyncio
import html
import os
import signal
import sys
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

from ckslab.classhost import grading, layout

READ = "custom:ckslab-scoreboard:read"
LOCK = asyncio.Lock()
#: The grading under way, if any: killed with its process group when the scoreboard ends.
RUNNING: set[asyncio.subprocess.Process] = set()
NOTES = {"down": "control plane down: it restarts at their next login",
         "never started": "not logged in yet", "damaged": "control plane state damaged"}


async def grade_now() -> str:
    """Run one grading of the class (one at a time); '' or the reason it failed."""
    async with LOCK:
        # On Kubernetes the hub pod grades each learner in their own pod (kubeclass.py).
        command = (["-m", "ckslab.classhost.kubeclass", "grade"] if os.environ.get("CKSLAB_CLASS_NAMESPACE")
                   else ["-m", "ckslab", "class", "grade"])
        proc = await asyncio.create_subprocess_exec(sys.executable, *command,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE, start_new_session=True)
        RUNNING.add(proc)
        try:
            _, stderr = await proc.communicate()
        finally:
            RUNNING.discard(proc)
            if proc.returncode is None:
                _kill_group(proc.pid)
        return "" if proc.returncode == 0 else stderr.decode(errors="replace").strip()[-300:]


def _kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (a grading and what it started); gone already is fine."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Base(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    hub_scopes = {READ}


class Board(Base):
    @web.authenticated
    def get(self) -> None:
        self.write(page(grading.last(layout.class_paths()), self.xsrf_form_html(), self.application.settings["prefix"]))


class GradeNow(Base):
    @web.authenticated
    async def post(self) -> None:
        failed = await grade_now()
        if failed:
            raise web.HTTPError(500, f"grading failed: {failed}")
        self.redirect(self.application.settings["prefix"])


class Export(Base):
    @web.authenticated
    def get(self, kind: str) -> None:
        where = layout.class_paths()
        path = where.grades / f"grades.{kind}"
        self.set_header("Content-Type", "text/csv" if kind == "csv" else "application/json")
        self.set_header("Content-Disposition", f"attachment; filename=grades.{kind}")
        self.write(path.read_bytes() if path.exists() else b"")


def page(last: dict[str, Any], xsrf: str, prefix: str) -> str:
    """The scoreboard's HTML: one row a learner."""
    esc = html.escape
    body = []
    for g in last["learners"]:
        score = "-" if g["score"] is None else f"{g['score']}/{g['max_score']}"
        steps = " ".join(("✔" if ok else "✘") + esc(s) for s, ok in g["steps"].items())
        note = "; ".join(x for x in (NOTES.get(g["control_plane"], ""), g["error"]) if x)
        body.append(f"<tr><th class='name'>{esc(g['name'])}</th><td>{esc(g['lab'] or '-')}</td>"
                    f"<td class='score'>{score}</td><td>{esc(g['control_plane'])}</td><td>{steps}</td>"
                    f"<td class='note'>{esc(note)}</td></tr>")
    when = last["graded_at"] or "not yet"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30"><title>Class scoreboard</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: .4em .7em; }} .score {{ font-weight: bold; }} .note {{ color: #a04000; }}</style>
</head><body><h1>Class scoreboard</h1>
<p>Graded {esc(str(when))} in {last['seconds']}s; every learner's current lab is graded every minute.
<a href="{prefix}grades.csv">CSV</a> · <a href="{prefix}grades.json">JSON</a></p>
<form method="post" action="{prefix}grade">{xsrf}<button type="submit">Grade now</button></form>
<table id="grades"><thead><tr><th>learner</th><th>lab</th><th>score</th><th>control plane</th><th>steps</th><th>note</th></tr></thead>
<tbody>{''.join(body)}</tbody></table></body></html>
"""


async def every(interval: float) -> None:
    while True:
        await grade_now()
        await asyncio.sleep(interval)


async def orphaned() -> None:
    """Exit when the hub that started us is gone (a crashed hub's next start runs a new scoreboard)."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(2)


async def main() -> None:
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{layout.SCOREBOARD}/")
    app = web.Application([
        (prefix, Board),
        (url_path_join(prefix, "grade"), GradeNow),
        (url_path_join(prefix, r"grades\.(csv|json)"), Export),
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32), prefix=prefix)
    url = os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8090")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    app.listen(port, os.environ.get("CKSLAB_SCOREBOARD_BIND", "127.0.0.1"))
    task = asyncio.ensure_future(every(float(os.environ.get("CKSLAB_SCOREBOARD_INTERVAL", "60"))))
    # The hub stops a service with SIGINT, then SIGTERM: each cancels this task. SIGINT is handled here
    # rather than left to asyncio.run, which does not when the process started with it ignored (a hub
    # started from a script's background job passes that on), and the scoreboard would run on.
    this = asyncio.current_task()
    if this is not None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, this.cancel)
    try:
        await orphaned()
    finally:
        task.cancel()
        for proc in list(RUNNING):
            _kill_group(proc.pid)


def run() -> None:
    """Serve until the hub stops the scoreboard (SIGINT or SIGTERM) or is gone; a stop is no error."""
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass


if __name__ == "__main__":
    run()
