"""Step access: jane.kubeconfig authenticates as jane, with jane.crt (what `kubectl auth whoami` shows)."""

from __future__ import annotations

import ssl

import pytest
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
    files.read_bytes(lab.kubeconfig, lab.set_credentials)
    try:
        return kube.client_for(lab.kubeconfig)
    except Exception as err:
        detail = " ".join(str(err).split())[:160]
        fail(f"{lab.kubeconfig.name} cannot be loaded as a kubeconfig ({detail}).", lab.set_credentials)


def test_kubeconfig_exists(lab: LabFiles) -> None:
    files.read_bytes(lab.kubeconfig, lab.set_credentials)


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
