"""The grading seam without a cluster: one GradingContext, one Report, the runner's command line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from graders import runner
from graders.context import ENV, GradingContext, NoContext, from_environment
from graders.report import Report, StepResult
from labs import catalog

REPORT = {"lab": "certificates-api", "score": 20, "max_score": 40, "passed": False, "steps": [
    {"id": "csr-file", "title": "t1", "passed": True, "points": 20, "max_points": 20, "message": "ok.", "hint": ""},
    {"id": "csr-object", "title": "t2", "passed": False, "points": 0, "max_points": 20, "message": "no.",
     "hint": "kubectl apply -f jane-csr.yaml"}]}


def test_the_report_reads_back_what_it_writes_in_the_json_shape_of_ckslab_grade() -> None:
    report = Report.from_json(REPORT)
    assert report.to_json() == REPORT and list(report.to_json()) == ["lab", "score", "max_score", "passed", "steps"]
    assert Report.from_json(json.loads(json.dumps(report.to_json()))) == report
    assert report.failing() == StepResult("csr-object", "t2", False, 0, 20, "no.", "kubectl apply -f jane-csr.yaml")
    assert report.progress() == {"score": 20, "max_score": 40}
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.lab = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="not a score report"):
        Report.from_json({"lab": "x"})


def test_the_context_is_frozen_and_reads_back_what_the_runner_writes(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    context = GradingContext("certificates-api", "jane", tmp_path / "ws", tmp_path, tmp_path / ".lab" / "kubeconfig",
                             "local", {"namespace": "team-a"})
    context.write(tmp_path / "context.json")
    monkeypatch.setenv(ENV, str(tmp_path / "context.json"))
    assert from_environment() == context
    assert context.paths.state_file == tmp_path / ".lab" / "state.json"
    with pytest.raises(TypeError):
        context.values["namespace"] = "other"  # type: ignore[index]
    (tmp_path / "context.json").write_text("{}")
    with pytest.raises(NoContext, match="cannot be read"):
        from_environment()
    monkeypatch.delenv(ENV)
    assert from_environment() is None


def test_the_runner_takes_the_user_from_the_lab_and_the_backend_from_the_state(lab_root: Path) -> None:
    (lab_root / ".lab").mkdir()
    (lab_root / ".lab" / "state.json").write_text(json.dumps({"backend": "kind", "version": "v", "server": "s"}))
    lab = catalog.load("csr-review")
    context = runner.context_for(lab, lab.user, lab_root / "workspace" / "csr-review", lab_root / ".lab" / "kubeconfig",
                                 lab_root)
    assert (context.user, context.backend, context.root) == ("reviewer", "kind", lab_root.resolve())
    args = runner.pytest_args("csr-review", lab_root / "r.json", "approve-legitimate", None)
    assert args[0].endswith("graders/csr_review") and ["--ckslab-step", "approve-legitimate"] == args[-2:]
    env = runner.grading_env(lab_root / "c.json")
    assert env[ENV] == str(lab_root / "c.json") and not any(k.startswith("PYTEST_") and k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
                                                           for k in env)
