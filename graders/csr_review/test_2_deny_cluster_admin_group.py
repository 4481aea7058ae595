"""Step deny-cluster-admin-group: carol's request for the ops-admins group is denied.

Her subject adds O=<user>-ops-admins to her developers group, and the ClusterRoleBinding
<user>-ops-admins binds that group to cluster-admin: approving it would make her cluster-admin.
CertificateSubjectRestriction only refuses system:masters, so this one reaches the reviewer.
"""

from __future__ import annotations

import pytest

from graders.csr_review.decisions import check_denied, check_not_approved, check_reason, existing
from graders.csr_review.lab import Csr, ReviewLab

pytestmark = pytest.mark.step("deny-cluster-admin-group")


def _danger(lab: ReviewLab) -> str:
    group = lab.admin_group
    return (f"O={group} puts its holder in the group {group}, which the ClusterRoleBinding {group} "
            "makes cluster-admin")


def test_request_exists(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    existing(lab, lab_csrs, lab.cluster_admin_request)


def test_request_is_not_approved(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    check_not_approved(lab, existing(lab, lab_csrs, lab.cluster_admin_request), _danger(lab))


def test_request_is_denied(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    check_denied(lab, existing(lab, lab_csrs, lab.cluster_admin_request))


def test_denial_has_a_reason(lab: ReviewLab, lab_csrs: dict[str, Csr | None]) -> None:
    check_reason(lab, existing(lab, lab_csrs, lab.cluster_admin_request))
