"""The score plugin (graders/plugin.py) on small grader suites, run with pytester."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graders.context import ENV, GradingContext
from labs import catalog

LAB = catalog.load("certificates-api").for_user("jane")
POINTS = {s.id: s.points for s in LAB.steps}


@pytest.fixture(autouse=True)
def default_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CKSLAB_USER", raising=False)


def grade(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any] | None]:
    report = pytester.path / "report.json"
    result = pytester.runpytest("-p", "graders.plugin", "-p", "no:cacheprovider", "--strict-markers",
                                "--ckslab-lab", "certificates-api", "--ckslab-json", str(report), *args)
    return result, json.loads(report.read_text()) if report.exists() else None


def every_step_passes() -> str:
    return "\n".join(
        f"@pytest.mark.step({s.id!r})\ndef test_{s.id.replace('-', '_')}():\n    pass\n" for s in LAB.steps)


HEADER = "import pytest\nfrom graders.expect import fail, expect\n\n"


def test_report_has_the_exact_schema_and_follows_the_lab_order(pytester: pytest.Pytester) -> None:
    # Files in the opposite order of the lab: the report, and the runs, follow the lab.
    pytester.makepyfile(test_a_access=HEADER + "@pytest.mark.step('access')\ndef test_x():\n    pass\n",
                        test_b_rest=HEADER + every_step_passes())
    result, report = grade(pytester, "-v")
    assert result.ret == 0 and report is not None
    assert list(report) == ["lab", "score", "max_score", "passed", "steps"]
    assert (report["lab"], report["score"], report["max_score"], report["passed"]) == ("certificates-api", 100, 100, True)
    assert [s["id"] for s in report["steps"]] == [s.id for s in LAB.steps]
    for step, expected in zip(report["steps"], LAB.steps):
        assert step == {"id": expected.id, "title": expected.title, "passed": True, "points": expected.points,
                        "max_points": expected.points, "message": expected.success, "hint": ""}
    ran = [line for line in result.outlines if "PASSED" in line]
    assert ran[0].startswith("test_b_rest.py::test_private_key") and "test_a_access.py::test_x" in ran[-2]
    result.stdout.fnmatch_lines(["*ckslab certificates-api: 100/100, written to *report.json*"])


def test_a_step_earns_all_its_points_or_none_and_says_its_first_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER + every_step_passes() + """
@pytest.mark.step("csr-file")
def test_first_failure():
    fail("jane.csr has CN=john; the request must name the user: CN=jane.", "openssl req ...")

@pytest.mark.step("csr-file")
def test_second_failure():
    expect(False, "second message", "second hint")
""")
    result, report = grade(pytester)
    assert result.ret == 1 and report is not None
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["csr-file"] == {
        "id": "csr-file", "title": LAB.step("csr-file").title, "passed": False, "points": 0,
        "max_points": POINTS["csr-file"],
        "message": "jane.csr has CN=john; the request must name the user: CN=jane.", "hint": "openssl req ...",
    }
    assert report["score"] == 100 - POINTS["csr-file"] and report["passed"] is False


def test_errors_become_could_not_check_without_traceback(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER + """
@pytest.fixture
def broken():
    raise RuntimeError("connection refused\\n  at line 3")

@pytest.mark.step("private-key")
def test_setup_error(broken):
    pass

@pytest.mark.step("csr-file")
def test_crash():
    {}["missing"]

@pytest.mark.step("approved")
def test_skipped():
    pytest.skip("not today")

@pytest.mark.step("access")
def test_failure_without_hint():
    fail("jane.kubeconfig authenticates as john, not jane.")
""")
    _, report = grade(pytester)
    assert report is not None
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["private-key"]["message"] == "could not check: connection refused at line 3."
    assert steps["csr-file"]["message"] == "could not check: 'missing'."
    assert steps["approved"]["message"] == "could not check: skipped (not today)."
    # No test for a step is a failure too, and a failure without hint gets the step's hint.
    assert steps["certificate"]["message"].startswith("could not check: no grader ran")
    assert steps["access"]["hint"] == LAB.step("access").hint
    assert not any("Traceback" in s["message"] or "\n" in s["message"] for s in report["steps"])
    assert report["score"] == 0


def test_a_note_of_a_passing_test_is_the_steps_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER + """
@pytest.mark.step("approved")
def test_gone(note):
    note("The CSR jane is gone: garbage-collected after 1 hour, which is normal.")
""")
    _, report = grade(pytester, "--ckslab-step", "approved")
    assert report is not None
    assert report["steps"] == [{
        "id": "approved", "title": LAB.step("approved").title, "passed": True, "points": POINTS["approved"],
        "max_points": POINTS["approved"], "hint": "",
        "message": "The CSR jane is gone: garbage-collected after 1 hour, which is normal.",
    }]


def test_one_step_only_runs_and_reports_that_step(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER + every_step_passes() + """
@pytest.mark.step("access")
def test_would_fail():
    fail("never run")
""")
    result, report = grade(pytester, "--ckslab-step", "csr-object")
    assert result.ret == 0 and report is not None
    result.assert_outcomes(passed=1, deselected=len(LAB.steps))
    assert (report["score"], report["max_score"], report["passed"]) == (POINTS["csr-object"], POINTS["csr-object"], True)
    assert [s["id"] for s in report["steps"]] == ["csr-object"]


def test_the_user_fills_titles_and_hints(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user is the grading context's, which the runner writes and the plugin reads once."""
    context = GradingContext("certificates-api", "jane-x", pytester.path, pytester.path, pytester.path / "kubeconfig")
    context.write(pytester.path / "context.json")
    monkeypatch.setenv(ENV, str(pytester.path / "context.json"))
    monkeypatch.setenv("CKSLAB_USER", "not-read")  # the environment is no input of the graders
    pytester.makepyfile(HEADER + "@pytest.mark.step('private-key')\ndef test_key(context):\n"
                        "    assert context.user == 'jane-x' and context.values == {}\n    fail('m')\n")
    _, report = grade(pytester, "--ckslab-step", "private-key")
    assert report is not None and report["steps"][0]["hint"] == "openssl genrsa -out jane-x.key 2048"
    assert report["steps"][0]["title"] == "jane-x.key: a private key for jane-x"


@pytest.mark.parametrize("source, args, error", [
    ("def test_unmarked():\n    pass\n", (), "*test_unmarked: mark it @pytest.mark.step(ID)*not None*"),
    ("@pytest.mark.step('nope')\ndef test_x():\n    pass\n", (), "*not 'nope'*"),
    (every_step_passes(), ("--ckslab-step", "nope"), "*has no step 'nope'*"),
])
def test_grader_mistakes_are_usage_errors_without_report(pytester: pytest.Pytester, source: str,
                                                         args: tuple[str, ...], error: str) -> None:
    pytester.makepyfile(HEADER + source)
    result, report = grade(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR and report is None
    result.stderr.fnmatch_lines([error])


def test_unknown_lab_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER + every_step_passes())
    result = pytester.runpytest("-p", "graders.plugin", "--ckslab-lab", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown lab 'nope'*certificates-api*"])


def test_without_a_lab_the_plugin_only_registers_the_marker(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(HEADER + every_step_passes())
    result = pytester.runpytest("-p", "graders.plugin", "--strict-markers")
    result.assert_outcomes(passed=len(LAB.steps))
