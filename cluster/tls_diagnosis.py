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

A kubeconfig's own client certificate can be refused too (401 Unauthorized): **expired**, signed
by **another CA** than the node's ``ca.crt`` (the API server's ``--client-ca-file``), or signed by
it while the API server still holds the CA it loaded before ``ca.crt`` was moved away and back.

Pure code: certificates in, a :class:`TlsProblem` or None out. ``cluster/tls_probe.py`` reads the
kubeconfig, the node's files and the served certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

#: What kubeadm says to restart after `kubeadm certs renew`, as ckslab's commands on every backend.
RESTART_ALL = ("`ckslab controlplane restart etcd`, then `apiserver`, `controller-manager` and `scheduler` "
               "(after a renewal kubeadm says to restart all four)")


@dataclass(frozen=True)
class TlsProblem:
    """Why a certificate is not accepted. ``kind``: for the API server's, one of "another-ca",
    "ca-replaced", "expired", "ca-expired", "not-yet-valid", "hostname"; for the kubeconfig's own
    (a 401), "client-expired", "client-another-ca", "client-ca-not-reloaded", "client-unauthorized".
    ``message`` says what was found (a sentence or two), ``fix`` what to do."""

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
        again = ("run `kubeadm certs renew all` again (what it re-signed with the new CA is signed by the old one "
                 f"again) and restart the control plane: {RESTART_ALL}")
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


def explain_client(cert: x509.Certificate | None, *, kubeconfig: str, node_ca: NodeCa | None = None,
                   now: dt.datetime | None = None) -> TlsProblem:
    """Why the API server refuses (401) ``kubeconfig``'s client certificate ``cert``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    copy = ("copy admin.conf's client certificate and key into it again (`ckslab controlplane show` names the node's "
            "files; the control-plane-certificates notebook shows the copy)")
    if cert is None:
        return TlsProblem("client-unauthorized", f"the API server refuses {kubeconfig}'s credentials (401 Unauthorized), and "
                          "it holds no client certificate.", f"Give it the admin's: {copy}.")
    who = cert.subject.rfc4514_string()
    if cert.not_valid_after_utc < now:
        return TlsProblem("client-expired", f"{kubeconfig}'s client certificate ({who}) expired on "
                          f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, so the API server refuses it "
                          "(401 Unauthorized).",
                          f"Renew it (`kubeadm certs renew admin.conf`, or `renew all`), then {copy}.")
    if node_ca is not None and not _signed_by(cert, node_ca.cert):
        return TlsProblem("client-another-ca", f"{kubeconfig}'s client certificate ({who}) is signed by another CA than "
                          f"the node's {node_ca.where} ({_short(node_ca.cert)}), the API server's --client-ca-file, so "
                          "it refuses it (401 Unauthorized).",
                          f"Use credentials that CA signed: {copy}. If ca.crt was replaced, `ckslab doctor` says how "
                          "to recover.")
    if node_ca is not None:
        return TlsProblem("client-ca-not-reloaded", f"{kubeconfig}'s client certificate ({who}) is signed by the node's "
                          f"{node_ca.where}, yet the API server refuses it (401 Unauthorized): it still trusts the CA "
                          "it loaded before ca.crt changed (a ca.crt moved away and back is not read again).",
                          f"Restart the control plane: {RESTART_ALL}.")
    return TlsProblem("client-unauthorized", f"the API server refuses {kubeconfig}'s client certificate ({who}) "
                      "(401 Unauthorized).", f"Use credentials the cluster CA signed: {copy}.")
