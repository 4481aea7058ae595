"""The time a candidate spent on each task, as the audit log of its context shows it. Pure code.

What it measures (``MEASURE``, said in the debrief): the time between the candidate's first and last
change through the API to the task's objects, after setup and before grading. A change is a write
the API server's audit policy records (``cluster/audit/audit-policy.yaml``: CertificateSigningRequests
and their approval and status, RBAC roles and bindings); the task's objects are those whose name, or
whose namespace, is one of the task's drawn names (no two tasks of an attempt share one) or holds
one as whole parts (``farah-new``, ``csr-40213``, ``web-secret-readers``: names a statement builds
from a drawn value); in a cluster of its own (``own`` tasks: cks-c, cks-d...), where the task is the
only one, every change is the task's. The candidate is any user but the cluster's own (``system:...``: the controller manager's signer and
csrcleaner). It is not the time the task was on screen: reading, thinking and work on files or on
the node leave no trace in the audit log, so a task changed once shows 0 s, and a task with no such
change has no time (None). Why not the exam page's task selection: the terminal is where the work
is done, the page may not even be open.

Event fields as in k8s.io/apiserver/pkg/apis/audit/v1/types.go.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

MEASURE = ("time spent: from the first to the last change the candidate made through the API to the task's "
           "objects (CSRs, their approval, RBAC roles and bindings: the writes the audit log records), after setup "
           "and before grading; work on files or on the node leaves no such trace (no time shown)")
WRITES = ("create", "update", "patch", "delete", "deletecollection")
#: A drawn value that can name an object: a DNS-1123 name that is not a number.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class Write:
    """One completed write recorded in an audit log."""

    time: dt.datetime
    user: str
    #: The objectRef's resource (``certificatesigningrequests``, ``rolebindings``, ...).
    resource: str
    namespace: str
    name: str


def writes(lines: Iterable[str]) -> list[Write]:
    """The successful writes of audit log ``lines`` (one JSON Event a line); other lines are skipped."""
    found = []
    for line in lines:
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        if not isinstance(raw, dict) or raw.get("kind") != "Event" or raw.get("stage") != "ResponseComplete":
            continue
        ref, code = raw.get("objectRef") or {}, (raw.get("responseStatus") or {}).get("code") or 0
        if raw.get("verb") not in WRITES or not 200 <= int(code) < 300 or "dryRun=" in str(raw.get("requestURI")):
            continue
        try:
            when = dt.datetime.fromisoformat(str(raw.get("stageTimestamp")).replace("Z", "+00:00"))
        except ValueError:
            continue
        found.append(Write(when.astimezone(dt.timezone.utc), str((raw.get("user") or {}).get("username") or ""),
                           str(ref.get("resource") or ""), str(ref.get("namespace") or ""), str(ref.get("name") or "")))
    return found


def names(values: Mapping[str, object]) -> set[str]:
    """The drawn values of a task that can name its objects (its context and numbers left out)."""
    return {str(v) for k, v in values.items()
            if k != "context" and _NAME.match(str(v)) and not str(v).replace(".", "").isdigit()}


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in re.split(r"[-.]", name) if p)


def parts(values: Mapping[str, object]) -> set[tuple[str, ...]]:
    """The drawn values that name a task's objects, also inside a longer name, as tuples of parts: its
    ``names``, and its numbers of 5 digits or more (``csr-{{forged}}``; a short number matches too much)."""
    found = {_parts(n) for n in names(values)}
    return found | {(str(v),) for k, v in values.items() if k != "context" and str(v).isdigit() and len(str(v)) >= 5}


def owned(name: str, ours: set[tuple[str, ...]]) -> bool:
    """Whether the object name ``name`` holds one of ``ours`` (``parts``) as whole parts: ``farah-new``
    holds ``farah``, ``farahs`` does not."""
    got = _parts(name)
    return any(got[i:i + len(p)] == p for p in ours for i in range(len(got) - len(p) + 1))


def spent(found: Iterable[Write], values: Mapping[str, object], since: dt.datetime | None,
          until: dt.datetime | None, whole_cluster: bool = False) -> int | None:
    """Seconds from the candidate's first to last change to the objects ``values`` name (``owned``; every
    object with ``whole_cluster``: the task's own cluster), between ``since`` and ``until`` (either None:
    unbounded); None when there is no such change."""
    ours = parts(values)
    times = [w.time for w in found
             if not w.user.startswith("system:")
             and (whole_cluster or owned(w.name, ours) or owned(w.namespace, ours))
             and (since is None or w.time >= since) and (until is None or w.time <= until)]
    return round((max(times) - min(times)).total_seconds()) if times else None


def spoken(seconds: int | None) -> str:
    """``12m 05s``, ``40s``, or ``no change seen`` for None."""
    if seconds is None:
        return "no change seen"
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
