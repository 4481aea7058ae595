"""Step client-certificate: kubelet-client.yaml says what the kubelet's client certificate is.

Every answer is compared with the node: the file ``kubelet-client-current.pem`` points to, the
subject and end date of the certificate in it, the signer of the CSR that issued it (the kubelet asks
``kubernetes.io/kube-apiserver-client-kubelet``; the csrapproving controller approves it when the
requestor is the node itself, ``pkg/controller/certificates/approver/sarapprove.go``), and
``rotateCertificates`` in the configuration the kubelet runs.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import yaml

from cluster import pki
from graders import files
from graders.expect import expect, fail
from graders.node_certificates.lab import (CLIENT_CURRENT, CLIENT_SIGNER, KUBELET_CONFIG, Csr, NodeLab, certificate_of,
                                         name_of, parse_date, quoted_boolean)
from graders.node_certificates.node import KubeletConfig, NodeCertificate

pytestmark = pytest.mark.step("client-certificate")

KEYS = ("file", "common_name", "organization", "signer", "not_after", "rotate_certificates")


def _hint(lab: NodeLab) -> str:
    return (f"{lab.in_node(f'ls -l {CLIENT_CURRENT}')}; "
            f"{lab.in_node(f'cat {CLIENT_CURRENT}')} | openssl x509 -noout -subject -enddate; "
            f"kubectl get csr; {lab.in_node(f'grep rotateCertificates {KUBELET_CONFIG}')}")


def _answers(lab: NodeLab) -> dict[str, Any]:
    hint = f"Write kubelet-client.yaml with the keys {', '.join(KEYS)}: {_hint(lab)}"
    text = files.read_bytes(lab.answers, hint).decode("utf-8", errors="replace")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        fail(f"kubelet-client.yaml is not valid YAML ({getattr(err, 'problem', None) or 'syntax error'}).", hint)
    if not isinstance(doc, dict):
        fail(f"kubelet-client.yaml must be a mapping with the keys {', '.join(KEYS)}.", hint)
    missing = [k for k in KEYS if k not in doc]
    expect(not missing, f"kubelet-client.yaml has no {', '.join(missing)}; it needs {', '.join(KEYS)}.", hint)
    return doc


def test_answers_file_has_every_key(lab: NodeLab) -> None:
    _answers(lab)


def test_file_is_where_the_symlink_points(lab: NodeLab, client_cert: NodeCertificate) -> None:
    answer = str(_answers(lab).get("file", "")).strip()
    if answer == client_cert.target:
        return
    if answer == CLIENT_CURRENT:
        fail(f"kubelet-client.yaml's file is the symlink {CLIENT_CURRENT}; name the file it points to "
             f"(the kubelet writes a dated file at each rotation and moves the link).",
             lab.in_node(f"readlink -f {CLIENT_CURRENT}"))
    fail(f"kubelet-client.yaml's file is {answer!r}; {CLIENT_CURRENT} points to {client_cert.target}.",
         lab.in_node(f"readlink -f {CLIENT_CURRENT}"))


def test_subject(lab: NodeLab, client_cert: NodeCertificate) -> None:
    answers = _answers(lab)
    cn, orgs = pki.common_name(client_cert.certificate.subject), pki.organizations(client_cert.certificate.subject)
    hint = f"{lab.in_node(f'cat {CLIENT_CURRENT}')} | openssl x509 -noout -subject"
    expect(str(answers.get("common_name", "")).strip() == cn,
           f"kubelet-client.yaml's common_name is {answers.get('common_name')!r}; the kubelet's client "
           f"certificate says CN={cn}: the node's user name.", hint)
    organization = answers.get("organization")
    given = [str(o).strip() for o in organization] if isinstance(organization, list) else [str(organization).strip()]
    expect(sorted(given) == sorted(orgs),
           f"kubelet-client.yaml's organization is {organization!r}; the certificate says "
           f"{', '.join(f'O={o}' for o in orgs)}: the group every node is in.", hint)


def test_signer(lab: NodeLab, client_cert: NodeCertificate, client_csrs: list[Csr],
                note: Callable[[str], None]) -> None:
    """The signer the kubelet asks for its client certificates (its own client CSRs say it, when any are left)."""
    answer = str(_answers(lab).get("signer", "")).strip()
    own = [c for c in client_csrs if c.spec.username == lab.identity]
    signer = str(own[-1].spec.signer_name) if own else CLIENT_SIGNER
    columns = "kubectl get csr -o custom-columns=NAME:.metadata.name,SIGNER:.spec.signerName,REQUESTOR:.spec.username"
    if answer == signer:
        if not any(certificate_of(c) == client_cert.certificate for c in own):
            note("No CSR in the cluster issued the certificate the kubelet uses now: kubeadm init signed the first "
                 "one itself, or its CSR was deleted an hour after issuing; its renewals come from "
                 f"{signer}.")
        return
    where = (f"the node's own client CSR {name_of(own[-1])} asks {signer}" if own
             else f"the kubelet asks {signer} for its client certificates")
    if answer == "kubernetes.io/kube-apiserver-client":
        fail(f"kubelet-client.yaml's signer is {answer}, the signer of users' client certificates; {where}, "
             "the signer kept for kubelets, whose requests the csrapproving controller may approve on its own.",
             columns)
    fail(f"kubelet-client.yaml's signer is {answer!r}; {where}.", columns)


def test_not_after(lab: NodeLab, client_cert: NodeCertificate) -> None:
    answer = _answers(lab).get("not_after")
    given = parse_date(answer)
    actual = client_cert.certificate.not_valid_after_utc
    hint = f"{lab.in_node(f'cat {CLIENT_CURRENT}')} | openssl x509 -noout -enddate"
    expect(given is not None, f"kubelet-client.yaml's not_after {answer!r} is not a date (write it as "
                              f"{actual:%Y-%m-%d}, or as openssl prints it).", hint)
    expect(given == actual.date(), f"kubelet-client.yaml's not_after is {given}; the kubelet's client certificate "
                                   f"is valid until {actual:%Y-%m-%d %H:%M:%S} UTC.", hint)


def test_rotate_certificates(lab: NodeLab, kubelet_config: KubeletConfig) -> None:
    answer = _answers(lab).get("rotate_certificates")
    actual = kubelet_config.values.get("rotateCertificates", False)
    problem = quoted_boolean("rotate_certificates", answer, kubelet_config.source, "rotateCertificates", actual)
    expect(problem is None, str(problem), lab.in_node(f"grep rotateCertificates {KUBELET_CONFIG}"))
    expect(answer is actual,
           f"kubelet-client.yaml's rotate_certificates is {answer!r}; {kubelet_config.source} says "
           f"rotateCertificates: {str(bool(actual)).lower()}.",
           lab.in_node(f"grep rotateCertificates {KUBELET_CONFIG}"))
