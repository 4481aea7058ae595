"""The exam's kubelet tasks on a real kubelet: the kind context cks-k, set up once for the module.

One exam of the two tasks (kubelet-serving, kubelet-ca) in one kind cluster, named after
KIND_CLUSTER_NAME=ckslab-examkind and deleted at the end. Untouched, both earn 0 and each check says
what it found; a typical mistake each loses exactly its check; then, for each of three more seeds in
the same cluster, the tasks are set up again over the earlier work (each earns 0 again: setup undoes
serverTLSBootstrap, the saved serving certificate, the old CSRs and --kubelet-certificate-authority),
solved (each reference solution earns full marks) and graded, and the API server must not restart
after the solutions said they were done. The kind cluster and the API server's restarts (two a seed)
cost most of this module's time. Work in the wrong context is not tried: the
other contexts are local control planes without a kubelet, where these tasks cannot be done at all.
Where kind cannot run the module skips, and under CI=true fails.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from cluster import paths
from cluster.backends import kind as kind_backend
from cluster.backends.kind import KindBackend
from cluster.paths import LabPaths
from exam import attempt as attempts
from exam import bank, clusters, debrief
from exam.attempt import Attempt
from exam.session import Session
from tests.conftest import cannot_run

pytestmark = pytest.mark.cluster
SEED = 20261206
#: The reference solutions' seeds (other values: forged CSR, forger, namespace, pod, log line), each set up again in
#: the cluster of the earlier ones, as `ckslab exam solve` and a reused cluster do. Two faults made later seeds fail
#: before (an API server connection reset; no serving CSR from the kubelet in 120 s): kubelet-ca's setup left the
#: flag an earlier solution had added, and its solution edited the manifest in two steps (sed -i twice), so the
#: solution's wait was met by the old API server while the kubelet went on to restart it once or twice more.
SOLUTION_SEEDS = (11, 22, 33)
TASKS = ("kubelet-serving", "kubelet-ca")


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[Session]:
    kind = clusters.kind_available()
    if not kind.ok:
        cannot_run(f"kind cannot run here: {kind.reason}")
    root = tmp_path_factory.mktemp("examkind")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CKSLAB_ROOT", str(root))
        mp.setenv("KIND_CLUSTER_NAME", "ckslab-examkind")
        session = Session(LabPaths(root))
        try:
            session.start(SEED, None, 120, False, lambda _m: None, only=TASKS)
            yield session
        finally:
            clusters.down(session.project, attempts.KNOWN_CONTEXTS, lambda _m: None)


def _attempt(exam: Session) -> Attempt:
    found = exam.load()
    assert found is not None
    return found


def _in_context(exam: Session, script: str, context: str = "cks-k") -> str:
    """Run ``script`` as setup and solutions run (admin kubeconfig, the context's `ckslab node`); its output."""
    env = {**os.environ, "KUBECONFIG": str(clusters.admin_kubeconfig(exam.project, context)),
           "CKSLAB_ROOT": str(clusters.root(exam.project, context)),
           "PATH": os.pathsep.join([str(paths.kubernetes_bin_dir()), str(Path(sys.executable).parent),
                                    os.environ["PATH"]])}
    done = subprocess.run(["bash", "-euc", script], env=env, capture_output=True, text=True, check=False,
                          cwd=exam.workspace, timeout=420)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_start_sets_the_kubelet_tasks_up_in_the_kind_context(exam: Session) -> None:
    found = _attempt(exam)
    assert [(t.id, t.context, t.setup_error) for t in found.tasks] == [(t, "cks-k", "") for t in sorted(
        TASKS, key=[t.id for t in found.tasks].index)]
    assert found.contexts == ("cks-a", "cks-b", "cks-k")
    kind = clusters.backend_for(exam.project, "cks-k")
    assert isinstance(kind, KindBackend) and kind.cluster_name.startswith("ckslab-examkind-exam-")
    assert "name: cks-k" in clusters.learner_kubeconfig(exam.project).read_text()
    assert not any(exam.workspace.iterdir())  # the forged request's key stays in .lab/exam/
    # ckslab exam ssh cks-k -- CMD: the engine's exec into the kind node, kubectl there as the admin.
    argv, env, cwd = clusters.node_shell(exam.project, "cks-k", ["kubectl", "get", "nodes", "-o", "name"])
    shown = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    assert shown.stdout.strip() == f"node/{kind.cluster_name}-control-plane", shown.stderr


def test_untouched_both_tasks_earn_0_and_each_check_says_what_it_found(exam: Session) -> None:
    found = _attempt(exam)
    result = debrief.build(found, exam.grade(found), "")
    assert [t["id"] for t in result["tasks"]] == [t.id for t in found.tasks]
    for task in result["tasks"]:
        assert task["status"] == debrief.GRADED, task
        assert task["score"] == 0 and task["note"] == "", (task["id"], task["checks"], task["note"])
        for check in task["checks"]:
            assert check["expected"] and check["observed"] and check["observed"] != check["expected"], check


#: A typical mistake per task and the one check it loses. kubelet-serving: every pending CSR approved at once
#: (the forgery too). kubelet-ca: the aggregation layer's CA (front-proxy-ca.crt) named instead of the cluster's.
MISTAKES = {
    "kubelet-serving": ("""
node=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
ckslab node exec -- sh -c "echo 'serverTLSBootstrap: true' >> /var/lib/kubelet/config.yaml; systemctl restart kubelet"
serving() { kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving \
  -o jsonpath="{range .items[?(@.spec.username=='system:node:$node')]}{.metadata.name}{'\\n'}{end}"; }
end=$((SECONDS + 180))
until [ -n "$(serving)" ]; do [ $SECONDS -lt $end ] || { echo "180 s: no serving CSR of $node" >&2; exit 1; }; sleep 1; done
kubectl certificate approve $(kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving -o name)
kubectl wait "csr/$(serving | tail -1)" --for=jsonpath='{.status.certificate}' --timeout=120s
until ckslab node exec -- test -e /var/lib/kubelet/pki/kubelet-server-current.pem; do
  [ $SECONDS -lt $end ] || { echo "180 s: no kubelet-server-current.pem" >&2; exit 1; }; sleep 1
done
sleep 2
""", "forged-denied"),
    "kubelet-ca": ("""
m=/etc/kubernetes/manifests/kube-apiserver.yaml
ckslab node cat $m | sed 's#^\\( *\\)- --kubelet-client-key=.*#&\\n\\1- --kubelet-certificate-authority=/etc/kubernetes/pki/front-proxy-ca.crt#' \
  | ckslab node write $m
end=$((SECONDS + 300))
until ckslab node flags kube-apiserver 2>/dev/null | grep -q -- '--kubelet-certificate-authority=' \
    && kubectl get --raw /readyz >/dev/null 2>&1; do
  [ $SECONDS -lt $end ] || { echo "300 s: no kube-apiserver with the flag answering /readyz" >&2; exit 1; }; sleep 1
done
""", "logs-verified"),
}


def test_a_typical_mistake_loses_exactly_the_check_it_should(exam: Session) -> None:
    found = _attempt(exam)
    for task_id, (script, _) in MISTAKES.items():
        _in_context(exam, bank.render(script, found.task(task_id).values))
    graded = exam.grade(found, elsewhere=False)
    for task_id, (_, lost) in MISTAKES.items():
        checks = debrief.task_json(found.task(task_id), graded[task_id])["checks"]
        assert [c["name"] for c in checks if not c["passed"]] == [lost], checks


@pytest.mark.parametrize("seed", SOLUTION_SEEDS)
def test_the_reference_solutions_earn_full_marks(exam: Session, seed: int) -> None:
    """Each seed's tasks are set up again over the earlier seeds' work (each earns 0 again), solved and graded in
    the same cluster (names and values differ); the API server that answered the solutions keeps running."""
    drawn = attempts.draw(seed, None, dt.datetime.now(dt.timezone.utc), 120, False, [bank.load(t) for t in TASKS])
    for task in drawn.tasks:
        with tempfile.TemporaryDirectory(prefix="setup-", dir=exam.dir) as private:
            ok, output = exam._run(task, "setup.sh", Path(private), clusters.admin_kubeconfig(exam.project, task.context))
        assert ok, (task.id, output)
    untouched = exam.grade(drawn, elsewhere=False)  # one grading process for both tasks
    for task in drawn.tasks:
        shown = debrief.task_json(task, untouched[task.id])
        assert shown["status"] == debrief.GRADED and shown["score"] == 0, ("set up again", seed, shown["checks"])
    for task in drawn.tasks:
        ok, output = exam._run(task, "solution.sh", exam.workspace, clusters.learner_kubeconfig(exam.project))
        assert ok, (task.id, output)
    node = clusters.backend_for(exam.project, "cks-k").node()
    answered = node.process_of("kube-apiserver")  # its pid: the API server the solutions waited for
    solved = exam.grade(drawn, elsewhere=False)
    for task in drawn.tasks:
        shown = debrief.task_json(task, solved[task.id])
        assert shown["score"] == shown["max_score"] == task.weight, (seed, task.id, task.values, shown["checks"])
    assert node.process_of("kube-apiserver") == answered, "the kubelet restarted the API server after the solutions"


def test_exam_down_deletes_the_kind_cluster(exam: Session) -> None:
    """Last: `ckslab exam down` (clusters.down of every known context) deletes the exam's kind cluster."""
    kind = clusters.backend_for(exam.project, "cks-k")
    assert isinstance(kind, KindBackend)
    node = f"{kind.cluster_name}-control-plane"
    clusters.down(exam.project, attempts.KNOWN_CONTEXTS, lambda _m: None)
    listed = subprocess.run([kind_backend.engine()[1], "ps", "-a", "--format", "{{.Names}}"], capture_output=True,
                            text=True, check=False, timeout=60)
    assert listed.returncode == 0 and node not in listed.stdout.split()
    assert not kind.lab.state_file.exists()
