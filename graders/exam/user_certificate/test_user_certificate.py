"""Graders of the exam task user-certificate: one check per test, each saying what it expected and found."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization as s
from kubernetes import client

from cluster import pki
from graders import audit, files, kube
from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import brief, expect, fail

Observe = Callable[[object, object], None]


@pytest.mark.step("csr-object")
def test_csr_object(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                    observe: Observe) -> None:
    wanted = f"CN={task['user']}, O={task['group']}; kubernetes.io/kube-apiserver-client; client auth"
    seen = look.csr(admin_api, trail, task["user"])
    found = (f"{seen.subject}; {seen.signer}; {', '.join(seen.usages)}" if seen.exists
             else f"no CSR {task['user']} in context {task['context']}")
    observe(wanted, found)
    expect(seen.exists and seen.subject == f"CN={task['user']}, O={task['group']}"
           and seen.signer == "kubernetes.io/kube-apiserver-client" and "client auth" in seen.usages,
           f"the CSR {task['user']}: expected {wanted}; found {found}.")


@pytest.mark.step("issued")
def test_issued(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                observe: Observe) -> None:
    seen = look.csr(admin_api, trail, task["user"])
    found = ("no such CSR" if not seen.exists else "denied" if seen.denied else
             "issued" if seen.approved and seen.certificate else "approved, no certificate yet"
             if seen.approved else "pending")
    observe("approved and issued", found)
    expect(found == "issued", f"the CSR {task['user']} is {found}.")


def _certificate(task: TaskInput) -> x509.Certificate:
    return files.load_certificate(task.path("dir") / f"{task['user']}.crt", "")


@pytest.mark.step("certificate")
def test_certificate(task: TaskInput, cluster_ca: x509.Certificate, observe: Observe) -> None:
    path = task.path("dir") / f"{task['user']}.crt"
    wanted = f"CN={task['user']}, O={task['group']}, signed by this cluster's CA, for {task['user']}.key"
    if not path.is_file():
        observe(wanted, f"no file {task['dir']}/{task['user']}.crt")
        fail(f"{task['dir']}/{task['user']}.crt does not exist.")
    cert = _certificate(task)
    key = files.load_private_key(task.path("dir") / f"{task['user']}.key", "")
    # Every cluster's CA is CN=kubernetes: only the signature tells this cluster's from another's.
    issuer = "this cluster's CA" if pki.chains_to(cert, cluster_ca) else f"another CA ({look.subject(cert.issuer)})"
    matches = key.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo) == \
        cert.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
    found = f"{look.subject(cert.subject)}, signed by {issuer}, " + (f"for {task['user']}.key" if matches
                                                                     else f"not for {task['user']}.key")
    observe(wanted, found)
    expect(found == wanted,
           f"{task['dir']}/{task['user']}.crt: expected {wanted}; found {found}.")


@pytest.mark.step("kubeconfig")
def test_kubeconfig(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    path: Path = task.path("dir") / f"{task['user']}.kubeconfig"
    wanted = f"context {task['user']} authenticates to {kube.server_of(admin_api)} as {task['user']}"
    if not path.is_file():
        observe(wanted, f"no file {task['dir']}/{task['user']}.kubeconfig")
        fail(f"{task['dir']}/{task['user']}.kubeconfig does not exist.")
    try:
        api = kube.client_for(path, task["user"])
        server = kube.server_of(api)
        name = kube.whoami(api)
    except Exception as err:
        observe(wanted, f"context {task['user']} does not work: {brief(err)}")
        fail(f"{task['dir']}/{task['user']}.kubeconfig, context {task['user']}: {brief(err)}.")
    found = f"context {task['user']} authenticates to {server} as {name}"
    observe(wanted, found)
    expect(found == wanted, f"expected {wanted}; found {found}.")
