"""What ``cluster/tls_diagnosis.py`` judges, read from the machine: the kubeconfig, the node's CA
files, the lab's setup record, and the certificate the API server presents.

``refused`` is the entry point of ``ckslab grade`` (its cluster check) and ``ckslab doctor``: why the
kubeconfig cannot use the API server, when the reason is a certificate. It never raises.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cluster.errors import CkslabError
from cluster.paths import LabPaths
from cluster.tls_diagnosis import KeptCa, NodeCa, TlsProblem, explain, explain_client

#: Seconds for the diagnosing handshake and request: the API server is local, or it does not answer anyway.
HANDSHAKE_TIMEOUT = 5.0
#: Where the control-plane-certificates lab's setup records the cluster CA's SHA-256 fingerprint.
SETUP_RECORD = Path(".lab") / "control-plane-certificates" / "setup.json"
#: HTTP status of a request whose client certificate the API server does not accept.
UNAUTHORIZED = 401


def refused(kubeconfig: Path, lab: LabPaths, *, shown_as: str | None = None,
            status: int | None = None) -> TlsProblem | None:
    """Why ``kubeconfig`` cannot use its API server when a certificate is the cause, else None.

    First the server's certificate (the kubeconfig's CA must verify it), then, when the API server
    answered ``status`` 401 (asked here when ``status`` is None), the kubeconfig's client certificate.
    The node's CA files and the lab's record are ``lab``'s, read only when ``kubeconfig`` is
    ``lab``'s own (a class roster names kubeconfigs of other clusters).
    """
    ours = kubeconfig.resolve() == lab.kubeconfig.resolve()
    node = node_ca(lab) if ours else None
    shown = shown_as or str(kubeconfig)
    problem = diagnose(kubeconfig, node_ca=node, root=lab.root if ours else None, shown_as=shown)
    if problem is not None:
        return problem
    if (status if status is not None else _status(kubeconfig)) != UNAUTHORIZED:
        return None
    try:
        doc = yaml.safe_load(kubeconfig.read_text())
        cert = _client_certificate(doc, kubeconfig.parent)
    except (OSError, KeyError, IndexError, TypeError, ValueError, AttributeError, yaml.YAMLError):
        cert = None
    return explain_client(cert, kubeconfig=shown, node_ca=node)


def _status(kubeconfig: Path) -> int | None:
    """The HTTP status of GET /version with ``kubeconfig``'s credentials (None: no HTTP answer)."""
    from kubernetes import client  # slow to import: only when a diagnosis needs it

    from cluster import csr

    try:
        client.VersionApi(csr.api_client(kubeconfig)).get_code(_request_timeout=HANDSHAKE_TIMEOUT)
    except client.ApiException as err:
        return int(err.status or 0)
    except Exception:  # noqa: BLE001 - no HTTP answer at all: not the client certificate's doing
        return None
    return 200


def _user_entry(doc: dict[str, Any]) -> dict[str, Any]:
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
    name = contexts.get(doc.get("current-context"), {}).get("user")
    users = {u.get("name"): u.get("user") or {} for u in doc.get("users") or []}
    if name in users:
        return users[name]
    return (doc.get("users") or [{}])[0].get("user") or {}


def _client_certificate(doc: dict[str, Any], base: Path) -> x509.Certificate | None:
    user = _user_entry(doc)
    if user.get("client-certificate-data"):
        return x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    if user.get("client-certificate"):
        return x509.load_pem_x509_certificate((base / user["client-certificate"]).read_bytes())
    return None


def _cluster_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """The cluster of the current context (the first cluster when there is no usable context)."""
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
    name = contexts.get(doc.get("current-context"), {}).get("cluster")
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or []}
    if name in clusters:
        return clusters[name]
    return (doc.get("clusters") or [{}])[0].get("cluster") or {}


def _trusted(cluster: dict[str, Any], base: Path) -> list[x509.Certificate]:
    if cluster.get("certificate-authority-data"):
        pem = base64.b64decode(cluster["certificate-authority-data"])
    elif cluster.get("certificate-authority"):
        pem = (base / cluster["certificate-authority"]).read_bytes()
    else:
        return []
    return x509.load_pem_x509_certificates(pem)


def served_certificate(host: str, port: int, server_name: str | None = None) -> x509.Certificate | None:
    """The certificate the server presents (no verification: it is examined, not trusted); None if none."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=HANDSHAKE_TIMEOUT) as raw:
            with context.wrap_socket(raw, server_hostname=server_name or host) as tls:
                der = tls.getpeercert(binary_form=True)
    except OSError:
        return None
    return x509.load_der_x509_certificate(der) if der else None


def recorded_ca(root: Path) -> str | None:
    """The CA fingerprint the control-plane-certificates lab recorded at its start, if any."""
    try:
        return str(json.loads((root / SETUP_RECORD).read_text())["ca_fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


#: Files larger than this are not certificates or keys a learner copied (a log, an image).
_MAX_PEM = 64 * 1024


def kept_cas(folder: Path, skip: Path) -> tuple[KeptCa, ...]:
    """Every CA certificate in a file under ``folder`` but ``skip``, each with a key file that matches it."""
    certs: list[tuple[Path, x509.Certificate]] = []
    keys: list[tuple[Path, bytes]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and p != skip):
        try:
            if path.stat().st_size > _MAX_PEM:
                continue
            data = path.read_bytes()
            if b"-----BEGIN CERTIFICATE-----" in data:
                cert = x509.load_pem_x509_certificate(data)
                if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                    certs.append((path, cert))
            elif b"PRIVATE KEY-----" in data:
                keys.append((path, data))
        except (OSError, ValueError, x509.ExtensionNotFound):
            continue
    found = []
    for path, cert in certs:
        public = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        key_path = next((str(k) for k, data in keys if _public_of(data) == public), None)
        found.append(KeptCa(str(path), cert, key_path))
    return tuple(found)


def _public_of(key_pem: bytes) -> bytes | None:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return None
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def node_ca(lab: LabPaths) -> NodeCa | None:
    """The running cluster's CA as its control-plane node has it (local and kind); None when unknown."""
    from cluster import backends
    from cluster.backends.kind import KindBackend, node_for
    from cluster.backends.local import LocalBackend

    try:
        backend = backends.running(lab)
        if isinstance(backend, LocalBackend):
            pki = backend.layout.pki
            return NodeCa(x509.load_pem_x509_certificate(backend.ca_certificate()), str(pki / "ca.crt"), str(pki),
                          kept_cas(pki.parent, skip=pki / "ca.crt"))
        if isinstance(backend, KindBackend):
            node = node_for(lab.state_file)
            return NodeCa(x509.load_pem_x509_certificate(backend.ca_certificate()),
                          f"/etc/kubernetes/pki/ca.crt (in the node {node})", f"/etc/kubernetes/pki in the node {node}")
    except (CkslabError, OSError, ValueError):
        return None
    return None  # existing: ckslab cannot read that cluster's node


def diagnose(kubeconfig: Path, *, node_ca: NodeCa | None = None, root: Path | None = None,
             shown_as: str | None = None) -> TlsProblem | None:
    """Why ``kubeconfig``'s client cannot verify its API server; None when it can or cannot tell.

    ``root`` is the project root (for the lab's setup record); ``shown_as`` names the kubeconfig
    in messages (default: its path). Never raises: an unreadable kubeconfig or a server that does
    not answer is not a TLS problem.
    """
    try:
        doc = yaml.safe_load(kubeconfig.read_text())
        cluster = _cluster_entry(doc)
        if cluster.get("insecure-skip-tls-verify"):
            return None
        url = urlsplit(str(cluster["server"]))
        if url.scheme != "https" or not url.hostname:
            return None
        trusted = _trusted(cluster, kubeconfig.parent)
    except (OSError, KeyError, IndexError, TypeError, ValueError, AttributeError, yaml.YAMLError):
        return None
    server_name = cluster.get("tls-server-name") or None
    served = served_certificate(url.hostname, url.port or 443, server_name)
    if served is None or not trusted:
        return None
    return explain(served, trusted, server_name or url.hostname, kubeconfig=shown_as or str(kubeconfig),
                   node_ca=node_ca, recorded_ca=recorded_ca(root) if root else None)
