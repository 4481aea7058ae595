"""The exam's API-only tasks (failed-csr, node-join-csr, who-is-this, expiring-certificates) on two real
local control planes: one exam of only these four, set up once for the module.

The bank's convention, for every task: untouched it earns 0 and each check says what it found; the
right cluster work in the wrong context earns 0 and the debrief says where it was found; one typical
mistake loses exactly the check it should; the reference solution earns full marks under three
seeds. The three seeds share the two clusters: the exam's own attempt is the first seed; the other
two are drawn with the same four tasks and set up, solved and graded one after the other (a task's
setup removes what an earlier seed left under its own names).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from cluster import paths
from exam import attempt as attempts
from exam import bank, clusters, debrief
from exam.attempt import TaskAttempt
from exam.session import Session
from tests.exam_fixture import loaded, other_context, started_exam

pytestmark = pytest.mark.cluster
IDS = ["failed-csr", "node-join-csr", "who-is-this", "expiring-certificates"]
SEEDS = (20261206, 7, 4242)
#: Tasks whose answer is work on the cluster (a CSR created, approved or denied), which can be done in
#: the wrong context. The other two write a file about objects only the task's context has.
CLUSTER_WORK = ("node-join-csr", "failed-csr")


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[Session]:
    with started_exam(tmp_path_factory, "exam-api", SEEDS[0], IDS) as session:
        yield session


def _bash(exam: Session, script: str, drawn: TaskAttempt, kubeconfig: Path, cwd: Path) -> None:
    """Run ``script`` rendered with ``drawn``'s values, as a candidate's shell would."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig),
           "PATH": f"{paths.kubernetes_bin_dir()}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", bank.render(script, drawn.values)], env=env,
                          capture_output=True, text=True, check=False, cwd=cwd)
    assert done.returncode == 0, (drawn.id, done.stdout[-800:], done.stderr[-800:])


def _setup(exam: Session, drawn: TaskAttempt) -> None:
    with tempfile.TemporaryDirectory(prefix="setup-", dir=exam.dir) as private:
        ok, output = exam._run(drawn, "setup.sh", Path(private), clusters.admin_kubeconfig(exam.project,
                                                                                           drawn.context))
    assert ok, (drawn.id, output)


def _solution(task_id: str) -> str:
    return (bank.TASKS_DIR / task_id / "solution.sh").read_text()


def test_untouched_or_done_in_the_wrong_context_each_task_earns_0_and_says_what_it_found(exam: Session) -> None:
    """One grading for two facts (a grading is a pytest process per task and context): every check of an
    untouched task says what it found; cluster work done in the other context earns 0 and is said."""
    found = loaded(exam)
    assert sorted(t.id for t in found.tasks) == sorted(IDS)
    assert [t.setup_error for t in found.tasks] == [""] * len(IDS)
    assert not any(exam.workspace.iterdir())  # setup's keys, requests and kubeconfigs stay in .lab/exam/
    for task_id in CLUSTER_WORK:
        drawn = found.task(task_id)
        wrong = TaskAttempt(drawn.id, other_context(drawn.context), {**drawn.values, "context": other_context(drawn.context)},
                            drawn.weight)
        _setup(exam, wrong)  # the same request there, so that the same work can be done there
        _bash(exam, _solution(task_id), wrong, clusters.learner_kubeconfig(exam.project), exam.workspace)
    # The recorded cause is a file, right in any context: only the work on the cluster is judged here.
    (exam.workspace / found.task("failed-csr").values["cause_file"]).unlink()
    # The cluster work is looked for in the other context too. (The file tasks' graders fail in a context
    # without their objects, so grading them there, 4 more pytest processes, would find nothing.)
    graded = exam.grade(found, only=[found.task(t) for t in CLUSTER_WORK])
    graded.update(exam.grade(found, only=[t for t in found.tasks if t.id not in CLUSTER_WORK], elsewhere=False))
    result = debrief.build(found, graded, "")
    for task in result["tasks"]:
        assert task["status"] == debrief.GRADED, task
        assert task["score"] == 0, (task["id"], task["checks"])
        for check in task["checks"]:
            assert check["expected"] and check["observed"] and check["observed"] != check["expected"], check
        if task["id"] in CLUSTER_WORK:
            other = other_context(found.task(task["id"]).context)
            assert f"found in context {other}" in task["note"], (task["id"], task["note"])
        else:
            assert task["note"] == "", (task["id"], task["note"])


#: A typical mistake per task and the one check it loses. "solution:A=>B": the reference solution
#: with A replaced by B; anything else is a script of its own (run with the task's context current).
MISTAKES = {
    # The certificate written as kubectl prints it, still base64.
    "failed-csr": ("solution:| base64 -d > {{dir}}/{{colleague}}.crt=>> {{dir}}/{{colleague}}.crt", "certificate"),
    # Both kubelet requests approved: only the forged one's check is lost.
    "node-join-csr": ("kubectl certificate approve {{legit}} {{forged}}", "forged-denied"),
    # notBefore written for the expiry.
    "who-is-this": ("solution:-enddate=>-startdate", "expiry"),
    # The requested duration read instead of the certificate: the denied request is listed too.
    "expiring-certificates": ("""
mkdir -p "$(dirname {{file}})"; : > {{file}}
for user in {{soon1}} {{soon2}} {{later1}} {{later2}} {{refused}}; do
  if [ "$(kubectl get csr "$user" -o jsonpath='{.spec.expirationSeconds}')" -le $(({{hours}} * 3600)) ]; then
    echo "$user" >> {{file}}
  fi
done
""", "nothing-else"),
}


def test_a_typical_mistake_loses_exactly_the_check_it_should(exam: Session) -> None:
    found = loaded(exam)
    for task_id, (script, _) in MISTAKES.items():
        drawn = found.task(task_id)
        if script.startswith("solution:"):
            old, new = script.removeprefix("solution:").split("=>")
            assert old in _solution(task_id), (task_id, old)
            script = _solution(task_id).replace(old, new)
        else:
            script = f"kubectl config use-context {{{{context}}}}\n{script}"
        _bash(exam, script, drawn, clusters.learner_kubeconfig(exam.project), exam.workspace)
    graded = exam.grade(found, only=[found.task(t) for t in MISTAKES], elsewhere=False)
    for task_id, (_, lost) in MISTAKES.items():
        checks = debrief.task_json(found.task(task_id), graded[task_id])["checks"]
        assert [c["name"] for c in checks if not c["passed"]] == [lost], (task_id, checks)
    _setup(exam, found.task("node-join-csr"))  # an approved CSR cannot be denied: new requests


@pytest.mark.parametrize("seed", SEEDS)
def test_the_reference_solution_earns_full_marks(exam: Session, seed: int) -> None:
    if seed == SEEDS[0]:
        drawn = loaded(exam)
    else:  # another attempt's values, set up in the same clusters
        drawn = attempts.draw(seed, None, dt.datetime.now(dt.timezone.utc), 120, True, only=IDS)
        for task in drawn.tasks:
            _setup(exam, task)
    for task in drawn.tasks:
        _bash(exam, _solution(task.id), task, clusters.learner_kubeconfig(exam.project), exam.workspace)
    result = debrief.build(drawn, exam.grade(drawn, elsewhere=False), "")
    failing = [(t["id"], c["name"], c["expected"], c["observed"]) for t in result["tasks"]
               for c in t["checks"] if not c["passed"]]
    assert not failing and result["percent"] == 100.0, (seed, failing)
