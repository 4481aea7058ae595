"""Step deny-server-auth: erin's request for a server auth usage is denied, not approved.

The kube-apiserver-client signer issues client certificates only: approving the request does
not give erin a serving certificate, the signer marks it Failed. The reviewer's answer is Denied.
"""

from __future__ import annotations

import pytest

from graders.csr_review.decisions import check_denied, check_not_approved, check_reason, existing
from graders.csr_review.lab import KUBE_APISERVER_CLIENT, Csr, ReviewLab

pytestmark = pytest.mark.step("deny-server-auth")

DANGER = f"the {KUBE_APISERVER_CLIENT} signer issues client certificates only"


def test_request_exists(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    existing(lab, lab_csrs, lab.server_auth_request)


def test_request_is_not_approved(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    check_not_approved(lab, existing(lab, lab_csrs, lab.server_auth_request), DANGER)


def test_request_is_denied(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    check_denied(lab, existing(lab, lab_csrs, lab.server_auth_request))


def test_denial_has_a_reason(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    check_reason(lab, existing(lab, lab_csrs, lab.server_auth_request))
