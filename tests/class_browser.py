"""The hosted class in Debian's Chromium: a login on the hub's page, a learner's JupyterLab, the scoreboard.

Each person gets a browser context of their own (their own cookies), as on their own machines.
Screenshots go to ``test-artifacts/class-*.png``; look at them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from lab_server import ARTIFACTS

from ckslab.classhost import layout

#: Seconds for a first login's server: the learner's control plane, their notebooks, then JupyterLab
#: (about 30 s on an idle 2-core machine, minutes while other suites run).
SPAWN_TIMEOUT = 300.0
#: Seconds for lab 1 run top to bottom (seven checks and a whole grade, each a pytest run of its own).
RUN_ALL_TIMEOUT = 420.0


def shot(page: Any, name: str) -> Path:
    """A screenshot of ``page`` as ``test-artifacts/class-<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"class-{name}.png"
    page.screenshot(path=str(path))
    return path


def log_in(page: Any, url: str, name: str, password: str, shot_as: str = "") -> None:
    """Open the class's URL and log in on the hub's own form, as the credentials file says."""
    page.goto(url, timeout=60_000)
    page.locator("#username_input").wait_for(timeout=60_000)
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    if shot_as:
        shot(page, shot_as)
    page.click("#login_submit")


def wait_for_jupyterlab(page: Any, name: str, timeout: float = SPAWN_TIMEOUT) -> None:
    """Wait until the learner's own JupyterLab shows its file browser."""
    page.wait_for_url(f"**/user/{name}/lab**", timeout=timeout * 1000)
    page.locator(".jp-DirListing-content").first.wait_for(timeout=120_000)


def listing(page: Any) -> list[str]:
    """The names the file browser shows."""
    page.locator(".jp-DirListing-item").first.wait_for(timeout=60_000)
    return [t.strip() for t in page.locator(".jp-DirListing-item .jp-DirListing-itemText").all_inner_texts()]


def open_item(page: Any, text: str) -> None:
    """Double-click an entry of the file browser, as a learner opens a folder or a notebook."""
    page.locator(".jp-DirListing-item", has_text=text).first.dblclick()


def wait_for_kernel(page: Any, timeout: float = 120.0) -> None:
    """Wait until the open notebook shows its first heading and its kernel is idle."""
    from playwright.sync_api import expect

    page.locator(".jp-NotebookPanel .jp-RenderedMarkdown h1").first.wait_for(timeout=timeout * 1000)
    expect(page.locator(".jp-StatusBar-TextItem", has_text="Idle").first).to_be_visible(timeout=timeout * 1000)


def run_all(page: Any) -> None:
    """Run ▸ Run All Cells, from JupyterLab's menu bar."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()


def wait_for_grade(progress: Path, timeout: float = RUN_ALL_TIMEOUT) -> dict[str, Any]:
    """The learner's progress record once the notebook's whole-lab grade wrote it (root reads it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            record: dict[str, Any] = json.loads(progress.read_text())
        except (OSError, ValueError):
            record = {}
        if "graded" in record:
            return record
        time.sleep(2)
    raise AssertionError(f"the notebook's grade cell did not run within {timeout:.0f}s ({progress})")


def active_cell_output(page: Any, up: int) -> str:
    """Select the cell ``up`` cells above the active one (``k`` in command mode), show it; its output."""
    page.locator(".jp-NotebookPanel .jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Escape")
    for _ in range(up):
        page.keyboard.press("k")
    cell = page.locator(".jp-NotebookPanel .jp-Cell.jp-mod-active").first
    cell.scroll_into_view_if_needed()
    return str(cell.locator(".jp-OutputArea").inner_text())


def scoreboard_row(page: Any, name: str) -> str:
    """The scoreboard's row of ``name``, as text."""
    return str(page.locator("#grades tr", has=page.locator("th.name", has_text=name)).first.inner_text())


def scoreboard_url(url: str) -> str:
    return f"{url}services/{layout.SCOREBOARD}/"
