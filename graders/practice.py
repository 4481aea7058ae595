"""The answers of the labs' practice questions, read from the live cluster when the learner answers.

A practice question names its answer's source (``labs/<id>/practice.yaml``: ``answer: {source:
groups, csr: NAME}``); this module computes it with the graders' own readers: CSRs and their
conditions through ``graders.kube``, the PKCS#10 request decoded by ``graders.request``, access by
``graders.exam.look.can`` (a SubjectAccessReview), the running controller manager's flags by
``graders.signing_config.controller`` and the minimum ``expirationSeconds`` by server-side dry runs
(``graders.kube.dry_run_create_csr``). Nothing is stored in the question: the same code judges the
learner's answer and tells them what the cluster says. Read only; a StepFailure says why an answer
cannot be read (a CSR that is gone, a cluster that does not answer).
"""

from __future__ import annotations

import base64
import datetime as dt
import socket
import ssl
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlparse

from cryptography import x509
from kubernetes import client

from cluster import pki
from graders import kube, request
from graders.exam import look
from graders.expect import brief, fail
from graders.signing_config import controller

Args = Mapping[str, str]
#: The flags of kube-controller-manager that give the CSR signers their CA (one pair for every signer;
#: the per-signer pairs, --cluster-signing-kubelet-serving-cert-file..., override it for one signer).
SIGNER_CA_FLAGS = ("--cluster-signing-cert-file", "--cluster-signing-key-file")
#: The largest expirationSeconds probed for the minimum (a day: far above the API server's floor).
PROBE_CEILING = 86400


class Cluster:
    """The cluster of project ``root``, read through its admin kubeconfig."""

    def __init__(self, kubeconfig: Path, root: Path) -> None:
        self.root = root
        self.api = kube.client_for(kubeconfig)

    def csr(self, name: str) -> client.V1CertificateSigningRequest:
        found = kube.csr_or_fail(self.api, name)
        if found is None:
            fail(f"the CSR {name} is not in the cluster any more (deleted, or removed an hour after it was decided).",
                 "Run the practice test's first cell again: it sets the questions up anew.")
        return found

    def request(self, name: str) -> x509.CertificateSigningRequest:
        src = request.RequestSource(f"spec.request of the CSR {name}", f"{name}.csr", f"{name}.key", "")
        return request.load_request(kube.request_of(self.csr(name)), src)


def answer(cluster: Cluster, source: str, args: Args) -> str:
    """The answer the cluster gives now to a question of ``source`` with ``args``; StepFailure when it cannot."""
    try:
        read = SOURCES[source]
    except KeyError:
        fail(f"no practice answer is read from {source!r}; known: {', '.join(sorted(SOURCES))}.")
    try:
        return read(cluster, args)
    except client.ApiException as err:
        fail(f"could not read the answer: the cluster answered {err.status} {err.reason}.")
    except (OSError, ValueError) as err:
        fail(f"could not read the answer ({brief(err)}).", "Run `ckslab status`; `make up` restarts what is down.")


def _pending_count(cluster: Cluster, _args: Args) -> str:
    listed = client.CertificatesV1Api(cluster.api).list_certificate_signing_request(
        _request_timeout=kube.REQUEST_TIMEOUT)
    return str(sum(1 for c in listed.items or [] if condition_of(c) == "Pending"))


def condition_of(csr: client.V1CertificateSigningRequest) -> str:
    """The CONDITION column of ``kubectl get csr`` (kubectl's printers: each True condition, then Issued)."""
    shown = [c.type for c in ((csr.status.conditions if csr.status else None) or [])
             if c.type in ("Approved", "Denied", "Failed") and c.status != "False"]
    if csr.status and csr.status.certificate:
        shown.append("Issued")
    return ",".join(shown) or "Pending"


def _condition(cluster: Cluster, args: Args) -> str:
    return condition_of(cluster.csr(args["csr"]))


def _groups(cluster: Cluster, args: Args) -> str:
    return ", ".join(pki.organizations(cluster.request(args["csr"]).subject)) or "(none)"


def _user(cluster: Cluster, args: Args) -> str:
    return pki.common_name(cluster.request(args["csr"]).subject) or "(none)"


def _sans(cluster: Cluster, args: Args, kind: type[x509.DNSName] | type[x509.IPAddress]) -> str:
    try:
        ext = cluster.request(args["csr"]).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return "(none)"
    return ", ".join(str(v) for v in ext.value.get_values_for_type(kind)) or "(none)"


def _requestor(cluster: Cluster, args: Args) -> str:
    return str(cluster.csr(args["csr"]).spec.username or "")


def _signer(cluster: Cluster, args: Args) -> str:
    return str(cluster.csr(args["csr"]).spec.signer_name)


def _usages(cluster: Cluster, args: Args) -> str:
    return ", ".join(cluster.csr(args["csr"]).spec.usages or [])


def _expiration_seconds(cluster: Cluster, args: Args) -> str:
    seconds = cluster.csr(args["csr"]).spec.expiration_seconds
    return str(seconds) if seconds is not None else "(none)"


def _not_after(cluster: Cluster, args: Args) -> str:
    pem = kube.issued_certificate(cluster.csr(args["csr"]))
    if pem is None:
        fail(f"the CSR {args['csr']} has no certificate yet (status.certificate is empty).",
             f"kubectl get csr {args['csr']}")
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc.date().isoformat()


def _can(cluster: Cluster, args: Args) -> str:
    """Whether the holder of the CSR's certificate may do it: its CN and every O, authenticated."""
    subject = cluster.request(args["csr"]).subject
    groups = [*pki.organizations(subject), "system:authenticated"]
    allowed = look.can(cluster.api, pki.common_name(subject) or "", groups, args["verb"], args["resource"],
                       namespace=args.get("namespace", ""))
    return "yes" if allowed else "no"


def _min_expiration_seconds(cluster: Cluster, _args: Args) -> str:
    """The smallest expirationSeconds the API server accepts, found by dry-run creations (a binary search)."""
    key = pki.new_ec_key()
    pem = pki.csr_pem(pki.new_csr(key, "ckslab-practice-probe"))

    def accepted(seconds: int) -> bool:
        doc = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
               "metadata": {"name": "ckslab-practice-probe"},
               "spec": {"request": base64.b64encode(pem).decode(), "signerName": "kubernetes.io/kube-apiserver-client",
                        "usages": ["client auth"], "expirationSeconds": seconds}}
        return kube.dry_run_create_csr(cluster.api, doc) is None

    low, high = 1, PROBE_CEILING
    if not accepted(high):
        fail(f"the API server refuses even expirationSeconds {high} in a dry run: the answer cannot be probed.")
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if accepted(mid) else (mid + 1, high)
    return str(low)


def _running(cluster: Cluster) -> controller.ControllerManager:
    return controller.read(cluster.root, cluster.api)


def _signing_flags(cluster: Cluster, _args: Args) -> str:
    command = list(_running(cluster).running.command)
    return ", ".join(f for f in SIGNER_CA_FLAGS if any(a == f or a.startswith(f + "=") for a in command))


def _signing_file(cluster: Cluster, args: Args) -> str:
    running = _running(cluster).running
    return str((running.key_file if args.get("file") == "key" else running.cert_file) or "(not set)")


def _signing_hours(cluster: Cluster, _args: Args) -> str:
    duration = _running(cluster).running.duration
    return str(round((duration or dt.timedelta(hours=8760)).total_seconds() / 3600))


def served_certificate(cluster: Cluster) -> x509.Certificate:
    """The serving certificate the API server presents (a TLS handshake, as ``openssl s_client``)."""
    url = urlparse(kube.server_of(cluster.api))
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # read the certificate, trust nothing
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 443), timeout=kube.REQUEST_TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname=url.hostname) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        fail("the API server presented no certificate.")
    return x509.load_der_x509_certificate(der)


def _apiserver_not_after(cluster: Cluster, _args: Args) -> str:
    return served_certificate(cluster).not_valid_after_utc.date().isoformat()


def _apiserver_issuer(cluster: Cluster, _args: Args) -> str:
    return pki.common_name(served_certificate(cluster).issuer) or "(none)"


SOURCES: dict[str, Callable[[Cluster, Args], str]] = {
    "pending-count": _pending_count,
    "condition": _condition,
    "groups": _groups,
    "user": _user,
    "dns-names": lambda c, a: _sans(c, a, x509.DNSName),
    "ip-addresses": lambda c, a: _sans(c, a, x509.IPAddress),
    "requestor": _requestor,
    "signer": _signer,
    "usages": _usages,
    "expiration-seconds": _expiration_seconds,
    "not-after": _not_after,
    "can-i": _can,
    "min-expiration-seconds": _min_expiration_seconds,
    "signing-flags": _signing_flags,
    "signing-file": _signing_file,
    "signing-hours": _signing_hours,
    "apiserver-not-after": _apiserver_not_after,
    "apiserver-issuer": _apiserver_issuer,
}
