"""The graders read the cluster like an examiner (issue 11), each case made with the learner's commands.

The API server's own refusal (a server-side dry run of the learner's manifest, and the audit log's
record of a refused create), results over files (a CSR applied through a pipe), audit evidence of
issuance (a CSR deleted by hand still counts, a certificate signed offline with the CA key does not,
and without an audit log the one-hour rule applies and says so), hints that re-create a CSR whose
spec is wrong, and ``ckslab audit``. On the session's real local control plane (v1.37.0).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from grader_learner import Learner, audited_learner, learner  # noqa: F401  (fixtures)

pytestmark = pytest.mark.cluster

# The exam-style way to create the CSR, as the Kubernetes docs do: no jane-csr.yaml is kept.
PIPE_APPLY = """cat <<EOF | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $USER_NAME
spec:
  request: $(base64 -w0 $USER_NAME.csr)
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
EOF
"""


def masters_request(learner: Learner) -> None:
    """jane.key, and jane.csr asking for the group system:masters (cluster-admin)."""
    learner.make_key()
    learner.bash('openssl req -new -key $USER_NAME.key -subj "/CN=$USER_NAME/O=system:masters" -out $USER_NAME.csr')


def test_system_masters_in_the_subject_quotes_the_api_servers_refusal(learner: Learner) -> None:
    masters_request(learner)
    learner.write_manifest()
    refused = learner.apply(check=False)
    assert refused.returncode != 0 and "system:masters" in refused.stderr  # what kubectl printed
    steps = learner.steps()
    u = learner.user
    assert steps["csr-file"]["passed"]  # CN is right: only the API server knows the group is refused
    message = steps["csr-object"]["message"]
    assert message.startswith(f"There is no CertificateSigningRequest named {u} in the cluster. The API server "
                              f"refuses {u}-csr.yaml (403 Forbidden: ")
    assert "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed" in message
    assert "CertificateSubjectRestriction forbids" in message and "Make the request without O=system:masters." in message
    assert steps["csr-object"]["hint"].startswith(f'openssl req -new -key {u}.key -subj "/CN={u}" -out {u}.csr')
    assert steps["csr-object"]["hint"].endswith(f"then kubectl apply -f {u}-csr.yaml")


def test_a_refused_pipe_apply_is_read_from_the_audit_log(audited_learner: Learner) -> None:
    learner = audited_learner
    masters_request(learner)
    assert learner.bash(PIPE_APPLY, check=False).returncode != 0
    u = learner.user
    message = learner.steps()["csr-object"]["message"]
    assert message.startswith(f"{u}-csr.yaml does not exist") or message.startswith(
        f"There is no CertificateSigningRequest named {u}")
    # No manifest to dry-run: the audit log says what the API server answered to the pipe.
    code, report, output = learner.grade("--step", "csr-object")
    messages = " ".join(s["message"] for s in report["steps"]) if report else output
    assert "The audit log shows a refused create at " in messages, messages
    assert "system:masters group is not allowed" in messages


def test_a_manifest_the_api_server_would_accept_but_was_not_applied(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    message = learner.steps()["csr-object"]["message"]
    assert message == (f"There is no CertificateSigningRequest named {learner.user} in the cluster. The API server "
                       f"would accept {learner.user}-csr.yaml (server-side dry run): it was not applied, or the CSR "
                       "was deleted since.")
    assert learner.kubectl("get", "csr", learner.user, check=False).returncode != 0  # the dry run stored nothing


def test_applied_through_a_pipe_without_a_manifest_earns_full_marks(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.bash(PIPE_APPLY)
    learner.approve()
    learner.save_crt()
    learner.write_kubeconfig()
    assert not learner.path("-csr.yaml").exists()
    code, report, output = learner.grade()
    assert code == 0, output
    steps = {s["id"]: s for s in report["steps"]} if report else {}
    assert steps["csr-object"]["message"] == (
        f"{learner.user}-csr.yaml was not kept (applied through a pipe?); the CSR {learner.user} in the cluster "
        "is right, so this step counts.")


def test_a_request_piped_without_keeping_the_csr_file_earns_the_csr_file_step(learner: Learner) -> None:
    learner.make_key()
    learner.bash("openssl req -new -key $USER_NAME.key -subj \"/CN=$USER_NAME\" -out $USER_NAME.csr\n"
                 + PIPE_APPLY + "rm $USER_NAME.csr\n")
    steps = learner.steps()
    assert steps["csr-file"]["passed"], steps["csr-file"]
    assert steps["csr-file"]["message"].startswith(f"{learner.user}.csr was not kept; the CSR {learner.user} in the "
                                                   f"cluster holds a request for CN={learner.user}")


def test_a_present_but_wrong_manifest_is_still_diagnosed(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.bash(PIPE_APPLY)  # the cluster holds the right CSR...
    u = learner.user
    learner.bash(f"cat > {u}-csr.yaml <<'EOF'\napiVersion: certificates.k8s.io/v1\n"
                 f"kind: CertificateSigningRequest\nmetadata:\n  name: {u}\nspec:\n"
                 f"  request: $(cat {u}.csr | base64 | tr -d '\\n')\n"
                 "  signerName: kubernetes.io/kube-apiserver-client\n  usages: [client auth]\nEOF\n")
    step = learner.steps()["csr-object"]  # ...but the file kept is the quoted heredoc's
    assert not step["passed"]
    assert step["message"].startswith(f"spec.request in {u}-csr.yaml is the shell text $(cat {u}.csr | base64 | "
                                      "tr -d '\\n') itself, not its output")
    assert "(a CSR's spec cannot be changed: delete it and create it again)" in step["hint"]


def test_a_wrong_spec_in_the_cluster_hints_delete_and_recreate(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest(usages=("client auth", "server auth"))
    learner.apply()
    step = learner.steps()["csr-object"]
    u = learner.user
    assert step["message"].startswith(f"{u}-csr.yaml asks for the usage 'server auth'")
    assert step["hint"] == (f"Set spec.usages to [client auth] in {u}-csr.yaml, then kubectl delete csr {u} "
                            f"--ignore-not-found && kubectl apply -f {u}-csr.yaml  (a CSR's spec cannot be changed: "
                            "delete it and create it again)")
    learner.write_manifest()  # the file fixed, the object not re-created: its spec is still wrong
    step = learner.steps()["csr-object"]
    assert step["message"].startswith(f"The CSR {u} in the cluster asks for the usage 'server auth'")
    assert step["hint"].startswith(f"kubectl delete csr {u} --ignore-not-found && kubectl apply -f {u}-csr.yaml")


def test_a_csr_for_another_key_in_the_cluster(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    learner.apply()
    learner.make_key()  # a new jane.key afterwards: the CSR in the cluster is for the old one
    learner.make_csr()
    learner.write_manifest()
    step = learner.steps()["csr-object"]
    u = learner.user
    assert step["message"].startswith(f"The CSR {u} in the cluster is a request for another key than {u}.key")
    assert "kubectl delete csr" in step["hint"] and "delete it and create it again" in step["hint"]


# --- evidence of issuance --------------------------------------------------------------------

def test_a_csr_deleted_by_hand_still_counts_on_audit_evidence(audited_learner: Learner) -> None:
    learner = audited_learner
    learner.everything()
    learner.kubectl("delete", "csr", learner.user)
    code, report, output = learner.grade()
    assert code == 0, output
    steps = {s["id"]: s for s in report["steps"]} if report else {}
    for step in ("csr-object", "approved", "certificate"):
        message = steps[step]["message"]
        assert message.startswith(f"The CSR {learner.user} is gone (deleted by "), message
        assert "the API server's audit log shows the cluster issued" in message
        assert f"{learner.user}.crt through it (approved by " in message
        assert "(evidence: the audit log " in message and message.endswith("audit.log).")


def test_a_certificate_signed_offline_does_not_count_even_backdated(audited_learner: Learner) -> None:
    learner = audited_learner
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    learner.sign_offline(age=dt.timedelta(hours=2))  # backdated: the one-hour rule alone would credit it
    learner.write_kubeconfig()
    steps = learner.steps()
    u = learner.user
    reason = (f"{u}.crt chains to the cluster CA, but the API server's audit log (")
    assert steps["certificate"]["message"].startswith(reason)
    assert steps["certificate"]["message"].endswith("shows no CSR through which the cluster issued it: it was signed "
                                                    "offline with the CA key, not through the Certificates API.")
    assert not steps["csr-object"]["passed"] and reason in steps["csr-object"]["message"]
    assert steps["access"]["passed"]  # the certificate works: only its origin is wrong


def test_without_an_audit_log_the_one_hour_rule_says_so(learner: Learner) -> None:
    learner.everything()
    learner.kubectl("delete", "csr", learner.user)
    u = learner.user
    step = learner.steps()["certificate"]
    assert step["message"].startswith(f"{u}.crt was not issued through a CSR of this cluster (signed offline with "
                                      f"the CA key?): there is no CSR named {u}, the certificate is ")
    assert step["message"].endswith("minutes old, and no audit log can tell (ckslab cannot read the audit log of a "
                                    "cluster it did not start (the existing backend)).")


def test_ckslab_audit_shows_who_approved_and_when(audited_learner: Learner) -> None:
    learner = audited_learner
    learner.everything()
    learner.kubectl("delete", "csr", learner.user)
    env = {**os.environ, "CKSLAB_ROOT": str(learner.root), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "ckslab", "audit", "certificates-api", "--user", learner.user],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if f" {learner.user} " in line]
    admin = json.loads(learner.kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]["username"]
    actions = [next(a for a in ("created", "approved", "signed", "deleted") if f"{a} the CSR" in line) for line in lines]
    assert actions == ["created", "approved", "signed", "deleted"], done.stdout
    assert all(admin in line for line, a in zip(lines, actions) if a != "signed"), done.stdout
    signer = next(line for line in lines if "signed the CSR" in line)
    assert "system:serviceaccount:kube-system:certificate-controller" in signer and "serial " in signer


def test_start_says_what_an_earlier_run_left(learner: Learner) -> None:
    learner.everything()
    env = {**os.environ, "CKSLAB_ROOT": str(learner.root)}
    started = subprocess.run([sys.executable, "-m", "ckslab", "start", "certificates-api", "--user", learner.user],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert started.returncode == 0, started.stdout + started.stderr
    said = " ".join((started.stdout + started.stderr).split())  # progress lines go to stderr
    assert (f"The CSR {learner.user} from an earlier run is still in the cluster (Approved). A CSR's spec cannot be "
            f"changed: delete it before you create yours: kubectl delete csr {learner.user}") in said, said
