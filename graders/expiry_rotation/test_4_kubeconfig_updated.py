"""Step kubeconfig-updated: jane.kubeconfig embeds the renewed certificate and the new key, and works."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client
from urllib3.exceptions import HTTPError as Urllib3Error

from cluster import pki
from graders import files, kube
from graders.expect import brief, fail
from graders.expiry_rotation.lab import LabFiles

pytestmark = pytest.mark.step("kubeconfig-updated")


def _api(lab: LabFiles) -> client.ApiClient:
    files.read_bytes(lab.kubeconfig, lab.start)
    try:
        return kube.client_for(lab.kubeconfig)
    except Exception as err:
        fail(f"{lab.kubeconfig.name} cannot be loaded as a kubeconfig ({brief(err)}).", lab.set_credentials)


def _client_certificate(lab: LabFiles) -> x509.Certificate:
    used = kube.client_certificate(_api(lab))
    if used is None:
        fail(f"{lab.kubeconfig.name} has no client certificate for its current user.", lab.set_credentials)
    try:
        return x509.load_pem_x509_certificate(used)
    except ValueError:
        fail(f"{lab.kubeconfig.name}'s client certificate is not a PEM certificate.", lab.set_credentials)


def _expiry(cert: x509.Certificate) -> str:
    verb = "expired" if cert.not_valid_after_utc <= dt.datetime.now(dt.timezone.utc) else "expires"
    return f"{verb} {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"


def test_kubeconfig_loads(lab: LabFiles) -> None:
    _api(lab)


def test_kubeconfig_uses_the_renewed_certificate(lab: LabFiles, original: x509.Certificate) -> None:
    cert = _client_certificate(lab)
    if cert == original:
        fail(f"{lab.kubeconfig.name} still uses the original certificate ({_expiry(cert)}); embed "
             f"{lab.renewed_crt.name} instead.", lab.set_credentials)
    renewed = files.load_certificate(lab.renewed_crt, lab.save_crt)
    if cert != renewed:
        fail(f"{lab.kubeconfig.name} uses another client certificate than {lab.renewed_crt.name} "
             f"(CN={pki.common_name(cert.subject)}, serial {cert.serial_number:x}, {_expiry(cert)}).",
             lab.set_credentials)


def test_kubeconfig_uses_the_new_key(lab: LabFiles, original: x509.Certificate) -> None:
    key_pem = kube.client_key(_api(lab))
    if key_pem is None:
        fail(f"{lab.kubeconfig.name} has no client key for its current user.", lab.set_credentials)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as err:
        fail(f"{lab.kubeconfig.name}'s client key cannot be read ({brief(err)}).", lab.set_credentials)
    if pki.same_public_key(key.public_key(), original.public_key()):
        fail(f"{lab.kubeconfig.name} still uses the original key, {lab.key.name}; embed "
             f"{lab.new_key.name}.", lab.set_credentials)
    new_key = files.load_private_key(lab.new_key, lab.make_key)
    if not pki.same_public_key(key.public_key(), new_key.public_key()):
        fail(f"{lab.kubeconfig.name}'s client key is neither {lab.key.name} nor {lab.new_key.name}.",
             lab.set_credentials)


def test_kubeconfig_authenticates_as_the_user(lab: LabFiles) -> None:
    api, name = _api(lab), lab.kubeconfig.name
    try:
        username = kube.whoami(api)
    except client.ApiException as err:
        if err.status == 401:
            cert = _client_certificate(lab)
            fail(f"The API server rejected {name}'s credentials (401 Unauthorized): its client certificate "
                 f"{_expiry(cert)}, or its key does not match, or it is not signed by the cluster CA.",
                 lab.set_credentials)
        fail(f"The API server answered {err.status} {err.reason} to {name}'s SelfSubjectReview.",
             f"kubectl auth whoami --kubeconfig {name}")
    except (Urllib3Error, OSError) as err:  # OSError: ssl.SSLError raised before any request
        fail(f"The API server did not accept a connection with {name} ({brief(err)}).",
             f"kubectl auth whoami --kubeconfig {name}")
    if username != lab.user:
        fail(f"{name} authenticates as {username}, not {lab.user}.", lab.set_credentials)
