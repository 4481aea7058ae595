"""The API server's audit log, read as evidence of what happened to CertificateSigningRequests. Pure code.

ckslab's clusters run kube-apiserver with ``--audit-policy-file`` (``cluster/audit/audit-policy.yaml``)
and ``--audit-log-path``: one JSON ``audit.k8s.io/v1`` Event a line. That policy records every write
to a CSR at level RequestResponse, so the log answers what a CSR object cannot once it is gone:
who created it, who approved or denied it (the ``approval`` subresource, what
``kubectl certificate approve`` updates), which certificate the signer wrote (the ``status``
subresource, its ``responseObject.status.certificate``) and who deleted it (a person, or the
controller manager's csrcleaner an hour after issuing). A certificate found in the log was issued
through the Certificates API; one signed offline with the CA key is not there.

Event fields as in k8s.io/apiserver/pkg/apis/audit/v1/types.go. Server-side dry-run requests are
audited too (``?dryRun=All`` in ``requestURI``); they changed nothing and are left out.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Iterable

from cryptography import x509

CSR_GROUP = "certificates.k8s.io"
CSR_RESOURCE = "certificatesigningrequests"
#: What each kind of write means for the CSR, as the trail shows it.
CREATED, REFUSED, APPROVED, DENIED, ISSUED, FAILED, DELETED = (
    "created", "refused", "approved", "denied", "issued", "failed", "deleted")


@dataclass(frozen=True)
class CsrEvent:
    """One completed write to a CSR, from the audit log."""

    #: When the API server answered (``stageTimestamp``), UTC.
    time: dt.datetime
    #: Who made the request (``user.username``), e.g. kubernetes-admin or the signer's service account.
    user: str
    #: One of CREATED, REFUSED (a create the API server refused), APPROVED, DENIED, ISSUED, FAILED, DELETED.
    action: str
    csr: str
    #: The HTTP status the API server answered.
    code: int
    #: ISSUED: the PEM the signer wrote into status.certificate.
    certificate: bytes | None = None
    #: REFUSED: the API server's message; APPROVED/DENIED/FAILED: the condition's reason and message.
    detail: str = ""

    def issued_certificate(self) -> x509.Certificate | None:
        if self.certificate is None:
            return None
        try:
            return x509.load_pem_x509_certificate(self.certificate)
        except ValueError:
            return None


@dataclass(frozen=True)
class Unavailable:
    """Why no audit log can be read, as a clause: "the API server runs without --audit-log-path"."""

    reason: str


@dataclass(frozen=True)
class Trail:
    """The CSR events of an audit log, oldest first, and where it was read."""

    #: Where the log was read, for messages ("/path/audit.log", "... in the node container ...").
    source: str
    events: tuple[CsrEvent, ...]
    #: The first event of any kind in the log: nothing before it can be judged by the log.
    starts: dt.datetime | None

    def of(self, csr: str) -> list[CsrEvent]:
        return [e for e in self.events if e.csr == csr]

    def issuance_of(self, cert: x509.Certificate) -> CsrEvent | None:
        """The event in which the cluster's signer wrote ``cert`` into a CSR's status, if any."""
        for event in self.events:
            if event.action == ISSUED and event.issued_certificate() == cert:
                return event
        return None

    def last(self, csr: str, action: str) -> CsrEvent | None:
        found = [e for e in self.of(csr) if e.action == action]
        return found[-1] if found else None

    def covers(self, when: dt.datetime) -> bool:
        """True when the log had begun by ``when``, so an event then would be in it."""
        return self.starts is not None and self.starts <= when


def parse(lines: Iterable[str], source: str) -> Trail:
    """The CSR events of audit log ``lines``; lines that are not audit events are skipped."""
    events: list[CsrEvent] = []
    starts: dt.datetime | None = None
    for line in lines:
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        if not isinstance(raw, dict) or raw.get("kind") != "Event":
            continue
        when = _time(raw.get("stageTimestamp") or raw.get("requestReceivedTimestamp"))
        if when is not None and (starts is None or when < starts):
            starts = when
        event = _csr_event(raw, when)
        if event is not None:
            events.append(event)
    events.sort(key=lambda e: e.time)
    return Trail(source, tuple(events), starts)


def _time(text: object) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:  # RFC 3339 with microseconds: 2026-11-30T07:41:07.123456Z
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    except ValueError:
        return None


def _get(doc: object, *keys: str) -> Any:
    for key in keys:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _conditions(obj: object) -> dict[str, dict[str, Any]]:
    found = _get(obj, "status", "conditions")
    return {c["type"]: c for c in found or [] if isinstance(c, dict) and c.get("status", "True") == "True"
            and isinstance(c.get("type"), str)}


def _why(condition: dict[str, Any]) -> str:
    return ": ".join(str(condition[k]).rstrip(". ") for k in ("reason", "message") if condition.get(k))


def _csr_event(raw: dict[str, Any], when: dt.datetime | None) -> CsrEvent | None:
    ref = raw.get("objectRef") or {}
    if (ref.get("apiGroup") != CSR_GROUP or ref.get("resource") != CSR_RESOURCE or when is None
            or raw.get("stage") != "ResponseComplete" or "dryRun=" in str(raw.get("requestURI", ""))):
        return None
    verb, sub = raw.get("verb"), ref.get("subresource") or ""
    request, response = raw.get("requestObject"), raw.get("responseObject")
    name = ref.get("name") or _get(request, "metadata", "name") or _get(response, "metadata", "name") or ""
    code = int(_get(raw, "responseStatus", "code") or 0)
    user = str(_get(raw, "user", "username") or "")
    ok = 200 <= code < 300

    def event(action: str, **extra: Any) -> CsrEvent:
        return CsrEvent(when, user, action, str(name), code, **extra)

    if verb == "create" and not sub:
        if ok:
            return event(CREATED)
        return event(REFUSED, detail=str(_get(raw, "responseStatus", "message") or ""))
    if verb == "delete" and ok:
        return event(DELETED)
    if verb not in ("update", "patch") or not ok:
        return None
    conditions = _conditions(response)
    if sub == "approval":
        for kind, action in (("Denied", DENIED), ("Approved", APPROVED)):
            if kind in conditions:
                return event(action, detail=_why(conditions[kind]))
        return None
    if sub == "status":
        encoded = _get(response, "status", "certificate")
        if encoded:
            try:
                return event(ISSUED, certificate=base64.b64decode(encoded))
            except (binascii.Error, ValueError):
                return None
        if "Failed" in conditions:
            return event(FAILED, detail=_why(conditions["Failed"]))
    return None


def describe(event: CsrEvent) -> str:
    """One line of the trail: "08:01:02 UTC  kubernetes-admin approved the CSR jane"."""
    at = f"{event.time:%Y-%m-%d %H:%M:%S} UTC"
    what = {
        CREATED: f"created the CSR {event.csr}",
        REFUSED: f"tried to create the CSR {event.csr}; the API server refused ({event.code}): {event.detail}",
        APPROVED: f"approved the CSR {event.csr}",
        DENIED: f"denied the CSR {event.csr}",
        FAILED: f"marked the CSR {event.csr} Failed",
        DELETED: f"deleted the CSR {event.csr}",
    }.get(event.action, "")
    if event.action == ISSUED:
        cert = event.issued_certificate()
        serial = f"serial {cert.serial_number:x}, valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC" \
            if cert is not None else "unreadable"
        what = f"signed the CSR {event.csr}: status.certificate written ({serial})"
    elif event.detail and event.action in (APPROVED, DENIED, FAILED):
        what += f" ({event.detail})"
    return f"{at}  {event.user}  {what}"
