"""Step access: jane.kubeconfig authenticates as jane, with jane.crt (what `kubectl auth whoami` shows)."""

from __future__ import annotations

import ssl

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError

from cluster import pki
from graders import files, kube
from graders.certificates_api.lab import LabFiles
from graders.expect import fail

pytestmark = pytest.mark.step("access")


def _learner_api(lab: LabFiles) -> client.ApiClient:
    text = files.read_bytes(lab.kubeconfig, lab.make_kubeconfig)
    _check_current_context(lab, text)
    try:
        return kube.client_for(lab.kubeconfig)
    except Exception as err:
        detail = " ".join(str(err).split())[:160]
        fail(f"{lab.kubeconfig.name} cannot be loaded as a kubeconfig ({detail}).", _what_it_lacks(lab, text))


def _what_it_lacks(lab: LabFiles, text: bytes) -> str:
    """The commands that add what the current context names and the kubeconfig lacks: its cluster (a
    set-cluster that failed, e.g. on a missing ca.crt, leaves a context naming none), its user; else all four."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        return lab.make_kubeconfig

    def named(key: str) -> dict[str, object]:
        found = doc.get(key)
        return {str(e.get("name")): e for e in found if isinstance(e, dict)} if isinstance(found, list) else {}

    context = named("contexts").get(str(doc.get("current-context")))
    wants = context.get("context") if isinstance(context, dict) else None
    if not isinstance(wants, dict):
        return lab.make_kubeconfig
    cluster, user = str(wants.get("cluster", "")), str(wants.get("user", ""))
    commands = ([lab.set_cluster(cluster)] if cluster not in named("clusters") else []) + \
        ([lab.set_credentials] if user not in named("users") else [])
    return " && ".join(commands) or lab.make_kubeconfig


def _check_current_context(lab: LabFiles, text: bytes) -> None:
    """The mistake of forgetting ``kubectl config use-context``: kubectl then tries localhost:8080."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # the client's own error says where
    if not isinstance(doc, dict):
        return
    contexts = [c.get("name") for c in doc.get("contexts") or [] if isinstance(c, dict)]
    current, name = doc.get("current-context"), lab.kubeconfig.name
    use = f"kubectl config use-context {contexts[0] if len(contexts) == 1 else 'CONTEXT'} --kubeconfig {name}"
    if contexts and not current:
        fail(f"{name} has no current-context, so kubectl knows no user or cluster for it and tries "
             "http://localhost:8080 ('The connection to the server localhost:8080 was refused'); its "
             f"contexts: {', '.join(map(str, contexts))}.", use)
    if contexts and current not in contexts:
        fail(f"{name}'s current-context is {current!r}, which is not one of its contexts "
             f"({', '.join(map(str, contexts))}).", use)
    if not contexts:
        _no_context(lab, doc)


def _no_context(lab: LabFiles, doc: dict[str, object]) -> None:
    """A kubeconfig with no context (set-credentials alone): what it has, and the commands for what it lacks."""
    def names(key: str) -> list[str]:
        found = doc.get(key)
        return [str(e.get("name")) for e in found if isinstance(e, dict)] if isinstance(found, list) else []

    clusters, users, name = names("clusters"), names("users"), lab.kubeconfig.name
    has = "; ".join(f"{what}: {', '.join(found) or 'none'}" for what, found in (("clusters", clusters), ("users", users)))
    commands = ([] if clusters else [lab.set_cluster()]) + ([] if lab.user in users else [lab.set_credentials])
    commands.append(lab.set_context(clusters[0] if len(clusters) == 1 else "ckslab"))
    fail(f"{name} has no context, so kubectl knows no user or cluster for it and tries http://localhost:8080 "
         f"({has}). A kubeconfig needs a cluster (kubectl config set-cluster: server and CA), credentials "
         "(set-credentials: certificate and key) and a context joining them (set-context), made current "
         "(use-context, or --context on every command).", " && ".join(commands))


def test_kubeconfig_exists(lab: LabFiles) -> None:
    files.read_bytes(lab.kubeconfig, lab.make_kubeconfig)


def test_kubeconfig_loads(lab: LabFiles) -> None:
    _learner_api(lab)


def test_kubeconfig_uses_the_certificate(lab: LabFiles) -> None:
    api, name = _learner_api(lab), lab.kubeconfig.name
    used = kube.client_certificate(api)
    if used is None:
        fail(f"{name} has no client certificate for its current user; it must use {lab.crt.name} "
             f"and {lab.key.name}.", lab.set_credentials)
    try:
        cert = x509.load_pem_x509_certificate(used)
    except ValueError:
        fail(f"{name}'s client certificate is not a PEM certificate.", lab.set_credentials)
    mine = files.load_certificate(lab.crt, lab.save_crt)
    if cert != mine:
        fail(f"{name} uses another client certificate than {lab.crt.name} "
             f"(CN={pki.common_name(cert.subject)}, serial {cert.serial_number:x}).", lab.set_credentials)


def test_kubeconfig_key_matches_its_certificate(lab: LabFiles) -> None:
    api, name = _learner_api(lab), lab.kubeconfig.name
    cert_pem, key_pem = kube.client_certificate(api), kube.client_key(api)
    if cert_pem is None or key_pem is None:
        fail(f"{name} lacks a client certificate or key for its current user.", lab.set_credentials)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as err:
        fail(f"{name}'s client key cannot be read ({err}).", lab.set_credentials)
    if not pki.same_public_key(cert.public_key(), key.public_key()):
        fail(f"{name}'s client key does not match its client certificate; use {lab.key.name}.",
             lab.set_credentials)


def test_kubeconfig_authenticates_as_the_user(lab: LabFiles, admin_api: client.ApiClient) -> None:
    api, name = _learner_api(lab), lab.kubeconfig.name
    server = kube.server_of(api)
    try:
        username = kube.whoami(api)
    except client.ApiException as err:
        if err.status == 401:
            fail(f"The API server rejected {name}'s credentials (401 Unauthorized): its client "
                 "certificate is not one the cluster trusts.", lab.set_credentials)
        fail(f"The API server answered {err.status} {err.reason} to {name}'s SelfSubjectReview.",
             lab.whoami)
    except (Urllib3Error, OSError) as err:  # OSError: ssl.SSLError raised before any request
        fail(*_connection_failure(lab, server, kube.server_of(admin_api), err))
    if username != lab.user:
        fail(f"{name} authenticates as {username}, not {lab.user}.", lab.set_credentials)


def _connection_failure(lab: LabFiles, server: str, cluster_server: str, err: Exception) -> tuple[str, str]:
    name = lab.kubeconfig.name
    set_cluster = (f"ckslab controlplane ca > ca.crt && kubectl config set-cluster CLUSTER "
                   f"--server={cluster_server} --certificate-authority=ca.crt --embed-certs "
                   f"--kubeconfig {name}  (CLUSTER: the cluster of its context)")
    text, reason = str(err), getattr(err, "reason", err)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        if not _has_ca(lab):
            return (f"{name} has no certificate-authority for its cluster, so it cannot verify the API server at "
                    f"{server} (kubectl: x509: certificate signed by unknown authority).", set_cluster)
        return (f"{name} does not trust the API server at {server}: its certificate-authority-data "
                "is not the cluster CA (`ckslab controlplane ca` prints it).", set_cluster)
    if isinstance(reason, (SSLError, ssl.SSLError)):
        return (f"The API server at {server} refused the TLS connection from {name}: its client "
                "certificate is not signed by the cluster CA, or its key does not match.",
                lab.set_credentials)
    if server.rstrip("/") != cluster_server.rstrip("/"):
        return (f"{name} points at {server}, which does not answer; the lab's API server is "
                f"{cluster_server}.", set_cluster)
    return (f"The API server at {server} does not answer ({' '.join(text.split())[:120]}).",
            "ckslab status")


def _has_ca(lab: LabFiles) -> bool:
    """Whether the cluster of the kubeconfig's current context names a CA (inline or as a file)."""
    try:
        doc = yaml.safe_load(lab.kubeconfig.read_bytes())
        context = next(c["context"] for c in doc["contexts"] if c["name"] == doc["current-context"])
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration):
        return True  # cannot tell: keep the general message
    return bool(cluster.get("certificate-authority-data") or cluster.get("certificate-authority"))
