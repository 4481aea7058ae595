"""Graders of the exam task short-certificate: the CSR's expirationSeconds (or, once it is deleted, the
issued certificate's lifetime), and the certificate written for the key."""

from __future__ import annotations

from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization as s
from kubernetes import client

from cluster import pki
from graders import audit, files
from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import expect, fail
from graders.expiry_rotation.lab import TOLERANCE, issued_validity, spoken

Observe = Callable[[object, object], None]


@pytest.mark.step("expiration")
def test_expiration(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                    observe: Observe) -> None:
    wanted = int(task["minutes"]) * 60
    seen = look.csr(admin_api, trail, task["user"])
    if not seen.exists:
        observe(f"expirationSeconds: {wanted}", f"no CSR {task['user']} in context {task['context']}")
        fail(f"there is no CSR {task['user']} in context {task['context']}.")
    if seen.source != "the cluster":  # deleted: its certificate's lifetime is the evidence (next check)
        observe(f"expirationSeconds: {wanted}", f"the CSR was deleted; judged by its certificate ({seen.source})")
        expect(seen.certificate is not None, f"the CSR {task['user']} was deleted before it was issued.")
        cert = x509.load_pem_x509_certificate(seen.certificate or b"")
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        expect(abs(lifetime - issued_validity(wanted)) <= TOLERANCE,
               f"the certificate issued for {task['user']} lives {spoken(lifetime)}.")
        return
    observe(f"expirationSeconds: {wanted}", f"expirationSeconds: {seen.expiration_seconds}")
    expect(seen.expiration_seconds == wanted, f"the CSR {task['user']} asks for expirationSeconds "
           f"{seen.expiration_seconds}, not {wanted} ({task['minutes']} minutes).")


@pytest.mark.step("certificate")
def test_certificate(task: TaskInput, cluster_ca: x509.Certificate, observe: Observe) -> None:
    # Its lifetime is shown, not graded here: the expiration check grades it.
    wanted = f"CN={task['user']}, signed by this cluster's CA, for {task['user']}.key"
    crt = task.path("dir") / f"{task['user']}.crt"
    if not crt.is_file():
        observe(wanted, f"no file {task['dir']}/{task['user']}.crt")
        fail(f"{task['dir']}/{task['user']}.crt does not exist.")
    cert = files.load_certificate(crt, "")
    key = files.load_private_key(task.path("dir") / f"{task['user']}.key", "")
    spki = s.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(s.Encoding.DER, spki) == cert.public_key().public_bytes(s.Encoding.DER, spki)
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    # Every cluster's CA is CN=kubernetes: only the signature tells this cluster's from another's.
    by = "this cluster's CA" if pki.chains_to(cert, cluster_ca) else f"another CA ({look.subject(cert.issuer)})"
    observe(wanted, f"{look.subject(cert.subject)}, signed by {by}, "
                    + (f"for {task['user']}.key" if ours else f"not for {task['user']}.key")
                    + f" (valid {spoken(life)})")
    expect(look.subject(cert.subject) == f"CN={task['user']}" and by == "this cluster's CA" and ours,
           f"{task['dir']}/{task['user']}.crt is not a certificate this cluster issued for CN={task['user']} "
           f"and {task['user']}.key.")
