"""The expiry-rotation lab's files, names and hints for one user, and the signer's validity rule.

Every name derives from the user (``jane`` unless ``CKSLAB_USER`` says otherwise) by the same
rule as ``labs/expiry-rotation/setup.sh`` and ``solution.sh``. ``issued_validity`` is the
kube-apiserver-client signer's rule (kube-controller-manager, ``PermissiveSigningPolicy``), which
the graders and the learner's answers in ``expiry.yaml`` are checked against. Pure code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

#: The smallest spec.expirationSeconds the API server accepts (validation of the CSR).
MINIMUM_EXPIRATION_SECONDS = 600
#: What the renewed certificate must ask for: one day.
RENEWED_EXPIRATION_SECONDS = 86400
#: kube-controller-manager's default --cluster-signing-duration. The graders never assume it: they
#: read the duration in force (``graders.signing_duration``); the signing-config lab changes it.
SIGNING_DURATION = dt.timedelta(hours=8760)
#: The signer backdates NotBefore by 5 minutes; it also backdates NotAfter unless the validity
#: is "short", under 8 hours, so that a 10-minute certificate still lasts 10 minutes from now.
BACKDATE = dt.timedelta(minutes=5)
SHORT = dt.timedelta(hours=8)
#: Allowed difference between a certificate's NotAfter - NotBefore and the rule, for clock rounding.
TOLERANCE = dt.timedelta(seconds=60)


def issued_validity(expiration_seconds: int | None,
                    signing_duration: dt.timedelta = SIGNING_DURATION) -> dt.timedelta:
    """NotAfter - NotBefore of what the signer issues for a CSR with ``expiration_seconds``."""
    ttl = signing_duration
    if expiration_seconds is not None:
        ttl = min(dt.timedelta(seconds=expiration_seconds), signing_duration)
    return ttl + BACKDATE if ttl < SHORT else ttl



def validity_of(not_before: dt.datetime, not_after: dt.datetime) -> dt.timedelta:
    return not_after - not_before


def spoken(span: dt.timedelta) -> str:
    """A validity for messages: "15 minutes", "1 day", "365 days", "1 day and 5 minutes"."""
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in
             ((days, "day"), (hours, "hour"), (minutes, "minute"), (seconds, "second")) if n]
    if not parts:
        return "0 seconds"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class LabFiles:
    """Where the learner keeps this lab's files, and the commands the hints suggest."""

    workspace: Path
    user: str

    @property
    def robot(self) -> str:
        """The CI identity whose key leaked."""
        return f"{self.user}-ci"

    @property
    def robot_binding(self) -> str:
        return f"{self.robot}-view"

    @property
    def renewed(self) -> str:
        """The name of the renewal CSR."""
        return f"{self.user}-renewed"

    def _file(self, name: str) -> Path:
        return self.workspace / name

    @property
    def answers(self) -> Path:
        return self._file("expiry.yaml")

    @property
    def key(self) -> Path:
        return self._file(f"{self.user}.key")

    @property
    def crt(self) -> Path:
        return self._file(f"{self.user}.crt")

    @property
    def original_crt(self) -> Path:
        """setup.sh's copy of the certificate it issued: its public key is the original key's."""
        return self._file(f".setup/{self.user}-original.crt")

    @property
    def new_key(self) -> Path:
        return self._file(f"{self.user}-new.key")

    @property
    def renewed_csr(self) -> Path:
        return self._file(f"{self.renewed}.csr")

    @property
    def renewed_manifest(self) -> Path:
        return self._file(f"{self.renewed}-csr.yaml")

    @property
    def renewed_crt(self) -> Path:
        return self._file(f"{self.renewed}.crt")

    @property
    def kubeconfig(self) -> Path:
        return self._file(f"{self.user}.kubeconfig")

    @property
    def leaked_crt(self) -> Path:
        """setup.sh issues it without expirationSeconds: it lasts the signing duration."""
        return self._file(f"leaked/{self.robot}.crt")

    @property
    def leaked_kubeconfig(self) -> Path:
        return self._file(f"leaked/{self.robot}.kubeconfig")

    # --- hints ------------------------------------------------------------------------------

    @property
    def start(self) -> str:
        return f"ckslab start expiry-rotation --user {self.user}"

    @property
    def dates(self) -> str:
        return f"openssl x509 -in {self.crt.name} -noout -dates"

    @property
    def make_key(self) -> str:
        return f"openssl genrsa -out {self.new_key.name} 2048 && chmod 600 {self.new_key.name}"

    @property
    def make_csr(self) -> str:
        return f'openssl req -new -key {self.new_key.name} -subj "/CN={self.user}" -out {self.renewed_csr.name}'

    @property
    def resubmit(self) -> str:
        return (f"kubectl delete csr {self.renewed} --ignore-not-found && kubectl apply -f "
                f"{self.renewed_manifest.name} (with spec.expirationSeconds: {RENEWED_EXPIRATION_SECONDS})")

    @property
    def approve(self) -> str:
        return f"kubectl certificate approve {self.renewed}"

    @property
    def save_crt(self) -> str:
        return (f"kubectl get csr {self.renewed} -o jsonpath='{{.status.certificate}}' "
                f"| base64 -d > {self.renewed_crt.name}")

    @property
    def set_credentials(self) -> str:
        return (f"kubectl config set-credentials {self.user} --client-certificate={self.renewed_crt.name} "
                f"--client-key={self.new_key.name} --embed-certs --kubeconfig {self.kubeconfig.name}")

    @property
    def find_bindings(self) -> str:
        return f"kubectl get clusterrolebindings,rolebindings -A -o wide | grep -w {self.robot}"
