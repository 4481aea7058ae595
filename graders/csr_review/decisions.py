"""The checks every "deny" step shares: the CSR is still there, not approved, denied, with a reason.

A reviewer's decision is the CSR's Approved or Denied condition; the signer adds Failed when it
refuses an approved request (a server auth usage for the client signer). Each check reads the
CSR object fetched once by the conftest and fails with what was found and what was expected.
"""

from __future__ import annotations

from graders.csr_review.lab import Csr, ReviewLab, asks_for, certificate_of, name_of, subject_text, why
from graders.expect import expect, fail
from graders.kube import true_conditions


def existing(lab: ReviewLab, csrs: dict[str, Csr | None], name: str) -> Csr:
    """The CSR ``name``; a failure saying why its review cannot be checked when it is gone."""
    csr = csrs.get(name)
    if csr is None and not any(csrs.values()):
        fail(f"None of the lab's five requests ({', '.join(csrs)}) is in the cluster, so there is nothing to "
             "review: the lab has not been started (`ckslab start csr-review`, the notebook's first bash cell, "
             "submits them), or they were deleted, or the controller manager removed them an hour after they "
             "were decided.", f"{lab.restart}  (it submits every request, pending)")
    if csr is None:
        fail(f"There is no CSR {name} in the cluster: it was deleted (a refusal is a denial, not a "
             "deletion), or the controller manager removed it an hour after it was decided, so "
             "its review cannot be checked.", lab.resubmit)
    return csr


def check_not_approved(lab: ReviewLab, csr: Csr, danger: str) -> None:
    """``csr`` was not approved; ``danger`` says why approving it was wrong."""
    name, conditions = name_of(csr), true_conditions(csr)
    if "Approved" not in conditions:
        return
    failed = conditions.get("Failed")
    if failed is not None:
        fail(f"You approved a {_usage_phrase(csr)} request: the signer marked the CSR {name} Failed "
             f"({why(failed)}); it should have been denied.", lab.resubmit)
    cert = certificate_of(csr)
    if cert is not None:
        fail(f"The CSR {name} was approved and the cluster issued its certificate, for "
             f"{subject_text(cert.subject)}: {danger}. It should have been denied.", lab.resubmit)
    fail(f"The CSR {name} was approved, for {asks_for(csr)}: {danger}. It should have been denied.",
         lab.resubmit)


def check_denied(lab: ReviewLab, csr: Csr) -> None:
    """``csr`` carries a Denied condition."""
    name = name_of(csr)
    expect("Denied" in true_conditions(csr),
           f"The CSR {name} is still Pending: it has no Denied condition.",
           f"{lab.decode(name)}; then {lab.deny(name)}")


def check_reason(lab: ReviewLab, csr: Csr) -> None:
    """``csr``'s Denied condition says why (kubectl sets reason KubectlDeny and a message)."""
    name, denied = name_of(csr), true_conditions(csr).get("Denied")
    if denied is None:
        return  # check_denied reports it
    missing = [field for field, value in (("reason", denied.reason), ("message", denied.message))
               if not value]
    expect(not missing,
           f"The CSR {name} is denied without saying why: its Denied condition has no "
           f"{' and no '.join(missing)}.",
           f"{lab.restart}, then {lab.deny(name)}  (it sets the reason KubectlDeny and a message)")


def _usage_phrase(csr: Csr) -> str:
    refused = [u for u in csr.spec.usages or [] if u not in ("client auth", "digital signature",
                                                              "key encipherment")]
    return " and ".join(refused) or "client"
