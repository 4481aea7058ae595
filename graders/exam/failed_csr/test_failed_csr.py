"""Graders of the exam task failed-csr: the Failed condition's cause recorded, and a correct CSR issued
for the colleague's own key."""

from __future__ import annotations

from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization as s
from kubernetes import client

from cluster import pki
from graders import audit, files, kube
from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import StepFailure, expect, fail

Observe = Callable[[object, object], None]
SIGNER = "kubernetes.io/kube-apiserver-client"
#: The usages kubernetes.io/kube-apiserver-client signs (pkg/controller/certificates/signer, v1.37).
CLIENT_USAGES = {"client auth", "digital signature", "key encipherment"}


def _spki(key: object) -> bytes:
    return key.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined, no-any-return]


def _cause(task: TaskInput, api: client.ApiClient, trail: audit.Trail | audit.Unavailable) -> str:
    """``reason: message`` of the Failed condition of the colleague's CSR (live, else from the audit log)."""
    obj = kube.csr_or_fail(api, task["csr"])
    if obj is not None:
        failed = kube.true_conditions(obj).get("Failed")
        return f"{failed.reason}: {failed.message}" if failed else ""
    event = None if isinstance(trail, audit.Unavailable) else trail.last(task["csr"], audit.FAILED)
    return event.detail if event else ""


def _normal(text: str) -> str:
    return " ".join(text.split()).lower()


@pytest.mark.step("cause")
def test_cause(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
               observe: Observe) -> None:
    truth = _cause(task, admin_api, trail)
    if not truth:
        observe("the Failed condition of the CSR " + task["csr"], f"no Failed CSR {task['csr']} in context "
                f"{task['context']}")
        fail(f"there is no Failed CSR {task['csr']} in context {task['context']} to compare with.")
    reason, _, message = truth.partition(": ")
    wanted = f"reason: {reason}; message: {message}"
    path = task.path("cause_file")
    if not path.is_file():
        observe(wanted, f"no file {task['cause_file']}")
        fail(f"{task['cause_file']} does not exist.")
    written: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("reason", "message"):
            written[key.strip().lower()] = value.strip().strip("'\"")
    found = f"reason: {written.get('reason', '(missing)')}; message: {written.get('message', '(missing)')}"
    observe(wanted, found)
    expect(_normal(found) == _normal(wanted), f"{task['cause_file']}: expected {wanted}; found {found}.")


@pytest.mark.step("new-csr")
def test_new_csr(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                 observe: Observe) -> None:
    wanted = (f"CN={task['colleague']}, O={task['group']}, {task['colleague']}'s key; {SIGNER}; "
              "client auth (digital signature, key encipherment allowed)")
    obj = kube.csr_or_fail(admin_api, task["fixed"])
    if obj is None:
        seen = look.csr(admin_api, trail, task["fixed"])  # deleted after issuing: the audit log has it
        found = (f"deleted; issued for {seen.subject}" if seen.certificate else
                 f"no CSR {task['fixed']} in context {task['context']}")
        observe(wanted, found)
        expect(seen.certificate is not None and seen.subject == f"CN={task['colleague']}, O={task['group']}",
               f"the CSR {task['fixed']}: {found}.")
        return
    request = x509.load_pem_x509_csr(kube.request_of(obj))
    original = kube.csr_or_fail(admin_api, task["csr"])
    same_key = (original is not None and _spki(x509.load_pem_x509_csr(kube.request_of(original)).public_key())
                == _spki(request.public_key()))
    usages = list(obj.spec.usages or [])
    key_note = f"{task['colleague']}'s key" if same_key else (
        "another key" if original is not None else f"key not compared ({task['csr']} is gone)")
    found = f"{look.subject(request.subject)}, {key_note}; {obj.spec.signer_name}; {', '.join(usages)}"
    observe(wanted, found)
    expect(look.subject(request.subject) == f"CN={task['colleague']}, O={task['group']}"
           and (same_key or original is None) and obj.spec.signer_name == SIGNER
           and "client auth" in usages and set(usages) <= CLIENT_USAGES,
           f"the CSR {task['fixed']}: expected {wanted}; found {found}.")


@pytest.mark.step("issued")
def test_issued(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                observe: Observe) -> None:
    seen = look.csr(admin_api, trail, task["fixed"])
    obj = kube.csr_or_fail(admin_api, task["fixed"]) if seen.source == "the cluster" else None
    failed = kube.true_conditions(obj).get("Failed") if obj is not None else None
    found = ("no such CSR" if not seen.exists else "denied" if seen.denied else
             f"approved, Failed: {failed.message}" if failed else
             "approved and issued" if seen.approved and seen.certificate else
             "approved, no certificate yet" if seen.approved else "pending")
    observe("approved and issued", found)
    expect(found == "approved and issued", f"the CSR {task['fixed']} is {found}.")


@pytest.mark.step("certificate")
def test_certificate(task: TaskInput, admin_api: client.ApiClient, cluster_ca: x509.Certificate,
                     observe: Observe) -> None:
    name = f"{task['dir']}/{task['colleague']}.crt"
    wanted = f"CN={task['colleague']}, O={task['group']}, signed by this cluster's CA, for {task['colleague']}'s key"
    try:
        cert = files.load_certificate(task.path("dir") / f"{task['colleague']}.crt", "")
    except StepFailure as err:
        observe(wanted, err.message)
        raise
    original = kube.csr_or_fail(admin_api, task["csr"])
    by = "this cluster's CA" if pki.chains_to(cert, cluster_ca) else f"another CA ({look.subject(cert.issuer)})"
    if original is None:
        key = f"key not compared ({task['csr']} is gone)"
    elif _spki(x509.load_pem_x509_csr(kube.request_of(original)).public_key()) == _spki(cert.public_key()):
        key = f"for {task['colleague']}'s key"
    else:
        key = f"not for {task['colleague']}'s key"
    found = f"{look.subject(cert.subject)}, signed by {by}, {key}"
    observe(wanted, found)
    expect(look.subject(cert.subject) == f"CN={task['colleague']}, O={task['group']}" and by == "this cluster's CA"
           and not key.startswith("not"), f"{name}: expected {wanted}; found {found}.")
