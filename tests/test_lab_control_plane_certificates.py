"""The control-plane-certificates lab on a real local control plane: solution, mistakes, reset, notebook.

The lab re-issues and renews every certificate of the control plane and restarts its components,
which every test of a session's shared cluster relies on: this module starts a cluster of its own.
Each test starts the lab afresh (setup re-issues the certificates to expire in 5 days). Mistakes are
made the way a learner makes them: kubeadm run as the notebook runs it (chrooted into .lab/local in
a user namespace of its own), `ckslab controlplane restart`, kubectl.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest
import yaml
from cryptography import x509
from notebook_run import outputs_text, run_learner_copy

from cluster import binaries
from cluster.backends.local import LocalBackend
from cluster.paths import LabPaths
from graders.control_plane_certificates import answers, node_pki, record
from graders.control_plane_certificates.record import SetupRecord

pytestmark = pytest.mark.cluster
LAB = "control-plane-certificates"


class Learner:
    """The learner of this module's cluster, working as the notebook does."""

    def __init__(self, cluster: LocalBackend) -> None:
        self.cluster = cluster
        self.root = cluster.lab.root
        self.workspace = self.root / "workspace" / LAB

    def ckslab(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CKSLAB_ROOT": str(self.root)}
        env.pop("CKSLAB_USER", None)
        return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True, env=env,
                              timeout=600, check=False)

    def kubeadm(self, *args: str) -> str:
        done = subprocess.run(["unshare", "-r", str(binaries.cached().kubeadm), *args,
                               "--rootfs", str(self.root / ".lab" / "local")],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> SetupRecord:
        started = self.ckslab("start", LAB, "--again")  # afresh: a plain start keeps an earlier start's
        assert started.returncode == 0, started.stdout + started.stderr
        found = record.load(self.root)
        assert found is not None
        return found

    def restart(self, component: str) -> None:
        done = self.ckslab("controlplane", "restart", component)
        assert done.returncode == 0, done.stdout + done.stderr

    def steps(self, tmp_path: Path, step: str | None = None) -> dict[str, dict[str, Any]]:
        out = tmp_path / f"report-{secrets.token_hex(2)}.json"
        graded = self.ckslab("grade", LAB, "--json", str(out), *(["--step", step] if step else []))
        assert out.is_file(), graded.stdout + graded.stderr
        return {s["id"]: s for s in json.loads(out.read_text())["steps"]}

    def failing(self, tmp_path: Path, step: str | None = None) -> dict[str, str]:
        return {i: s["message"] for i, s in self.steps(tmp_path, step).items() if not s["passed"]}

    def write(self, name: str, doc: dict[str, Any]) -> None:
        self.workspace.mkdir(parents=True, exist_ok=True)
        (self.workspace / name).write_text(yaml.safe_dump(doc))


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[LocalBackend]:
    """A control plane for this module only: its tests renew its certificates and restart it."""
    backend = LocalBackend(LabPaths(tmp_path_factory.mktemp("cp-certs")))
    backend.up(lambda _msg: None)
    try:
        yield backend
    finally:
        backend.down(lambda _msg: None)


@pytest.fixture
def learner(own_cluster: LocalBackend) -> Learner:
    return Learner(own_cluster)


def fresh_messages(learner: Learner, issued: SetupRecord) -> dict[str, str]:
    ends = f"{issued.certificates['apiserver'].not_after:%Y-%m-%d %H:%M}"
    return {
        "check-expiration": f"expiration.yaml does not exist in {learner.workspace}.",
        "renewed": ("None of the 11 certificates kubeadm manages was renewed: they are still the ones the lab "
                    f"started with, which expire on {ends} UTC."),
        "restarted": ("controller-manager.conf and scheduler.conf are not renewed yet: kube-controller-manager and "
                      "kube-scheduler cannot use new certificates before there are some."),
        "apiserver-serving": (f"The API server serves the certificate the lab started with (expiring on {ends} UTC), "
                              "and apiserver.crt is not renewed yet."),
        "admin-conf": f"admin.conf still holds the certificate the lab started with, which expires on {ends} UTC.",
        "cas": f"cas.yaml does not exist in {learner.workspace}.",
    }


def test_a_fresh_start_expires_in_5_days_and_fails_every_step_with_its_own_message(learner: Learner,
                                                                                    tmp_path: Path) -> None:
    issued = learner.start()
    left = issued.certificates["apiserver"].not_after - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=4, hours=23) < left <= dt.timedelta(days=5)
    assert {i.not_after for i in issued.certificates.values()} == {issued.certificates["apiserver"].not_after}
    assert all(ca.not_after - dt.datetime.now(dt.timezone.utc) > dt.timedelta(days=3000) for ca in issued.cas.values())
    assert learner.failing(tmp_path) == fresh_messages(learner, issued)
    status = learner.ckslab("status")
    assert status.returncode == 0, status.stdout  # the cluster works on the short-lived certificates


def test_the_solution_earns_full_marks_and_reset_starts_again(learner: Learner, tmp_path: Path) -> None:
    learner.start()
    solved = learner.ckslab("solve", LAB, "--yes")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    steps = learner.steps(tmp_path)
    assert all(s["passed"] for s in steps.values()), steps
    assert sum(s["points"] for s in steps.values()) == 100
    kubeconfig = (learner.root / ".lab" / "kubeconfig").read_bytes()
    assert learner.steps(tmp_path)["admin-conf"]["passed"]  # grading changed nothing
    assert (learner.root / ".lab" / "kubeconfig").read_bytes() == kubeconfig
    # The notebook's start cell run again (issue 20): the renewed certificates are kept, and it says so.
    again = learner.ckslab("start", LAB)
    assert again.returncode == 0, again.stdout + again.stderr
    said = " ".join(again.stderr.split())
    assert "The lab was started on this cluster at " in said and "its certificates are kept, renewed since" in said, said
    assert "ckslab reset control-plane-certificates" in said, said
    assert all(s["passed"] for s in learner.steps(tmp_path).values())
    assert (learner.root / ".lab" / "kubeconfig").read_bytes() == kubeconfig
    (learner.workspace / ".kubeadm.sh").write_text("node=\n")  # the notebook's helper, as its cell writes it
    reset = learner.ckslab("reset", LAB)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert (learner.workspace / ".kubeadm.sh").read_text() == "node=\n"  # not moved to the backup
    again = record.load(learner.root)
    assert again is not None
    assert learner.failing(tmp_path) == fresh_messages(learner, again)


def test_renewing_without_restarting(learner: Learner, tmp_path: Path) -> None:
    issued = learner.start()
    learner.kubeadm("certs", "renew", "all")
    assert record.wait_serving(learner.root) == 0  # the API server reloads its serving certificate by itself
    failing = learner.failing(tmp_path)
    assert set(failing) == {"check-expiration", "restarted", "admin-conf", "cas"}, failing
    # Both components at once, each with the certificate it holds: setup's, since neither restarted since.
    manager, scheduler = failing["restarted"].split(" kube-scheduler (pid ")
    assert manager.startswith("kube-controller-manager (pid ") and "before controller-manager.conf was last written at " in manager
    for said, conf in ((manager, "controller-manager.conf"), (scheduler, "scheduler.conf")):
        setup = issued.certificates[conf]
        assert said.endswith("it reads its kubeconfig once, when it starts, so it still authenticates with the "
                             f"certificate the lab started with (serial {setup.serial:x}), which expires on "
                             f"{setup.not_after:%Y-%m-%d %H:%M} UTC."), said
    hint = learner.steps(tmp_path, "restarted")["restarted"]["hint"]
    assert hint.startswith("ckslab controlplane restart controller-manager && ckslab controlplane restart scheduler "
                           "(what it does, and what you do on a kubeadm node: move the component's manifest out of "
                           "/etc/kubernetes/manifests"), hint
    assert failing["admin-conf"].startswith(f"Your kubeconfig {learner.root / '.lab' / 'kubeconfig'} (your copy of "
                                            "admin.conf, what `ckslab env` exports) still holds the old admin certificate")
    learner.restart("controller-manager")
    failing = learner.failing(tmp_path, "restarted")
    assert failing["restarted"].startswith("kube-scheduler (pid "), failing
    learner.restart("scheduler")
    assert learner.failing(tmp_path, "restarted") == {}
    # A second renewal: the components hold the first renewal's certificates now, not setup's.
    first = {conf: read_kubeconfig_cert(learner, conf) for conf in ("controller-manager.conf", "scheduler.conf")}
    learner.kubeadm("certs", "renew", "controller-manager.conf")
    said = learner.failing(tmp_path, "restarted")["restarted"]
    assert said.startswith("kube-controller-manager (pid ") and "kube-scheduler" not in said, said
    now = read_kubeconfig_cert(learner, "controller-manager.conf")
    assert (f"before controller-manager.conf was last written at " in said
            and f"(serial {now.serial_number:x}, valid until {now.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)" in said), said
    assert said.endswith("so it still authenticates with the certificate controller-manager.conf held at "
                         f"{said.split(' started at ')[1][:8]} UTC, from an earlier renewal."), said
    assert f"{issued.certificates['controller-manager.conf'].not_after:%Y-%m-%d %H:%M}" not in said
    assert first["controller-manager.conf"].serial_number != now.serial_number
    learner.restart("controller-manager")


def read_kubeconfig_cert(learner: Learner, conf: str) -> x509.Certificate:
    """The client certificate embedded in the kubeconfig ``conf`` of the node (.lab/local/etc/kubernetes)."""
    doc = yaml.safe_load((learner.root / ".lab" / "local" / "etc" / "kubernetes" / conf).read_text())
    return x509.load_pem_x509_certificate(base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]))


def test_a_partial_renewal_names_every_kubeconfig_and_hints_renew_all(learner: Learner, tmp_path: Path) -> None:
    learner.start()
    learner.kubeadm("certs", "renew", "apiserver")
    step = learner.steps(tmp_path, "restarted")["restarted"]
    assert step["message"] == ("controller-manager.conf and scheduler.conf are not renewed yet: kube-controller-manager "
                               "and kube-scheduler cannot use new certificates before there are some.")
    assert step["hint"].startswith(f"unshare -r kubeadm certs renew all --rootfs {learner.root / '.lab' / 'local'}, "
                                   "then ckslab controlplane restart controller-manager && ckslab controlplane restart "
                                   "scheduler (what it does"), step["hint"]
    renewed = learner.steps(tmp_path, "renewed")["renewed"]
    assert renewed["hint"] == f"unshare -r kubeadm certs renew all --rootfs {learner.root / '.lab' / 'local'}"


def test_one_certificate_renewed_only(learner: Learner, tmp_path: Path) -> None:
    issued = learner.start()
    learner.kubeadm("certs", "renew", "apiserver")
    ends = f"{issued.certificates['admin.conf'].not_after:%Y-%m-%d %H:%M}"
    assert learner.failing(tmp_path, "renewed") == {"renewed": (
        "admin.conf, apiserver-etcd-client, apiserver-kubelet-client, controller-manager.conf, etcd-healthcheck-client, "
        "etcd-peer, etcd-server, front-proxy-client, scheduler.conf, super-admin.conf were not renewed: still the "
        f"certificates the lab started with, expiring on {ends} UTC.")}


def test_wrong_answers(learner: Learner, tmp_path: Path) -> None:
    issued = learner.start()
    before = issued.certificates["apiserver"].not_after.date()
    ca = issued.cas["ca"].not_after.date()
    learner.write("expiration.yaml", {"apiserver_expires": "soon", "ca_expires": ca})
    assert learner.failing(tmp_path, "check-expiration") == {"check-expiration": (
        "apiserver_expires in expiration.yaml is 'soon', not a date; write it as YYYY-MM-DD (UTC).")}
    learner.kubeadm("certs", "renew", "all")
    renewed = learner.kubeadm("certs", "check-expiration", "-o", "json")
    after = answers.as_date(next(c["expirationDate"] for c in json.loads(renewed)["certificates"]
                                 if c["name"] == "apiserver"))
    learner.write("expiration.yaml", {"apiserver_expires": after, "ca_expires": ca})
    assert learner.failing(tmp_path, "check-expiration") == {"check-expiration": (
        f"apiserver_expires is {after}, the date of the renewed certificate; the lab asks for the date "
        "check-expiration showed before renewal, when the certificate setup issued was about to expire "
        f"({before}).")}
    learner.write("expiration.yaml", {"apiserver_expires": f"{before:%b %d, %Y} 10:00 UTC", "ca_expires": str(ca)})
    assert learner.failing(tmp_path, "check-expiration") == {}
    learner.write("cas.yaml", {"renewed_cas": ["ca"], "expires": {"ca": ca, "etcd-ca": ca, "front-proxy-ca": ca}})
    assert learner.failing(tmp_path, "cas") == {"cas": (
        "cas.yaml says kubeadm certs renew renewed ca; it renews no CA: compare the CERTIFICATE AUTHORITY table "
        "before and after.")}
    learner.write("cas.yaml", {"renewed_cas": [], "expires": {"ca": ca, "etcd-ca": "2027-01-01",
                                                               "front-proxy-ca": ca}})
    assert learner.failing(tmp_path, "cas") == {"cas": (
        "cas.yaml's expires has etcd-ca: '2027-01-01'; check-expiration shows other dates (UTC).")}


def test_the_notebook_runs_top_to_bottom_and_earns_full_marks(own_cluster: LocalBackend,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(own_cluster.lab.root))
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    # Doing the lab again after the tests above is a reset: the notebook's start cell keeps what is there.
    reset = Learner(own_cluster).ckslab("reset", LAB)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    _path, nb, outputs = run_learner_copy(LAB, timeout=300)
    assert "[FAIL]" not in outputs and "Not run" not in outputs and "Score: 100/100, every step passes." in outputs
    # kubeadm's tables whole, without its preamble (v1.37 prints [check-expiration] ... on stdout): issue 20.
    shown = {c.source: outputs_text(nbformat.v4.new_notebook(cells=[c])) for c in nb.cells if c.cell_type == "code"}
    tables = [text for source, text in shown.items() if "| sed -n '/^CERTIFICATE" in source]
    assert len(tables) == 3, list(shown)
    for text in tables:
        assert "[check-expiration]" not in text and text.lstrip().startswith("CERTIFICATE"), text
    first, renewed, cas = tables
    assert [line.split()[0] for line in renewed.strip().splitlines()[1:]] == sorted(node_pki.RENEWED), renewed
    assert first.count("\n") > renewed.count("\n") and "CERTIFICATE AUTHORITY" in first and "CERTIFICATE AUTHORITY" in cas
    renew = next(text for source, text in shown.items() if "certs renew all" in source)
    assert not [line for line in renew.splitlines() if line.startswith("[renew]") or line[:1] in "IWE" and line[1:5].isdigit()], renew
    assert "Done renewing certificates." in outputs and "Username                                            kubernetes-admin" in outputs
    assert not list(Learner(own_cluster).workspace.glob("*.tmp"))  # the admin key was not left behind
    report = Learner(own_cluster).steps(tmp_path)
    assert all(s["passed"] for s in report.values()), report
    # Run again after the finished lab (issue 20): its start keeps the renewed certificates, full marks again.
    _path, _nb, outputs = run_learner_copy(LAB, timeout=300)
    assert "[FAIL]" not in outputs and "Score: 100/100, every step passes." in outputs, outputs[-3000:]
    said = " ".join(outputs.split())
    assert "its certificates are kept, renewed since" in said and "expiration.yaml keeps the dates from before" in said


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-05", dt.date(2026, 12, 5)), ("2026-12-05T10:51:12Z", dt.date(2026, 12, 5)),
    ("Dec 05, 2026 10:51 UTC", dt.date(2026, 12, 5)), (dt.date(2026, 12, 5), dt.date(2026, 12, 5)),
    ("in 5 days", None), (5, None)])
def test_dates_as_check_expiration_writes_them(text: object, expected: dt.date | None) -> None:
    assert answers.as_date(text) == expected


def test_a_static_pod_in_back_off_is_said_so() -> None:
    """On kind the controller manager may be waiting out a back-off after losing its lease."""
    from kubernetes import client

    from graders.control_plane_certificates.components import why_not_running

    status = client.V1ContainerStatus(
        name="kube-controller-manager", image="i", image_id="", ready=False, restart_count=2,
        state=client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason="CrashLoopBackOff")),
        last_state=client.V1ContainerState(terminated=client.V1ContainerStateTerminated(exit_code=1, reason="Error")))
    assert why_not_running(status) == " (its container is waiting: CrashLoopBackOff; it last exited with 1, Error)"
    bare = client.V1ContainerStatus(name="x", image="i", image_id="", ready=False, restart_count=0)
    assert why_not_running(bare) == ""


def test_the_wrong_kubeconfig_copied_is_named_with_why_it_matters(learner: Learner, tmp_path: Path) -> None:
    """super-admin.conf (system:masters) or controller-manager.conf copied as the admin's kubeconfig."""
    learner.start()
    learner.kubeadm("certs", "renew", "all")
    ours = learner.root / ".lab" / "kubeconfig"
    kept = ours.read_bytes()
    etc = learner.root / ".lab" / "local" / "etc" / "kubernetes"
    try:
        ours.write_bytes((etc / "super-admin.conf").read_bytes())
        said = learner.failing(tmp_path, "admin-conf")["admin-conf"]
        assert said.startswith(f"Your kubeconfig {ours} does not hold admin.conf's renewed certificate: it holds "
                               "super-admin.conf's certificate (CN=kubernetes-super-admin, O=system:masters): its group "
                               "system:masters bypasses RBAC"), said
        ours.write_bytes((etc / "controller-manager.conf").read_bytes())
        said = learner.failing(tmp_path, "admin-conf")["admin-conf"]
        assert ("it holds controller-manager.conf's certificate (CN=system:kube-controller-manager): kubectl then acts "
                "as the controller manager") in said, said
    finally:
        ours.write_bytes(kept)


def test_a_renewal_that_expires_sooner_is_said_so_not_called_the_labs_certificate(learner: Learner,
                                                                                 tmp_path: Path) -> None:
    """admin.conf re-issued for 24h (a shorter certificateValidityPeriod): messages state what the file holds now."""
    issued = learner.start()
    config = learner.root / ".lab" / "local" / "etc" / "kubernetes" / "test-short-validity.yaml"
    config.write_text("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificateValidityPeriod: 24h\n")
    try:
        learner.kubeadm("certs", "renew", "admin.conf", "--config", "/etc/kubernetes/test-short-validity.yaml")
    finally:
        config.unlink()
    now = read_kubeconfig_cert(learner, "admin.conf")
    failing = learner.failing(tmp_path)
    lab_end = f"{issued.certificates['admin.conf'].not_after:%Y-%m-%d %H:%M} UTC"
    assert failing["admin-conf"] == (
        f"admin.conf holds another certificate (serial {now.serial_number:x}) than the lab started with, but it "
        f"expires on {now.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, no later than that one ({lab_end}).")
    assert failing["renewed"].endswith(
        f"admin.conf was re-issued (serial {now.serial_number:x}) but expires on "
        f"{now.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, no later than the certificate the lab started with ({lab_end}).")
    assert not failing["renewed"].startswith("admin.conf"), failing["renewed"]
