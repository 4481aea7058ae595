"""A scripted learner for the graders' cluster tests: the lab's commands, one method each.

It types what the lesson teaches (real ``openssl``, the pinned ``kubectl``) in a project root of
its own whose ``.lab/kubeconfig`` is the session cluster's admin kubeconfig, under a user name of
its own (CSR names are global to the shared cluster), and grades the way ``make grade`` does.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from cluster import binaries, csr, pki
from labs import catalog
from labs.engine import workspace_for
from cluster.backends.local import LocalBackend

V1_MANIFEST = """apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {name}
spec:
  request: {request}
  signerName: {signer}
  usages:
{usages}
"""


@dataclass
class Learner:
    root: Path
    user: str
    cluster: LocalBackend

    @property
    def ws(self) -> Path:
        """The learner's workspace: a user other than jane gets workspace/certificates-api-<user>."""
        return workspace_for(catalog.load("certificates-api"), self.user, self.root)

    def path(self, suffix: str) -> Path:
        """``<user><suffix>`` in the workspace: path(".key") is jane-x.key."""
        return self.ws / f"{self.user}{suffix}"

    def sh(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self.ws.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KUBECONFIG": str(self.root / ".lab" / "kubeconfig")}
        return subprocess.run(command, cwd=self.ws, env=env, capture_output=True, text=True,
                              check=check, timeout=60)

    def bash(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``script`` in the workspace, as a learner types it: the pinned kubectl and ckslab first on PATH, on the
        cluster's project root (what `ckslab env` gives a shell)."""
        self.ws.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KUBECONFIG": str(self.root / ".lab" / "kubeconfig"), "USER_NAME": self.user,
               "CKSLAB_ROOT": str(self.cluster.lab.root),  # the cluster it shares: ckslab controlplane ca
               "PATH": os.pathsep.join([str(binaries.cached().kubectl.parent), str(Path(sys.executable).parent),
                                        os.environ["PATH"]])}
        done = subprocess.run(["bash", "-eu", "-c", script], cwd=self.ws, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.sh(str(binaries.cached().kubectl), *args, check=check)

    # --- the lesson, step by step ----------------------------------------------------------

    def make_key(self, *extra: str, bits: int = 2048) -> None:
        self.sh("openssl", "genrsa", *extra, "-out", self.path(".key").name, str(bits))

    def make_csr(self, cn: str | None = None, key: str | None = None, *extra: str) -> None:
        self.sh("openssl", "req", "-new", "-key", key or self.path(".key").name,
                "-subj", f"/CN={cn or self.user}", *extra, "-out", self.path(".csr").name)

    def write_manifest(self, *, request: str | None = None, signer: str = csr.KUBE_APISERVER_CLIENT,
                       usages: tuple[str, ...] = ("client auth",), text: str | None = None) -> None:
        encoded = request or base64.b64encode(self.path(".csr").read_bytes()).decode()  # base64 -w0
        self.path("-csr.yaml").write_text(text or V1_MANIFEST.format(
            name=self.user, request=encoded, signer=signer,
            usages="\n".join(f"  - {u}" for u in usages)))

    def apply(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.kubectl("apply", "-f", self.path("-csr.yaml").name, check=check)

    def approve(self) -> None:
        self.kubectl("certificate", "approve", self.user)

    def save_crt(self) -> None:
        api = csr.api_client(self.root / ".lab" / "kubeconfig")
        outcome = csr.wait_for_outcome(api, self.user)
        assert outcome.certificate is not None, outcome
        out = self.kubectl("get", "csr", self.user, "-o", "jsonpath={.status.certificate}").stdout
        self.path(".crt").write_bytes(base64.b64decode(out))

    def write_kubeconfig(self, ca_file: Path | None = None) -> None:
        name = self.path(".kubeconfig").name
        ca = ca_file or self.root / "ca.crt"
        if ca_file is None:
            ca.write_bytes(self.cluster.ca_certificate())
        server = json.loads(self.kubectl("config", "view", "--raw", "-o", "json").stdout)["clusters"][0]["cluster"]["server"]
        self.kubectl("config", "set-cluster", "ckslab", f"--server={server}", f"--certificate-authority={ca}",
                     "--embed-certs", "--kubeconfig", name)
        self.kubectl("config", "set-credentials", self.user, f"--client-certificate={self.path('.crt').name}",
                     f"--client-key={self.path('.key').name}", "--embed-certs", "--kubeconfig", name)
        self.kubectl("config", "set-context", self.user, "--cluster=ckslab", f"--user={self.user}",
                     "--kubeconfig", name)
        self.kubectl("config", "use-context", self.user, "--kubeconfig", name)

    def everything(self) -> None:
        """The whole lab, done right."""
        self.make_key()
        self.make_csr()
        self.write_manifest()
        self.apply()
        self.approve()
        self.save_crt()
        self.write_kubeconfig()

    # --- outside the lesson ------------------------------------------------------------------

    def sign_offline(self, *, age: dt.timedelta = dt.timedelta(minutes=5)) -> None:
        """Write <user>.crt signed directly with the cluster's CA key, issued ``age`` ago."""
        pki_dir = self.cluster.layout.pki
        ca = pki.CertificateAuthority.load((pki_dir / "ca.crt").read_bytes(), (pki_dir / "ca.key").read_bytes())
        key = serialization.load_pem_private_key(self.path(".key").read_bytes(), password=None)
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(pki.subject(self.user)).issuer_name(ca.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
                .not_valid_before(now - age).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.ExtendedKeyUsage([pki.CLIENT_AUTH]), critical=False)
                .sign(ca.key, hashes.SHA256()))
        self.path(".crt").write_bytes(pki.cert_pem(cert))

    def grade(self, *args: str) -> tuple[int, dict[str, Any] | None, str]:
        """``ckslab grade certificates-api --json`` as a learner runs it: (exit code, report, output)."""
        report = self.root / "report.json"
        report.unlink(missing_ok=True)
        env = {**os.environ, "CKSLAB_ROOT": str(self.root)}
        done = subprocess.run([sys.executable, "-m", "ckslab", "grade", "certificates-api", "--user", self.user,
                               "--json", str(report), *args], cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        data = json.loads(report.read_text()) if report.exists() else None
        return done.returncode, data, done.stdout + done.stderr

    def steps(self, *args: str) -> dict[str, dict[str, Any]]:
        """The graded steps by id (only the failing or passing ones asked for with --step)."""
        code, report, output = self.grade(*args)
        assert report is not None, output
        assert code == (0 if report["passed"] else 1), output
        assert "Traceback" not in output, output
        return {s["id"]: s for s in report["steps"]}


def learner_root(root: Path, cluster: LocalBackend, *, audited: bool = False) -> Path:
    """A project root using ``cluster``: its admin kubeconfig as ``.lab/kubeconfig``.

    Without ``audited`` the root knows nothing else of the cluster, as with a cluster ckslab did not
    start (no audit log can be read). With it, the root also has the cluster's state file and its
    ``.lab/local`` (a symlink), so the graders find the API server and its audit log.
    """
    (root / ".lab").mkdir(parents=True)
    shutil.copyfile(cluster.kubeconfig(), root / ".lab" / "kubeconfig")
    if audited:
        shutil.copyfile(cluster.lab.state_file, root / ".lab" / "state.json")
        (root / ".lab" / "local").symlink_to(cluster.layout.base, target_is_directory=True)
    return root


@pytest.fixture
def learner(request: pytest.FixtureRequest, tmp_path: Path, local_cluster: LocalBackend) -> Iterator[Learner]:
    """A learner of its own (user jane-<hash of the test id>); its CSR is deleted afterwards.

    Its root does not lead to the cluster's audit log: the graders judge as on an existing cluster.
    """
    user = "jane-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    yield Learner(learner_root(tmp_path / "root", local_cluster), user, local_cluster)
    csr.delete(csr.api_client(local_cluster.kubeconfig()), user)


@pytest.fixture
def audited_learner(request: pytest.FixtureRequest, tmp_path: Path, local_cluster: LocalBackend) -> Iterator[Learner]:
    """A learner of its own whose root leads the graders to the cluster's API server and audit log."""
    user = "jane-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    yield Learner(learner_root(tmp_path / "root", local_cluster, audited=True), user, local_cluster)
    csr.delete(csr.api_client(local_cluster.kubeconfig()), user)
