"""Prove that a cluster signs ``kubernetes.io/kube-apiserver-client`` CSRs, and check versions.

The preflight creates a throwaway CSR, approves it, waits for the certificate, checks that the
cluster CA signed it, and deletes it: what every lab needs, whatever the backend. ``doctor``
adds the version checks and turns each finding into a line with its fix.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import ssl
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509

from cluster import csr, pki
from cluster.errors import CkslabError
from cluster.versions import minor

#: Seconds the signer gets to issue the throwaway certificate.
SIGNING_TIMEOUT = 30.0


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""


def signs_client_certificates(kubeconfig: Path, ca_pem: bytes | None = None) -> Finding:
    """Create, approve, wait for and delete a throwaway CSR."""
    from kubernetes import client
    name = f"ckslab-preflight-{secrets.token_hex(4)}"
    check = "CSR signing"
    try:
        api = csr.api_client(kubeconfig)
        key = pki.new_ec_key()
        csr.submit(api, name, pki.csr_pem(pki.new_csr(key, name)))
        try:
            csr.approve(api, name, "CkslabPreflight", "Approved by the ckslab preflight.")
            result = csr.wait_for_outcome(api, name, timeout=SIGNING_TIMEOUT)
        finally:
            csr.delete(api, name)
    except TimeoutError:
        return Finding(check, False, f"an approved CSR got no certificate within {SIGNING_TIMEOUT:.0f}s",
                       "Check that kube-controller-manager runs with --cluster-signing-cert-file and "
                       "--cluster-signing-key-file (`ckslab controlplane show controller-manager`).")
    except client.ApiException as err:
        return Finding(check, False, f"the API server refused the CSR ({err.status} {err.reason})",
                       "Use an admin kubeconfig: creating and approving CSRs needs those rights.")
    except Exception as err:  # noqa: BLE001 - any transport error means the same to the learner
        return Finding(check, False, f"the API server did not answer ({type(err).__name__}: {err})",
                       "Run `make status`, then `make up`.")
    if result.certificate is None:
        return Finding(check, False, f"the signer marked the throwaway CSR {result.condition}: {result.message}",
                       "Check the controller manager's log.")
    cert = x509.load_pem_x509_certificate(result.certificate)
    if ca_pem is not None and not pki.chains_to(cert, x509.load_pem_x509_certificate(ca_pem)):
        return Finding(check, False, "the issued certificate is not signed by the cluster CA",
                       "--cluster-signing-cert-file should be the cluster CA (ca.crt).")
    return Finding(check, True, "an approved kube-apiserver-client CSR was signed by the cluster CA")


def require_signing(kubeconfig: Path, ca_pem: bytes | None = None) -> None:
    """Raise CkslabError when the preflight fails."""
    finding = signs_client_certificates(kubeconfig, ca_pem)
    if not finding.ok:
        raise CkslabError(f"preflight failed: {finding.detail}.", finding.fix)


def version_skew(kubectl: Path, kubeconfig: Path) -> Finding:
    """kubectl must be within one minor version of the API server."""
    check = "kubectl version skew"
    try:
        out = subprocess.run([str(kubectl), "version", "-o", "json", f"--kubeconfig={kubeconfig}"],
                             capture_output=True, text=True, timeout=30, check=False)
        versions = json.loads(out.stdout)
        client_v, server_v = versions["clientVersion"]["gitVersion"], versions["serverVersion"]["gitVersion"]
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as err:
        return Finding(check, False, f"could not read the versions ({err})", "Run `make up`, then try again.")
    skew = abs(minor(client_v) - minor(server_v))
    if skew > 1:
        return Finding(check, False, f"kubectl {client_v} vs server {server_v}: {skew} minor versions apart",
                       'Use the pinned kubectl: eval "$(.venv/bin/ckslab env)".')
    return Finding(check, True, f"kubectl {client_v}, server {server_v}")


def api_answers(kubeconfig: Path, timeout: float = 5.0) -> bool:
    """True when the API server of ``kubeconfig`` answers GET /version."""
    from kubernetes import client
    try:
        client.VersionApi(csr.api_client(kubeconfig)).get_code(_request_timeout=timeout)
    except Exception:  # noqa: BLE001 - any failure means "does not answer"
        return False
    return True


def server_version(kubeconfig: Path) -> str:
    from kubernetes import client
    return str(client.VersionApi(csr.api_client(kubeconfig)).get_code(_request_timeout=10).git_version)


#: Fewer days than this left on the API server's certificate or the kubeconfig's is a finding.
EXPIRY_WARNING_DAYS = 30


def certificate_expiry(kubeconfig: Path, now: dt.datetime | None = None) -> Finding:
    """When the API server's serving certificate and the kubeconfig's client certificate expire.

    The serving certificate is the one a TLS handshake returns (the API server reloads a renewed file
    by itself); the client certificate is the kubeconfig's ``client-certificate-data``. Fewer than
    :data:`EXPIRY_WARNING_DAYS` days left on either is not ok: kubeadm's certificates last a year and
    ``kubeadm certs renew`` renews them (the control-plane-certificates lab leaves them 5 days).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        doc = yaml.safe_load(kubeconfig.read_text())
        cluster = doc["clusters"][0]["cluster"]
        url = urllib.parse.urlsplit(cluster["server"])
        served = x509.load_pem_x509_certificate(
            ssl.get_server_certificate((url.hostname or "127.0.0.1", url.port or 443), timeout=5).encode())
        users = doc.get("users") or [{}]
        data = (users[0].get("user") or {}).get("client-certificate-data")
        client_cert = x509.load_pem_x509_certificate(base64.b64decode(data)) if data else None
    except (OSError, KeyError, IndexError, TypeError, ValueError, yaml.YAMLError) as err:
        return Finding("certificate expiry", False, f"could not read the certificates ({err})", "Run `make up`.")
    parts, ok = [], True
    for what, cert in (("API server's serving certificate", served), ("kubeconfig's client certificate", client_cert)):
        if cert is None:
            continue
        left = cert.not_valid_after_utc - now
        ok = ok and left.days >= EXPIRY_WARNING_DAYS
        parts.append(f"{what} expires {cert.not_valid_after_utc:%Y-%m-%d} ({left.days} days)")
    return Finding("certificate expiry", ok, "; ".join(parts),
                   "Renew with kubeadm (`kubeadm certs renew all`, then restart the control plane: the lab "
                   "control-plane-certificates), or `ckslab solve control-plane-certificates`.")
