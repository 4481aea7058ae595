"""CertificateSigningRequests through the official Kubernetes client (certificates.k8s.io/v1).

The thin I/O layer the tests, the benchmark and the labs share: submit a request, approve or
deny it through the approval subresource (what ``kubectl certificate approve`` does), and wait
for the signer's verdict. Each call takes an ``ApiClient`` made for one kubeconfig; the global
default configuration is never touched.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubernetes import client

from cluster.waiting import wait_until

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"


def api_client(kubeconfig: Path) -> client.ApiClient:
    """A client for the cluster and user of ``kubeconfig`` (its current context)."""
    from kubernetes import client, config
    api: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return api


def submit(
    api: client.ApiClient,
    name: str,
    request_pem: bytes,
    *,
    signer: str = KUBE_APISERVER_CLIENT,
    usages: tuple[str, ...] = ("client auth",),
    expiration_seconds: int | None = None,
) -> client.V1CertificateSigningRequest:
    """Create the CSR object ``name`` whose ``spec.request`` is ``request_pem``."""
    from kubernetes import client
    body = client.V1CertificateSigningRequest(
        api_version="certificates.k8s.io/v1",
        kind="CertificateSigningRequest",
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1CertificateSigningRequestSpec(
            request=base64.b64encode(request_pem).decode(),
            signer_name=signer,
            usages=list(usages),
            expiration_seconds=expiration_seconds,
        ),
    )
    return client.CertificatesV1Api(api).create_certificate_signing_request(body)


def _decide(api: client.ApiClient, name: str, kind: str, reason: str, message: str) -> None:
    from kubernetes import client
    certs = client.CertificatesV1Api(api)
    csr = certs.read_certificate_signing_request(name)
    csr.status = csr.status or client.V1CertificateSigningRequestStatus()
    now = dt.datetime.now(dt.timezone.utc)
    csr.status.conditions = [
        *(csr.status.conditions or []),
        client.V1CertificateSigningRequestCondition(
            type=kind, status="True", reason=reason, message=message,
            last_update_time=now, last_transition_time=now,
        ),
    ]
    certs.replace_certificate_signing_request_approval(name, csr)


def approve(api: client.ApiClient, name: str, reason: str = "CkslabApprove",
            message: str = "Approved by ckslab.") -> None:
    """Add an ``Approved`` condition through the approval subresource."""
    _decide(api, name, "Approved", reason, message)


def deny(api: client.ApiClient, name: str, reason: str = "CkslabDeny",
         message: str = "Denied by ckslab.") -> None:
    """Add a ``Denied`` condition through the approval subresource."""
    _decide(api, name, "Denied", reason, message)


@dataclass(frozen=True)
class Outcome:
    """How a CSR ended: its certificate, or the condition that stopped it."""

    certificate: bytes | None
    condition: str | None = None
    message: str = ""


def outcome(csr: client.V1CertificateSigningRequest) -> Outcome | None:
    """The final state of ``csr``, or None while it waits for approval or signing."""
    status = csr.status
    if status is not None and status.certificate:
        return Outcome(base64.b64decode(status.certificate))
    for cond in (status.conditions if status is not None else None) or []:
        if cond.type in ("Denied", "Failed") and cond.status == "True":
            return Outcome(None, cond.type, cond.message or "")
    return None


def wait_for_outcome(api: client.ApiClient, name: str, timeout: float = 30.0,
                     interval: float = 0.05) -> Outcome:
    """Poll until the signer issued a certificate or the CSR is Denied/Failed."""
    from kubernetes import client
    certs = client.CertificatesV1Api(api)
    return wait_until(lambda: outcome(certs.read_certificate_signing_request(name)),
                      timeout, interval, what=f"CSR {name} to be signed")


def delete(api: client.ApiClient, name: str) -> None:
    """Delete the CSR ``name``; nothing when it is already gone."""
    from kubernetes import client
    try:
        client.CertificatesV1Api(api).delete_certificate_signing_request(name)
    except client.ApiException as err:
        if err.status != 404:
            raise
