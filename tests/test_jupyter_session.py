"""A learner's session in JupyterLab, in Debian's Chromium, on the real local control plane.

Lab 1 run cell by cell as a learner does, with the mistake the lab warns about (``server auth``
among the usages, made in a JupyterLab terminal), its fix, the rest of the lab, and a
``ckslab reset`` while the kernel is open. The assertions are on what the learner sees in the
page. Screenshots go to ``test-artifacts/``; look at them.
"""

from __future__ import annotations

import json
import re
import signal
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from lab_server import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT, Lab, require_chromium

from cluster import paths
from cluster.backends.local import LocalBackend
from cluster.process import log_tail

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

NOTEBOOK = "01-certificates-api.ipynb"
#: JupyterLab's autosave interval in this test (seconds; @jupyterlab/docmanager-extension's autosaveInterval,
#: 120 by default, set in the test server's user settings so that the session need not last two minutes).
AUTOSAVE_INTERVAL = 30.0
#: Seconds a cell may take: a check runs the graders in a process of their own (~5 s on 2 cores).
CELL_TIMEOUT = 60.0
#: Seconds a cell that is skipped, or that meets a mistake, may take: no 30 s `kubectl wait` hang.
QUICK = 8.0
#: What a learner must never see in a cell's output.
NOISE = ("Traceback", "CalledProcessError", "Please enter Username", "command not found", "as expected")


class NotebookPage:
    """The notebook open in JupyterLab: run a cell as a learner does and read what it shows."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def cell(self, index: int) -> Any:
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)

    def run(self, index: int, timeout: float = CELL_TIMEOUT) -> tuple[str, float]:
        """Select cell ``index``, run it (Ctrl+Enter: in place), wait for it to end; (its output text, seconds)."""
        from playwright.sync_api import expect

        self.page.locator(".jp-NotebookPanel").first.click(position={"x": 5, "y": 5})  # focus the notebook
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        prompt = cell.locator(".jp-InputArea-prompt")
        before = prompt.inner_text()
        prompt.click()
        self.page.keyboard.press("Escape")  # command mode: Ctrl+Enter runs the selected cell
        started = time.monotonic()
        self.page.keyboard.press("Control+Enter")  # Shift+Enter on the last cell would add a cell
        expect(prompt).not_to_have_text(before, timeout=timeout * 1000)
        expect(prompt).to_have_text(re.compile(r"^\[\d+\]:$"), timeout=timeout * 1000)
        return cell.locator(".jp-OutputArea").inner_text(), time.monotonic() - started

    def error_outputs(self) -> int:
        """Outputs shown in the error colour (stderr streams and Python errors)."""
        return int(self.page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
                   .count())


class Terminal:
    """A JupyterLab terminal started from the launcher, which starts it in the file browser's folder."""

    def __init__(self, page: Any, marker_dir: Path) -> None:
        self.page, self.marker_dir, self.n = page, marker_dir, 0
        page.locator('.jp-FileBrowser [data-command="launcher:create"]').first.click()
        page.locator(".jp-LauncherCard", has_text="Terminal").first.click()
        self.tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Terminal").first
        page.locator(".jp-Terminal .xterm").first.wait_for(timeout=START_TIMEOUT * 1000)

    def run(self, command: str, timeout: float = CELL_TIMEOUT) -> str:
        """Type ``command`` in the terminal; its output and exit code, read back from a file."""
        self.tab.click()
        self.page.locator(".jp-Terminal .xterm").first.click()
        self.n += 1
        out = self.marker_dir / f"terminal-{self.n}.out"
        self.page.keyboard.type(f"{{ {command} ; }} > {out}.tmp 2>&1; echo \"exit $?\" >> {out}.tmp; "
                                f"mv {out}.tmp {out}\n")
        deadline = time.monotonic() + timeout
        while not out.exists():
            assert time.monotonic() < deadline, f"the terminal did not finish {command!r}"
            time.sleep(0.2)
        return out.read_text()


def _contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two CSS ``rgb(...)`` colours."""
    def luminance(css: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _has_outputs(notebook: Path) -> bool:
    try:
        cells = json.loads(notebook.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return False  # being written
    return any(c.get("outputs") for c in cells if c.get("cell_type") == "code")


@pytest.fixture
def session_lab(tmp_path: Path, local_cluster: LocalBackend) -> Iterator[Lab]:
    settings = tmp_path / "user-settings" / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"autosaveInterval": AUTOSAVE_INTERVAL}))
    started = Lab(tmp_path, project=local_cluster.lab.root, cache=paths.cache_root())
    try:
        yield started
    finally:
        if started.proc.poll() is None:
            started.stop(signal.SIGKILL)


def test_a_learner_session_with_a_mistake_a_fix_and_a_reset(
    session_lab: Lab, local_cluster: LocalBackend, tmp_path: Path
) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    root = local_cluster.lab.root
    workspace = root / "workspace" / "certificates-api"
    tracked = {p: p.read_bytes() for p in (paths.checkout() / "notebooks").iterdir()}
    ARTIFACTS.mkdir(exist_ok=True)
    session_lab.wait_ready()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ckslab-chromium-") as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1100, "height": 900})
        try:
            page = browser.new_page()
            page.goto(session_lab.url(f"/lab/tree/certificates-api/{NOTEBOOK}"), timeout=START_TIMEOUT * 1000)
            page.locator(".jp-RenderedMarkdown h1").first.wait_for(timeout=START_TIMEOUT * 1000)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
                timeout=START_TIMEOUT * 1000)
            nb = NotebookPage(page)
            shown: dict[int, str] = {}

            # A cell run before the setup cell says what to do, and does nothing.
            text, _ = nb.run(2)
            assert text.startswith("Not run: run the setup cell first"), text
            text, _ = nb.run(1)
            assert f"workspace:  {workspace}" in text, text
            for index in (2, 4, 6, 8, 9, 11, 12, 14):
                shown[index], _ = nb.run(index)
            assert "PASS" in shown[9] and "private-key" in shown[9], shown[9]
            assert nb.cell(9).locator(".ckslab-report").count() == 1  # the rich rendering, not plain text
            assert "Certificate request self-signature verify OK" in shown[11]
            # The learner's files are in the file browser, next to their notebook.
            listing = page.locator(".jp-FileBrowser .jp-DirListing-content")
            for name in ("jane.key", "jane.csr", "jane-csr.yaml"):
                expect(listing.get_by_text(name, exact=True)).to_be_visible(timeout=30_000)

            # The mistake, made in a terminal that starts in the lab's workspace.
            terminal = Terminal(page, tmp_path)
            assert terminal.run("pwd") == f"{workspace}\nexit 0\n"
            assert terminal.run("sed -i 's/- client auth/- server auth/' jane-csr.yaml") == "exit 0\n"
            page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=NOTEBOOK).first.click()
            shown[16], _ = nb.run(16)
            failed, _ = nb.run(17)
            assert "FAIL" in failed and "csr-object" in failed and "server auth" in failed, failed
            assert "Hint:" in failed
            nb.cell(17).scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "session-1-failed-check.png"))

            # Every later cell stops cleanly, quickly, pointing at the failing step.
            for index in (19, 21, 23, 25, 26, 28, 30, 31, 33, 34, 35, 36):
                text, took = nb.run(index)
                assert text.startswith("Not run: the check of step csr-object"), (index, text)
                assert took < QUICK, (index, took)
            nb.cell(21).scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "session-2-later-cells-wait.png"))
            graded, _ = nb.run(38)  # the whole-lab grade always runs, and tells the truth
            assert "Score: 25/100" in graded and "FAIL" in graded, graded  # private-key 10 + csr-file 15
            # What the notebook says to type, typed in the terminal (in the workspace, no Makefile there):
            # the grade, and no make noise after a failing one.
            said = terminal.run("make grade LAB=certificates-api")
            assert "Score: 25/100" in said and said.endswith("exit 0\n"), said
            assert "make:" not in said and "make[" not in said and "No rule" not in said, said

            # The fix, the check again, and the rest of the lab.
            assert terminal.run("sed -i 's/- server auth/- client auth/' jane-csr.yaml") == "exit 0\n"
            page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=NOTEBOOK).first.click()
            for index in (16, 17, 19, 21, 23, 25, 26, 28, 30, 31, 33, 34, 35, 36, 38):
                shown[index], _ = nb.run(index)
            assert "PASS" in shown[17] and "Hint:" not in shown[17], shown[17]
            assert "Approved,Issued" in shown[21]
            assert "may jane list pods? no" in shown[30] and "Forbidden" in shown[30], shown[30]
            assert "Score: 100/100, every step passes." in shown[38], shown[38]
            nb.cell(38).scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "session-3-whole-lab-grade.png"))
            # Readable at any width: the report reflows, nothing scrolls sideways, no word is cut.
            page.set_viewport_size({"width": 640, "height": 900})
            nb.cell(38).scroll_into_view_if_needed()
            report = nb.cell(38).locator(".ckslab-report")
            assert report.evaluate("e => e.scrollWidth <= e.clientWidth"), "the grade overflows a narrow window"
            page.screenshot(path=str(ARTIFACTS / "session-3b-whole-lab-grade-narrow.png"))
            page.set_viewport_size({"width": 1100, "height": 900})
            # The verdict badge and the message read at WCAG AA contrast or better.
            badge = page.locator(".ckslab-verdict").last
            colours = badge.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
            assert _contrast(*colours) >= 4.5, colours
            message = page.locator(".ckslab-message").last
            text_colour = message.evaluate("e => getComputedStyle(e).color")
            assert _contrast(text_colour, "rgb(255, 255, 255)") >= 4.5, text_colour

            # A reset with the kernel open: the workspace stays valid and the next step passes.
            said = terminal.run("ckslab reset certificates-api")
            assert said.count("Your files are in") == 1 and said.endswith("exit 0\n"), said
            assert sorted(p.name for p in workspace.iterdir()) == [NOTEBOOK]
            page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=NOTEBOOK).first.click()
            again, _ = nb.run(8)
            assert "jane.key" in again and (workspace / "jane.key").is_file(), again
            passed, _ = nb.run(9)
            assert "PASS" in passed and "private-key" in passed, passed
            page.screenshot(path=str(ARTIFACTS / "session-4-after-reset.png"))

            # Nothing a learner should not see, anywhere in the notebook.
            everything = page.locator(".jp-NotebookPanel .jp-OutputArea").all_inner_texts()
            for noise in NOISE:
                assert not [t for t in everything if noise in t], noise
            assert nb.error_outputs() == 0
            assert page.locator(".jp-Dialog").count() == 0  # no "File Changed" question after the reset
            assert page.locator(".Toastify__toast", has_text="Jupyter news").count() == 0
            # Longer than JupyterLab's autosave interval: autosave writes the learner's copy, and only it.
            copy = workspace / NOTEBOOK
            deadline = began + AUTOSAVE_INTERVAL + 30
            while not _has_outputs(copy):
                assert time.monotonic() < deadline, "JupyterLab's autosave never wrote the learner's copy"
                time.sleep(1)
            assert time.monotonic() - began > AUTOSAVE_INTERVAL
        finally:
            browser.close()
    code, left = session_lab.stop()
    assert code == 0, log_tail(session_lab.log, 30)
    assert not left, f"still running after ckslab stopped: {left}"
    assert {p: p.read_bytes() for p in (paths.checkout() / "notebooks").iterdir()} == tracked
    backups = sorted((root / "workspace" / ".backup").glob("certificates-api-2*"))
    assert backups and (backups[-1] / "jane.crt").is_file() and (backups[-1] / NOTEBOOK).is_file()
