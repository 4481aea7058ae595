"""Graders of the exam task signer-files: the CA files the running controller manager signs with (their
contents on the node, compared with the cluster CA), and a new certificate the API server accepts."""

from __future__ import annotations

from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization as s
from kubernetes import client

from cluster import controlplane
from cluster.backends.node import Node
from graders.exam import controlplane as plane
from graders.exam.inputs import TaskInput
from graders.expect import expect, fail
from graders.signing_config.flags import SIGNING_CERT, SIGNING_KEY, SigningConfig
from graders.signing_config.lab import MANIFEST

Observe = Callable[[object, object], None]
CM = controlplane.CONTROLLER_MANAGER
CA = "/etc/kubernetes/pki/ca.crt"


def _key_matches(data: bytes | None, cert: x509.Certificate) -> bool:
    try:
        key = s.load_pem_private_key(data or b"", None)
    except (ValueError, TypeError):
        return False
    spki = s.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(s.Encoding.DER, spki) == cert.public_key().public_bytes(s.Encoding.DER, spki)


@pytest.mark.step("signing-ca")
def test_signing_ca(node: Node, cluster_ca: x509.Certificate, observe: Observe) -> None:
    wanted = f"{SIGNING_CERT}: the cluster CA ({CA}); {SIGNING_KEY}: its key"
    flags = plane.running_flags(node, CM)
    if isinstance(flags, str):
        observe(wanted, flags)
        fail(f"{flags}: nothing is signed until it runs.", f"Fix {MANIFEST} on the node; the kubelet restarts it.")
    running = SigningConfig(tuple(flags))
    cert_file, key_file = running.cert_file or "", running.key_file or ""
    is_ca = plane.same_certificate(plane.node_file(node, cert_file), cluster_ca) if cert_file else False
    key_ok = _key_matches(plane.node_file(node, key_file), cluster_ca) if key_file else False
    observe(wanted, f"{SIGNING_CERT}={cert_file or '(none)'} ({'the cluster CA' if is_ca else 'not the cluster CA'}), "
                    f"{SIGNING_KEY}={key_file or '(none)'} ({'its key' if key_ok else 'not the cluster CA key'})")
    expect(is_ca and key_ok, "the running kube-controller-manager does not sign with the cluster CA and its key.",
           f"Set {SIGNING_CERT} and {SIGNING_KEY} to {CA} and /etc/kubernetes/pki/ca.key in {MANIFEST}.")


@pytest.mark.step("certificate")
def test_certificate(task: TaskInput, admin_api: client.ApiClient, cluster_ca: x509.Certificate,
                     observe: Observe) -> None:
    wanted = f"CN={task['user']}, signed by this cluster's CA, for {task['user']}.key, the API server accepts it"
    crt, key = task.path("dir") / f"{task['user']}.crt", task.path("dir") / f"{task['user']}.key"
    if not crt.is_file():
        observe(wanted, f"no file {task['dir']}/{task['user']}.crt")
        fail(f"{task['dir']}/{task['user']}.crt does not exist.")
    _cert, seen = plane.user_certificate(crt, key, cluster_ca)
    good = seen == f"CN={task['user']}, signed by this cluster's CA, for {key.name}"
    user = plane.authenticates_as(admin_api, crt, key) if good else ""
    observe(wanted, seen + (f"; the API server takes it for {user}" if user else
                            "; the API server refuses it (401)" if good else ""))
    expect(good, f"{task['dir']}/{task['user']}.crt is {seen}.",
           f"Issue it through CSR {task['user']}-new after the signer is fixed.")
    expect(user == task["user"], f"the API server does not authenticate {task['dir']}/{task['user']}.crt as "
           f"{task['user']} ({user or 'refused'}).")
