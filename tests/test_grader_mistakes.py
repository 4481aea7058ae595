"""Each mistake of the certificates-api lab, made for real, fails its step with its own message."""

from __future__ import annotations

import base64
import os
import shutil
import textwrap

import pytest

from grader_learner import Learner, learner  # noqa: F401  (learner is a fixture)

pytestmark = pytest.mark.cluster


def first_failure(learner: Learner) -> tuple[str, str]:
    """The first failing step of a grading run: (id, message)."""
    failing = [s for s in learner.steps().values() if not s["passed"]]
    assert failing, "every step passed"
    return failing[0]["id"], failing[0]["message"]


# --- jane.key ---------------------------------------------------------------------------------

def test_empty_key(learner: Learner) -> None:
    learner.ws.mkdir(parents=True)
    learner.path(".key").touch(mode=0o600)
    assert first_failure(learner) == ("private-key", f"{learner.user}.key is empty; it must hold a private key in PEM.")


def test_key_not_pem(learner: Learner) -> None:
    learner.make_key()
    learner.sh("openssl", "rsa", "-in", learner.path(".key").name, "-outform", "DER", "-out", "der.key")
    shutil.copyfile(learner.ws / "der.key", learner.path(".key"))
    assert first_failure(learner) == ("private-key", f"{learner.user}.key is binary (DER?), not PEM: it has no "
                                                     "-----BEGIN PRIVATE KEY----- line.")


def test_certificate_saved_as_the_key_and_key_saved_as_the_certificate(learner: Learner) -> None:
    learner.everything()
    key, crt = learner.path(".key"), learner.path(".crt")
    key_pem, crt_pem = key.read_bytes(), crt.read_bytes()
    key.write_bytes(crt_pem)
    crt.write_bytes(key_pem)
    steps = learner.steps()
    u = learner.user
    assert steps["private-key"]["message"] == f"{u}.key holds a certificate, not a private key."
    assert steps["csr-file"]["message"] == (f"{u}.csr cannot be checked against {u}.key, because "
                                            f"{u}.key holds a certificate, not a private key.")
    assert steps["certificate"]["message"] == f"{u}.crt holds a private key, not a certificate."


def test_encrypted_key(learner: Learner) -> None:
    learner.make_key("-aes256", "-passout", "pass:secret")
    learner.make_csr(None, None, "-passin", "pass:secret")
    steps = learner.steps()
    u = learner.user
    assert steps["private-key"]["message"] == f"{u}.key is encrypted with a passphrase; a kubeconfig needs an unencrypted key."
    assert steps["csr-file"]["message"] == (f"{u}.csr cannot be checked against {u}.key, because {u}.key is "
                                            "encrypted with a passphrase; a kubeconfig needs an unencrypted key.")


def test_weak_key(learner: Learner) -> None:
    learner.make_key(bits=1024)
    assert first_failure(learner) == ("private-key", f"{learner.user}.key is a 1024-bit RSA key, which is too weak; "
                                                     "use RSA of at least 2048 bits or EC P-256 or stronger.")


def test_key_readable_by_others(learner: Learner) -> None:
    learner.make_key()
    os.chmod(learner.path(".key"), 0o644)
    assert first_failure(learner) == ("private-key", f"{learner.user}.key has mode 0644, so others may read it; "
                                                     "a private key must be 0600.")


# --- jane.csr ---------------------------------------------------------------------------------

def test_csr_for_another_name(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr("john")
    assert first_failure(learner) == ("csr-file", f"{learner.user}.csr has CN=john; the request must name the "
                                                  f"user: CN={learner.user}.")


def test_csr_not_made_with_the_key(learner: Learner) -> None:
    learner.make_key()
    learner.sh("openssl", "genrsa", "-out", "other.key", "2048")
    learner.make_csr(None, "other.key")
    u = learner.user
    assert first_failure(learner) == ("csr-file", f"{u}.csr was not made with {u}.key (it holds another key's "
                                                  f"public key), so its certificate would not work with {u}.key.")


# --- jane-csr.yaml and the CSR object -------------------------------------------------------

def test_manifest_still_v1beta1(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    request = base64.b64encode(learner.path(".csr").read_bytes()).decode()
    learner.write_manifest(text=f"apiVersion: certificates.k8s.io/v1beta1\nkind: CertificateSigningRequest\n"
                                f"metadata:\n  name: {learner.user}\nspec:\n  request: {request}\n"
                                "  usages:\n  - client auth\n")
    assert learner.apply(check=False).returncode != 0  # not served: nothing is created
    steps = learner.steps()
    assert steps["csr-object"]["message"] == (
        f"{learner.user}-csr.yaml uses certificates.k8s.io/v1beta1, which is not served since Kubernetes 1.22; "
        "use certificates.k8s.io/v1 and add spec.signerName.")
    assert steps["approved"]["message"].startswith(f"There is no CertificateSigningRequest named {learner.user}")


def test_request_with_line_breaks(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    wrapped = base64.encodebytes(learner.path(".csr").read_bytes()).decode().rstrip("\n")  # `base64 jane.csr`
    learner.write_manifest(request=textwrap.indent(wrapped, "    ").lstrip())
    assert learner.apply(check=False).returncode != 0  # "illegal base64 data"
    assert first_failure(learner) == ("csr-object", f"spec.request in {learner.user}-csr.yaml is split over several "
                                                    "lines (base64 wraps at 76 characters unless told -w0); it must "
                                                    "be one line.")


def test_signer_name_missing(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    manifest = learner.path("-csr.yaml")
    manifest.write_text("".join(line for line in manifest.read_text().splitlines(keepends=True)
                                if "signerName" not in line))
    assert learner.apply(check=False).returncode != 0  # v1 requires it
    assert first_failure(learner) == ("csr-object", f"{learner.user}-csr.yaml has no spec.signerName; "
                                                    "certificates.k8s.io/v1 requires one: signerName: "
                                                    "kubernetes.io/kube-apiserver-client.")


def test_wrong_signer_name(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest(signer="kubernetes.io/kubelet-serving")
    learner.apply()
    steps = learner.steps()
    u = learner.user
    assert steps["csr-object"]["message"] == (f"{u}-csr.yaml has signerName kubernetes.io/kubelet-serving; a "
                                              "user's client certificate comes from kubernetes.io/kube-apiserver-client.")


def test_server_auth_makes_the_csr_fail(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest(usages=("client auth", "server auth"))
    learner.apply()
    learner.approve()
    u = learner.user
    learner.kubectl("wait", f"csr/{u}", "--for=condition=Failed", "--timeout=30s")
    steps = learner.steps()
    assert steps["csr-object"]["message"] == (
        f"{u}-csr.yaml asks for the usage 'server auth'; the kubernetes.io/kube-apiserver-client signer allows "
        "only client auth, digital signature and key encipherment, and marks such a CSR Failed.")
    assert steps["approved"]["message"] == (
        f"The CSR {u} is Failed: the signer refused it (SignerValidationFailure: invalid usage for client "
        "certificate: server auth); ask only for client auth (with digital signature, key encipherment) and "
        "submit it again.")
    assert steps["certificate"]["message"] == f"The CSR {u} is Failed, so the cluster issued no certificate."


def test_csr_in_the_cluster_made_from_another_file_for_the_same_key_is_right(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    learner.apply()
    learner.make_csr(None, None, "-sha512")  # a new request (another signature) after submitting
    learner.write_manifest()
    # Results, not files: the CSR in the cluster is for CN=jane and jane.key, so its certificate works.
    assert first_failure(learner) == ("approved", f"The CSR {learner.user} is still Pending: it has no Approved "
                                                  "condition.")


def test_csr_in_the_cluster_for_another_key(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    learner.apply()
    learner.make_key()  # a new key, and a new request, after submitting
    learner.make_csr()
    learner.write_manifest()
    u = learner.user
    assert first_failure(learner) == (
        "csr-object", f"The CSR {u} in the cluster is a request for another key than {u}.key (CN={u}): a certificate "
                      f"issued for it would not work with {u}.key. It was made with another key, or {u}.key was made "
                      "again since.")


# --- approval and signing ----------------------------------------------------------------------

def test_csr_denied(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    learner.apply()
    learner.kubectl("certificate", "deny", learner.user)
    u = learner.user
    assert first_failure(learner) == ("approved", f"The CSR {u} was denied (KubectlDeny: This CSR was denied by "
                                                  "kubectl certificate deny); a denied CSR stays denied, so submit "
                                                  "it again and approve it.")


def test_csr_pending(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    learner.apply()
    assert first_failure(learner) == ("approved", f"The CSR {learner.user} is still Pending: it has no Approved condition.")


def test_approved_but_not_yet_signed(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()  # the right manifest, but the object was created from another one
    learner.path("-csr.yaml").rename(learner.ws / "kept.yaml")
    learner.write_manifest(signer="example.com/nobody-signs-this")
    learner.apply()
    learner.path("-csr.yaml").write_text((learner.ws / "kept.yaml").read_text())
    learner.approve()
    steps = learner.steps()
    u = learner.user
    assert steps["csr-object"]["message"].startswith(f"The CSR {u} in the cluster has signerName example.com/")
    assert steps["approved"]["passed"]
    assert steps["certificate"]["message"] == (
        f"The CSR {u} is approved but not yet signed: its status.certificate is empty; no signer of this "
        "cluster signs for signerName example.com/nobody-signs-this.")


# --- jane.crt and jane.kubeconfig --------------------------------------------------------------

def test_self_signed_certificate(learner: Learner) -> None:
    learner.everything()
    u = learner.user
    learner.sh("openssl", "req", "-x509", "-key", f"{u}.key", "-subj", f"/CN={u}", "-days", "1",
               "-addext", "extendedKeyUsage=clientAuth", "-out", f"{u}.crt")
    learner.write_kubeconfig()
    steps = learner.steps()
    assert steps["certificate"]["message"] == (f"{u}.crt is not the certificate the cluster issued for the CSR "
                                               f"{u}: it is self-signed.")
    assert steps["access"]["message"] == (f"The API server rejected {u}.kubeconfig's credentials (401 "
                                          "Unauthorized): its client certificate is not one the cluster trusts.")


def test_certificate_signed_offline_despite_the_csr(learner: Learner) -> None:
    learner.everything()
    learner.sign_offline()
    u = learner.user
    assert first_failure(learner) == ("certificate", f"{u}.crt is not the certificate the cluster issued for the "
                                                     f"CSR {u}: it is signed by the cluster CA, but not through this "
                                                     "CSR (signed offline with the CA key?).")


def test_kubeconfig_trusting_another_ca(learner: Learner) -> None:
    learner.everything()
    learner.sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key",
               "-subj", "/CN=other-ca", "-days", "1", "-out", "other-ca.crt")
    learner.write_kubeconfig(ca_file=learner.ws / "other-ca.crt")
    id_, message = first_failure(learner)
    assert id_ == "access"
    assert message.startswith(f"{learner.user}.kubeconfig does not trust the API server at https://127.0.0.1:")
    assert message.endswith("its certificate-authority-data is not the cluster CA (`ckslab controlplane ca` prints it).")


def test_kubeconfig_without_use_context(learner: Learner) -> None:
    """set-cluster, set-credentials, set-context, and no use-context: kubectl tries localhost:8080."""
    learner.everything()
    name = learner.path(".kubeconfig").name
    learner.kubectl("config", "unset", "current-context", "--kubeconfig", name)
    assert "localhost:8080" in learner.kubectl("get", "pods", "--kubeconfig", name, check=False).stderr
    id_, message = first_failure(learner)
    assert id_ == "access"
    assert message.startswith(f"{name} has no current-context, so kubectl knows no user or cluster for it"), message
    assert learner.steps()["access"]["hint"] == f"kubectl config use-context {learner.user} --kubeconfig {name}"


def test_the_access_hint_followed_exactly_leads_to_a_working_kubeconfig(learner: Learner) -> None:
    """`kubectl config set-credentials ...` alone (the old hint) leaves no context: the next hint names the rest."""
    learner.everything()
    name = learner.path(".kubeconfig").name
    learner.path(".kubeconfig").unlink()
    (learner.ws / "ca.crt").write_bytes(learner.cluster.ca_certificate())  # what the step certificate saved
    hint = learner.steps()["access"]["hint"]
    assert [c.split(" --")[0] for c in hint.split(" && ")] == [
        "kubectl config set-cluster ckslab", f"kubectl config set-credentials {learner.user}",
        f"kubectl config set-context {learner.user}", f"kubectl config use-context {learner.user}"], hint
    learner.bash(f"kubectl config set-credentials {learner.user} --client-certificate={learner.user}.crt "
                 f"--client-key={learner.user}.key --embed-certs --kubeconfig {name}")
    step = learner.steps()["access"]
    assert step["message"].startswith(f"{name} has no context, so kubectl knows no user or cluster for it and tries "
                                      f"http://localhost:8080 (clusters: none; users: {learner.user}). A kubeconfig "
                                      "needs a cluster (kubectl config set-cluster"), step["message"]
    assert "set-context" in step["message"] and "use-context" in step["message"]
    assert [c.split(" --")[0] for c in step["hint"].split(" && ")] == [
        "kubectl config set-cluster ckslab", f"kubectl config set-context {learner.user}",
        f"kubectl config use-context {learner.user}"], step["hint"]
    learner.bash(step["hint"])  # exactly as given
    assert learner.steps()["access"]["passed"]


def test_the_kubeconfig_cell_run_without_ca_crt_gets_a_hint_that_saves_it_and_sets_the_cluster(learner: Learner) -> None:
    """After `ckslab reset certificates-api` ca.crt is in the backup: the notebook's kubeconfig cell, run as it is,
    fails at set-cluster and goes on, leaving a context that names no cluster. The hint, followed as given, works."""
    learner.everything()
    u, name = learner.user, learner.path(".kubeconfig").name
    learner.path(".kubeconfig").unlink()
    (learner.ws / "ca.crt").unlink(missing_ok=True)
    cell = learner.bash(
        "SERVER=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')\n"
        f"kubectl config set-cluster ckslab --server=\"$SERVER\" --certificate-authority=ca.crt --embed-certs "
        f"--kubeconfig={name} || true\n"
        f"kubectl config set-credentials {u} --client-certificate={u}.crt --client-key={u}.key --embed-certs "
        f"--kubeconfig={name}\n"
        f"kubectl config set-context {u} --cluster=ckslab --user={u} --kubeconfig={name}\n"
        f"kubectl config use-context {u} --kubeconfig={name}\n")
    assert "could not stat certificate-authority file ca.crt" in cell.stderr, cell.stderr
    step = learner.steps()["access"]
    assert step["message"].startswith(f"{name} cannot be loaded as a kubeconfig ("), step["message"]
    assert step["hint"].startswith("ckslab controlplane ca > ca.crt && kubectl config set-cluster ckslab --server="), \
        step["hint"]
    assert "set-credentials" not in step["hint"], step["hint"]  # the credentials are there
    learner.bash(step["hint"])  # exactly as given
    assert learner.steps()["access"]["passed"]


def test_kubeconfig_without_a_certificate_authority(learner: Learner) -> None:
    """set-cluster with --server only: kubectl says x509: certificate signed by unknown authority."""
    learner.everything()
    name = learner.path(".kubeconfig").name
    learner.kubectl("config", "unset", "clusters.ckslab.certificate-authority-data", "--kubeconfig", name)
    said = learner.kubectl("get", "pods", "--kubeconfig", name, check=False).stderr
    assert "x509: certificate signed by unknown authority" in said, said
    id_, message = first_failure(learner)
    assert id_ == "access"
    assert message.startswith(f"{name} has no certificate-authority for its cluster, so it cannot verify the API "
                              "server at https://127.0.0.1:"), message


def test_kubeconfig_with_another_certificate(learner: Learner) -> None:
    learner.everything()
    crt = learner.path(".crt")
    good = crt.read_bytes()
    learner.sign_offline()  # the kubeconfig embeds this one...
    learner.write_kubeconfig()
    crt.write_bytes(good)  # ...and jane.crt is the issued one again
    id_, message = first_failure(learner)
    assert (id_, message.split(" (CN=")[0]) == ("access", f"{learner.user}.kubeconfig uses another client certificate "
                                                          f"than {learner.user}.crt")

