"""``ckslab exam page``: the exam's questions in a browser beside a terminal, as in the real CKS.

A small tornado server on 127.0.0.1 (a port the kernel chooses) serves one page: the task list
of the current attempt (number, weight, context, the rendered statement, a flag), a countdown to
the deadline kept in the attempt (computed from that absolute time, so a reload or a restarted
server shows the same time left), a terminal (terminado's pty over a websocket, xterm.js in the
page: a shell in ``workspace/exam/`` with ``KUBECONFIG`` set to the exam's kubeconfig) and a
Submit button; once graded, the debrief (``exam.debrief.html_page``). Flag and submit call the
same ``Session`` methods as ``ckslab exam flag`` and ``submit``. Before submit nothing in the
page or its API holds a hint, a check or a solution: ``state`` is the whole API.

Every request, the websocket's too, must carry the token (``?token=`` or ``Authorization: token
...``), as Jupyter does; it is random per server and kept with the pid and port in
``.lab/exam/page.json`` (0600, ``exam/page_process.py``, which also starts and stops the server).
xterm.js (npm ``@xterm/xterm`` and ``@xterm/addon-fit``, pinned below) is vendored under
``exam/static/xterm/``: the page works offline from a clean checkout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import os
import secrets
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, Callable, TypedDict

import tornado.web
from terminado.management import SingleTermManager
from terminado.websocket import TermSocket
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback
from tornado.netutil import bind_sockets

from cluster import paths
from cluster.errors import CkslabError
from exam import attempt as attempts
from exam import bank, clusters, debrief, page_process
from exam.attempt import Attempt
from exam.session import Session, now

STATIC = Path(__file__).resolve().parent / "static"
#: The vendored xterm.js files: npm package, version, and each file's sha256 (tests check them).
XTERM = {
    "xterm/xterm.js": ("@xterm/xterm", "6.0.0", "14903579ff54664cd72f8e8699e6961a6272c21863ec1c3b118cdc8af5d4a972"),
    "xterm/xterm.css": ("@xterm/xterm", "6.0.0", "854a7c0fb70e8b1a083c16797ab827299fb18744f5ad34f227b48337e33293c6"),
    "xterm/addon-fit.js": ("@xterm/addon-fit", "0.11.0",
                           "ba3ea256ce0620a0992a197d6c9baea64823fc93d8da07a9e366ca9943c18527")}
#: Seconds between the background server's looks at whether its exam is still there.
WATCH_INTERVAL = 2.0


class TaskView(TypedDict):
    number: int
    id: str
    title: str
    weight: int
    context: str
    statement: str
    flagged: bool
    #: Why the task is left out ("" when it counts): its setup failed.
    left_out: str


class PageState(TypedDict):
    """What ``GET /api/state`` answers: the attempt as the candidate may see it before submit."""

    seed: int
    practice: bool
    started: str
    #: The absolute deadline (ISO 8601, UTC) and the server's clock, to count down from.
    deadline: str
    now: str
    #: When it was graded ("" before; "abandoned ..." for an abandoned attempt).
    submitted: str
    tasks: list[TaskView]


def state(found: Attempt, at: dt.datetime) -> PageState:
    """The page's view of ``found`` at ``at``: statements, weights, contexts, flags; never checks or solutions."""
    tasks = [TaskView(number=i, id=t.id, title=shown.title, weight=t.weight, context=t.context,
                      statement=shown.statement.rstrip(), flagged=t.flagged,
                      left_out=f"left out: its setup failed ({t.setup_error})" if t.setup_error else "")
             for i, t in enumerate(found.tasks, 1) for shown in [bank.load(t.id).rendered(t.values)]]
    return PageState(seed=found.seed, practice=found.practice, started=found.started, deadline=found.deadline,
                     now=at.isoformat(), submitted=found.submitted, tasks=tasks)


def authorized(given: str | None, token: str) -> bool:
    """Whether ``given`` is the server's ``token`` (compared in constant time)."""
    return bool(given) and bool(token) and hmac.compare_digest(str(given).encode(), token.encode())


def shell_environment(session: Session) -> dict[str, str]:
    """What the page's shell adds to this environment: the exam's kubeconfig and the pinned kubectl first."""
    first = [str(paths.kubernetes_bin_dir()), str(Path(sys.executable).parent)]
    rest = [d for d in os.environ.get("PATH", os.defpath).split(os.pathsep) if d and d not in first]
    return {"KUBECONFIG": str(clusters.learner_kubeconfig(session.project)), "PATH": os.pathsep.join(first + rest),
            "CKSLAB_ROOT": str(session.project.root)}


# --- the server ---------------------------------------------------------------------------------

class _Guarded:
    """Refuses (403) a request without the token, before any handler method runs."""

    def prepare(self) -> None:
        handler: Any = self
        given = handler.get_query_argument("token", None)
        header = handler.request.headers.get("Authorization", "")
        if not given and header.startswith("token "):
            given = header[len("token "):]
        if not authorized(given, handler.settings["token"]):
            raise tornado.web.HTTPError(403, "a token is needed: open the URL `ckslab exam page` printed")
        handler.set_header("Cache-Control", "no-store")
        handler.set_header("Referrer-Policy", "no-referrer")  # the token is in the URL


class _Handler(_Guarded, tornado.web.RequestHandler):
    @property
    def session(self) -> Session:
        return self.settings["session"]  # type: ignore[no-any-return]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        reason = getattr(error, "log_message", None) or getattr(error, "message", None) or self._reason
        self.finish({"error": str(reason)})

    async def attempt(self, submit: bool = False) -> Attempt:
        """The attempt on disk, graded as it stands first when ``submit``, or (as every ``ckslab exam``
        command does) once its time is up. One grading at a time; never twice."""
        found = self.session.require()
        if not found.submitted and (submit or found.overdue(now())):
            async with self.settings["grading"]:
                found = self.session.require()
                if not found.submitted:
                    await asyncio.get_running_loop().run_in_executor(None, self.session.submit, found)
            found = self.session.require()
        return found


class PageHandler(_Handler):
    def get(self) -> None:
        self.set_header("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws://127.0.0.1:*; "
                                                   "style-src 'self' 'unsafe-inline'; img-src 'self' data:")
        self.finish((STATIC / "page.html").read_text().replace("{{token}}", self.settings["token"]))


class StateHandler(_Handler):
    async def get(self) -> None:
        self.finish(dict(state(await self.attempt(), now())))


class FlagHandler(_Handler):
    async def post(self, task: str) -> None:
        found = await self.attempt()
        if found.submitted:
            raise tornado.web.HTTPError(409, f"this exam is over ({found.submitted})")
        try:
            drawn = self.session.flag(task)
        except CkslabError as err:
            raise tornado.web.HTTPError(404, err.message) from err
        self.finish({"id": drawn.id, "flagged": drawn.flagged})


class SubmitHandler(_Handler):
    async def post(self) -> None:
        self.finish(dict(state(await self.attempt(submit=True), now())))


class DebriefHandler(_Handler):
    async def get(self) -> None:
        found = await self.attempt()
        if not found.debrief:
            raise tornado.web.HTTPError(409, "no debrief before the exam is submitted")
        self.finish(debrief.html_page(found.debrief))  # type: ignore[arg-type]


class StatusHandler(_Handler):
    def get(self) -> None:  # what page_process.running asks: cheap, never grading
        self.finish({"pid": os.getpid()})


class StaticHandler(_Guarded, tornado.web.StaticFileHandler):
    pass


class TerminalSocket(_Guarded, TermSocket):
    pass


class OneShell(SingleTermManager):
    """One shell for every open page (a reload finds the same shell); a new one after ``exit``."""

    def on_eof(self, ptywclients: Any) -> None:
        super().on_eof(ptywclients)
        self.terminal = None


def make_app(session: Session, token: str, shells: Any) -> tornado.web.Application:
    """The page's routes; ``shells`` is the terminado manager of the terminal."""
    return tornado.web.Application([
        (r"/", PageHandler),
        (r"/api/status", StatusHandler),
        (r"/api/state", StateHandler),
        (r"/api/flag/([A-Za-z0-9-]+)", FlagHandler),
        (r"/api/submit", SubmitHandler),
        (r"/debrief", DebriefHandler),
        (r"/terminal", TerminalSocket, {"term_manager": shells}),
        (r"/static/(.*)", StaticHandler, {"path": str(STATIC)}),
    ], session=session, token=token, grading=asyncio.Lock(), websocket_ping_interval=30)


def serve(session: Session, port: int | None, say: Callable[[str], None], until_down: bool = False) -> int:
    """Serve the page on 127.0.0.1 until Ctrl-C or SIGTERM (``until_down``: or the exam's clusters are gone)."""
    session.require()
    token = secrets.token_urlsafe(32)
    try:
        sockets = bind_sockets(port or 0, "127.0.0.1")
    except OSError as err:
        raise CkslabError(f"the exam's page cannot listen on 127.0.0.1:{port} ({err.strerror}).",
                          "Leave --port out for a free port.") from err
    chosen = int(sockets[0].getsockname()[1])
    session.workspace.mkdir(parents=True, exist_ok=True)

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        shells = OneShell(shell_command=[shutil.which("bash") or "/bin/sh"], extra_env=shell_environment(session),
                          term_settings={"cwd": str(session.workspace)})
        server = HTTPServer(make_app(session, token, shells))
        server.add_sockets(sockets)
        page_process.record(session, chosen, token)
        say(f"The exam's page: {page_process.url(chosen, token)}")
        watch = PeriodicCallback(lambda: None if _exam_there(session) else stop.set(), WATCH_INTERVAL * 1000)
        if until_down:
            watch.start()
        try:
            await stop.wait()
        finally:
            watch.stop()
            server.stop()
            await shells.shutdown()
            page_process.forget(session)

    asyncio.run(main())
    return 0


def _exam_there(session: Session) -> bool:
    """Whether the exam is still there: its attempt, and one of its clusters recorded as started."""
    return session.file.exists() and any(clusters.backend_for(session.project, c).lab.state_file.exists()
                                         for c in attempts.KNOWN_CONTEXTS)
