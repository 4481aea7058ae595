"""The mock exam on two real local control planes: one exam, set up once, shared by every test in order.

Untouched, every task earns 0 and each check says what it found; work done in the wrong context
earns nothing and the debrief says where it was; a cluster that went down is said at grading and
started again by resume; every reference solution earns full marks.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from ckslab import cli
from cluster import paths, state
from exam import attempt as attempts
from exam import bank, clusters, debrief
from exam.session import Session
from tests.exam_fixture import loaded, other_context, started_exam

pytestmark = pytest.mark.cluster
SEED = 20261205
#: The tasks of the shared clusters cks-a and cks-b that need no node: the engine's tests here (node tasks,
#: tasks in a cluster of their own, kind's and the API-only ones have modules of their own, test_exam_tasks_*).
SHARED_TASKS = ("user-certificate", "csr-review", "csr-record", "short-certificate", "signer-approver",
                "group-access", "cut-access")
#: Tasks whose reference solution is run in the other context first (their setup needs no object there).
WRONG_CONTEXT = ("user-certificate", "signer-approver")


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[Session]:
    with started_exam(tmp_path_factory, "exam", SEED, SHARED_TASKS) as session:
        yield session


def test_start_sets_every_task_up_in_two_contexts_and_leaves_no_answer_in_the_workspace(exam: Session) -> None:
    found = loaded(exam)
    assert [t.setup_error for t in found.tasks] == [""] * len(found.tasks)
    assert {t.context for t in found.tasks} == set(attempts.CONTEXTS)
    assert sorted(t.id for t in found.tasks) == sorted(SHARED_TASKS)
    kubeconfig = clusters.learner_kubeconfig(exam.project)
    assert all(f"name: {c}" in kubeconfig.read_text() for c in attempts.CONTEXTS)
    assert oct(exam.file.stat().st_mode & 0o777) == "0o600"
    assert not any(exam.workspace.iterdir())  # setup's keys and requests stay in .lab/exam/
    review = found.task("csr-review")
    assert review.values["decoy"] not in kubeconfig.read_text()


def test_untouched_every_task_earns_0_and_each_check_says_what_it_found(exam: Session) -> None:
    found = loaded(exam)
    # Graded elsewhere too: a check of an absence passes in the context the task was never set up in,
    # which must not read as work found there.
    result = debrief.build(found, exam.grade(found), "")
    for task in result["tasks"]:
        assert task["status"] == debrief.GRADED, task
        assert task["score"] == 0, (task["id"], task["checks"])
        assert task["note"] == "", (task["id"], task["note"])
        for check in task["checks"]:
            assert check["expected"] and check["observed"] and check["observed"] != check["expected"], check


def test_work_in_the_wrong_context_earns_nothing_and_says_where_it_was(exam: Session) -> None:
    found = loaded(exam)
    for task_id in WRONG_CONTEXT:
        drawn = found.task(task_id)
        wrong = attempts.TaskAttempt(drawn.id, other_context(drawn.context),
                                     {**drawn.values, "context": other_context(drawn.context)}, drawn.weight)
        ok, output = exam._run(wrong, "solution.sh", exam.workspace, clusters.learner_kubeconfig(exam.project))
        assert ok, output
    graded = exam.grade(found, only=[found.task(t) for t in WRONG_CONTEXT])
    for task_id in WRONG_CONTEXT:
        drawn = found.task(task_id)
        shown = debrief.task_json(drawn, graded[task_id])
        assert shown["score"] == 0, shown["checks"]
        assert graded[task_id].found_in == other_context(drawn.context)
        assert f"found in context {other_context(drawn.context)}" in shown["note"]


def test_a_cluster_down_at_grading_is_said_and_resume_starts_it_again(exam: Session,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    found = loaded(exam)
    down = attempts.CONTEXTS[1]
    recorded = state.read(clusters.backend_for(exam.project, down).lab.state_file)
    assert recorded is not None
    os.kill(int(recorded.details["pids"]["kube-apiserver"]), signal.SIGKILL)
    graded = exam.grade(found, elsewhere=False)
    for drawn in found.tasks:
        if drawn.context == down:
            assert graded[drawn.id].report is None and f"context {down} did not answer" in graded[drawn.id].problem
        else:
            assert graded[drawn.id].report is not None
    seconds_left = found.seconds_left(attempts.dt.datetime.now(attempts.dt.timezone.utc))
    assert cli.main(["exam", "resume"]) == 0
    said = capsys.readouterr().out
    assert f"seed {SEED}" in said and "left" in said
    assert re.search(r"The exam's page, the questions beside a terminal: http://127\.0\.0\.1:\d+/\?token=\S{40,}",
                     said), said  # started in the background; it stops when the exam's clusters go down
    again = loaded(exam)
    assert again.deadline == found.deadline and 0 < seconds_left <= 120 * 60
    assert clusters.backend_for(exam.project, down).status().healthy  # type: ignore[union-attr]


#: A typical mistake per task (bash, rendered with the attempt's values) and the one check it loses.
MISTAKES = {
    "signer-approver": ("""
kubectl apply -f - <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "{{role}}"}
rules:
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [get, list, watch]}
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}
- {apiGroups: [certificates.k8s.io], resources: [signers], resourceNames: ["ckslab.example/*"], verbs: [approve]}
YAML
kubectl create clusterrolebinding {{role}} --clusterrole {{role}} --user {{user}}
""", "one-signer-only"),
    "group-access": ("""
kubectl create role {{role}} -n {{ns}} --verb get,list,watch,delete --resource pods
kubectl create rolebinding {{role}} -n {{ns}} --role {{role}} --group {{group}}
""", "nothing-else"),
    # expirationSeconds of an hour: the CSR's check is lost, not also the certificate's.
    "short-certificate": ("""
mkdir -p {{dir}}
openssl genrsa -out {{dir}}/{{user}}.key 2048 2>/dev/null
openssl req -new -key {{dir}}/{{user}}.key -subj "/CN={{user}}" -out {{dir}}/{{user}}.csr
kubectl apply -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: "{{user}}"}
spec:
  request: $(base64 -w0 {{dir}}/{{user}}.csr)
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 3600
  usages: [client auth]
YAML
kubectl certificate approve {{user}}
kubectl wait csr/{{user}} --for=jsonpath='{.status.certificate}' --timeout=60s
kubectl get csr {{user}} -o jsonpath='{.status.certificate}' | base64 -d > {{dir}}/{{user}}.crt
""", "expiration"),
}
#: What a mistake leaves that the reference solution cannot run over (a CSR's spec cannot change).
UNDO = {"short-certificate": "kubectl delete csr {{user}} && rm -f {{dir}}/{{user}}.*"}


def test_a_typical_mistake_loses_exactly_the_check_it_should(exam: Session) -> None:
    import subprocess

    found = loaded(exam)
    for task_id, (script, _) in MISTAKES.items():
        drawn = found.task(task_id)
        env = {**os.environ, "KUBECONFIG": str(clusters.admin_kubeconfig(exam.project, drawn.context)),
               "PATH": f"{paths.kubernetes_bin_dir()}:{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-euc", bank.render(script, drawn.values)], env=env, capture_output=True,
                              text=True, check=False, cwd=exam.workspace)
        assert done.returncode == 0, done.stderr
    graded = exam.grade(found, only=[found.task(t) for t in MISTAKES], elsewhere=False)
    for task_id, (_, lost) in MISTAKES.items():
        checks = debrief.task_json(found.task(task_id), graded[task_id])["checks"]
        assert [c["name"] for c in checks if not c["passed"]] == [lost], checks
    for task_id, script in UNDO.items():
        drawn = found.task(task_id)
        env = {**os.environ, "KUBECONFIG": str(clusters.admin_kubeconfig(exam.project, drawn.context)),
               "PATH": f"{paths.kubernetes_bin_dir()}:{os.environ['PATH']}"}
        subprocess.run(["bash", "-euc", bank.render(script, drawn.values)], env=env, check=True, cwd=exam.workspace,
                       capture_output=True)


#: Issued CSRs deleted before grading, as the csrcleaner deletes them an hour after issuing: (task, value naming it).
COLLECTED = (("user-certificate", "user"), ("short-certificate", "user"), ("csr-review", "good1"))


def test_every_reference_solution_earns_full_marks(exam: Session, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Also when the garbage collector removed the issued CSRs (their audit trail counts), and the debrief says
    the time spent on each task (from the audit log: none for a task whose work is a file)."""
    import subprocess

    assert cli.main(["exam", "solve", "--yes"]) == 0
    found = loaded(exam)
    for task_id, value in COLLECTED:
        drawn = found.task(task_id)
        subprocess.run([str(paths.kubernetes_bin_dir() / "kubectl"), "delete", "csr", str(drawn.values[value]),
                        "--kubeconfig", str(clusters.admin_kubeconfig(exam.project, drawn.context))],
                       check=True, capture_output=True)
    practice = loaded(exam)  # in practice mode, `check` grades one task before submit
    practice.practice = True
    exam.save(practice)
    capsys.readouterr()
    assert cli.main(["exam", "check", "cut-access"]) == 0
    said = capsys.readouterr().out
    assert "5/5 (context" in said and "leaked-denied" in said and "fail" not in said
    out = tmp_path / "debrief.json"
    html = tmp_path / "debrief.html"
    code = cli.main(["exam", "submit", "--json", str(out), "--html", str(html)])
    said = capsys.readouterr().out
    import json

    result = json.loads(out.read_text())
    failing = [(t["id"], c["name"], c["observed"]) for t in result["tasks"] for c in t["checks"] if not c["passed"]]
    assert not failing
    assert code == 0 and result["percent"] == 100.0 and result["passed"]
    assert all(t["note"] == "" for t in result["tasks"])  # nothing found in the wrong context any more
    assert "Score:" in said and "100.0 %" in said
    assert "<html" in html.read_text()
    spent = {t["id"]: t["seconds"] for t in result["tasks"]}
    assert isinstance(spent["user-certificate"], int) and spent["user-certificate"] >= 0, spent
    assert spent["csr-record"] is None, spent
    short = next(t for t in result["tasks"] if t["id"] == "short-certificate")
    assert "audit log" in short["checks"][0]["observed"], short["checks"]  # the CSR was gone at grading  # its answer is a file: no change through the API
    assert "first to the last change" in result["time_measure"] and "Time spent:" in html.read_text()
    assert "Time spent:" in said
    assert cli.main(["exam", "submit"]) == 1
    assert "already graded" in capsys.readouterr().err


def test_a_setup_that_fails_says_why_in_one_line(exam: Session, tmp_path: Path) -> None:
    drawn = loaded(exam).task("csr-record")
    broken = attempts.TaskAttempt(drawn.id, drawn.context, {**drawn.values, "signer": "Not A Signer!"}, drawn.weight)
    ok, why = exam._run(broken, "setup.sh", tmp_path, clusters.admin_kubeconfig(exam.project, drawn.context))
    assert not ok and "signerName" in why and "\n" not in why


def test_ssh_enters_the_node_of_the_context_named(exam: Session, capfd: pytest.CaptureFixture[str]) -> None:
    for context in attempts.CONTEXTS:
        capfd.readouterr()
        assert cli.main(["exam", "ssh", context, "--", "bash", "-c",
                         "grep -c -- --client-ca-file etc/kubernetes/manifests/kube-apiserver.yaml; "
                         "kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}'; "
                         "type kubeadm | head -1; echo; echo $CKSLAB_ROOT"]) == 0
        said = capfd.readouterr().out.splitlines()
        server = clusters.write_kubeconfig(exam.project, attempts.CONTEXTS)
        import yaml

        doc = yaml.safe_load(server.read_text())
        mine = next(c["cluster"]["server"] for c in doc["clusters"] if c["name"] == context)
        assert said[0] == "1" and said[1].startswith(mine), said
        assert "kubeadm is a function" in said[1] + said[2], said
        assert said[-1] == str(clusters.root(exam.project, context)), said
    # This node's controller manager (ps would list every exam cluster's), with ckslab found also when its
    # venv is not on PATH; and root's home, 0700, as on a real node.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", "/usr/bin:/bin")
        for context in attempts.CONTEXTS:
            argv, env, cwd = clusters.node_shell(exam.project, context, [
                "bash", "-c", "stat -c %a root; ckslab node flags kube-controller-manager"])
            done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
            lines = done.stdout.splitlines()
            assert done.returncode == 0 and lines[0] == "700", (done.stdout, done.stderr)
            other = clusters.root(exam.project, other_context(context))
            assert lines[1].endswith("kube-controller-manager") and f"{clusters.root(exam.project, context)}/" in done.stdout
            assert f"{other}/" not in done.stdout, done.stdout
    capfd.readouterr()
    assert cli.main(["exam", "ssh", "cks-z"]) != 0
    assert "needs a context of this exam (not 'cks-z')" in capfd.readouterr().err
