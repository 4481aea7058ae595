"""The signing-config lab on a real local control plane: its solution, its mistakes, reset, notebook.

This lab edits and restarts the cluster's controller manager, which every test of a session's
shared cluster relies on: this module starts a cluster of its own. Its tests run in order on it,
each from a fresh start (which gives the controller manager its original flags back) and with a
user of its own. A mistake is made the way a learner makes it: the manifest edited in place,
`ckslab controlplane restart`, CSRs submitted and approved with kubectl and the admin kubeconfig.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from notebook_run import run_learner_copy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cluster import binaries, controlplane, process, state
from cluster.waiting import wait_until
from cluster.backends import local_kubelet
from cluster.backends.local import LocalBackend
from cluster.paths import LabPaths
from graders import kube, unsigned

pytestmark = pytest.mark.cluster
LAB = "signing-config"
DURATION = "--cluster-signing-duration"


class Learner:
    """One learner of this module's cluster: its user, its workspace, kubectl and ckslab."""

    def __init__(self, cluster: LocalBackend, user: str) -> None:
        self.cluster, self.user = cluster, user
        self.root = cluster.lab.root
        self.manifest = cluster.layout.manifest(controlplane.CONTROLLER_MANAGER)

    @property
    def workspace(self) -> Path:
        return self.root / "workspace" / f"{LAB}-{self.user}"

    def ckslab(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CKSLAB_ROOT": str(self.root)}
        env.pop("CKSLAB_USER", None)
        return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True, env=env,
                              timeout=300, check=False)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return subprocess.run([str(binaries.cached().kubectl), *args], input=stdin, capture_output=True, text=True,
                              env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig())}, timeout=60,
                              check=True).stdout

    def start(self) -> None:
        started = self.ckslab("start", LAB, "--user", self.user, "--again")  # afresh, whatever the last test left
        assert started.returncode == 0, started.stdout + started.stderr

    def pid(self) -> int:
        current = state.read(self.cluster.lab.state_file)
        assert current is not None
        return int(current.details["pids"][controlplane.CONTROLLER_MANAGER])

    def running_flags(self) -> list[str]:
        return Path(f"/proc/{self.pid()}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")

    def set_duration(self, value: str, restart: bool = True) -> None:
        """Edit the manifest as a learner would (and apply it with ckslab controlplane restart)."""
        doc = yaml.safe_load(self.manifest.read_text())
        command = [c for c in doc["spec"]["containers"][0]["command"] if not c.startswith(DURATION)]
        doc["spec"]["containers"][0]["command"] = [*command, f"{DURATION}={value}"]
        self.manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
        if restart:
            done = self.ckslab("controlplane", "restart", "controller-manager")
            assert done.returncode == 0, done.stdout + done.stderr

    def submit(self, expiration_seconds: int | None = None) -> None:
        """The CSR <user>-short, approved, its certificate saved in the workspace."""
        name = f"{self.user}-short"
        key = ec.generate_private_key(ec.SECP256R1())
        request = (x509.CertificateSigningRequestBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.user)]))
                   .sign(key, hashes.SHA256()))
        spec: dict[str, Any] = {
            "request": base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["digital signature", "client auth"]}
        if expiration_seconds is not None:
            spec["expirationSeconds"] = expiration_seconds
        manifest = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                    "metadata": {"name": name}, "spec": spec}
        self.kubectl("delete", "csr", name, "--ignore-not-found")
        self.kubectl("create", "-f", "-", stdin=json.dumps(manifest))
        self.kubectl("certificate", "approve", name)
        self.kubectl("wait", f"csr/{name}", "--for=jsonpath={.status.certificate}", "--timeout=60s")
        pem = self.kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}")
        self.workspace.mkdir(parents=True, exist_ok=True)
        (self.workspace / f"{name}.crt").write_bytes(base64.b64decode(pem))

    def answer(self, **answers: object) -> None:
        right = {"cert_file": str(self.cluster.layout.pki / "ca.crt"),
                 "key_file": str(self.cluster.layout.pki / "ca.key"),
                 "controllers": ["csrsigning", "csrapproving", "csrcleaner"], "duration": "8760h"}
        (self.workspace / "signing.yaml").write_text(yaml.safe_dump({**right, **answers}))

    def steps(self, tmp_path: Path, step: str | None = None) -> dict[str, dict[str, Any]]:
        out = tmp_path / f"{self.user}-{secrets.token_hex(2)}.json"
        graded = self.ckslab("grade", LAB, "--user", self.user, "--json", str(out), *(["--step", step] if step else []))
        assert out.is_file(), graded.stdout + graded.stderr
        return {s["id"]: s for s in json.loads(out.read_text())["steps"]}

    def failing(self, tmp_path: Path, step: str | None = None) -> dict[str, str]:
        return {i: s["message"] for i, s in self.steps(tmp_path, step).items() if not s["passed"]}


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[LocalBackend]:
    """A control plane for this module only: its tests restart its controller manager."""
    backend = LocalBackend(LabPaths(tmp_path_factory.mktemp("signing-config")))
    backend.up(lambda _msg: None)
    try:
        yield backend
    finally:
        backend.down(lambda _msg: None)


@pytest.fixture
def learner(own_cluster: LocalBackend) -> Iterator[Learner]:
    one = Learner(own_cluster, f"sc-{secrets.token_hex(3)}")
    yield one
    one.kubectl("delete", "csr", f"{one.user}-short", "--ignore-not-found")


def no_flag_message() -> str:
    return ("The running controller manager has no --cluster-signing-duration flag, so it signs for the default "
            "8760h (365 days); the lab asks for --cluster-signing-duration=720h.")


def test_a_fresh_start_fails_every_step_with_its_own_message(learner: Learner, tmp_path: Path) -> None:
    learner.start()
    assert learner.failing(tmp_path) == {
        "answers": f"signing.yaml does not exist in {learner.workspace}.",
        "duration-flag": no_flag_message(),
        "new-certificate": f"There is no CertificateSigningRequest named {learner.user}-short in the cluster.",
    }
    saved = learner.root / ".lab" / LAB / "original-kube-controller-manager.yaml"
    assert saved.read_text() == learner.manifest.read_text()
    hint = learner.steps(tmp_path, "duration-flag")["duration-flag"]["hint"]
    assert hint == (f"add the item - --cluster-signing-duration=720h to spec.containers[0].command in "
                    f"{learner.manifest}, then ckslab controlplane restart controller-manager")


def test_the_solution_earns_full_marks_and_reset_restores_the_original_flags(learner: Learner,
                                                                            tmp_path: Path) -> None:
    original = learner.running_flags()
    assert not [f for f in original if f.startswith(DURATION)]
    solved = learner.ckslab("solve", LAB, "--user", learner.user, "--yes")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    running, manifest = learner.running_flags(), learner.manifest.read_text()
    steps = learner.steps(tmp_path)
    assert all(s["passed"] for s in steps.values()), steps
    assert sum(s["points"] for s in steps.values()) == 100
    assert f"{DURATION}=720h" in running
    assert (learner.running_flags(), learner.manifest.read_text()) == (running, manifest)  # grading changed nothing
    # The notebook's start cell run again (issue 20): the changed manifest is kept, and it says so.
    again = learner.ckslab("start", LAB, "--user", learner.user)
    assert again.returncode == 0, again.stdout + again.stderr
    said = " ".join(again.stderr.split())
    assert (f"{learner.manifest} was changed since the lab started: your change is kept (it has "
            f"{DURATION}=720h)") in said and "ckslab reset signing-config" in said, said
    assert (learner.running_flags(), learner.manifest.read_text()) == (running, manifest)
    assert all(s["passed"] for s in learner.steps(tmp_path).values())
    reset = learner.ckslab("reset", LAB, "--user", learner.user)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert learner.running_flags()[1:] == original[1:]
    assert f"{DURATION}" not in learner.manifest.read_text()
    failing = learner.failing(tmp_path)
    deleted = failing.pop("new-certificate")  # the reset deleted it, as the audit log shows
    assert re.fullmatch(re.escape(f"There is no CertificateSigningRequest named {learner.user}-short in the cluster. "
                                  f"`ckslab reset signing-config --user {learner.user}` deleted it at ")
                        + r"[0-9-]+ [0-9:]+ UTC" + re.escape(" (the audit log shows it, as kubernetes-admin)."),
                        deleted), deleted
    assert failing == {
        "answers": f"signing.yaml does not exist in {learner.workspace}.",
        "duration-flag": no_flag_message(),
    }


def test_wrong_answers(learner: Learner, tmp_path: Path) -> None:
    learner.start()
    pki = learner.cluster.layout.pki
    learner.answer(cert_file=str(pki / "ca.key"), key_file=str(pki / "ca.crt"))
    assert learner.failing(tmp_path, "answers") == {"answers": (
        f"signing.yaml's cert_file is the CA's private key ({pki / 'ca.key'}); cert_file is the CA certificate "
        "(--cluster-signing-cert-file).")}
    learner.answer(controllers=["*", "bootstrapsigner", "tokencleaner"])
    assert learner.failing(tmp_path, "answers") == {"answers": (
        "signing.yaml's controllers lists '*', the flag's value (--controllers=*,bootstrapsigner,tokencleaner); "
        "list the CSR controllers that '*' turns on here: csrsigning, csrapproving and csrcleaner.")}
    learner.answer(controllers=["csrsigning"])
    assert learner.failing(tmp_path, "answers") == {"answers": (
        "signing.yaml's controllers misses csrapproving and csrcleaner: with "
        "--controllers=*,bootstrapsigner,tokencleaner the controller manager runs csrsigning, csrapproving and "
        "csrcleaner.")}
    learner.answer(duration="720h")
    assert learner.failing(tmp_path, "answers") == {"answers": (
        "signing.yaml's duration is 720h, the duration you are asked to set; record the one in force before your "
        "change: the default 8760h (365 days; no --cluster-signing-duration flag).")}
    learner.answer(controllers=["certificatesigningrequest-signing-controller", "csrapproving", "csrcleaner"],
                   duration="8760h0m0s")
    assert learner.failing(tmp_path, "answers") == {}


def test_a_manifest_edited_but_not_restarted(learner: Learner, tmp_path: Path) -> None:
    learner.start()
    # Graded before the kubelet loop applies the edit (a kubelet may take 20 s): the cluster's lock
    # holds the loop back meanwhile.
    with local_kubelet.cluster_lock(learner.cluster.lab):
        learner.set_duration("720h", restart=False)
        assert learner.failing(tmp_path, "duration-flag") == {"duration-flag": (
            "The manifest says --cluster-signing-duration=720h but the running controller manager "
            f"(pid {learner.pid()}) still runs with the default 8760h (365 days; no --cluster-signing-duration flag): "
            "restart it.")}


def test_a_duration_the_controller_manager_refuses(learner: Learner, tmp_path: Path) -> None:
    """30d: Go durations have no days. The controller manager exits at once; the grader quotes why."""
    learner.start()
    learner.set_duration("30d", restart=False)
    refused = learner.ckslab("controlplane", "restart", "controller-manager")
    assert refused.returncode == 1
    step = learner.steps(tmp_path, "duration-flag")["duration-flag"]
    message = step["message"]
    assert message.startswith("The controller manager is not running (was pid "), message
    # Not "or make up": make up writes every manifest afresh, and the learner's edit would be lost.
    assert step["hint"] == f"Fix {learner.manifest}, then ckslab controlplane restart controller-manager"
    assert message.endswith('its log ends: Error: invalid argument "30d" for "--cluster-signing-duration" flag: '
                            'time: unknown unit "d" in duration "30d".'), message


def test_a_manifest_whose_yaml_an_edit_broke(learner: Learner) -> None:
    """The flag added with three spaces instead of four: restart says where, and keeps what runs."""
    learner.start()
    pid = learner.pid()
    text = learner.manifest.read_text()
    learner.manifest.write_text(text.replace("    - --controllers=", "   - --cluster-signing-duration=720h\n"
                                             "    - --controllers=", 1))
    refused = learner.ckslab("controlplane", "restart", "controller-manager")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.startswith("ckslab: error: the manifest of kube-controller-manager is not valid YAML: "
                                     "expected <block end>, but found '<block sequence start>' at line "), refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert learner.pid() == pid  # the restart command refused before stopping anything, but
    # like a kubelet, the loop stops a static pod whose manifest no longer parses, and says why.
    wait_until(lambda: not process.is_running(pid, learner.cluster.marker), 30, 0.5, "the loop to stop it")
    status = learner.cluster.status()
    assert status is not None
    (kcm,) = [c for c in status.components if c.name == controlplane.CONTROLLER_MANAGER]
    assert "runs nothing" in kcm.detail and "not valid YAML" in kcm.detail, kcm
    assert learner.ckslab("start", LAB, "--user", learner.user).returncode == 0


def test_the_signer_turned_off_on_purpose(learner: Learner, tmp_path: Path) -> None:
    """The notebook says `*,-csrsigning` stops all signing; a learner tries it, above the existing flag."""
    learner.start()
    text = learner.manifest.read_text()
    learner.manifest.write_text(text.replace("    - --controllers=", "    - --controllers=*,-csrsigning\n    - --controllers=", 1))
    began = time.monotonic()
    done = learner.ckslab("controlplane", "restart", "controller-manager")
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - began < 30  # not the 60 s wait for a signer that will never run
    assert "its --controllers turn the CSR signer (csrsigning) off" in done.stdout
    status = learner.ckslab("status")
    assert status.returncode == 0, status.stdout
    # A CSR approved now stays unsigned, and the grader says why.
    name = f"{learner.user}-short"
    key = ec.generate_private_key(ec.SECP256R1())
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, learner.user)]))
               .sign(key, hashes.SHA256()))
    learner.kubectl("create", "-f", "-", stdin=json.dumps({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
        "spec": {"request": base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode(),
                 "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]}}))
    learner.kubectl("certificate", "approve", name)
    step = learner.steps(tmp_path, "new-certificate")["new-certificate"]
    assert step["message"] == (f"The CSR {name} is approved but has no certificate: the controller manager runs "
                               "without its CSR signer (--controllers=*,-csrsigning,*,bootstrapsigner,tokencleaner "
                               "turns csrsigning off)."), step
    assert step["hint"].startswith(f"Remove -csrsigning from --controllers in {learner.manifest}, then "), step
    # Every lab's grader asks the same question of an approved, unsigned CSR (graders.unsigned).
    kubeconfig = learner.cluster.kubeconfig()
    message, hint = unsigned.cause(name, kube.client_for(kubeconfig), learner.cluster.lab.root)
    assert message == (f"The CSR {name} is approved but has no certificate yet: the controller manager runs without "
                       "its CSR signer (--controllers=*,-csrsigning,*,bootstrapsigner,tokencleaner turns csrsigning "
                       "off), so nothing is signed."), message
    assert hint.startswith(f"Remove -csrsigning from --controllers in {learner.manifest}, then "), hint
    learner.kubectl("delete", "csr", name)
    assert learner.ckslab("start", LAB, "--user", learner.user).returncode == 0  # the original flags again


def test_restarted_with_another_duration(learner: Learner, tmp_path: Path) -> None:
    learner.start()
    learner.set_duration("1000h")
    learner.submit()
    u = learner.user
    assert learner.failing(tmp_path) == {
        "answers": f"signing.yaml does not exist in {learner.workspace}.",
        "duration-flag": ("The running controller manager signs for 1000h (--cluster-signing-duration=1000h); the "
                          "lab asks for --cluster-signing-duration=720h."),
        "new-certificate": (f"The certificate of the CSR {u}-short is valid for 1000h, not 720h: the controller "
                            "manager does not sign for 720h yet (it runs with 1000h "
                            "(--cluster-signing-duration=1000h))."),
    }


def test_a_certificate_from_before_the_change(learner: Learner, tmp_path: Path) -> None:
    learner.start()
    learner.submit()  # with the original flags: the default duration, one year
    # The grader only calls a certificate "from before the change" when it was issued more than
    # 2 s before the controller manager restarted (certificate times are whole seconds); on a fast
    # machine the restart can follow
    # sooner, and the certificate is then (rightly) judged on its validity alone.
    submitted = time.monotonic()
    wait_until(lambda: time.monotonic() - submitted > 3.5, timeout=10, what="3.5 s to pass")
    learner.set_duration("720h")
    failing = learner.failing(tmp_path, "new-certificate")
    message = failing["new-certificate"]
    assert message.startswith(f"The certificate of the CSR {learner.user}-short was issued at "), message
    assert "before the change (the controller manager signing for 720h started at " in message
    assert message.endswith("it is valid for 8760h (365 days). A new CSR gets the new duration.")
    learner.submit(expiration_seconds=3600)
    assert learner.failing(tmp_path, "new-certificate") == {"new-certificate": (
        f"The CSR {learner.user}-short sets spec.expirationSeconds: 3600, so its certificate lasts what it asked "
        "for, which proves nothing about --cluster-signing-duration; submit it without expirationSeconds.")}
    learner.submit()
    assert learner.failing(tmp_path, "new-certificate") == {}


def test_the_notebook_runs_twice_and_earns_full_marks(own_cluster: LocalBackend, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(own_cluster.lab.root))
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    # A learner doing the lab from its start: the notebook's start cell keeps what the tests above changed.
    reset = subprocess.run([sys.executable, "-m", "ckslab", "reset", LAB], capture_output=True, text=True,
                           env=os.environ.copy(), timeout=300, check=False)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    for run in range(2):  # idempotent: the second run starts from the first one's end, which its start keeps
        _path, _nb, outputs = run_learner_copy(LAB, timeout=240)
        assert "[FAIL]" not in outputs and "Score: 100/100, every step passes." in outputs, outputs[-3000:]
        assert "notAfter=" in outputs
        assert ("your change is kept" in " ".join(outputs.split())) == (run == 1)
    report_file = tmp_path / "report.json"
    graded = subprocess.run([sys.executable, "-m", "ckslab", "grade", LAB, "--json", str(report_file)],
                            capture_output=True, text=True, env=os.environ.copy(), timeout=300, check=False)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    report = json.loads(report_file.read_text())
    assert report["score"] == report["max_score"] == 100 and report["passed"] is True
    Learner(own_cluster, "jane").kubectl("delete", "csr", "jane-short", "--ignore-not-found")
