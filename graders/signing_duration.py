"""How long the cluster's CSR signer signs for, read from the cluster, never assumed.

The kube-apiserver-client signer gives a CSR without ``spec.expirationSeconds`` the controller
manager's ``--cluster-signing-duration`` (default 8760h), and caps any expirationSeconds at it
(pkg/controller/certificates/authority/policies.go). The signing-config lab changes that flag,
so a lab after it must read it again. Where the controller manager's flags can be read (local
and kind: ``graders.signing_config.controller``) they are the evidence; on a cluster ckslab did
not create, a certificate the cluster issued without expirationSeconds is (its validity is the
duration, unless the CA ends sooner). Read only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from kubernetes import client

from graders.expect import StepFailure
from graders.signing_config import controller, flags


@dataclass(frozen=True)
class SigningDuration:
    """The signing duration in force, and what it was read from (a clause for messages)."""

    value: dt.timedelta
    evidence: str

    @property
    def hours(self) -> int:
        return round(self.value.total_seconds() / 3600)


def read(root: Path, api: client.ApiClient, issued_without_expiration: x509.Certificate | None,
         name: str = "") -> SigningDuration | None:
    """The duration in force on the cluster of project ``root``; None when nothing can tell.

    ``issued_without_expiration`` (the file ``name``) is a certificate this cluster issued for a
    CSR without expirationSeconds, the fallback where the controller manager cannot be read.
    """
    try:
        cm = controller.read(root, api)
    except StepFailure:
        cm = None
    if cm is not None and cm.running.duration is not None:
        return SigningDuration(cm.running.duration, f"the running controller manager ({cm.where}) signs for "
                                                     f"{cm.running.describe_duration()}")
    if issued_without_expiration is not None:
        validity = issued_without_expiration.not_valid_after_utc - issued_without_expiration.not_valid_before_utc
        return SigningDuration(validity, f"{name}, issued by this cluster without expirationSeconds, is valid for "
                                         f"{flags.show_duration(validity)} (the controller manager's flags cannot "
                                         "be read on this cluster)")
    return None


def main() -> int:
    """``python -m graders.signing_duration``: say what the cluster of $KUBECONFIG signs for (lab setup)."""
    import os

    from graders import files, kube

    kubeconfig = Path(os.environ.get("KUBECONFIG") or ".lab/kubeconfig")  # a lab script's environment
    workspace = Path(os.environ.get("CKSLAB_WORKSPACE") or ".")
    user = os.environ.get("CKSLAB_USER") or "jane"
    leaked = workspace / "leaked" / f"{user}-ci.crt"
    try:
        cert: x509.Certificate | None = files.load_certificate(leaked, "")
    except StepFailure:
        cert = None
    found = read(kubeconfig.resolve().parent.parent, kube.client_for(kubeconfig), cert, f"leaked/{leaked.name}")
    if found is None:
        print("NOTE: The signing duration of this cluster cannot be read: measure it with a certificate issued "
              "without expirationSeconds.")
        return 0
    print(f"NOTE: This cluster's signer gives at most {flags.show_duration(found.value)}: {found.evidence}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
