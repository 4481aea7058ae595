"""The exam's PKI node tasks (kubeadm-renew, apiserver-san, sign-by-hand, find-signing-ca) on local control planes.

One exam of only these tasks, set up once (three clusters: apiserver-san asks for one of its own, cks-c). Untouched,
each earns 0 and every check says what it found; the right answer on the other shared cluster earns
nothing and the debrief says where it was; a typical mistake loses exactly its check; the reference
solutions earn full marks under three seeds. The slow parts (restarts of the API server, the controller
manager and the scheduler: 10 to 30 s each on a loaded 2-core machine) run one thread per cluster, so
the clusters restart side by side; work on one cluster stays in order.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import pytest

from cluster import paths
from exam import attempt as attempts
from exam import bank, clusters, debrief
from exam.attempt import TaskAttempt
from exam.session import Session
from tests.exam_fixture import loaded, other_context, started_exam

pytestmark = pytest.mark.cluster
TASKS = ("kubeadm-renew", "apiserver-san", "sign-by-hand", "find-signing-ca")
SEEDS = (20261206, 424242, 77)
NOW = dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[Session]:
    # Three reference solutions restarting their API servers side by side on a loaded 2-core machine
    # (load average 30 to 50 while this was written) take longer than the session's 180 s for one.
    with started_exam(tmp_path_factory, "exam-pki", SEEDS[0], TASKS, script_timeout=420) as session:
        yield session


def _in(drawn: TaskAttempt, context: str) -> TaskAttempt:
    """``drawn`` with its values, set in ``context`` (its cluster, and the "context" its scripts switch to)."""
    return TaskAttempt(drawn.id, context, {**drawn.values, "context": context}, drawn.weight)


def _bash(exam: Session, context: str, script: str, values: dict[str, object]) -> None:
    """Run ``script`` rendered with ``values`` as the task's scripts run: on ``context``'s node and cluster."""
    env = {**os.environ, "KUBECONFIG": str(clusters.admin_kubeconfig(exam.project, context)),
           "CKSLAB_ROOT": str(clusters.root(exam.project, context)),
           "PATH": os.pathsep.join([str(paths.kubernetes_bin_dir()), str(Path(sys.executable).parent),
                                    os.environ["PATH"]])}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", bank.render(script, values)], env=env,
                          capture_output=True, text=True, check=False, cwd=exam.workspace, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _by_cluster(jobs: list[tuple[str, Callable[[], None]]]) -> None:
    """Run the jobs, in order on each cluster, the clusters side by side; re-raise the first failure."""
    queues: dict[str, list[Callable[[], None]]] = defaultdict(list)
    for context, job in jobs:
        queues[context].append(job)

    def run(queue: list[Callable[[], None]]) -> None:
        for job in queue:
            job()

    with ThreadPoolExecutor(len(queues)) as pool:
        for future in [pool.submit(run, q) for q in queues.values()]:
            future.result()


def _checks(exam: Session, drawn: TaskAttempt, context: str | None = None) -> list[dict[str, object]]:
    steps: list[dict[str, object]] = exam.grade_task(drawn, context or drawn.context)["steps"]  # type: ignore[assignment]
    return steps


def test_untouched_earns_0_and_the_right_answer_in_the_wrong_context_is_found_there(exam: Session) -> None:
    """One grading: every task untouched in its own context; sign-by-hand's answer and kubeadm-renew's report
    made on the other shared cluster earn nothing, and the debrief says where they were found.
    apiserver-san's answer is not made elsewhere: that restarts another API server (30 s on a loaded
    machine); its "san" check reads no setup record, so the same search finds it where it was done.
    find-signing-ca's neither: its answers are about a certificate setup leaves on its own node only."""
    found = loaded(exam)
    assert [t.setup_error for t in found.tasks] == [""] * len(TASKS)
    assert found.task("apiserver-san").context == "cks-c"
    assert not any(exam.workspace.iterdir())
    where = found.task("find-signing-ca")
    folder = Path(clusters.backend_for(exam.project, where.context).node().path(str(where.values["dir"])))
    assert sorted(p.name for p in folder.iterdir()) == [f"{where.values['name']}.crt"]  # no key, no answer
    sign, renew = found.task("sign-by-hand"), found.task("kubeadm-renew")
    node = Path(clusters.backend_for(exam.project, renew.context).node().path("/"))
    assert not (node / str(renew.values["report"]).lstrip("/")).exists()
    # The admin's copy holds admin.conf as setup left it: nothing to refresh yet is no answer.
    assert (node / str(renew.values["kubeconfig"]).lstrip("/")).read_bytes() == \
        (node / "etc/kubernetes/admin.conf").read_bytes()
    wrong_sign = _in(sign, other_context(sign.context))
    _by_cluster([
        (wrong_sign.context, lambda: _run_ok(exam, wrong_sign, "solution.sh")),
        (other_context(renew.context), lambda: _bash(exam, other_context(renew.context), """
mkdir -p "$(dirname "$(ckslab node path {{report}})")"
printf '%s\\n' {{first}} {{second}} > "$(ckslab node path {{report}})"
""", renew.values)),
    ])
    graded = exam.grade(found)
    result = debrief.build(found, graded, "")
    for task in result["tasks"]:
        assert task["status"] == debrief.GRADED and task["score"] == 0, (task["id"], task["checks"])
        for check in task["checks"]:
            assert check["expected"] and check["observed"] and check["observed"] != check["expected"], check
    for drawn in (sign, renew):
        assert graded[drawn.id].found_in == other_context(drawn.context), drawn.id
        assert f"found in context {other_context(drawn.context)}" in debrief.task_json(drawn, graded[drawn.id])["note"]
    assert graded["apiserver-san"].found_in == "" and graded["find-signing-ca"].found_in == ""


def _run_ok(exam: Session, drawn: TaskAttempt, script: str) -> None:
    """Run a task's setup or solution as the session does; solutions side by side each get a copy of the
    learner's kubeconfig (``kubectl config use-context`` rewrites it: two at once would race)."""
    kubeconfig = clusters.admin_kubeconfig(exam.project, drawn.context)
    if script == "solution.sh":
        kubeconfig = exam.dir / f"kubeconfig-{drawn.context}"
        kubeconfig.write_bytes(clusters.learner_kubeconfig(exam.project).read_bytes())
    ok, output = exam._run(drawn, script, exam.workspace if script == "solution.sh" else exam.dir, kubeconfig)
    assert ok, f"{drawn.id} {script}: {output}"


#: A typical mistake per task (bash on the task's node, rendered with its values) and the one check it loses.
MISTAKES = {
    # Renewed, the copy refreshed, the report right, but nothing restarted: the controller manager and
    # the scheduler still authenticate with the certificates they loaded when they started.
    "kubeadm-renew": ("""
cd "$(ckslab node path /)"
printf '%s\\n' {{first}} {{second}} > .{{report}}
ckslab node kubeadm certs renew all
cp etc/kubernetes/admin.conf .{{kubeconfig}}
""", "running"),
    # kubeadm certs renew keeps the SANs of the certificate it renews: no new name.
    "apiserver-san": ("""
ckslab node kubeadm certs renew apiserver
ckslab controlplane restart apiserver
""", "san"),
    # openssl x509 -req without -days signs for 30 days.
    "sign-by-hand": ("""
cd "$(ckslab node path /)"
mkdir -p .{{dir}}
openssl genrsa -out .{{dir}}/{{user}}.key 2048
openssl req -new -key .{{dir}}/{{user}}.key -subj "/CN={{user}}/O={{group}}" -out .{{dir}}/{{user}}.csr
openssl x509 -req -in .{{dir}}/{{user}}.csr -CA etc/kubernetes/pki/ca.crt -CAkey etc/kubernetes/pki/ca.key \
  -CAcreateserial -out .{{dir}}/{{user}}.crt
""", "validity"),
    # pki/ca.crt for a certificate signed by another CA (etcd's is also named ca.crt, in pki/etcd/).
    "find-signing-ca": ("""
cd "$(ckslab node path /)"
echo /etc/kubernetes/pki/ca.crt > .{{dir}}/{{name}}-ca.txt
date -u -d "$(openssl x509 -in .{{dir}}/{{name}}.crt -noout -enddate | cut -d= -f2)" +%F > .{{dir}}/{{name}}-expires.txt
""", "ca-path"),
}


def test_a_typical_mistake_loses_exactly_its_check(exam: Session) -> None:
    found = loaded(exam)
    drawn = {task_id: found.task(task_id) for task_id in MISTAKES}
    _by_cluster([(d.context, lambda d=d: _bash(exam, d.context, MISTAKES[d.id][0], d.values))  # type: ignore[misc]
                 for d in drawn.values()])
    graded = exam.grade(found, only=list(drawn.values()), elsewhere=False)
    for task_id, (_, lost) in MISTAKES.items():
        checks = debrief.task_json(drawn[task_id], graded[task_id])["checks"]
        assert [c["name"] for c in checks if not c["passed"]] == [lost], checks


def test_every_reference_solution_earns_full_marks_under_three_seeds(exam: Session) -> None:
    """Seed 1 is the attempt (set up again after its mistakes); seeds 2 and 3 are set up and solved on the same clusters,
    each task of a seed on a cluster chosen so that every cluster runs about the same work."""
    found = loaded(exam)
    pool = [bank.load(t) for t in TASKS]
    runs: list[TaskAttempt] = list(found.tasks)
    shift = {"cks-a": "cks-b", "cks-b": "cks-c", "cks-c": "cks-a"}
    for i, seed in enumerate(SEEDS[1:], 1):
        for drawn in attempts.draw(seed, None, NOW, 120, False, pool).tasks:
            context = runs[[t.id for t in runs].index(drawn.id)].context
            for _ in range(i):
                context = shift[context]
            runs.append(_in(drawn, context))
    assert len({str(sorted(r.values.items())) for r in runs}) == len(runs)  # three different draws
    results: dict[int, list[dict[str, object]]] = {}

    def solve(n: int, drawn: TaskAttempt) -> None:
        # The attempt's own tasks are set up again too: after its mistake (kubeadm certs renew all) nothing
        # expires soon any more, so kubeadm-renew's report would rightly name nothing.
        _run_ok(exam, drawn, "setup.sh")
        _run_ok(exam, drawn, "solution.sh")
        results[n] = _checks(exam, drawn)

    _by_cluster([(d.context, lambda n=n, d=d: solve(n, d)) for n, d in enumerate(runs)])  # type: ignore[misc]
    for n, drawn in enumerate(runs):
        failing = [(s["id"], s["message"]) for s in results[n] if not s["passed"]]
        assert not failing, (drawn.id, drawn.context, drawn.values, failing)
