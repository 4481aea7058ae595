"""What the exam's node tasks read from a cluster's control plane: components as they run, their health,
the files their flags name, and a certificate checked against the API server.

Read only, and always the running configuration: a component's flags come from its process
(``Node.running_command``), never from its manifest alone, and health from the backend's own probe
(``Backend.status``: the controller manager is healthy only while its CSR signer runs, unless its
flags turn the signer off).
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization as s
from kubernetes import client

from cluster import backends, pki
from cluster.backends.node import ComponentNotRunning, Node
from cluster.errors import CkslabError
from cluster.paths import LabPaths
from graders import files, kube
from graders.exam import look
from graders.expect import brief, fail


def running_flags(node: Node, component: str) -> list[str] | str:
    """The command line ``component`` runs with now, or why none runs (a sentence with its log's last error)."""
    try:
        return node.running_command(component)
    except ComponentNotRunning as err:
        said = f"; its log {err.log} ends: {err.last_error.rstrip('.')}" if err.last_error else ""
        return f"{component} is not running{said}"
    except CkslabError as err:
        fail(f"could not check: {err.message}", err.hint)


def started_at(node: Node, component: str) -> dt.datetime | None:
    """When the running ``component`` started (None when it does not run)."""
    try:
        return node.started_at(component)
    except CkslabError:
        return None


def healthy(root: Path, component: str) -> tuple[bool, str]:
    """Whether ``component`` of the cluster at project ``root`` answers its health check, and what was seen."""
    try:
        backend = backends.running(LabPaths(root))
        status = backend.status() if backend is not None else None
    except CkslabError as err:
        return False, f"its status cannot be read ({err.message})"
    found = next((c for c in (status.components if status else []) if c.name == component), None)
    if found is None:
        return False, f"no {component} in this cluster's status"
    return found.healthy, ("healthy" if found.healthy else f"not healthy: {found.detail}")


def node_file(node: Node, path: str) -> bytes | None:
    """The bytes of ``path`` on the node (a flag's value: the node's own path or the local plane's), None if absent."""
    try:
        return node.read_file(path)
    except CkslabError:
        return None


def same_certificate(data: bytes | None, ca: x509.Certificate) -> bool:
    """Whether ``data`` is a PEM certificate equal to ``ca``."""
    try:
        return data is not None and x509.load_pem_x509_certificate(data) == ca
    except ValueError:
        return False


def served_certificate(server: str) -> x509.Certificate | None:
    """The certificate the API server at ``server`` (https://host:port) serves; None when none answers."""
    parts = urlsplit(server)
    try:
        pem = ssl.get_server_certificate((parts.hostname or "127.0.0.1", parts.port or 443), timeout=5)
        return x509.load_pem_x509_certificate(pem.encode())
    except (OSError, ValueError):
        return None


def user_certificate(crt: Path, key: Path, cluster_ca: x509.Certificate) -> tuple[x509.Certificate, str]:
    """``crt`` and a description: its subject, which CA signed it, whether it is for ``key`` (a StepFailure
    when a file cannot be read)."""
    cert = files.load_certificate(crt, "")
    private = files.load_private_key(key, "")
    spki = s.PublicFormat.SubjectPublicKeyInfo
    ours = (private.public_key().public_bytes(s.Encoding.DER, spki)
            == cert.public_key().public_bytes(s.Encoding.DER, spki))
    # Every cluster's CA is CN=kubernetes: only the signature tells this cluster's from another's.
    by = "this cluster's CA" if pki.chains_to(cert, cluster_ca) else f"another CA ({look.subject(cert.issuer)})"
    return cert, (f"{look.subject(cert.subject)}, signed by {by}, "
                  + (f"for {key.name}" if ours else f"not for {key.name}"))


def authenticates_as(admin_api: client.ApiClient, crt: Path, key: Path) -> str:
    """The user name the API server gives a client presenting ``crt`` and ``key`` ("" when it refuses it)."""
    configuration = client.Configuration()
    configuration.host = admin_api.configuration.host
    configuration.ssl_ca_cert = admin_api.configuration.ssl_ca_cert
    configuration.cert_file, configuration.key_file = str(crt), str(key)
    try:
        with client.ApiClient(configuration) as api:
            review = client.AuthenticationV1Api(api).create_self_subject_review(
                client.V1SelfSubjectReview(), _request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as err:
        if "401" in str(err) or "Unauthorized" in str(err):
            return ""
        fail(f"could not check: the API server did not answer with {crt.name} ({brief(err)}).")
    info = review.status.user_info if review.status else None
    return str(info.username or "") if info else ""
