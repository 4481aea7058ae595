"""Lab 1's practice test as a learner sees it in JupyterLab, in Debian's Chromium, on the real local cluster.

The learner runs the setup cell and the practice cell, reads question 1, looks in a bash cell, types an
answer into the answer cell and runs it (right: the count a kubectl reading gives), then answers
question 3 wrong and reads the explanation. The screenshot goes to test-artifacts/practice-test.png;
look at it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import nbformat
import pytest
from lab_server import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT, Lab, require_chromium
from test_jupyter_session import NotebookPage

from cluster import paths
from cluster.backends.local import LocalBackend

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

NOTEBOOK = "01-certificates-api.ipynb"
SCREENSHOT = ARTIFACTS / "practice-test.png"


@pytest.fixture
def practice_lab(tmp_path: Path, local_cluster: LocalBackend) -> Iterator[Lab]:
    started = Lab(tmp_path, project=local_cluster.lab.root, cache=paths.cache_root())
    try:
        yield started
    finally:
        if started.proc.poll() is None:
            started.stop(signal.SIGKILL)


def _pending(root: Path) -> int:
    rows = subprocess.run([str(paths.kubernetes_bin_dir() / "kubectl"), "get", "csr", "--no-headers"],
                          capture_output=True, text=True, check=True, timeout=60,
                          env={**os.environ, "KUBECONFIG": str(root / ".lab" / "kubeconfig")}).stdout.splitlines()
    return sum(1 for r in rows if r.split()[-1] == "Pending")


def _type_into(nb: NotebookPage, index: int, source: str) -> None:
    """Replace cell ``index``'s source as a learner does: click in its editor, select all, type."""
    editor = nb.cell(index).locator(".cm-content")
    editor.scroll_into_view_if_needed()
    editor.click()
    nb.page.keyboard.press("Control+A")
    nb.page.keyboard.type(source)


def test_a_learner_answers_the_practice_test_in_jupyterlab(practice_lab: Lab, local_cluster: LocalBackend) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    root = local_cluster.lab.root
    ARTIFACTS.mkdir(exist_ok=True)
    practice_lab.wait_ready()
    with tempfile.TemporaryDirectory(prefix="ckslab-chromium-") as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1100, "height": 1400})
        try:
            page = browser.new_page()
            page.goto(practice_lab.url(f"/lab/tree/certificates-api/{NOTEBOOK}"), timeout=START_TIMEOUT * 1000)
            page.locator(".jp-RenderedMarkdown h1").first.wait_for(timeout=START_TIMEOUT * 1000)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
                timeout=START_TIMEOUT * 1000)
            nb = NotebookPage(page)
            # JupyterLab renders only the cells near the view: find the practice cell in the file.
            sources = [c.source for c in nbformat.read(paths.checkout() / "notebooks" / NOTEBOOK, as_version=4).cells]
            start = sources.index('practice = lab.practice("certificates-api")')
            ask1, bash1, answer1, ask3, answer3 = start + 1, start + 2, start + 3, start + 7, start + 9

            nb.run(1)  # the setup cell
            text, _ = nb.run(start)
            assert "Practice test of this lab: 4 questions" in text, text
            text, _ = nb.run(ask1)
            assert "Question 1 of 4" in text and "Pending" in text, text
            assert nb.cell(ask1).locator(".ckslab-practice-question").count() == 1  # rich, not plain text
            _type_into(nb, bash1, "%%bash\nkubectl get csr")
            text, _ = nb.run(bash1)
            assert "CONDITION" in text, text
            count = _pending(root)
            _type_into(nb, answer1, f'practice.answer(1, " {count} ");')
            text, _ = nb.run(answer1)
            assert text.startswith("Right") and f"the cluster says {count}." in text, text
            assert nb.cell(answer1).locator(".ckslab-practice-verdict").count() == 1

            text, _ = nb.run(ask3)
            csr = re.search(r"the CSR (\w+) ask for", text)
            assert csr, text
            _type_into(nb, answer3, 'practice.answer(3, "system:masters");')
            text, _ = nb.run(answer3)
            assert text.startswith("Wrong") and "you answered system:masters" in text, text
            assert f"kubectl get csr {csr[1]} -o jsonpath='{{.spec.request}}' | base64 -d" in text, text
            assert nb.error_outputs() == 0
            nb.cell(ask1).evaluate("cell => cell.scrollIntoView({block: 'start'})")  # question 1 to 3 in view
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    code, left = practice_lab.stop()
    assert code == 0 and not left
