"""The expiry-rotation lab on the real local control plane: solve, grade, each mistake, reset, notebook.

Every test works as its own user, so its CSRs (<user>-original, <user>-renewed, <user>-ci) and the
ClusterRoleBinding <user>-ci-view are its own; they are deleted afterwards.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from lab_learner import LabLearner
from notebook_run import run_learner_copy

from cluster import binaries
from cluster.backends.local import LocalBackend

pytestmark = pytest.mark.cluster
LAB = "expiry-rotation"

# A renewal the way a learner might do it: KEY and the CSR's extra spec line are filled in.
RENEW = """
openssl req -new -key {key} -subj "/CN=$CKSLAB_USER" -out $CKSLAB_USER-renewed.csr
kubectl delete csr $CKSLAB_USER-renewed --ignore-not-found
kubectl apply -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $CKSLAB_USER-renewed
spec:
  request: $(base64 -w 0 $CKSLAB_USER-renewed.csr)
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
  {spec}
YAML
kubectl certificate approve $CKSLAB_USER-renewed
kubectl wait csr/$CKSLAB_USER-renewed --for=jsonpath='{{.status.certificate}}' --timeout=60s
kubectl get csr $CKSLAB_USER-renewed -o jsonpath='{{.status.certificate}}' | base64 -d > $CKSLAB_USER-renewed.crt
kubectl config set-credentials $CKSLAB_USER --client-certificate=$CKSLAB_USER-renewed.crt \
  --client-key={key} --embed-certs --kubeconfig=$CKSLAB_USER.kubeconfig
"""


class Learner(LabLearner):
    """A learner of the expiry-rotation lab."""

    def __init__(self, root: Path, user: str) -> None:
        super().__init__(root, user, LAB)


@pytest.fixture
def learner(local_cluster: LocalBackend) -> Iterator[Learner]:
    one = Learner(local_cluster.lab.root, f"er-{secrets.token_hex(3)}")
    yield one
    kubectl = str(binaries.cached().kubectl)
    env = {**os.environ, "KUBECONFIG": str(one.root / ".lab" / "kubeconfig")}
    for args in (["csr", f"{one.user}-original", f"{one.user}-renewed", f"{one.user}-ci"],
                 ["clusterrolebinding", f"{one.user}-ci-view"]):
        subprocess.run([kubectl, "delete", *args, "--ignore-not-found"], env=env, capture_output=True,
                       timeout=60, check=False)


def assert_fresh(u: Learner) -> None:
    failing = u.failing()
    assert set(failing) == {"expiration-facts", "new-key", "renewed-certificate", "kubeconfig-updated",
                            "leak-response"}
    assert failing["expiration-facts"] == f"expiry.yaml does not exist in {u.workspace}."
    assert failing["new-key"] == f"{u.user}-new.key does not exist in {u.workspace}."
    # After a reset the audit log shows the reset deleted the CSR (as kubernetes-admin), and its manifest is gone too.
    assert re.fullmatch(re.escape(f"There is no CertificateSigningRequest named {u.user}-renewed in the cluster.")
                        + "(" + re.escape(f" `ckslab reset expiry-rotation --user {u.user}` deleted it at ")
                        + r"[0-9-]+ [0-9:]+ UTC" + re.escape(" (the audit log shows it, as kubernetes-admin). "
                                                             f"{u.user}-renewed-csr.yaml does not exist in {u.workspace}.")
                        + ")?", failing["renewed-certificate"]), failing["renewed-certificate"]
    assert failing["kubeconfig-updated"].startswith(f"{u.user}.kubeconfig still uses the original certificate (expires ")
    assert failing["leak-response"] == (
        f"The ClusterRoleBinding {u.user}-ci-view (to ClusterRole view) still binds the User {u.user}-ci: whoever "
        "holds the leaked key keeps those rights for as long as the certificate is valid.")


def test_a_fresh_lab_fails_every_step_with_its_own_message(learner: Learner) -> None:
    learner.start()
    assert_fresh(learner)
    learner.start()  # idempotent: the original certificate and the leak are kept
    assert_fresh(learner)


def test_solution_earns_full_marks_and_reset_returns_to_the_start(learner: Learner) -> None:
    learner.solve()
    assert learner.failing() == {}
    learner.solve()  # twice: setup keeps the originals, the solution makes everything again
    assert learner.failing() == {}
    reset = learner.ckslab("reset", LAB, "--step", "leak-response")
    assert reset.returncode == 0, reset.stderr
    assert set(learner.failing()) == {"leak-response"}  # a new leak, with its binding
    reset = learner.ckslab("reset", LAB)
    assert reset.returncode == 0, reset.stderr
    assert_fresh(learner)


def test_wrong_facts_old_kubeconfig_open_key_and_a_deleted_csr(learner: Learner) -> None:
    learner.solve()
    u = learner.user
    learner.bash(f"""
printf 'minimum_expiration_seconds: 600\\nsetup_validity_seconds: 600\\nsigning_duration_hours: 8760\\n' > expiry.yaml
chmod 644 {u}-new.key
kubectl config set-credentials {u} --client-certificate={u}.crt --client-key={u}.key --embed-certs \\
  --kubeconfig={u}.kubeconfig
kubectl delete csr {u}-ci
kubectl create clusterrolebinding {u}-ci-view --clusterrole=view --user={u}-ci
""")
    failing = learner.failing()
    assert failing["expiration-facts"] == (
        "setup_validity_seconds is 600, what the CSR asked for; the certificate itself says otherwise: subtract "
        "its notBefore from its notAfter (the signer backdates notBefore).".replace("the CSR", f"the CSR {u}-original"))
    assert failing["new-key"] == f"{u}-new.key has mode 0644, so others may read it; a private key must be 0600."
    assert failing["kubeconfig-updated"].startswith(f"{u}.kubeconfig still uses the original certificate (")
    assert failing["leak-response"] == (
        f"The ClusterRoleBinding {u}-ci-view (to ClusterRole view) still binds the User {u}-ci: whoever holds the "
        f"leaked key keeps those rights for as long as the certificate is valid. Deleting the CSR {u}-ci revokes "
        "nothing: the certificate it issued stays valid until its notAfter.")
    assert set(failing) == {"expiration-facts", "new-key", "kubeconfig-updated", "leak-response"}


def test_renewal_with_the_old_key(learner: Learner) -> None:
    learner.solve()
    u = learner.user
    learner.bash(f"cp -p {u}.key {u}-new.key\n" + RENEW.format(key=f"{u}-new.key", spec="expirationSeconds: 86400"))
    failing = learner.failing()
    assert failing == {
        "new-key": f"{u}-new.key is the original key, {u}.key (a copy, or the same key in another format): a "
                   "renewal with it keeps whatever exposure the old key had; generate a new one.",
        "renewed-certificate": f"{u}-renewed.crt is for the original key, {u}.key: the renewal must be requested "
                               f"with the new key, {u}-new.key.",
        "kubeconfig-updated": f"{u}.kubeconfig still uses the original key, {u}.key; embed {u}-new.key.",
    }


def test_renewal_without_expiration_seconds_and_the_leaked_files_deleted(learner: Learner) -> None:
    learner.solve()
    u = learner.user
    learner.bash(RENEW.format(key=f"{u}-new.key", spec="") + "rm -r leaked\n")
    failing = learner.failing()
    # The duration is read from the controller manager that runs, and the message says so.
    assert re.fullmatch(re.escape(f"The CSR {u}-renewed has no spec.expirationSeconds, so the signer gives it its "
                                  "whole --cluster-signing-duration (365 days: the running controller manager (pid ")
                        + r"\d+" + re.escape(") signs for the default 8760h (365 days; no --cluster-signing-duration "
                                             "flag)); ask for one day: expirationSeconds: 86400."),
                        failing.pop("renewed-certificate"))
    assert failing == {
        "leak-response": f"leaked/{u}-ci.kubeconfig is gone. Deleting your copy does not help: whoever found the "
                         "key has theirs, and the certificate stays valid. `ckslab start` issues the leak "
                         "scenario again.",
    }


# --- the notebook ------------------------------------------------------------------------------

def test_notebook_runs_twice_and_earns_full_marks(local_cluster: LocalBackend, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(local_cluster.lab.root))
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    for _ in range(2):  # idempotent: a learner may run it again
        _path, _nb, outputs = run_learner_copy(LAB)
        assert "[FAIL]" not in outputs and "[PASS] leak-response (25/25)" in outputs
        assert "Score: 100/100, every step passes." in outputs
        assert "may not specify a duration less than 600 seconds" in outputs
    jane = Learner(local_cluster.lab.root, "jane")
    report = jane.root / "report-jane-expiry.json"
    done = subprocess.run([sys.executable, "-m", "ckslab", "grade", LAB, "--json", str(report)], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(report.read_text())["score"] == 100
