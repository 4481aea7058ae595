"""Why a client cannot verify the API server's certificate, in words a learner can act on.

A kubeconfig trusts the CA in its ``certificate-authority-data``; the API server presents the
certificate its ``--tls-cert-file`` names. When the handshake fails, Python (and kubectl) say only
``CERTIFICATE_VERIFY_FAILED``, and "the cluster does not answer" sends the learner to ``make up``,
which cannot help. This module reads both sides and names the one cause, in this order:

- **another CA**: the served certificate is not signed by the CA the kubeconfig trusts. When the
  node's ``ca.crt`` signed it instead, ``ca.crt`` was replaced (``kubeadm init phase certs ca``
  after deleting the old files, "to renew" it); the lab's setup record tells whether it changed
  since the lab started. kubeadm keeps no copy of a CA it replaces, so the recovery is the old
  ``ca.crt`` and ``ca.key`` put back, or a new cluster.
- **expired** or **not yet valid** (the served certificate, or the CA itself);
- **another host**: the kubeconfig's server address (or ``tls-server-name``) is not among the
  certificate's subject alternative names.

``explain`` is pure (certificates in, a :class:`TlsProblem` or None out); ``diagnose`` does the
I/O: it reads the kubeconfig and makes one TLS handshake that verifies nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization

from cluster.errors import CkslabError
from cluster.paths import LabPaths

#: Seconds for the diagnosing handshake: the API server is local, or it does not answer anyway.
HANDSHAKE_TIMEOUT = 5.0
#: Where the control-plane-certificates lab's setup records the cluster CA's SHA-256 fingerprint.
SETUP_RECORD = Path(".lab") / "control-plane-certificates" / "setup.json"


@dataclass(frozen=True)
class TlsProblem:
    """Why the API server's certificate is not trusted: ``kind`` is one of "another-ca",
    "ca-replaced", "expired", "ca-expired", "not-yet-valid", "hostname"; ``message`` says what
    was found (one sentence or two), ``fix`` what to do."""

    kind: str
    message: str
    fix: str


@dataclass(frozen=True)
class KeptCa:
    """A CA certificate found in another file on the node (a copy a learner kept), and its key's file."""

    cert_path: str
    cert: x509.Certificate
    key_path: str | None


@dataclass(frozen=True)
class NodeCa:
    """The cluster CA as the control-plane node has it now, and where (for the message)."""

    cert: x509.Certificate
    where: str
    #: The folder of ca.crt and ca.key, for the recovery command.
    pki_dir: str
    #: CA certificates in other files of the node's /etc/kubernetes (``mv ca.crt ca.crt.old`` ...).
    kept: tuple[KeptCa, ...] = ()


def fingerprint(cert: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint, lower-case hex (as the lab's setup record keeps it)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _short(cert: x509.Certificate) -> str:
    return f"{cert.subject.rfc4514_string()}, SHA-256 {fingerprint(cert)[:16]}..., made {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):  # another issuer name, key type or signature
        return False
    return True


def _names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(i) for i in san.get_values_for_type(x509.IPAddress)]


def _matches(host: str, dns: list[str], ips: list[str]) -> bool:
    try:
        return str(ipaddress.ip_address(host)) in ips
    except ValueError:
        pass
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in dns):
        if name == host or (name.startswith("*.") and host.count(".") == name.count(".") and host.endswith(name[1:])):
            return True
    return False


def explain(served: x509.Certificate, trusted: list[x509.Certificate], host: str, *, kubeconfig: str,
            node_ca: NodeCa | None = None, recorded_ca: str | None = None,
            now: dt.datetime | None = None) -> TlsProblem | None:
    """Why ``served`` fails verification against ``trusted`` for ``host``; None when it passes.

    ``trusted`` are the kubeconfig's CA certificates; ``node_ca`` the node's ca.crt now;
    ``recorded_ca`` the CA fingerprint the control-plane-certificates lab recorded at its start.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    issuers = [ca for ca in trusted if _signed_by(served, ca)]
    if not issuers:
        return _another_ca(served, trusted, kubeconfig, node_ca, recorded_ca)
    ca = issuers[0]
    if ca.not_valid_after_utc < now:
        return TlsProblem("ca-expired", f"the cluster CA that {kubeconfig} trusts ({_short(ca)}) expired on "
                          f"{ca.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: nothing it signed is trusted any more.",
                          "A CA cannot be renewed in place: start a new cluster with `make down && make up`.")
    if served.not_valid_after_utc < now:
        return TlsProblem("expired", f"the API server's certificate expired on {served.not_valid_after_utc:%Y-%m-%d %H:%M} "
                          "UTC; its CA is still the one the kubeconfig trusts.",
                          "Renew it with kubeadm on the control-plane node (`kubeadm certs renew apiserver`, or "
                          "`renew all`: the control-plane-certificates lab shows the command on this backend); the "
                          "API server loads the new file by itself. Or: ckslab solve control-plane-certificates.")
    if served.not_valid_before_utc > now or ca.not_valid_before_utc > now:
        return TlsProblem("not-yet-valid", f"the API server's certificate is valid only from "
                          f"{served.not_valid_before_utc:%Y-%m-%d %H:%M} UTC, and this machine's clock says "
                          f"{now:%Y-%m-%d %H:%M} UTC.", "Set the clock right (`date -u` shows it), then try again.")
    dns, ips = _names(served)
    if not _matches(host, dns, ips):
        return TlsProblem("hostname", f"the API server's certificate is for {', '.join(dns + ips) or 'no name'}, "
                          f"not for {host}, the address {kubeconfig} connects to.",
                          f"Use an address the certificate names in {kubeconfig} (`kubectl config set-cluster "
                          "CLUSTER --server=https://ADDRESS:PORT`), or renew apiserver.crt with that name among its "
                          "SANs (kubeadm's apiServer.certSANs).")
    return None


def _another_ca(served: x509.Certificate, trusted: list[x509.Certificate], kubeconfig: str,
                node_ca: NodeCa | None, recorded_ca: str | None) -> TlsProblem:
    kept = "; ".join(_short(ca) for ca in trusted) or "none"
    said = (f"the API server's certificate (issuer {served.issuer.rfc4514_string()}) is signed by another CA than "
            f"{kubeconfig} trusts (its certificate-authority-data: {kept}).")
    trusted_prints = {fingerprint(ca) for ca in trusted}
    if node_ca is not None and fingerprint(node_ca.cert) not in trusted_prints and _signed_by(served, node_ca.cert):
        since = ""
        if recorded_ca is not None and recorded_ca in trusted_prints:
            since = " It changed since the lab control-plane-certificates started (its setup recorded the old CA)."
        said += (f" The node's {node_ca.where} is that other CA ({_short(node_ca.cert)}): ca.crt was replaced, and the "
                 f"certificates were re-signed with it.{since}")
        again = ("run `kubeadm certs renew all` again (the certificates it re-signed with the new CA are signed by the "
                 "old one again) and restart the controller manager and the scheduler (`ckslab controlplane restart "
                 "controller-manager`, then `scheduler`)")
        old = next((k for k in node_ca.kept if fingerprint(k.cert) in trusted_prints), None)
        if old is not None and old.key_path is not None:
            recover = (f"The old CA is still there: {old.cert_path} and its key {old.key_path}. Put them back "
                       f"(`cp {old.cert_path} {node_ca.pki_dir}/ca.crt && cp {old.key_path} {node_ca.pki_dir}/ca.key`), "
                       f"then {again}.")
        elif old is not None:
            recover = (f"The old CA certificate is still at {old.cert_path}, but no key of it was found: with its key, "
                       f"put both back as {node_ca.pki_dir}/ca.crt and ca.key, then {again}; without it, start a new "
                       "cluster: `make down && make up`, then start the lab again.")
        else:
            recover = (f"kubeadm keeps no copy of a CA it replaces: if you kept the old ca.crt and ca.key, put them "
                       f"back in {node_ca.pki_dir}, then {again}; without them, start a new cluster: `make down && "
                       "make up`, then start the lab again.")
        fix = ("Renewal never needs a new CA, and a new CA invalidates every certificate the old one signed (every "
               f"kubeconfig's, jane's). {recover}")
        return TlsProblem("ca-replaced", said, fix)
    fix = (f"{kubeconfig} may belong to another cluster: `make up` writes .lab/kubeconfig for the running one. "
           "Compare the two: `openssl s_client -connect HOST:PORT </dev/null 2>/dev/null | openssl x509 -noout "
           "-issuer -fingerprint -sha256` and the kubeconfig's certificate-authority-data.")
    return TlsProblem("another-ca", said, fix)


# --- I/O -------------------------------------------------------------------------------------------

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
