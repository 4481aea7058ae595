"""What the csr-review graders look at: the lab's CSRs and every client CSR, read once and only read.

The workspace and the user come from the grading context (``graders/context.py``). The cluster is read once per session; no test writes.
"""

from __future__ import annotations


import pytest
from kubernetes import client

from graders import kube
from graders.csr_review.lab import KUBE_APISERVER_CLIENT, Csr, ReviewLab
from graders.expect import fail
from graders.context import GradingContext

_UNREACHABLE_HINT = "Run `ckslab status`; `make up` restarts what is down."


@pytest.fixture(scope="session")
def lab(context: GradingContext) -> ReviewLab:
    return ReviewLab(context.workspace, context.user)


@pytest.fixture(scope="session")
def client_csrs(admin_api: client.ApiClient) -> list[Csr]:
    """Every CSR in the cluster for the kube-apiserver-client signer, whoever made it."""
    try:
        listed = client.CertificatesV1Api(admin_api).list_certificate_signing_request(
            field_selector=f"spec.signerName={KUBE_APISERVER_CLIENT}", _request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as err:
        detail = " ".join(str(err).split())[:160]
        fail(f"could not check: the cluster did not answer when listing the CSRs ({detail}).",
             _UNREACHABLE_HINT)
    return list(listed.items or [])


@pytest.fixture(scope="session")
def lab_csrs(admin_api: client.ApiClient, lab: ReviewLab) -> dict[str, Csr | None]:
    """The lab's five CSRs by name, None for one the cluster does not have (any signer)."""
    found: dict[str, Csr | None] = {}
    for name in (*lab.legitimate, *lab.to_deny):
        try:
            found[name] = kube.read_csr(admin_api, name)
        except Exception as err:
            detail = " ".join(str(err).split())[:160]
            fail(f"could not check: the cluster did not answer when reading the CSR {name} ({detail}).",
                 _UNREACHABLE_HINT)
    return found
