"""What a PKI exam task's setup saw of kubeadm's certificates, kept for its graders and off the node.

The exam's node tasks (kubeadm-renew, apiserver-san) grade what changed since setup: a renewed
certificate has another serial and a later notAfter, an untouched one the same serial. Setup runs
``python3 -m graders.exam.pki_record write TASK`` (``$CKSLAB_ROOT`` is the context's cluster) to
keep the serials, notAfters and the API server certificate's SANs in
``<cluster root>/.lab/exam-pki/<task>.json``: beside the cluster's state, outside the node's tree
(``.lab/local``, the node's ``/``) and the learner's workspace. The snapshot is the
control-plane-certificates lab's (``record.snapshot``), read the same way (``node_pki.read``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from cluster.errors import CkslabError
from cluster.paths import write_private
from graders.control_plane_certificates import node_pki, record
from graders.control_plane_certificates.record import Issued
from graders.expect import StepFailure

FOLDER = Path(".lab") / "exam-pki"


@dataclass(frozen=True)
class PkiRecord:
    """kubeadm's certificates as one task's setup left them, on one cluster."""

    ca_fingerprint: str
    #: Every leaf and kubeconfig, by kubeadm's name, and every CA (``node_pki.RENEWED`` and ``CAS``).
    certificates: dict[str, Issued]
    cas: dict[str, Issued]
    #: The API server certificate's SANs then ("DNS:kubernetes", "IP:10.96.0.1", ...), sorted.
    apiserver_sans: tuple[str, ...]
    #: When the record was written (after setup's restarts).
    recorded_at: dt.datetime


def path_of(root: Path, task_id: str) -> Path:
    return root / FOLDER / f"{task_id}.json"


def sans(cert: x509.Certificate | None) -> tuple[str, ...]:
    """``cert``'s subject alternative names as "DNS:name" and "IP:address", sorted; () when it has none."""
    if cert is None:
        return ()
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(sorted([f"DNS:{d}" for d in names.get_values_for_type(x509.DNSName)]
                        + [f"IP:{ip}" for ip in names.get_values_for_type(x509.IPAddress)]))


def write(root: Path, task_id: str) -> Path:
    """Record the PKI of the cluster at ``root`` now; ValueError or StepFailure when a file holds no certificate."""
    found = node_pki.read(root)
    doc = {**record.snapshot(found), "apiserver_sans": list(sans(found.get("apiserver").cert))}
    where = path_of(root, task_id)
    where.parent.mkdir(parents=True, exist_ok=True)
    write_private(where, (json.dumps(doc, indent=2) + "\n").encode())
    return where


def load(root: Path, task_id: str) -> PkiRecord | None:
    """The record of ``task_id``'s setup on the cluster at ``root``; None when it was not set up there."""
    where = path_of(root, task_id)
    try:
        doc = json.loads(where.read_text())

        def table(raw: dict[str, dict[str, str]]) -> dict[str, Issued]:
            return {n: Issued(int(v["serial"], 16), dt.datetime.fromisoformat(v["not_after"])) for n, v in raw.items()}

        return PkiRecord(str(doc["ca_fingerprint"]), table(doc["certificates"]), table(doc["cas"]),
                         tuple(doc["apiserver_sans"]),
                         dt.datetime.fromtimestamp(where.stat().st_mtime, dt.timezone.utc))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m graders.exam.pki_record")
    parser.add_argument("action", choices=("write",))
    parser.add_argument("task", help="the exam task's id")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("CKSLAB_ROOT", ".")))
    args = parser.parse_args(argv)
    try:
        where = write(args.root.resolve(), args.task)
    except (StepFailure, CkslabError, ValueError, OSError) as err:
        print(f"error: cannot record the node's certificates ({err})", file=sys.stderr)
        return 1
    print(f"recorded kubeadm's certificates in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
