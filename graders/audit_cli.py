"""``ckslab audit LAB``: the lab's audit trail, from the API server's audit log.

Who created each of the lab's CertificateSigningRequests, who approved or denied it, when the
signer issued its certificate (serial and expiry), who deleted it: the questions an examiner asks
of a cluster ("who approved jane's CSR, and when?"). The lab's CSRs are those named after its
user (``jane``, ``jane-renewed``, ``reviewer-alice``...). Exit codes: 0 shown, 2 no audit log.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from cluster.errors import CkslabError
from labs import catalog, engine

out = Console(highlight=False)


class NoAuditLog(CkslabError):
    """The cluster's audit log cannot be read."""

    exit_code = 2


def add_parser(subparsers: Any) -> None:
    """Register ``audit`` on the ``ckslab`` command line."""
    s = subparsers.add_parser("audit", help="a lab's audit trail: who created, approved and deleted its CSRs, when")
    s.add_argument("lab", help=f"the lab ({', '.join(catalog.known())})")
    s.add_argument("--user", metavar="NAME", help="the learner's user (default: the lab's, e.g. jane)")
    s.add_argument("--all", action="store_true", help="every CSR of the cluster, not only the lab's")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from graders import audit, audit_source  # the kubernetes client is slow to import

    lab_run = engine.prepare(args.lab, args.user)
    if not lab_run.kubeconfig.is_file():
        raise NoAuditLog("no cluster is up.", "Run `make up` first.")
    trail = audit_source.read_trail(lab_run.root)
    if isinstance(trail, audit.Unavailable):
        raise NoAuditLog(f"no audit log can be read: {trail.reason}.",
                         "On the local and kind backends ckslab starts the API server with an audit log.")
    user = lab_run.user
    events = [e for e in trail.events if args.all or e.csr == user or e.csr.startswith(f"{user}-")]
    what = "every CSR" if args.all else f"the CSRs of {lab_run.lab.id} ({user}, {user}-...)"
    out.print(f"Audit log: {trail.source}; {what}.")
    if not events:
        out.print("No CSR of this lab was created, approved, issued or deleted since the log began.")
        return 0
    table = Table(show_lines=False)
    for column in ("time (UTC)", "CSR", "user", "what"):
        table.add_column(column)
    for event in events:
        line = audit.describe(event)
        table.add_row(f"{event.time:%Y-%m-%d %H:%M:%S}", event.csr, event.user,
                      line.split(f"  {event.user}  ", 1)[1])
    out.print(table)
    return 0
