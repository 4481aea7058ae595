"""Step deny-control-plane-cn: dave's request for CN=system:kube-controller-manager is denied.

The kube-apiserver-client signer puts no restriction on the subject, so a certificate with the
controller manager's name would authenticate as the controller manager, whose ClusterRole reads
every Secret and creates tokens for any service account. The requester's own name (REQUESTOR)
does not match the CN it asks for: the tell-tale sign.
"""

from __future__ import annotations

import pytest

from graders.csr_review.decisions import check_denied, check_not_approved, check_reason, existing
from graders.csr_review.lab import CONTROLLER_MANAGER, Csr, ReviewLab

pytestmark = pytest.mark.step("deny-control-plane-cn")

DANGER = (f"CN={CONTROLLER_MANAGER} authenticates as the controller manager, which may read every "
          "Secret and create a token for any service account")


def test_request_exists(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    existing(lab, lab_csrs, lab.control_plane_request)


def test_request_is_not_approved(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    check_not_approved(lab, existing(lab, lab_csrs, lab.control_plane_request), DANGER)


def test_request_is_denied(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    check_denied(lab, existing(lab, lab_csrs, lab.control_plane_request))


def test_denial_has_a_reason(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    check_reason(lab, existing(lab, lab_csrs, lab.control_plane_request))
