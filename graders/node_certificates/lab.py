"""The node-certificates lab's names, what a kubelet's CSR looks like, and the commands that fix things.

The standard names come from Kubernetes v1.37: the signers ``kubernetes.io/kube-apiserver-client-kubelet``
and ``kubernetes.io/kubelet-serving`` (``k8s.io/api/certificates/v1``), the kubelet's certificate
files in ``/var/lib/kubelet/pki`` (``pkg/kubelet/certificate``: ``kubelet-client-current.pem``,
``kubelet-server-current.pem``, symlinks to the dated files the kubelet writes) and the subject the
kubelet-serving signer requires (``pkg/apis/certificates/helpers.go`` ValidateKubeletServingCSR:
O=system:nodes, CN=system:node:<node>, DNS or IP SANs only). No I/O.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from kubernetes import client

from cluster import pki
from cluster.backends.node import Node

Csr = client.V1CertificateSigningRequest

CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
SERVING_SIGNER = "kubernetes.io/kubelet-serving"
NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
PKI_DIR = "/var/lib/kubelet/pki"
CLIENT_CURRENT = f"{PKI_DIR}/kubelet-client-current.pem"
SERVER_CURRENT = f"{PKI_DIR}/kubelet-server-current.pem"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
#: Where setup.sh keeps the forged CSR's name and the kubelet's original config (under the project root).
STORE = Path(".lab") / "node-certificates"
RESET = "ckslab reset node-certificates"
#: Starts the kubelet's review over (a new forged request, the kubelet without a serving certificate) and keeps
#: kubelet-client.yaml, the first step's answer, where it is.
RESET_REVIEW = "ckslab reset node-certificates --step deny-forged"
#: How a learner may write a date: ISO, or as ``openssl x509 -enddate`` prints it.
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S", "%b %d %H:%M:%S %Y GMT",
                 "%b %d %H:%M:%S %Y")


@dataclass(frozen=True)
class NodeLab:
    """One run of the lab: the learner's workspace, the project root, and the control-plane node."""

    workspace: Path
    user: str
    root: Path
    #: The node whose kubelet the lab is about (``Backend.node()``).
    cluster_node: Node

    @property
    def node(self) -> str:
        """The node's name (kind's container, its Kubernetes Node's name)."""
        return self.cluster_node.name

    @property
    def identity(self) -> str:
        """The node's user name: ``system:node:<node>``."""
        return NODE_PREFIX + self.node

    @property
    def answers(self) -> Path:
        return self.workspace / "kubelet-client.yaml"

    @property
    def logs_file(self) -> Path:
        return self.workspace / "logs.txt"

    @property
    def exec_file(self) -> Path:
        return self.workspace / "exec.txt"

    @property
    def forged_record(self) -> Path:
        return self.root / STORE / "forged-csr"

    # --- hints ------------------------------------------------------------------------------

    def in_node(self, command: str) -> str:
        """``command`` as a learner types it to run it on the node (on kind, ``<engine> exec NODE command``)."""
        return self.cluster_node.typed(command)

    @property
    def list_serving(self) -> str:
        return (f"kubectl get csr --field-selector spec.signerName={SERVING_SIGNER} "
                "-o custom-columns=NAME:.metadata.name,REQUESTOR:.spec.username,CONDITION:.status.conditions[*].type")

    def decode(self, name: str) -> str:
        return (f"kubectl get csr {name} -o jsonpath='{{.spec.request}}' | base64 -d "
                "| openssl req -noout -text | grep -E 'Subject:|DNS:|IP Address:'")

    @property
    def kube_proxy_pod(self) -> str:
        return f"kubectl -n kube-system get pod -l k8s-app=kube-proxy --field-selector spec.nodeName={self.node}"


def name_of(csr: Csr) -> str:
    return str(csr.metadata.name) if csr.metadata else ""


def request_of(csr: Csr) -> x509.CertificateSigningRequest | None:
    """The PKCS#10 request in ``csr``'s spec.request, or None when it cannot be read."""
    try:
        return x509.load_pem_x509_csr(base64.b64decode(csr.spec.request or ""))
    except ValueError:
        return None


def certificate_of(csr: Csr) -> x509.Certificate | None:
    """The certificate the signer issued for ``csr``, or None (not issued, or unreadable)."""
    encoded = csr.status.certificate if csr.status else None
    if not encoded:
        return None
    try:
        return x509.load_pem_x509_certificate(base64.b64decode(encoded))
    except ValueError:
        return None


def sans_of(request: x509.CertificateSigningRequest | x509.Certificate) -> list[str]:
    """The DNS and IP subject alternative names, as ``DNS:name`` and ``IP:address``."""
    try:
        ext = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([f"DNS:{d}" for d in ext.get_values_for_type(x509.DNSName)]
            + [f"IP:{ip}" for ip in ext.get_values_for_type(x509.IPAddress)])


def node_names(node: str, addresses: list[str]) -> set[str]:
    """The SANs a kubelet may ask for: its node name and the addresses of its Node object."""
    names = {f"DNS:{node}"}
    for address in addresses:
        try:
            names.add(f"IP:{ipaddress.ip_address(address)}")
        except ValueError:
            names.add(f"DNS:{address}")
    return names


def describe(csr: Csr) -> str:
    """What a reviewer sees: requestor, subject and SANs. "requested by X for CN=.., O=..; DNS:.., IP:.."."""
    request = request_of(csr)
    if request is None:
        asked = "an unreadable request"
    else:
        subject = ", ".join([f"CN={pki.common_name(request.subject) or '(none)'}"]
                            + [f"O={o}" for o in pki.organizations(request.subject)])
        asked = f"{subject}; {', '.join(sans_of(request)) or 'no SANs'}"
    return f"requested by {csr.spec.username or '(nobody)'} for {asked}"


def is_nodes_own(csr: Csr, lab: NodeLab) -> bool:
    """Whether ``csr`` is the node's own: requested by system:node:<node> for that CN."""
    request = request_of(csr)
    return (csr.spec.username == lab.identity and request is not None
            and pki.common_name(request.subject) == lab.identity)


def quoted_boolean(key: str, answer: object, source: str, setting: str, actual: object) -> str | None:
    """What is wrong when ``key: "true"`` (a quoted string) answers a boolean ``setting``; None otherwise.

    Printed side by side, 'true' and true look the same: the message says which is quoted.
    """
    if not isinstance(answer, str):
        return None
    word = str(bool(actual)).lower()
    return (f"kubelet-client.yaml's {key} is the string {answer!r}, not a boolean: write {key}: {word} without "
            f"quotes ({source} says {setting}: {word}).")


def parse_date(value: object) -> dt.date | None:
    """The day ``value`` names (a YAML date, ISO text, or ``notAfter=Nov 30 10:49:30 2027 GMT``), or None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = " ".join(str(value).strip().removeprefix("notAfter=").split())  # openssl pads one-digit days: "Nov  3"
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
