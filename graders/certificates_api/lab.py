"""The certificates-api lab's files and the commands that fix them, for one user.

Every name derives from the user (``jane`` unless ``CKSLAB_USER`` says otherwise), so the
graders' tests can run side by side on one cluster with users of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabFiles:
    """Where the learner keeps this lab's files, and the commands the hints suggest."""

    workspace: Path
    user: str

    @property
    def key(self) -> Path:
        return self.workspace / f"{self.user}.key"

    @property
    def csr(self) -> Path:
        return self.workspace / f"{self.user}.csr"

    @property
    def manifest(self) -> Path:
        return self.workspace / f"{self.user}-csr.yaml"

    @property
    def crt(self) -> Path:
        return self.workspace / f"{self.user}.crt"

    @property
    def kubeconfig(self) -> Path:
        return self.workspace / f"{self.user}.kubeconfig"

    # --- hints ------------------------------------------------------------------------------

    @property
    def make_key(self) -> str:
        return f"openssl genrsa -out {self.key.name} 2048"

    @property
    def make_csr(self) -> str:
        return f'openssl req -new -key {self.key.name} -subj "/CN={self.user}" -out {self.csr.name}'

    @property
    def apply(self) -> str:
        return f"kubectl apply -f {self.manifest.name}"

    @property
    def resubmit(self) -> str:
        return f"kubectl delete csr {self.user} --ignore-not-found && kubectl apply -f {self.manifest.name}"

    @property
    def approve(self) -> str:
        return f"kubectl certificate approve {self.user}"

    @property
    def save_crt(self) -> str:
        return (f"kubectl get csr {self.user} -o jsonpath='{{.status.certificate}}' "
                f"| base64 -d > {self.crt.name}")

    @property
    def set_credentials(self) -> str:
        return (f"kubectl config set-credentials {self.user} --client-certificate={self.crt.name} "
                f"--client-key={self.key.name} --embed-certs --kubeconfig {self.kubeconfig.name}")

    def set_cluster(self, cluster: str = "ckslab") -> str:
        """set-cluster with the admin kubeconfig's server (what `ckslab env` exports) and the cluster CA; ca.crt
        saved first when the workspace has none (a reset moved it to workspace/.backup/, or it was never saved)."""
        save_ca = "" if (self.workspace / "ca.crt").exists() else "ckslab controlplane ca > ca.crt && "
        return (f"{save_ca}kubectl config set-cluster {cluster} "
                "--server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}') "
                f"--certificate-authority=ca.crt --embed-certs --kubeconfig {self.kubeconfig.name}")

    def set_context(self, cluster: str = "ckslab", user: str = "") -> str:
        user = user or self.user
        return (f"kubectl config set-context {self.user} --cluster={cluster} --user={user} "
                f"--kubeconfig {self.kubeconfig.name} && kubectl config use-context {self.user} "
                f"--kubeconfig {self.kubeconfig.name}")

    @property
    def make_kubeconfig(self) -> str:
        """The four commands of a kubeconfig: a cluster, credentials, a context joining them, made current."""
        return f"{self.set_cluster()} && {self.set_credentials} && {self.set_context()}"

    @property
    def whoami(self) -> str:
        return f"kubectl auth whoami --kubeconfig {self.kubeconfig.name}"
