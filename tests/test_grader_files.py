"""The graders' pure parts without a cluster: PEM files, the CSR manifest, lab definitions, scoring."""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519

from cluster import pki
from cluster.errors import UsageError
from graders import files, issuance, manifest
from graders.expect import StepFailure
from graders.scoring import CheckResult, score
from labs import catalog

HINT = "openssl genrsa -out jane.key 2048"


def write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def failure(call: object, *args: object) -> str:
    with pytest.raises(StepFailure) as info:
        call(*args)  # type: ignore[operator]
    return info.value.message


# --- files --------------------------------------------------------------------------------------

def test_missing_file_and_missing_folder(tmp_path: Path) -> None:
    assert failure(files.read_bytes, tmp_path / "jane.key", HINT) == f"jane.key does not exist in {tmp_path}."
    assert "there is no folder" in failure(files.read_bytes, tmp_path / "ws" / "jane.key", HINT)


@pytest.mark.parametrize("content, expected", [
    (b"", "jane.key is empty; it must hold a private key in PEM."),
    (b"  \n", "jane.key is empty; it must hold a private key in PEM."),
    (b"hello\n", "jane.key is not PEM: it has no -----BEGIN PRIVATE KEY----- line."),
    (b"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00\xff\xfe", "jane.key is binary (DER?), not PEM"),
])
def test_empty_and_non_pem_keys(tmp_path: Path, content: bytes, expected: str) -> None:
    path = write(tmp_path / "jane.key", content)
    assert failure(files.load_private_key, path, HINT).startswith(expected)


def test_certificate_where_a_key_is_expected_and_the_reverse(tmp_path: Path) -> None:
    ca = pki.CertificateAuthority.create()
    key = write(tmp_path / "jane.key", pki.cert_pem(ca.cert))
    crt = write(tmp_path / "jane.crt", pki.key_pem(ca.key))
    assert failure(files.load_private_key, key, HINT) == "jane.key holds a certificate, not a private key."
    assert failure(files.load_certificate, crt, "") == "jane.crt holds a private key, not a certificate."
    request = write(tmp_path / "jane2.crt", pki.csr_pem(pki.new_csr(ca.key, "jane")))
    assert failure(files.load_certificate, request, "") == (
        "jane2.crt holds a certificate signing request, not a certificate.")


def test_base64_encoded_certificate_is_named(tmp_path: Path) -> None:
    ca = pki.CertificateAuthority.create()
    crt = write(tmp_path / "jane.crt", base64.b64encode(pki.cert_pem(ca.cert)))
    assert failure(files.load_certificate, crt, "").startswith("jane.crt is still base64-encoded")


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
def test_encrypted_key(tmp_path: Path, fmt: serialization.PrivateFormat) -> None:
    data = pki.new_rsa_key().private_bytes(serialization.Encoding.PEM, fmt,
                                           serialization.BestAvailableEncryption(b"secret"))
    path = write(tmp_path / "jane.key", data)
    files.read_pem(path, files.Kind.PRIVATE_KEY, HINT)  # it is a key...
    assert failure(files.load_private_key, path, HINT) == (  # ...but not a usable one
        "jane.key is encrypted with a passphrase; a kubeconfig needs an unencrypted key.")


def test_ec_key_written_by_openssl_ecparam_is_read(tmp_path: Path) -> None:
    key = pki.new_ec_key()
    params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    path = write(tmp_path / "jane.key", params + pki.key_pem(key))
    assert files.key_weakness(files.load_private_key(path, HINT), path.name) is None


STRONG = "RSA of at least 2048 bits or EC P-256 or stronger."


@pytest.mark.parametrize("key, weakness", [
    (pki.new_rsa_key(1024), f"jane.key is a 1024-bit RSA key, which is too weak; use {STRONG}"),
    (ec.generate_private_key(ec.SECP224R1()),
     f"jane.key is an EC key on secp224r1 (224 bits), which is too weak; use {STRONG}"),
    (dsa.generate_private_key(2048), f"jane.key is a DSA key; the lab expects {STRONG}"),
    (ed25519.Ed25519PrivateKey.generate(), f"jane.key is an Ed25519 key; the lab expects {STRONG}"),
    (pki.new_rsa_key(2048), None),
    (ec.generate_private_key(ec.SECP384R1()), None),
])
def test_key_weakness(key: object, weakness: str | None) -> None:
    assert files.key_weakness(key, "jane.key") == weakness


def test_group_or_other_access(tmp_path: Path) -> None:
    assert files.group_or_other_access(write(tmp_path / "a.key", b"x", 0o600)) is None
    assert files.group_or_other_access(write(tmp_path / "b.key", b"x", 0o400)) is None
    assert files.group_or_other_access(write(tmp_path / "c.key", b"x", 0o644)) == 0o644


def test_new_certificate_request_label_is_found(tmp_path: Path) -> None:
    pem = pki.csr_pem(pki.new_csr(pki.new_ec_key(), "jane")).replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
    block, csr = files.load_csr(write(tmp_path / "jane.csr", pem), "")
    assert block.label == "NEW CERTIFICATE REQUEST" and pki.common_name(csr.subject) == "jane"


# --- the CSR manifest ---------------------------------------------------------------------------

def csr_manifest(request: str, *, api: str = "certificates.k8s.io/v1", signer: str | None = manifest.KUBE_APISERVER_CLIENT,
                 usages: str = "[client auth]", name: str = "jane") -> str:
    signer_line = f"\n  signerName: {signer}" if signer else ""
    return (f"apiVersion: {api}\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\n"
            f"spec:\n  request: {request}{signer_line}\n  usages: {usages}\n")


@pytest.fixture
def csr_file(tmp_path: Path) -> Path:
    return write(tmp_path / "jane.csr", pki.csr_pem(pki.new_csr(pki.new_ec_key(), "jane")), 0o644)


def check_all(path: Path, csr_path: Path) -> None:
    doc = manifest.load(path, "jane")
    manifest.check_api_version(doc, path.name)
    manifest.check_name(doc, path.name, "jane")
    manifest.check_request(doc, path.name, csr_path)
    manifest.check_signer(manifest.signer_of(doc), path.name, "")
    manifest.check_usages(manifest.usages_of(doc), path.name, "")


def test_a_good_manifest_passes_among_other_documents(tmp_path: Path, csr_file: Path) -> None:
    good = csr_manifest(base64.b64encode(csr_file.read_bytes()).decode())
    path = write(tmp_path / "jane-csr.yaml", f"kind: Namespace\napiVersion: v1\n---\n{good}".encode())
    check_all(path, csr_file)


@pytest.mark.parametrize("mutate, expected", [
    (lambda b64: csr_manifest(b64, api="certificates.k8s.io/v1beta1", signer=None),
     "jane-csr.yaml uses certificates.k8s.io/v1beta1, which is not served since Kubernetes 1.22; "
     "use certificates.k8s.io/v1 and add spec.signerName."),
    (lambda b64: csr_manifest(b64, name="john"), "jane-csr.yaml names the CSR 'john'"),
    (lambda b64: csr_manifest(b64[:76] + "\n    " + b64[76:]), "spec.request in jane-csr.yaml is split over several lines"),
    (lambda b64: csr_manifest("'" + b64[:76] + "\n\n" + b64[76:] + "'"), "spec.request in jane-csr.yaml is split over several lines"),
    (lambda b64: csr_manifest(b64[:-4] + "%%%%"), "spec.request in jane-csr.yaml is not valid base64"),
    (lambda b64: csr_manifest(base64.b64encode(b"other").decode()),
     "spec.request in jane-csr.yaml decodes to something that is not a PEM file (no -----BEGIN line)"),
    (lambda b64: csr_manifest(base64.b64encode(pki.csr_pem(pki.new_csr(pki.new_ec_key(), "jane"))).decode()),
     "spec.request in jane-csr.yaml does not decode to jane.csr"),
    (lambda b64: csr_manifest(b64, signer=None), "jane-csr.yaml has no spec.signerName; certificates.k8s.io/v1 requires one"),
    (lambda b64: csr_manifest(b64, signer="kubernetes.io/kubelet-serving"),
     "jane-csr.yaml has signerName kubernetes.io/kubelet-serving; a user's client certificate comes from "
     "kubernetes.io/kube-apiserver-client."),
    (lambda b64: csr_manifest(b64, usages="[client auth, server auth]"),
     "jane-csr.yaml asks for the usage 'server auth'; the kubernetes.io/kube-apiserver-client signer allows "
     "only client auth, digital signature and key encipherment, and marks such a CSR Failed."),
    (lambda b64: csr_manifest(b64, usages="[digital signature]"), "jane-csr.yaml does not ask for the usage 'client auth'"),
    (lambda b64: "kind: ConfigMap\n", "jane-csr.yaml has no document of kind CertificateSigningRequest"),
    (lambda b64: "a: [\n", "jane-csr.yaml is not valid YAML"),
])
def test_manifest_mistakes(tmp_path: Path, csr_file: Path, mutate: object, expected: str) -> None:
    text = mutate(base64.b64encode(csr_file.read_bytes()).decode())  # type: ignore[operator]
    path = write(tmp_path / "jane-csr.yaml", text.encode())
    assert failure(check_all, path, csr_file).startswith(expected)


def test_base64_wrapped_by_a_heredoc_is_named(tmp_path: Path, csr_file: Path) -> None:
    b64 = base64.encodebytes(csr_file.read_bytes()).decode()  # wrapped at 76, like `base64`
    path = write(tmp_path / "jane-csr.yaml", csr_manifest(b64.rstrip("\n")).encode())
    message = failure(check_all, path, csr_file)
    assert message.startswith("jane-csr.yaml is not valid YAML: line 7 continues spec.request on a new line")


# --- lab definitions, scoring, issuance -----------------------------------------------------

def test_lab_definition() -> None:
    lab = catalog.load("certificates-api")
    assert [s.id for s in lab.steps] == ["private-key", "csr-file", "csr-object", "approved",
                                         "certificate", "access"]
    assert lab.max_score == 100 and lab.user == "jane" and lab.workspace == "certificates-api"
    assert "certificates-api" in catalog.known() and catalog.all_labs()[0].id == "certificates-api"
    assert lab.for_user("jane-x").step("private-key").hint == "openssl genrsa -out jane-x.key 2048"


def test_unknown_lab_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown lab 'nope'.*certificates-api"):
        catalog.load("nope")


def test_scoring_is_all_or_nothing_per_step_in_lab_order() -> None:
    lab = catalog.load("certificates-api")
    report = score(lab, [
        CheckResult("csr-file", False, "second", "h2"), CheckResult("private-key", True),
        CheckResult("csr-file", False, "third"), CheckResult("csr-object", True, note="noted"),
        CheckResult("csr-object", True),
    ])
    steps = {s.id: s for s in report.steps}
    assert [s.id for s in report.steps] == [s.id for s in lab.steps]
    assert steps["private-key"].points == 10 and steps["private-key"].message == lab.steps[0].success
    assert (steps["csr-file"].points, steps["csr-file"].message, steps["csr-file"].hint) == (0, "second", "h2")
    assert steps["csr-object"].message == "noted"
    assert steps["approved"].message.startswith("could not check")
    assert report.score == 30 and report.max_score == 100 and not report.passed


def test_issuance_age_and_origin() -> None:
    ca = pki.CertificateAuthority.create()
    request = pki.LeafRequest("jane")
    cert = ca.issue(request)
    now = dt.datetime.now(dt.timezone.utc)
    assert issuance.is_users_client_certificate(cert, request.key, ca.cert, "jane")
    assert not issuance.is_users_client_certificate(cert, pki.new_ec_key(), ca.cert, "jane")
    assert not issuance.old_enough_to_be_collected(cert, now)
    assert issuance.old_enough_to_be_collected(cert, now + dt.timedelta(minutes=56))
    assert issuance.origin(cert, ca.cert) == "it is signed by the cluster CA"
    assert issuance.origin(ca.cert, ca.cert) == "it is self-signed"
    assert "not by the cluster CA" in issuance.origin(cert, pki.CertificateAuthority.create("other").cert)
