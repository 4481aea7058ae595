"""Step approve-legitimate: alice's and bob's requests are approved, and the signer issued them.

Both ask for their own name in the developers group, for client auth, from the client signer:
nothing in them is privileged, so the reviewer's job is to let them through.
"""

from __future__ import annotations

import pytest

from graders.csr_review.decisions import existing
from graders.csr_review.lab import Csr, ReviewLab, asks_for, name_of, why
from graders.expect import expect, fail
from graders.kube import true_conditions

pytestmark = pytest.mark.step("approve-legitimate")

REQUESTERS = ("alice", "bob")


def _csr(lab: ReviewLab, lab_csrs: dict[str, Csr | None], who: str) -> Csr:
    return existing(lab, lab_csrs, lab.csr(who))


@pytest.mark.parametrize("who", REQUESTERS)
def test_request_exists(lab: ReviewLab, lab_csrs: dict[str, Csr | None], who: str) -> None:
    _csr(lab, lab_csrs, who)


@pytest.mark.parametrize("who", REQUESTERS)
def test_request_is_not_denied(lab: ReviewLab, lab_csrs: dict[str, Csr | None], who: str) -> None:
    csr = _csr(lab, lab_csrs, who)
    denied = true_conditions(csr).get("Denied")
    if denied is not None:
        fail(f"The CSR {name_of(csr)} was denied ({why(denied)}), but it is legitimate: it asks "
             f"for {asks_for(csr)}. A denial cannot be withdrawn.",
             f"{lab.restart}, then {lab.approve(name_of(csr))}")


@pytest.mark.parametrize("who", REQUESTERS)
def test_request_is_approved(lab: ReviewLab, lab_csrs: dict[str, Csr | None], who: str) -> None:
    csr = _csr(lab, lab_csrs, who)
    expect("Approved" in true_conditions(csr),
           f"The CSR {name_of(csr)} is still Pending: it has no Approved condition.",
           lab.approve(name_of(csr)))


@pytest.mark.parametrize("who", REQUESTERS)
def test_certificate_is_issued(lab: ReviewLab, lab_csrs: dict[str, Csr | None], who: str) -> None:
    csr = _csr(lab, lab_csrs, who)
    conditions, name = true_conditions(csr), name_of(csr)
    failed = conditions.get("Failed")
    if failed is not None:
        fail(f"The signer refused the CSR {name}: it is Failed ({why(failed)}).", lab.resubmit)
    if "Approved" in conditions and not (csr.status and csr.status.certificate):
        fail(f"The CSR {name} is approved but not signed: its status.certificate is empty; is the "
             "controller manager running?", "ckslab status")
