"""What setup.sh left: the serial and notAfter of every kubeadm certificate when the lab started.

``setup.sh`` re-issues kubeadm's certificates to expire in a few days, then runs
``python3 -m graders.control_plane_certificates.record write`` to keep their serials in
``<root>/.lab/control-plane-certificates/setup.json``, tied to the cluster by the CA's SHA-256
fingerprint. The graders compare the files with it: a renewed certificate has another serial and a
later notAfter; a CA has the same serial. ``... record copy-admin`` puts admin.conf's credentials into
``<root>/.lab/kubeconfig`` (what a learner does with their own copy after renewal); the lab's scripts
use it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from cluster.errors import CkslabError
from cluster.paths import LabPaths, write_private
from cluster.waiting import WaitTimeout, wait_until
from graders.control_plane_certificates import node_pki, serving
from graders.expect import StepFailure

#: The API server reloads a changed serving certificate on a file event, or within a minute at worst.
SERVING_TIMEOUT = 90.0
RECORD = Path(".lab") / "control-plane-certificates" / "setup.json"


@dataclass(frozen=True)
class Issued:
    """A certificate as the record keeps it."""

    serial: int
    not_after: dt.datetime


@dataclass(frozen=True)
class SetupRecord:
    """The record of one start of the lab on one cluster."""

    ca_fingerprint: str
    certificates: dict[str, Issued]
    cas: dict[str, Issued]
    #: When setup wrote the record (its file's modification time), after restarting the components.
    recorded_at: dt.datetime | None = None


def is_renewed(cert: x509.Certificate | None, issued: Issued) -> bool:
    """True when ``cert`` replaced the one setup issued: another serial and a later notAfter."""
    return cert is not None and cert.serial_number != issued.serial and cert.not_valid_after_utc > issued.not_after


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _issued(cert: x509.Certificate) -> dict[str, str]:
    return {"serial": format(cert.serial_number, "x"), "not_after": cert.not_valid_after_utc.isoformat()}


def snapshot(found: node_pki.NodePki) -> dict[str, object]:
    """The record of the PKI as it is now; ValueError naming a file that holds no certificate."""
    broken = [f.problem for f in found.files.values() if f.cert is None]
    if broken:
        raise ValueError("; ".join(broken))
    ca = found.get("ca").cert
    assert ca is not None
    return {"ca_fingerprint": fingerprint(ca),
            "certificates": {n: _issued(found.get(n).cert) for n in node_pki.RENEWED},  # type: ignore[arg-type]
            "cas": {n: _issued(found.get(n).cert) for n in node_pki.CAS}}  # type: ignore[arg-type]


def load(root: Path) -> SetupRecord | None:
    """The record of the last start of the lab, or None when there is none or it is damaged."""
    try:
        doc = json.loads((root / RECORD).read_text())

        def table(raw: dict[str, dict[str, str]]) -> dict[str, Issued]:
            return {n: Issued(int(v["serial"], 16), dt.datetime.fromisoformat(v["not_after"])) for n, v in raw.items()}

        recorded_at = dt.datetime.fromtimestamp((root / RECORD).stat().st_mtime, dt.timezone.utc)
        return SetupRecord(str(doc["ca_fingerprint"]), table(doc["certificates"]), table(doc["cas"]), recorded_at)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def copy_admin(root: Path) -> None:
    """Put admin.conf's client certificate and key into ``root``/.lab/kubeconfig, keeping its server."""
    found = node_pki.read(root)
    admin = admin_conf(found)
    path = LabPaths(root).kubeconfig
    doc = yaml.safe_load(path.read_text())
    doc["users"][0]["user"] = admin["users"][0]["user"]
    write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())


def admin_conf(found: node_pki.NodePki) -> dict[str, Any]:
    """admin.conf as a kubeconfig document; NodeError or ValueError when unreadable."""
    path = f"{node_pki.KUBEADM_ETC}/{node_pki.RENEWED['admin.conf']}"
    doc = yaml.safe_load(found.node.read_file(path))
    if not isinstance(doc, dict):
        raise ValueError(f"{path} is not a kubeconfig")
    return doc


def wait_serving(root: Path, timeout: float = SERVING_TIMEOUT) -> int:
    """Wait until the API server serves apiserver.crt as it is on disk (it reloads it by itself)."""
    server = str(yaml.safe_load(LabPaths(root).kubeconfig.read_text())["clusters"][0]["cluster"]["server"])

    def serves_the_file() -> bool:
        return serving.served_certificate(server) == node_pki.read(root).get("apiserver").cert

    try:
        wait_until(serves_the_file, timeout, interval=1.0, what="the API server to serve the new apiserver.crt")
    except WaitTimeout as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("the API server serves the new apiserver.crt")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m graders.control_plane_certificates.record")
    parser.add_argument("action", choices=("write", "copy-admin", "wait-serving"))
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("CKSLAB_ROOT", ".")))
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    try:
        if args.action == "wait-serving":
            return wait_serving(root)
        if args.action == "copy-admin":
            copy_admin(root)
            print(f"{LabPaths(root).kubeconfig} now holds admin.conf's client certificate and key")
            return 0
        doc = snapshot(node_pki.read(root))
    except (StepFailure, CkslabError, ValueError, OSError, KeyError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    (root / RECORD).parent.mkdir(parents=True, exist_ok=True)
    (root / RECORD).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"recorded the serials of {len(node_pki.RENEWED)} certificates and {len(node_pki.CAS)} CAs in {root / RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
