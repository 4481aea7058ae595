"""How the node-certificates graders read a kubelet-serving CSR, and the answers of kubelet-client.yaml. No cluster.

A reviewer's two questions, as the graders ask them: is the requestor the node the CN names, and
is every SAN one of that node's names or addresses? The CSR objects are built as the API server
stores them (``spec.username`` set from whoever created the object), with requests made by
``cryptography`` as the kubelet makes its own (ECDSA P-256, DNS and IP SANs).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client

from cluster import pki
from cluster.backends.kind_node import KindNode
from graders.node_certificates.lab import (NodeLab, describe, is_nodes_own, node_names, parse_date, quoted_boolean,
                                           request_of, sans_of)

NODE = "ckslab-control-plane"
LAB = NodeLab(workspace=Path("/nowhere"), user="admin", root=Path("/"),
              cluster_node=KindNode(NODE, "/usr/bin/docker"))


def _csr(requestor: str, cn: str, dns: list[str], ips: list[str]) -> client.V1CertificateSigningRequest:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    request = (x509.CertificateSigningRequestBuilder().subject_name(pki.subject(cn, ["system:nodes"]))
               .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(key, hashes.SHA256()))
    pem = request.public_bytes(serialization.Encoding.PEM)
    return client.V1CertificateSigningRequest(
        metadata=client.V1ObjectMeta(name="csr-x1y2z"),
        spec=client.V1CertificateSigningRequestSpec(request=base64.b64encode(pem).decode(), username=requestor,
                                                    signer_name="kubernetes.io/kubelet-serving",
                                                    usages=["digital signature", "server auth"]))


def test_the_kubelets_own_request_is_recognised() -> None:
    csr = _csr(f"system:node:{NODE}", f"system:node:{NODE}", [NODE], ["172.18.0.3"])
    assert is_nodes_own(csr, LAB)
    request = request_of(csr)
    assert request is not None and sans_of(request) == [f"DNS:{NODE}", "IP:172.18.0.3"]
    assert set(sans_of(request)) <= node_names(NODE, ["172.18.0.3", NODE])
    assert describe(csr) == (f"requested by system:node:{NODE} for CN=system:node:{NODE}, O=system:nodes; "
                             f"DNS:{NODE}, IP:172.18.0.3")


def test_a_request_in_the_nodes_name_by_someone_else_is_not_the_nodes() -> None:
    forged = _csr("system:serviceaccount:monitoring:node-exporter", f"system:node:{NODE}", [NODE],
                  ["172.18.0.3", "10.96.0.1"])
    assert not is_nodes_own(forged, LAB)
    request = request_of(forged)
    assert request is not None
    assert [s for s in sans_of(request) if s not in node_names(NODE, ["172.18.0.3", NODE])] == ["IP:10.96.0.1"]


def test_a_node_asking_for_another_nodes_name_is_not_its_own() -> None:
    assert not is_nodes_own(_csr(f"system:node:{NODE}", "system:node:other", ["other"], []), LAB)


def test_an_unreadable_request_is_described_not_raised() -> None:
    csr = _csr(f"system:node:{NODE}", f"system:node:{NODE}", [NODE], [])
    csr.spec.request = base64.b64encode(b"not a request").decode()
    assert request_of(csr) is None and not is_nodes_own(csr, LAB)
    assert describe(csr).endswith("for an unreadable request")


def test_node_names_normalise_addresses() -> None:
    assert node_names("n1", ["10.0.0.1", "fd00:0:0::1", "n1.example"]) == {
        "DNS:n1", "IP:10.0.0.1", "IP:fd00::1", "DNS:n1.example"}


@pytest.mark.parametrize("written", ["2027-11-30", dt.date(2027, 11, 30), "Nov 30 10:49:30 2027 GMT",
                                     "notAfter=Nov 30 10:49:30 2027 GMT", "2027-11-30T10:49:30Z"])
def test_not_after_is_read_as_openssl_prints_it_or_as_a_date(written: object) -> None:
    assert parse_date(written) == dt.date(2027, 11, 30)


def test_a_not_after_that_is_no_date_is_none() -> None:
    assert parse_date("next year") is None
    assert parse_date("Nov  3 10:49:30 2027 GMT") == dt.date(2027, 11, 3)  # openssl pads one-digit days



def test_a_quoted_boolean_is_named_a_string() -> None:
    """rotate_certificates: "true" beside the config's true would read as the same word: say it is quoted."""
    said = quoted_boolean("rotate_certificates", "true", "/configz", "rotateCertificates", True)
    assert said == ("kubelet-client.yaml's rotate_certificates is the string 'true', not a boolean: write "
                    "rotate_certificates: true without quotes (/configz says rotateCertificates: true).")
    assert quoted_boolean("rotate_certificates", True, "/configz", "rotateCertificates", True) is None
    assert quoted_boolean("rotate_certificates", False, "/configz", "rotateCertificates", True) is None


def test_a_lab_never_started_says_so_in_the_approve_step(tmp_path: Path) -> None:
    """No serving certificate, no CSR of the node's and no setup record: the lab was not started."""
    from graders.expect import StepFailure
    from graders.node_certificates.lab import NodeLab
    from graders.node_certificates.test_3_approve_serving import test_the_kubelet_has_a_serving_certificate as check

    from graders.context import GradingContext

    lab = NodeLab(tmp_path / "workspace", "admin", tmp_path, KindNode(NODE, "docker"))
    context = GradingContext("node-certificates", "admin", lab.workspace, tmp_path, tmp_path / ".lab" / "kubeconfig")
    with pytest.raises(StepFailure) as failed:
        check(lab, [], None, None, context)  # type: ignore[arg-type]  # the admin client is not asked on this path
    assert failed.value.message.startswith("The lab has not been started on this cluster")
    assert failed.value.hint == "ckslab start node-certificates"
    lab.forged_record.parent.mkdir(parents=True)
    lab.forged_record.write_text("csr-forged\n")  # started, but the kubelet asks for nothing
    with pytest.raises(StepFailure) as failed:
        check(lab, [], None, None, context)  # type: ignore[arg-type]
    assert "is serverTLSBootstrap on?" in failed.value.message
