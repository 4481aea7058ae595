"""The csr-review lab on the real local control plane: its solution, its mistakes, reset, notebook.

Every test reviews the requests of a user of its own (CSR and binding names carry it), so the
tests share the session's cluster without touching each other's objects. A mistake is made the
way a learner makes it (`kubectl certificate approve/deny` with the admin kubeconfig), then the
lab is graded as `ckslab grade` does.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from notebook_run import run_learner_copy

from cluster import binaries
from cluster.backends.local import LocalBackend

pytestmark = pytest.mark.cluster
LAB = "csr-review"
REQUESTERS = ("alice", "bob", "carol", "dave", "erin")
KUBECTL_DENY = "KubectlDeny: This CSR was denied by kubectl certificate deny"


def ckslab(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CKSLAB_ROOT": str(root)}
    env.pop("CKSLAB_USER", None)
    return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


class Review:
    """One learner's review: its user, and kubectl with the admin kubeconfig of the shared cluster."""

    def __init__(self, cluster: LocalBackend, user: str) -> None:
        self.root, self.user = cluster.lab.root, user
        self.kubeconfig = cluster.kubeconfig()

    def csr(self, who: str) -> str:
        return f"{self.user}-{who}"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace" / f"{LAB}-{self.user}"

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binaries.cached().kubectl), *args], input=stdin, capture_output=True,
                              text=True, env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
                              timeout=60, check=check)

    def start(self) -> None:
        started = ckslab(self.root, "start", LAB, "--user", self.user, "--again")  # every request pending again
        assert started.returncode == 0, started.stdout + started.stderr

    def decide(self, approve: tuple[str, ...] = (), deny: tuple[str, ...] = ()) -> None:
        """Approve and deny with kubectl, then wait for the signer to act on what was approved."""
        if approve:
            self.kubectl("certificate", "approve", *map(self.csr, approve))
        if deny:
            self.kubectl("certificate", "deny", *map(self.csr, deny))
        for who in approve:
            done = "condition=Failed" if who == "erin" else "jsonpath={.status.certificate}"
            self.kubectl("wait", f"csr/{self.csr(who)}", f"--for={done}", "--timeout=60s")

    def steps(self, tmp_path: Path) -> dict[str, dict[str, Any]]:
        out = tmp_path / f"{self.user}-{secrets.token_hex(2)}.json"
        graded = ckslab(self.root, "grade", LAB, "--user", self.user, "--json", str(out))
        assert out.is_file(), graded.stdout + graded.stderr
        return {s["id"]: s for s in json.loads(out.read_text())["steps"]}

    def failing(self, tmp_path: Path) -> dict[str, str]:
        """The failing steps of a grading run, with their messages."""
        return {i: s["message"] for i, s in self.steps(tmp_path).items() if not s["passed"]}

    def clean_up(self, *extra_csrs: str) -> None:
        self.kubectl("delete", "csr", *map(self.csr, REQUESTERS), *extra_csrs, "--ignore-not-found")
        self.kubectl("delete", f"clusterrolebinding/{self.user}-ops-admins",
                     f"clusterrolebinding/{self.user}-csr-requesters", f"clusterrole/{self.user}-csr-requester",
                     "--ignore-not-found")


@pytest.fixture
def review(local_cluster: LocalBackend) -> Iterator[Review]:
    learner = Review(local_cluster, f"rv-{secrets.token_hex(3)}")
    yield learner
    learner.clean_up(f"{learner.user}-dave-again")


def fresh_messages(u: str) -> dict[str, str]:
    return {
        "approve-legitimate": f"The CSR {u}-alice is still Pending: it has no Approved condition.",
        "deny-cluster-admin-group": f"The CSR {u}-carol is still Pending: it has no Denied condition.",
        "deny-control-plane-cn": f"The CSR {u}-dave is still Pending: it has no Denied condition.",
        "deny-server-auth": f"The CSR {u}-erin is still Pending: it has no Denied condition.",
        "no-privileged-certificate": (
            f"The CSR {u}-carol is still Pending: until it is denied, anyone allowed to approve can still "
            f"issue its certificate, for CN={u}-carol, O={u}-developers, O={u}-ops-admins (digital "
            "signature, key encipherment, client auth)."),
    }


def test_the_reference_solution_earns_full_marks_and_grading_changes_nothing(review: Review,
                                                                            tmp_path: Path) -> None:
    solved = ckslab(review.root, "solve", LAB, "--user", review.user, "--yes")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    names = [review.csr(w) for w in REQUESTERS]
    versions = review.kubectl("get", "csr", *names, "-o", "jsonpath={.items[*].metadata.resourceVersion}").stdout
    steps = review.steps(tmp_path)
    assert all(s["passed"] for s in steps.values()), steps
    assert sum(s["points"] for s in steps.values()) == 100
    assert review.kubectl("get", "csr", *names, "-o", "jsonpath={.items[*].metadata.resourceVersion}").stdout == versions
    conditions = review.kubectl("get", "csr", *names, "-o",
                                "jsonpath={range .items[*]}{.status.conditions[*].type} {end}").stdout.split()
    assert conditions == ["Approved", "Approved", "Denied", "Denied", "Denied"]


def test_a_fresh_start_fails_every_step_with_its_own_message(review: Review, tmp_path: Path) -> None:
    review.start()
    assert review.failing(tmp_path) == fresh_messages(review.user)
    requestor = review.kubectl("get", "csr", review.csr("dave"), "-o", "jsonpath={.spec.username}").stdout
    assert requestor == review.csr("dave")  # submitted as its requester, not as the admin
    assert (review.workspace / "requests" / f"{review.csr('dave')}.csr").is_file()


def test_a_lab_never_started_says_so_in_every_step(review: Review, tmp_path: Path) -> None:
    """A learner who skipped the notebook's `ckslab start csr-review` cell has nothing to review."""
    failing = review.failing(tmp_path)
    assert sorted(failing) == sorted(fresh_messages(review.user)), failing
    for message in failing.values():
        assert message.startswith("None of the lab's five requests (") and "the lab has not been started" in message
        assert "a refusal is a denial" not in message


def test_reset_submits_every_request_again_and_refuses_a_single_step(review: Review, tmp_path: Path) -> None:
    assert ckslab(review.root, "solve", LAB, "--user", review.user, "--yes").returncode == 0
    old_key = (review.workspace / "requests" / f"{review.csr('alice')}.key").read_bytes()
    reset = ckslab(review.root, "reset", LAB, "--user", review.user)
    assert reset.returncode == 0, reset.stderr
    assert review.failing(tmp_path) == fresh_messages(review.user)
    assert (review.workspace / "requests" / f"{review.csr('alice')}.key").read_bytes() != old_key
    backups = list((review.root / "workspace" / ".backup").glob(f"{LAB}-{review.user}-*"))
    assert len(backups) == 1 and (backups[0] / "requests" / f"{review.csr('alice')}.key").read_bytes() == old_key
    refused = ckslab(review.root, "reset", LAB, "--user", review.user, "--step", "deny-server-auth")
    assert refused.returncode == 2 and "a reset cannot start at the step deny-server-auth" in refused.stderr


def test_approving_everything(review: Review, tmp_path: Path) -> None:
    review.start()
    review.decide(approve=REQUESTERS)
    u = review.user
    assert review.failing(tmp_path) == {
        "deny-cluster-admin-group": (
            f"The CSR {u}-carol was approved and the cluster issued its certificate, for CN={u}-carol, "
            f"O={u}-developers, O={u}-ops-admins: O={u}-ops-admins puts its holder in the group "
            f"{u}-ops-admins, which the ClusterRoleBinding {u}-ops-admins makes cluster-admin. It should "
            "have been denied."),
        "deny-control-plane-cn": (
            f"The CSR {u}-dave was approved and the cluster issued its certificate, for "
            "CN=system:kube-controller-manager: CN=system:kube-controller-manager authenticates as the "
            "controller manager, which may read every Secret and create a token for any service account. "
            "It should have been denied."),
        "deny-server-auth": (
            f"You approved a server auth request: the signer marked the CSR {u}-erin Failed "
            "(SignerValidationFailure: invalid usage for client certificate: server auth); it should have "
            "been denied."),
        "no-privileged-certificate": (
            f"The CSR {u}-carol has an issued certificate, for CN={u}-carol, O={u}-developers, "
            f"O={u}-ops-admins: its holder is cluster-admin through the ClusterRoleBinding {u}-ops-admins "
            "until it expires (a client certificate cannot be revoked)."),
    }


def test_denying_a_legitimate_request(review: Review, tmp_path: Path) -> None:
    review.start()
    review.decide(approve=("alice",), deny=("bob", "carol", "dave", "erin"))
    u = review.user
    assert review.failing(tmp_path) == {"approve-legitimate": (
        f"The CSR {u}-bob was denied ({KUBECTL_DENY}), but it is legitimate: it asks for CN={u}-bob, "
        f"O={u}-developers (digital signature, key encipherment, client auth). A denial cannot be withdrawn.")}


def test_leaving_the_control_plane_request_pending(review: Review, tmp_path: Path) -> None:
    review.start()
    review.decide(approve=("alice", "bob"), deny=("carol", "erin"))
    u = review.user
    assert review.failing(tmp_path) == {
        "deny-control-plane-cn": f"The CSR {u}-dave is still Pending: it has no Denied condition.",
        "no-privileged-certificate": (
            f"The CSR {u}-dave is still Pending: until it is denied, anyone allowed to approve can still issue "
            "its certificate, for CN=system:kube-controller-manager (digital signature, key encipherment, "
            "client auth)."),
    }


def test_approving_the_server_auth_request(review: Review, tmp_path: Path) -> None:
    review.start()
    review.decide(approve=("alice", "bob", "erin"), deny=("carol", "dave"))
    assert review.failing(tmp_path) == {"deny-server-auth": (
        f"You approved a server auth request: the signer marked the CSR {review.user}-erin Failed "
        "(SignerValidationFailure: invalid usage for client certificate: server auth); it should have been "
        "denied.")}


def test_approving_the_cluster_admin_group_request(review: Review, tmp_path: Path) -> None:
    review.start()
    review.decide(approve=("alice", "bob", "carol"), deny=("dave", "erin"))
    failing = review.failing(tmp_path)
    u = review.user
    assert set(failing) == {"deny-cluster-admin-group", "no-privileged-certificate"}
    assert failing["deny-cluster-admin-group"].startswith(f"The CSR {u}-carol was approved and the cluster "
                                                          "issued its certificate")
    assert failing["no-privileged-certificate"] == (
        f"The CSR {u}-carol has an issued certificate, for CN={u}-carol, O={u}-developers, O={u}-ops-admins: "
        f"its holder is cluster-admin through the ClusterRoleBinding {u}-ops-admins until it expires (a "
        "client certificate cannot be revoked).")


def test_a_privileged_request_approved_under_another_name(review: Review, tmp_path: Path) -> None:
    assert ckslab(review.root, "solve", LAB, "--user", review.user, "--yes").returncode == 0
    manifest = (review.workspace / "requests" / f"{review.csr('dave')}-csr.yaml").read_text()
    again = f"{review.user}-dave-again"  # cleaned up by the fixture
    review.kubectl("create", "-f", "-", stdin=manifest.replace(f"name: {review.csr('dave')}", f"name: {again}"))
    review.kubectl("certificate", "approve", again)
    review.kubectl("wait", f"csr/{again}", "--for=jsonpath={.status.certificate}", "--timeout=60s")
    assert review.failing(tmp_path) == {"no-privileged-certificate": (
        f"The CSR {again} (requested by kubernetes-admin) has an issued certificate with the key of the request "
        f"{review.csr('dave')}, for CN=system:kube-controller-manager: its holder is the controller manager, "
        "with every Secret and every service account's token, until it expires (a client certificate cannot "
        "be revoked).")}


def test_a_denial_without_a_reason(review: Review, tmp_path: Path) -> None:
    review.start()
    review.decide(approve=("alice", "bob"), deny=("carol", "erin"))
    review.kubectl("patch", "csr", review.csr("dave"), "--subresource=approval", "--type=merge", "-p",
                   '{"status": {"conditions": [{"type": "Denied", "status": "True"}]}}')
    assert review.failing(tmp_path) == {"deny-control-plane-cn": (
        f"The CSR {review.user}-dave is denied without saying why: its Denied condition has no reason and no "
        "message.")}


def test_deleting_a_request_instead_of_denying_it(review: Review, tmp_path: Path) -> None:
    review.start()
    review.decide(approve=("alice", "bob"), deny=("dave", "erin"))
    review.kubectl("delete", "csr", review.csr("carol"))
    u = review.user
    assert review.failing(tmp_path) == {
        "deny-cluster-admin-group": (
            f"There is no CSR {u}-carol in the cluster: it was deleted (a refusal is a denial, not a "
            "deletion), or the controller manager removed it an hour after it was decided, so its review "
            "cannot be checked."),
        "no-privileged-certificate": (
            f"There is no CSR {u}-carol any more, so nothing shows that no certificate was issued for it; a "
            "privileged request must be denied, not deleted."),
    }


def test_the_notebook_runs_and_earns_full_marks(local_cluster: LocalBackend, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(local_cluster.lab.root))
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    _path, _nb, outputs = run_learner_copy(LAB)
    assert "[FAIL]" not in outputs and "Score: 100/100, every step passes." in outputs
    assert ("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"
            in outputs)
    report_file = tmp_path / "report.json"
    graded = subprocess.run([sys.executable, "-m", "ckslab", "grade", LAB, "--json", str(report_file)],
                            capture_output=True, text=True, env=os.environ.copy(), timeout=300, check=False)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    report = json.loads(report_file.read_text())
    assert report["score"] == report["max_score"] == 100 and report["passed"] is True
    workspace = local_cluster.lab.root / "workspace" / LAB
    assert not list((workspace / "requests").glob("*mallory*"))  # the demo cleaned up after itself
    Review(local_cluster, "reviewer").clean_up()
