"""The exam's node tasks on real local control planes: the controller manager's and the API server's flags.

One exam of the four tasks, set up once (cks-a and cks-b, and a cluster of its own for each task that
breaks its cluster: the CSR signer off, the signer on another CA, an API server that no longer
starts). In order: untouched, every task earns 0 and says what it found (the broken API server's
cluster does not answer, and resume leaves it broken); the signing duration set in the wrong context
earns nothing and says where; one typical mistake per task loses exactly its check; the reference
solutions earn full marks; then two more seeds are set up, solved and graded in the same clusters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from ckslab import cli
from cluster import paths
from cluster.errors import CkslabError
from exam import attempt as attempts
from exam import bank, clusters, debrief
from exam.attempt import Attempt, TaskAttempt
from exam.session import Session, now
from tests.exam_fixture import loaded, started_exam
from graders import runner

pytestmark = pytest.mark.cluster
TASKS = ("signing-duration", "signer-controllers", "signer-files", "broken-apiserver")
SEEDS = (20261206, 7, 31)
OWN = ("signer-controllers", "signer-files", "broken-apiserver")

#: A typical mistake per task (bash, rendered with the attempt's values) and the one check it loses.
MISTAKES = {
    # The proof issued first, the flag set after: the certificate keeps the old 8760h.
    "signing-duration": ("""
kubectl config use-context {{context}}
mkdir -p {{dir}}
openssl req -new -newkey rsa:2048 -nodes -keyout {{dir}}/{{user}}.key -subj "/CN={{user}}" -out {{dir}}/{{user}}.csr 2>/dev/null
cat <<YAML | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: {{user}}}
spec: {request: $(base64 -w0 {{dir}}/{{user}}.csr), signerName: kubernetes.io/kube-apiserver-client, usages: [client auth]}
YAML
kubectl certificate approve {{user}}
kubectl wait csr/{{user}} --for=jsonpath='{.status.certificate}' --timeout=90s
kubectl get csr {{user}} -o jsonpath='{.status.certificate}' | base64 -d > {{dir}}/{{user}}.crt
ckslab node cat /etc/kubernetes/manifests/kube-controller-manager.yaml \\
  | sed 's|^\\( *\\)- kube-controller-manager$|&\\n\\1- --cluster-signing-duration={{hours}}h|' \\
  | ckslab node write /etc/kubernetes/manifests/kube-controller-manager.yaml
for _ in $(seq 90); do ckslab node flags controller-manager 2>/dev/null | grep -q duration= && break; sleep 1; done
""", "certificate"),
    # --controllers replaced by the signer alone: it signs, and every other controller is gone.
    "signer-controllers": ("""
kubectl config use-context {{context}}
ckslab node cat /etc/kubernetes/manifests/kube-controller-manager.yaml | sed 's|--controllers=.*|--controllers=csrsigning|' \\
  | ckslab node write /etc/kubernetes/manifests/kube-controller-manager.yaml
for user in {{first}} {{second}}; do kubectl wait csr/$user --for=jsonpath='{.status.certificate}' --timeout=90s; done
""", "nothing-else"),
    # The signer fixed, but the certificate taken from the CSR the broken signer had issued.
    "signer-files": ("""
ca=$(ckslab node path /etc/kubernetes/pki/ca.crt); key=$(ckslab node path /etc/kubernetes/pki/ca.key)
ckslab node cat /etc/kubernetes/manifests/kube-controller-manager.yaml \\
  | sed -e "s|--cluster-signing-cert-file=.*|--cluster-signing-cert-file=$ca|" -e "s|--cluster-signing-key-file=.*|--cluster-signing-key-file=$key|" \\
  | ckslab node write /etc/kubernetes/manifests/kube-controller-manager.yaml
for _ in $(seq 90); do ckslab node flags controller-manager 2>/dev/null | grep -qx -- "--cluster-signing-key-file=$key" && break; sleep 1; done
mkdir -p {{dir}}
openssl genrsa -out {{dir}}/{{user}}.key 2048 2>/dev/null
kubectl --context {{context}} get csr {{user}} -o jsonpath='{.status.certificate}' | base64 -d > {{dir}}/{{user}}.crt
""", "certificate"),
    # The API server fixed, but the file names the path that was wrong instead of the flag.
    "broken-apiserver": ("""
flags=$(ckslab node cat /etc/kubernetes/manifests/kube-apiserver.yaml | grep -- '--{{flag}}=')
ckslab node cat /etc/kubernetes/manifests/kube-apiserver.yaml | sed -e 's|apiserver-tls.crt|apiserver.crt|' \\
  -e 's|client-ca.crt|ca.crt|' -e 's|--etcd-certfile=\\(.*\\)apiserver-etcd-client.key|--etcd-certfile=\\1apiserver-etcd-client.crt|' \\
  | ckslab node write /etc/kubernetes/manifests/kube-apiserver.yaml
for _ in $(seq 120); do kubectl --context {{context}} get --raw /readyz >/dev/null 2>&1 && break; sleep 1; done
echo "${flags#*=}" > {{cause}}
""", "cause"),
}


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[Session]:
    with started_exam(tmp_path_factory, "exam-node", SEEDS[0], TASKS) as session:
        yield session


def _run_all(exam: Session, drawn: list[TaskAttempt], scripts: dict[str, str]) -> None:
    """Run each task's script (setup.sh, solution.sh or a mistake) at once, each in its own cluster.

    Each gets a copy of the learner's kubeconfig: solutions switch its current context.
    """
    def one(task: TaskAttempt) -> tuple[str, bool, str]:
        with tempfile.TemporaryDirectory(dir=exam.dir) as private:
            script = scripts[task.id]
            if script == "setup.sh":
                ok, out = exam._run(task, script, Path(private), clusters.admin_kubeconfig(exam.project, task.context))
            else:
                kubeconfig = Path(private) / "kubeconfig"
                shutil.copy(clusters.learner_kubeconfig(exam.project), kubeconfig)
                if script == "solution.sh":
                    ok, out = exam._run(task, script, exam.workspace, kubeconfig)
                else:
                    mistake = Path(private) / "mistake.sh"
                    mistake.write_text(bank.render(script, task.values))
                    ok, out = _bash(exam, task, mistake, kubeconfig)
        return task.id, ok, out

    with ThreadPoolExecutor(len(drawn)) as pool:
        for task_id, ok, out in pool.map(one, drawn):
            assert ok, (task_id, out)


def _bash(exam: Session, task: TaskAttempt, script: Path, kubeconfig: Path) -> tuple[bool, str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "CKSLAB_ROOT": str(clusters.root(exam.project, task.context)),
           "PATH": os.pathsep.join([str(paths.kubernetes_bin_dir()), str(Path(sys.executable).parent),
                                    os.environ.get("PATH", "")])}
    done = subprocess.run(["bash", "-e", str(script)], cwd=exam.workspace, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    return done.returncode == 0, done.stdout + done.stderr


def _graded(exam: Session, found: Attempt, **kwargs: object) -> dict[str, debrief.TaskJson]:
    graded = exam.grade(found, **kwargs)  # type: ignore[arg-type]
    return {t.id: debrief.task_json(t, graded.get(t.id)) for t in found.tasks}


def test_start_gives_each_breaking_task_a_cluster_of_its_own_and_names_the_node(
        exam: Session, capsys: pytest.CaptureFixture[str]) -> None:
    found = loaded(exam)
    assert [t.setup_error for t in found.tasks] == [""] * len(TASKS)
    own = [found.task(t).context for t in OWN]
    assert len(set(own)) == 3 and not set(own) & set(attempts.CONTEXTS)
    assert found.task("signing-duration").context in attempts.CONTEXTS
    assert not any(exam.workspace.iterdir())
    with pytest.raises(CkslabError):  # the broken API server does not answer
        runner.check_cluster(clusters.admin_kubeconfig(exam.project, found.task("broken-apiserver").context))
    assert cli.main(["exam", "show", "broken-apiserver"]) == 0
    shown = capsys.readouterr().out
    assert f"ckslab exam ssh {found.task('broken-apiserver').context}" in shown
    assert "/var/log/kube-apiserver.log" in shown


def test_untouched_every_task_earns_0_and_resume_leaves_the_broken_cluster_to_the_candidate(
        exam: Session, capsys: pytest.CaptureFixture[str]) -> None:
    found = loaded(exam)
    shown = _graded(exam, found)
    broken = found.task("broken-apiserver").context
    for task in shown.values():
        assert task["score"] == 0, (task["id"], task["checks"])
        if task["id"] == "broken-apiserver":
            assert task["status"] == debrief.CLUSTER_DOWN and f"context {broken} did not answer" in task["note"]
            continue
        assert task["status"] == debrief.GRADED and task["note"] == "", task
        for check in task["checks"]:
            assert check["observed"] and check["observed"] != check["expected"], check
    # The candidate finds the cause where the statement says: the node's /var/log/kube-apiserver.log.
    argv, env, cwd = clusters.node_shell(exam.project, broken, ["tail", "-n", "40", "var/log/kube-apiserver.log"])
    log = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False).stdout
    assert "no such file" in log or "PEM inputs may have been switched" in log, log[-500:]
    assert cli.main(["exam", "resume"]) == 0
    said = capsys.readouterr()
    assert f"context {broken} is left as it is" in said.err and "kube-apiserver does not start" in said.err


def test_the_signing_duration_set_in_the_wrong_context_earns_nothing_and_says_where(exam: Session) -> None:
    found = loaded(exam)
    drawn = found.task("signing-duration")
    other = next(c for c in attempts.CONTEXTS if c != drawn.context)
    wrong = TaskAttempt(drawn.id, other, {**drawn.values, "context": other}, drawn.weight)
    _run_all(exam, [wrong], {drawn.id: "solution.sh"})
    shown = debrief.task_json(drawn, exam.grade(found, only=[drawn])[drawn.id])
    assert shown["score"] == 0, shown["checks"]
    assert f"found in context {other}" in shown["note"]


def test_one_typical_mistake_per_task_loses_exactly_its_check(exam: Session) -> None:
    found = loaded(exam)
    _run_all(exam, found.tasks, {t: script for t, (script, _check) in MISTAKES.items()})
    shown = _graded(exam, found, elsewhere=False)
    for task_id, (_script, lost) in MISTAKES.items():
        failed = [c["name"] for c in shown[task_id]["checks"] if not c["passed"]]
        assert failed == [lost], (task_id, shown[task_id]["checks"])


def test_the_reference_solutions_earn_full_marks(exam: Session) -> None:
    found = loaded(exam)
    _run_all(exam, found.tasks, {t: "solution.sh" for t in TASKS})
    for task in _graded(exam, found, elsewhere=False).values():
        assert task["score"] == task["max_score"], (task["id"], task["checks"])
    # The time spent, from each context's audit log: signer-files' CSR {{user}}-new and its approval in a
    # cluster of its own (cks-d...), signing-duration's CSR in a shared one.
    spent = exam.time_spent(found, now())
    assert spent["signer-files"] is not None and spent["signing-duration"] is not None, spent


@pytest.mark.parametrize("seed", SEEDS[1:])
def test_two_more_seeds_set_up_and_solved_in_the_same_clusters_earn_full_marks(exam: Session, seed: int) -> None:
    drawn = attempts.draw(seed, None, now(), 120, False, [bank.load(t) for t in TASKS])
    assert set(drawn.contexts) == set(loaded(exam).contexts)
    _run_all(exam, drawn.tasks, {t: "setup.sh" for t in TASKS})
    _run_all(exam, drawn.tasks, {t: "solution.sh" for t in TASKS})
    graded = exam.grade(drawn, elsewhere=False)
    for task in drawn.tasks:
        shown = debrief.task_json(task, graded.get(task.id))
        assert shown["score"] == shown["max_score"], (seed, task.id, task.values, shown["checks"])
