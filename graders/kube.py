"""Read-only looks at the cluster for the graders, through the official Kubernetes client.

Nothing here writes to the cluster or to the learner's files: kubeconfigs are loaded with
``persist_config=False`` (the client would otherwise write refreshed credentials back), the CSR
is only read, and the create calls store nothing: a SelfSubjectReview (what ``kubectl auth
whoami`` does), and server-side dry runs (``dryRun=All``), which the API server admits and
validates and never stores. The client's temporary files for embedded certificates are removed
when the grader process exits.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from kubernetes import client, config

from graders.expect import brief, fail

#: Seconds to wait for one API call: the cluster is local, so anything slower is a failure.
REQUEST_TIMEOUT = 10


def client_for(kubeconfig: Path, context: str | None = None) -> client.ApiClient:
    """A client for ``kubeconfig``'s ``context`` (default: current) that never writes the file back."""
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), context=context, persist_config=False)
    return api


def may_read_csrs(api: client.ApiClient) -> bool:
    """Whether ``api``'s user may list CSRs (a SelfSubjectAccessReview, ``kubectl auth can-i``)."""
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(
            group="certificates.k8s.io", resource="certificatesigningrequests", verb="list")))
    try:
        answer = client.AuthorizationV1Api(api).create_self_subject_access_review(
            review, _request_timeout=REQUEST_TIMEOUT)
    except client.ApiException as err:
        if err.status in (401, 403):
            return False
        raise
    return bool(answer.status and answer.status.allowed)


def contexts(kubeconfig: Path) -> tuple[str, str, list[str]]:
    """``kubeconfig``'s current context, its user, and the names of its other contexts."""
    listed, current = config.list_kube_config_contexts(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    user = str(current.get("context", {}).get("user", "?"))
    return str(current["name"]), user, [str(c["name"]) for c in listed if c["name"] != current["name"]]


def admin_client(kubeconfig: Path) -> client.ApiClient:
    """The client of the admin ``kubeconfig`` (the grading context's); a StepFailure if unusable."""
    if not kubeconfig.is_file():
        fail(f"could not check: the admin kubeconfig {kubeconfig} does not exist.", "Run `make up`, then grade again.")
    try:
        return client_for(kubeconfig)
    except Exception as err:
        fail(f"could not check: the admin kubeconfig {kubeconfig} cannot be loaded ({brief(err)}).",
             "Run `make up`, then grade again.")


def server_of(api: client.ApiClient) -> str:
    return str(api.configuration.host)


def ca_certificate(api: client.ApiClient) -> x509.Certificate:
    """The CA the client trusts for the API server: the cluster CA, for the admin kubeconfig."""
    ca_file = api.configuration.ssl_ca_cert
    if not ca_file:
        raise ValueError("the admin kubeconfig has no certificate-authority(-data)")
    return x509.load_pem_x509_certificate(Path(ca_file).read_bytes())


def client_certificate(api: client.ApiClient) -> bytes | None:
    """The PEM of the client certificate the client authenticates with, if any."""
    cert_file = api.configuration.cert_file
    return Path(cert_file).read_bytes() if cert_file else None


def client_key(api: client.ApiClient) -> bytes | None:
    """The PEM of the client key the client authenticates with, if any."""
    key_file = api.configuration.key_file
    return Path(key_file).read_bytes() if key_file else None


def csr_or_fail(api: client.ApiClient, name: str) -> client.V1CertificateSigningRequest | None:
    """The CSR ``name`` (None when there is none); a StepFailure when the cluster does not answer."""
    try:
        return read_csr(api, name)
    except Exception as err:
        fail(f"could not check: the cluster did not answer when reading the CSR {name} ({brief(err)}).",
             "Run `ckslab status`; `make up` restarts what is down.")


def read_csr(api: client.ApiClient, name: str) -> client.V1CertificateSigningRequest | None:
    """The CSR ``name``, or None when there is none."""
    try:
        return client.CertificatesV1Api(api).read_certificate_signing_request(
            name, _request_timeout=REQUEST_TIMEOUT)
    except client.ApiException as err:
        if err.status == 404:
            return None
        raise


def true_conditions(csr: client.V1CertificateSigningRequest) -> dict[str, client.V1CertificateSigningRequestCondition]:
    """The CSR's conditions whose status is True, by type (Approved, Denied, Failed)."""
    conditions = (csr.status.conditions if csr.status else None) or []
    return {c.type: c for c in conditions if c.status == "True"}


def issued_certificate(csr: client.V1CertificateSigningRequest) -> bytes | None:
    """The PEM the signer put in ``status.certificate``, or None before signing."""
    encoded = csr.status.certificate if csr.status else None
    return base64.b64decode(encoded) if encoded else None


def request_of(csr: client.V1CertificateSigningRequest) -> bytes:
    """The decoded ``spec.request`` of ``csr`` (the client keeps byte fields in base64)."""
    return base64.b64decode(csr.spec.request or "")


def whoami(api: client.ApiClient) -> str:
    """The user name the API server sees for ``api``'s credentials (a SelfSubjectReview)."""
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"),
        _request_timeout=REQUEST_TIMEOUT,
    )
    user_info = review.status.user_info if review.status else None
    return str(user_info.username) if user_info and user_info.username else ""


@dataclass(frozen=True)
class Refusal:
    """The API server's answer to a request it refused: HTTP status, reason and message."""

    code: int
    reason: str
    message: str


def dry_run_create_csr(api: client.ApiClient, doc: dict[str, Any]) -> Refusal | None:
    """What the API server answers to creating ``doc``: None when it would accept it, else its refusal.

    A server-side dry run (``?dryRun=All``, what ``kubectl apply --dry-run=server`` sends, with
    kubectl's ``fieldValidation=Strict``): the request passes authentication, admission
    (CertificateSubjectRestriction...) and validation, and nothing is stored
    (https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run). The manifest is sent
    as written, as JSON, not through the client's models: their own validation would answer first
    and drop what the API server must judge.
    """
    method, url, headers, body, _ = api.param_serialize(
        method="POST", resource_path="/apis/certificates.k8s.io/v1/certificatesigningrequests",
        query_params=[("dryRun", "All"), ("fieldValidation", "Strict")],
        header_params={"Accept": "application/json", "Content-Type": "application/json"},
        body=doc, auth_settings=["BearerToken"])
    response = api.call_api(method, url, header_params=headers, body=body, _request_timeout=REQUEST_TIMEOUT)
    response.read()  # type: ignore[no-untyped-call]
    if 200 <= response.status < 300:
        return None
    try:
        status = json.loads(response.data or b"{}")
    except ValueError:
        status = {}
    return Refusal(int(response.status), str(status.get("reason") or response.reason or ""),
                   str(status.get("message") or response.reason or ""))
