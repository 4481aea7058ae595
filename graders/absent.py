"""Why a CertificateSigningRequest the lab needs is not in the cluster, in the API server's words.

Shared by every lab whose learner creates a CSR from a manifest. The causes are asked of the
cluster, never guessed: a server-side dry run of the learner's manifest (the API server's own
refusal, or that it would accept it), the audit log (a refused create, a deletion and by whom),
and the issuance evidence (a certificate signed offline). Read only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from kubernetes import client

from graders import audit, issuance, kube, manifest
from graders.expect import StepFailure
from labs.resets import ResetStep


@dataclass(frozen=True)
class CsrFiles:
    """The CSR a step needs and the learner's files it is made from."""

    #: The CSR object's name, jane.
    name: str
    #: The user its certificate is for (CN).
    user: str
    #: jane-csr.yaml, jane.key, jane.csr.
    manifest: Path
    key: Path
    csr: Path


def why_missing(want: CsrFiles, api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                missing: issuance.MissingCsr | None, hint: str,
                resets: Sequence[ResetStep] = ()) -> tuple[str, str]:
    """(message, hint) for the missing CSR ``want.name``; ``hint`` unless a cause calls for another.

    When the CSR was created once (the audit log) and its manifest is gone too (a reset moved it to
    workspace/.backup/), a ``hint`` that names it (``kubectl apply -f jane-csr.yaml``) becomes: write it, then apply
    it, and the message ends by saying the file is missing.
    A deletion the audit log shows within one of ``resets`` (the lab's reset record) is said to be that reset's.
    """
    csr_name, manifest_path, name = want.name, want.manifest, want.manifest.name
    files = (name, want.user, want.key.name, want.csr.name)
    message = f"There is no CertificateSigningRequest named {csr_name} in the cluster."
    message_tail = ""
    try:
        doc: dict[str, Any] | None = manifest.load(manifest_path, csr_name)
    except StepFailure as err:
        doc = None
        made = isinstance(trail, audit.Trail) and trail.last(csr_name, audit.CREATED) is not None
        if made and not manifest_path.exists() and name in hint:
            # Made once, then the CSR and its manifest went (a reset moved the file to workspace/.backup/):
            # `kubectl apply -f` of a file that is gone fails too.
            message_tail, hint = f" {err.message}", err.hint
    refusal: kube.Refusal | None = None
    if doc is not None:
        try:
            refusal = kube.dry_run_create_csr(api, doc)
        except Exception:  # the cluster did not answer the dry run: say what the other evidence says
            doc = None
    if doc is not None and refusal is not None:
        said, hint = manifest.explain_refusal(refusal.code, refusal.reason, refusal.message, *files)
        message += " " + said
    elif doc is not None:
        message += (f" The API server would accept {name} (server-side dry run): it was not applied, "
                    "or the CSR was deleted since.")
    if isinstance(trail, audit.Trail):
        for event in trail.of(csr_name)[-1:]:
            if event.action == audit.REFUSED and doc is None:
                said, hint = manifest.explain_refusal(event.code, "", event.detail, *files)
                message += f" The audit log shows a refused create at {event.time:%H:%M:%S} UTC. " + said
            elif event.action == audit.DELETED:
                by = next((r for r in resets if r.deleted(event.time)), None)
                if by is not None:
                    message += (f" `{by.command}` deleted it at {event.time:%Y-%m-%d %H:%M:%S} UTC (the audit log "
                                f"shows it, as {event.user}).")
                else:
                    message += f" The audit log shows {event.user} deleted it at {event.time:%Y-%m-%d %H:%M:%S} UTC."
    if missing is not None and missing.reason:
        message += " " + missing.reason
    return message + message_tail, hint
