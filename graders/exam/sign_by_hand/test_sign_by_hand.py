"""Graders of the exam task sign-by-hand: the certificate on the node, checked against the CA the running
API server verifies client certificates with (its --client-ca-file), and used to authenticate."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding
from kubernetes import client

from cluster import pki
from cluster.errors import CkslabError
from cluster.backends.node import flag_value
from graders.context import GradingContext
from graders.exam import look, pki_look
from graders.exam.inputs import TaskInput
from graders.exam.pki_look import Observe
from graders.expect import brief, expect, fail

#: How far the lifetime may be from the days asked: openssl's -days counts from the moment it signs.
SLACK = dt.timedelta(hours=12)
#: The node's CAs, to name which one signed a certificate that the client CA did not.
NODE_CAS = {"/etc/kubernetes/pki/ca.crt": "ca", "/etc/kubernetes/pki/front-proxy-ca.crt": "front-proxy-ca",
            "/etc/kubernetes/pki/etcd/ca.crt": "etcd-ca"}


def _files(task: TaskInput, context: GradingContext, wanted: str, observe: Observe) -> tuple[x509.Certificate, bytes | None]:
    """The certificate on the node (observed and failed when missing) and the key's bytes."""
    node = pki_look.current(context.root, wanted, observe).node
    crt, key = f"{task['dir']}/{task['user']}.crt", f"{task['dir']}/{task['user']}.key"
    found = node.read_files([crt, key])
    if found[crt].data is None:
        observe(wanted, f"no file {crt} on the node")
        fail(f"{crt} does not exist on the node of context {task['context']}.")
    try:
        cert = x509.load_pem_x509_certificate(found[crt].data or b"")
    except ValueError:
        observe(wanted, f"{crt} is not a PEM certificate")
        fail(f"{crt} is not a PEM certificate (openssl x509 ... -out writes one).")
    return cert, found[key].data


def _client_ca(context: GradingContext) -> tuple[str, x509.Certificate | None]:
    """The running API server's --client-ca-file and its certificate (None when it cannot be read)."""
    node = pki_look.current(context.root, "", lambda _e, _o: None).node
    try:
        path = flag_value(node.running_command("kube-apiserver"), "--client-ca-file") or ""
    except CkslabError:
        return "", None
    data = pki_look.node_file(node, path) if path else None
    return path, x509.load_pem_x509_certificate(data) if data else None


@pytest.mark.step("signed")
def test_signed(task: TaskInput, context: GradingContext, observe: Observe) -> None:
    wanted = f"signed by the API server's --client-ca-file (ca), for {task['user']}.key"
    cert, key_pem = _files(task, context, wanted, observe)
    _path, client_ca = _client_ca(context)
    node = pki_look.current(context.root, wanted, observe).node
    if client_ca is not None and pki.chains_to(cert, client_ca):
        by = "the API server's --client-ca-file (ca)"
    elif cert.issuer == cert.subject and pki.chains_to(cert, cert):
        by = "itself (self-signed)"
    else:
        by = next((name for path, name in NODE_CAS.items() if (data := pki_look.node_file(node, path))
                   and pki.chains_to(cert, x509.load_pem_x509_certificate(data))), "a CA that is not the node's")
    try:
        key = serialization.load_pem_private_key(key_pem or b"", None)
        ours = pki.same_public_key(key.public_key(), cert.public_key())
    except (ValueError, TypeError):
        ours = False
    found = f"signed by {by}, " + (f"for {task['user']}.key" if ours else f"not for {task['user']}.key")
    observe(wanted, found)
    expect(found == wanted, f"{task['dir']}/{task['user']}.crt is {found}.")


@pytest.mark.step("subject")
def test_subject(task: TaskInput, context: GradingContext, observe: Observe) -> None:
    wanted = f"CN={task['user']}, O={task['group']}"
    cert, _key = _files(task, context, wanted, observe)
    found = look.subject(cert.subject)
    observe(wanted, found)
    expect(found == wanted, f"the certificate's subject is {found}, not {wanted}.")


@pytest.mark.step("validity")
def test_validity(task: TaskInput, context: GradingContext, observe: Observe) -> None:
    days = int(task["days"])
    wanted = f"valid for {days} days"
    cert, _key = _files(task, context, wanted, observe)
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    observe(wanted, f"valid for {life.total_seconds() / 86400:g} days ({cert.not_valid_before_utc:%Y-%m-%d} to "
                    f"{cert.not_valid_after_utc:%Y-%m-%d})")
    expect(abs(life - dt.timedelta(days=days)) <= SLACK,
           f"the certificate is valid for {life.days} days, not {days} (openssl x509 -req ... -days {days}; "
           "without -days openssl signs for 30).")


@pytest.mark.step("authenticates")
def test_authenticates(task: TaskInput, context: GradingContext, admin_api: client.ApiClient,
                       observe: Observe) -> None:
    wanted = f"user {task['user']}, groups include {task['group']}"
    cert, key_pem = _files(task, context, wanted, observe)
    try:
        user, groups = pki_look.identity(pki_look.kubeconfig_for(admin_api, cert.public_bytes(Encoding.PEM),
                                                                 key_pem or b""))
    except Exception as err:
        observe(wanted, f"refused: {brief(err)}")
        fail(f"the API server refused {task['dir']}/{task['user']}.crt with its key ({brief(err)}).")
    observe(wanted, f"user {user}, groups {', '.join(groups)}")
    expect(user == task["user"] and task["group"] in groups,
           f"the certificate authenticates as {user} in {', '.join(groups)}.")
