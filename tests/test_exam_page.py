"""``ckslab exam page``: the questions in a browser beside a terminal.

Without a cluster: the API's shape and that it holds no check, hint or solution before submit,
the token on every route (the websocket's and the static files' too), flag through the API, the
record file, the vendored xterm.js against its pins. With two real local control planes and
Debian's Chromium: a 1-task exam's page shows its tasks and contexts, the countdown runs down and
keeps its deadline across a reload and a server restart, the terminal's kubectl talks to the
exam's clusters, a flag reaches the attempt on disk, and Submit shows the debrief. Screenshots go
to the test's tmp dir.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import websocket
from lab_server import CHROMIUM, CHROMIUM_ARGS, require_chromium

from cluster import paths
from cluster.paths import LabPaths
from cluster.waiting import wait_until
from exam import attempt as attempts
from exam import bank, clusters, page, page_process
from exam.session import Session

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone.utc)


def _secrets_of(found: attempts.Attempt) -> list[str]:
    """Lines of every drawn task's explanation and reference solution long enough to be telling."""
    lines = []
    for t in found.tasks:
        task = bank.load(t.id)
        shown = task.rendered(t.values)
        text = shown.explanation + "\n" + task.script("solution.sh", t.values)
        statement = shown.statement
        lines += [ln.strip() for ln in text.splitlines() if len(ln.strip()) > 24 and ln.strip() not in statement]
    return lines


# --- pure parts ---------------------------------------------------------------------------------

def test_the_state_is_the_task_list_and_holds_no_check_hint_or_solution() -> None:
    found = attempts.draw(11, None, NOW, 120, False)
    shown = page.state(found, NOW + dt.timedelta(minutes=5))
    assert set(shown) == {"seed", "practice", "started", "deadline", "now", "submitted", "tasks"}
    assert shown["deadline"] == found.deadline and shown["now"] == "2026-12-05T12:05:00+00:00"
    assert [t["number"] for t in shown["tasks"]] == list(range(1, len(found.tasks) + 1))
    for view, drawn in zip(shown["tasks"], found.tasks):
        assert set(view) == {"number", "id", "title", "weight", "context", "statement", "flagged", "left_out"}
        assert (view["id"], view["context"], view["weight"]) == (drawn.id, drawn.context, drawn.weight)
        assert view["statement"] == bank.load(drawn.id).rendered(drawn.values).statement.rstrip()
    text = json.dumps(shown)
    telling = _secrets_of(found)
    assert len(telling) > 20
    assert [s for s in telling if s in text] == []
    for t in found.tasks:
        for check in bank.load(t.id).checks:
            assert f'"{check.name}"' not in text


def test_the_token_is_needed_and_compared_whole() -> None:
    assert page.authorized("s3cret", "s3cret")
    for wrong in (None, "", "s3cre", "s3cret ", "S3CRET"):
        assert not page.authorized(wrong, "s3cret"), wrong
    assert not page.authorized("", "")


def test_the_vendored_xterm_files_are_the_pinned_ones_and_are_package_data() -> None:
    data = tomllib.loads((paths.checkout() / "pyproject.toml").read_text())
    declared = data["tool"]["setuptools"]["package-data"]["exam"]
    for name, (_package, _version, sha256) in page.XTERM.items():
        assert hashlib.sha256((page.STATIC / name).read_bytes()).hexdigest() == sha256, name
        assert f"static/{name}" in declared
    for name in ("page.html", "page.js", "page.css", "xterm/LICENSE"):
        assert (page.STATIC / name).is_file() and f"static/{name}" in declared
    deps = " ".join(data["project"]["dependencies"])
    assert "tornado>=" in deps and "terminado>=" in deps


# --- a real server on an attempt without clusters -----------------------------------------------

class Served:
    """``ckslab exam page`` as a subprocess of the project at ``root``."""

    def __init__(self, root: Path) -> None:
        self.log = root / "page-out.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ckslab", "exam", "page"], stdout=out,
                                         stderr=subprocess.STDOUT, env={**os.environ, "CKSLAB_ROOT": str(root)})
        self.url = wait_until(self._url, 20, interval=0.1, what="the page's URL")
        self.base, self.token = self.url.split("/?token=")

    def _url(self) -> str | None:
        assert self.proc.poll() is None, self.log.read_text()
        found = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", self.log.read_text())
        return found.group(0) if found else None

    def get(self, path: str, token: str | None = "", method: str = "GET", headers: dict[str, str] | None = None
            ) -> tuple[int, bytes]:
        tail = "" if token is None else ("&" if "?" in path else "?") + f"token={token or self.token}"
        request = urllib.request.Request(self.base + path + tail, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()


@pytest.fixture
def served(lab_root: Path) -> Iterator[tuple[Session, Served]]:
    session = Session()
    session.save(attempts.draw(4, 2, dt.datetime.now(dt.timezone.utc), 120, False))
    server = Served(lab_root)
    try:
        yield session, server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def test_every_route_refuses_a_request_without_the_token(served: tuple[Session, Served]) -> None:
    session, server = served
    routes = ["/", "/api/state", "/debrief", "/static/page.js", "/static/xterm/xterm.js"]
    for route in routes:
        for token in (None, "wrong"):
            code, _body = server.get(route, token=token)
            assert code == 403, (route, token)
    assert server.get("/api/flag/1", token=None, method="POST")[0] == 403
    assert server.get("/api/submit", token="x", method="POST")[0] == 403
    port = server.base.rsplit(":", 1)[1]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://127.0.0.1:{port}/terminal?token=wrong", timeout=5)
    assert refused.value.status_code == 403
    assert session.load().submitted == ""  # type: ignore[union-attr]


def test_the_api_with_the_token(served: tuple[Session, Served], capsys: pytest.CaptureFixture[str]) -> None:
    session, server = served
    code, body = server.get("/")
    assert code == 200 and server.token.encode() in body
    code, body = server.get("/api/state", token=None, headers={"Authorization": f"token {server.token}"})
    shown = json.loads(body)
    assert code == 200 and shown["deadline"] == session.require().deadline
    assert [s for s in _secrets_of(session.require()) if s in body.decode() + server.get("/")[1].decode()] == []
    assert server.get("/debrief")[0] == 409  # no debrief, hence no solution, before submit
    code, body = server.get("/api/flag/2", method="POST")
    assert code == 200 and json.loads(body)["flagged"] and session.require().tasks[1].flagged
    assert server.get("/api/flag/no-such-task", method="POST")[0] == 404
    record = page_process.record_file(session)
    assert record.stat().st_mode & 0o777 == 0o600
    assert json.loads(record.read_text())["token"] == server.token
    assert page_process.running(session) == server.url
    from ckslab import cli

    assert cli.main(["exam", "status"]) == 0
    assert f"The exam's page: {server.url}" in capsys.readouterr().out
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0
    assert not record.exists() and page_process.running(session) is None


def test_once_the_time_is_up_the_page_grades_the_exam_as_it_stands(lab_root: Path) -> None:
    """As every `ckslab exam` command: no cluster here, so each task says its cluster did not answer."""
    session = Session()
    session.save(attempts.draw(4, 2, dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=121), 120, False))
    server = Served(lab_root)
    try:
        code, body = server.get("/api/state")
        assert code == 200 and json.loads(body)["submitted"], body
        assert server.get("/api/flag/1", method="POST")[0] == 409  # over: the attempt no longer changes
        code, body = server.get("/debrief")
        assert code == 200 and b"Exam debrief: 0/" in body and b"did not answer at grading time" in body
        assert session.require().debrief["score"] == 0
    finally:
        server.proc.kill()
        server.proc.wait()


def test_a_practice_exam_has_no_clock_and_no_page_without_an_exam(lab_root: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from ckslab import cli

    assert cli.main(["exam", "page"]) == 1
    said = capsys.readouterr()
    assert "no exam has been started" in said.err + said.out and "Traceback" not in said.err
    practice = attempts.draw(4, 1, NOW, 120, True)
    assert page.state(practice, NOW + dt.timedelta(hours=5))["practice"] is True


# --- the page in Chromium, on a real exam --------------------------------------------------------

SEED = 9
#: Seconds the page may take to show something after a click or a command (2 cores, other tests beside).
UI_TIMEOUT = 30.0
#: Seconds the page's countdown may differ from the deadline on disk: whole seconds on both sides and a
#: once-a-second tick on a loaded machine. A countdown kept in the page would be off by the minute or so
#: the exam's start took.
CLOCK_SLACK = 5


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[Session]:
    root = tmp_path_factory.mktemp("exampage")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CKSLAB_ROOT", str(root))
        session = Session(LabPaths(root))
        try:
            session.start(SEED, 1, 120, False, lambda _m: None)  # one task: the page's test, not the bank's
            yield session
        finally:
            page_process.stop(session)
            clusters.down(session.project, attempts.KNOWN_CONTEXTS, lambda _m: None)


def _seconds(browser_page: Any) -> int:
    from playwright.sync_api import expect

    expect(browser_page.locator("#clock")).to_have_attribute("data-seconds", re.compile(r"^\d+$"))
    return int(browser_page.locator("#clock").get_attribute("data-seconds"))


def _expected_seconds(session: Session) -> float:
    return session.require().seconds_left(dt.datetime.now(dt.timezone.utc))


@pytest.mark.cluster
@pytest.mark.browser
def test_the_exam_page_in_chromium(exam: Session, tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    found = exam.require()
    started = time.monotonic()

    def stamp(what: str) -> None:
        print(f"{what}: {time.monotonic() - started:.1f} s")
    address = page_process.launch(exam)
    with tempfile.TemporaryDirectory(prefix="ckslab-chromium-") as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 900})
        try:
            tab = browser.new_page()
            tab.set_default_timeout(UI_TIMEOUT * 1000)
            tab.goto(address)
            # The tasks, their weights and contexts; nothing that gives an answer away.
            for i, drawn in enumerate(found.tasks, 1):
                box = tab.locator(f"#task-{i}")
                expect(box).to_contain_text(bank.load(drawn.id).rendered(drawn.values).title)
                expect(box.locator(".context")).to_have_text(f"Context: kubectl config use-context {drawn.context}")
                expect(box.locator(".weight")).to_have_text(f"{drawn.weight} points")
            assert [s for s in _secrets_of(found) if s in tab.content()] == []
            stamp("tasks shown")
            # The countdown runs down, from the deadline on disk, across a reload and a new server.
            first = _seconds(tab)
            assert abs(first - _expected_seconds(exam)) <= CLOCK_SLACK
            tab.wait_for_timeout(2200)
            assert _seconds(tab) < first
            tab.reload()
            assert abs(_seconds(tab) - _expected_seconds(exam)) <= CLOCK_SLACK
            page_process.stop(exam)
            wait_until(lambda: page_process.running(exam) is None, 15, what="the page server to stop")
            address = page_process.launch(exam)
            tab.goto(address)
            assert abs(_seconds(tab) - _expected_seconds(exam)) <= CLOCK_SLACK and exam.require().deadline == found.deadline
            stamp("countdown")
            # The terminal: a shell in the exam's workspace on the exam's kubeconfig and clusters.
            other = next(c for c in attempts.CONTEXTS if c != found.tasks[0].context)  # the other cluster
            tab.locator("#terminal .xterm").click()
            tab.keyboard.type(f"kubectl config current-context; kubectl --context {other} get ns default -o name; "
                              "echo at=$PWD\n")
            rows = tab.locator("#terminal .xterm-rows")
            # Wait for the last line the command prints (waiting for an earlier one read the rows before
            # `echo` had printed: CI failed so once).
            expect(rows).to_contain_text(f"at={exam.workspace}", timeout=UI_TIMEOUT * 1000)
            current = re.search(r"current-context: (\S+)",
                                clusters.learner_kubeconfig(exam.project).read_text())
            assert current is not None
            shown = rows.inner_text()
            assert f"\n{current.group(1)}\n" in shown.replace("\xa0", " ") and "\nnamespace/default" in shown, shown
            stamp("terminal")
            # A flag toggles the flag on disk, and back.
            flag = tab.locator("#task-1 .flag")
            flag.click()
            expect(flag).to_have_attribute("aria-pressed", "true")
            assert exam.require().tasks[0].flagged
            tab.screenshot(path=str(tmp_path / "exam-page.png"))
            tab.locator("#task-1 .flag").click()
            expect(tab.locator("#task-1 .flag")).to_have_attribute("aria-pressed", "false")
            assert not exam.require().tasks[0].flagged
            # `ckslab exam flag` typed in the page's terminal (the page shows it at its next look, 10 s, or a reload).
            tab.locator("#terminal .xterm").click()
            tab.keyboard.type("ckslab exam flag 1\n")
            wait_until(lambda: exam.require().tasks[0].flagged, UI_TIMEOUT, what="ckslab exam flag 1 in the terminal")
            tab.reload()
            expect(tab.locator("#task-1 .flag")).to_have_attribute("aria-pressed", "true")
            stamp("flags")
            # Submit (confirmed) grades as `ckslab exam submit` does, then the debrief is shown. The task is
            # solved first (its reference solution): full marks, and no grading in the other context.
            exam.solve(lambda _m: None)
            tab.once("dialog", lambda dialog: dialog.accept())
            tab.locator("#submit").click()
            debrief_frame = tab.frame_locator("#debrief")
            expect(debrief_frame.locator("h1")).to_contain_text(f"Exam debrief: {bank.load(found.tasks[0].id).max_score}/", timeout=120_000)
            expect(debrief_frame.locator("h1")).to_contain_text("(100.0 %), passed")
            expect(debrief_frame.locator("body")).to_contain_text("flagged")
            kept = exam.require()
            assert kept.submitted and kept.debrief["seed"] == SEED and kept.tasks[0].flagged
            expect(tab.locator("#submit")).to_be_disabled()
            stamp("submitted")
            tab.screenshot(path=str(tmp_path / "exam-debrief.png"))
            tab.reload()
            expect(tab.frame_locator("#debrief").locator("h1")).to_contain_text("Exam debrief")
        finally:
            browser.close()
    print(f"exam page test: {time.monotonic() - started:.1f} s after the exam's start")
