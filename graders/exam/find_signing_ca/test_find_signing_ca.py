"""Graders of the exam task find-signing-ca: the answers on the node against the found certificate, verified
with each of the node's CA certificates (a signature, not the issuer's name)."""

from __future__ import annotations

import pytest
from cryptography import x509

from cluster import pki
from graders.context import GradingContext
from graders.exam import pki_look
from graders.exam.inputs import TaskInput
from graders.exam.pki_look import Observe
from graders.expect import expect, fail

#: kubeadm's CA certificates on a node (certlist.go).
NODE_CAS = ("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/front-proxy-ca.crt", "/etc/kubernetes/pki/etcd/ca.crt")


def _found(task: TaskInput, context: GradingContext, wanted: str, observe: Observe) -> tuple[x509.Certificate, str]:
    """The found certificate and the path of the node CA that signed it; observes and fails without one."""
    node = pki_look.current(context.root, wanted, observe).node
    path = f"{task['dir']}/{task['name']}.crt"
    files = node.read_files([path, *NODE_CAS])
    data = files[path].data
    if data is None:
        observe(wanted, f"no certificate {path} on this node: the task was not set up here")
        fail(f"{path} does not exist on the node graded (the task is set in context {task['context']}).")
    cert = x509.load_pem_x509_certificate(data)
    signer = next((ca for ca in NODE_CAS if (raw := files[ca].data)
                   and pki.chains_to(cert, x509.load_pem_x509_certificate(raw))), "")
    return cert, signer


def _answer(context: GradingContext, path: str) -> str | None:
    data = pki_look.node_file(pki_look.current(context.root, "", lambda _e, _o: None).node, path)
    return None if data is None else data.decode(errors="replace").strip()


@pytest.mark.step("ca-path")
def test_ca_path(task: TaskInput, context: GradingContext, observe: Observe) -> None:
    _cert, signer = _found(task, context, "the path of the CA certificate that signed it", observe)
    path = f"{task['dir']}/{task['name']}-ca.txt"
    given = _answer(context, path)
    observe(signer, f"no file {path}" if given is None else given or "an empty file")
    expect(given == signer, f"{path} says {given!r}; the certificate verifies only with {signer} "
                            f"(openssl verify -CAfile {signer} {task['dir']}/{task['name']}.crt).")


@pytest.mark.step("expires")
def test_expires(task: TaskInput, context: GradingContext, observe: Observe) -> None:
    cert, _signer = _found(task, context, "its notAfter date (YYYY-MM-DD, UTC)", observe)
    wanted = f"{cert.not_valid_after_utc:%Y-%m-%d}"
    path = f"{task['dir']}/{task['name']}-expires.txt"
    given = _answer(context, path)
    observe(wanted, f"no file {path}" if given is None else given or "an empty file")
    expect(given == wanted, f"{path} says {given!r}; openssl x509 -noout -enddate shows {wanted} (UTC).")
