"""The audit trail and the evidence of issuance, without a cluster.

``data/audit-csr-events.log`` holds lines of a real v1.37.0 API server's audit log, written with
``cluster/audit/audit-policy.yaml``: the preflight CSR created, approved, signed and deleted, a
create refused by CertificateSubjectRestriction, and server-side dry runs (which changed nothing).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from cluster import controlplane, pki
from graders import audit, issuance
from graders.audit import CsrEvent, Trail, Unavailable

DATA = Path(__file__).parent / "data" / "audit-csr-events.log"
T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.timezone.utc)


def test_the_policy_is_an_audit_v1_policy_recording_csr_writes() -> None:
    policy = yaml.safe_load(controlplane.AUDIT_POLICY.read_text())
    assert (policy["apiVersion"], policy["kind"]) == ("audit.k8s.io/v1", "Policy")
    csr_rule = policy["rules"][0]
    assert csr_rule["level"] == "RequestResponse"
    assert set(csr_rule["resources"][0]["resources"]) == {
        "certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status"}
    assert policy["rules"][-1] == {"level": "None"}


def test_the_api_server_command_writes_the_audit_log(tmp_path: Path) -> None:
    layout = controlplane.Layout(tmp_path)
    ports = controlplane.Ports(2379, 2380, 6443, 10257, 10259)
    command = controlplane.apiserver_command(layout, ports)
    assert f"--audit-policy-file={layout.audit_policy}" in command
    assert f"--audit-log-path={tmp_path}/var/log/kubernetes/audit/audit.log" in command
    assert {"--audit-log-maxage=7", "--audit-log-maxbackup=2", "--audit-log-maxsize=100"} <= set(command)


def test_a_real_log_parses_into_the_csr_trail() -> None:
    trail = audit.parse(DATA.read_text().splitlines(), str(DATA))
    actions = [(e.csr, e.action, e.user) for e in trail.events]
    preflight = actions[0][0]
    assert preflight.startswith("ckslab-preflight-")
    assert actions == [
        (preflight, audit.CREATED, "kubernetes-admin"),
        (preflight, audit.APPROVED, "kubernetes-admin"),
        (preflight, audit.ISSUED, "system:serviceaccount:kube-system:certificate-controller"),
        (preflight, audit.DELETED, "kubernetes-admin"),
        ("mal", audit.REFUSED, "kubernetes-admin"),  # the dry runs after it are left out
    ]
    refused = trail.events[-1]
    assert refused.code == 403 and "system:masters group is not allowed" in refused.detail
    issued = trail.events[2].issued_certificate()
    assert issued is not None and trail.issuance_of(issued) is trail.events[2]
    assert trail.starts is not None and trail.starts < trail.events[0].time  # the RBAC bootstrap came first
    assert "approved the CSR " + preflight in audit.describe(trail.events[1])


def test_lines_that_are_not_events_are_skipped() -> None:
    trail = audit.parse(["", "not json", '{"kind": "Other"}', "[1, 2]"], "x")
    assert trail.events == () and trail.starts is None


# --- evidence of issuance ------------------------------------------------------------------------

class Files:
    """A cluster CA, jane.key and a jane.crt it signed (as the signer would, or offline)."""

    def __init__(self, tmp_path: Path) -> None:
        self.ca = pki.CertificateAuthority.create()
        self.key = pki.new_ec_key()
        cert = self.ca.issue(pki.LeafRequest("jane", key=self.key), self.key.public_key())
        self.cert = cert
        self.key_path = tmp_path / "jane.key"
        self.key_path.write_bytes(pki.key_pem(self.key))
        self.crt_path = tmp_path / "jane.crt"
        self.crt_path.write_bytes(pki.cert_pem(cert))

    def trail(self, *events: CsrEvent, starts: dt.datetime | None = None) -> Trail:
        return Trail("/x/audit.log", events, starts or self.ca.cert.not_valid_before_utc + dt.timedelta(minutes=5))

    def judge(self, trail: Trail | Unavailable, now: dt.datetime | None = None) -> issuance.MissingCsr:
        return issuance.missing_csr("jane", self.key_path, self.crt_path, self.ca.cert, "jane", trail, now)


def event(action: str, csr: str = "jane", cert: bytes | None = None, user: str = "kubernetes-admin",
          minute: int = 0) -> CsrEvent:
    return CsrEvent(T0 + dt.timedelta(minutes=minute), user, action, csr, 200, cert)


def test_a_certificate_the_log_shows_issued_through_the_csr_counts_after_deletion(tmp_path: Path) -> None:
    f = Files(tmp_path)
    pem = pki.cert_pem(f.cert)
    trail = f.trail(event(audit.CREATED), event(audit.APPROVED, minute=1),
                    event(audit.ISSUED, cert=pem, user="system:serviceaccount:kube-system:certificate-controller",
                          minute=1), event(audit.DELETED, user="alice", minute=2))
    judged = f.judge(trail)
    assert judged.credited == (
        "The CSR jane is gone (deleted by alice at 2026-11-30 08:02:00 UTC); the API server's audit log shows the "
        "cluster issued jane.crt through it (approved by kubernetes-admin) at 2026-11-30 08:01:00 UTC, so this "
        "step counts (evidence: the audit log /x/audit.log).")


def test_a_certificate_absent_from_the_log_was_signed_offline_whatever_its_age(tmp_path: Path) -> None:
    f = Files(tmp_path)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)  # old enough for the one-hour rule
    judged = f.judge(f.trail(event(audit.CREATED)), now=later)
    assert judged.credited is None
    assert judged.reason == ("jane.crt chains to the cluster CA, but the API server's audit log (/x/audit.log) shows "
                             "no CSR through which the cluster issued it: it was signed offline with the CA key, not "
                             "through the Certificates API.")


def test_a_certificate_issued_through_another_csr(tmp_path: Path) -> None:
    f = Files(tmp_path)
    judged = f.judge(f.trail(event(audit.ISSUED, csr="jane-2", cert=pki.cert_pem(f.cert))))
    assert judged.credited is None and judged.reason.startswith("jane.crt was issued through the CSR jane-2 (")


def test_without_an_audit_log_the_one_hour_rule_decides_and_says_so(tmp_path: Path) -> None:
    f = Files(tmp_path)
    why = Unavailable("the API server runs without --audit-log-path")
    soon = f.judge(why)
    assert soon.credited is None and soon.reason.endswith(
        "minutes old, and no audit log can tell (the API server runs without --audit-log-path).")
    later = f.judge(why, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2))
    assert later.credited is not None and later.credited.endswith(
        "minutes, as no audit log can tell: the API server runs without --audit-log-path).")
    assert "(evidence: the certificate's age, " in later.credited


def test_a_log_begun_after_the_cluster_is_not_proof_of_absence(tmp_path: Path) -> None:
    f = Files(tmp_path)
    late = f.trail(starts=f.ca.cert.not_valid_before_utc + dt.timedelta(days=1))
    judged = f.judge(late)
    assert judged.credited is None and "begins after the cluster was made" in judged.reason
    assert "signed offline with the CA key?" in judged.reason


def test_ckslab_audit_without_an_audit_log_says_why(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "CKSLAB_ROOT": str(tmp_path)}
    run = [sys.executable, "-m", "ckslab", "audit", "certificates-api"]
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2 and "no cluster is up" in done.stderr, done.stderr
    (tmp_path / ".lab").mkdir()
    (tmp_path / ".lab" / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")  # an existing cluster's
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no audit log can be read: ckslab cannot read the audit log of a cluster it did not start" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_csr_a_reset_deleted_is_the_resets_doing_and_a_moved_manifest_is_written_before_it_is_applied(
        tmp_path: Path) -> None:
    """After `ckslab reset certificates-api --step csr-object` the CSR is gone (deleted as kubernetes-admin) and
    jane-csr.yaml is in workspace/.backup/: the message names the reset, and the hint does not apply a missing file."""
    from graders import absent
    from labs.resets import ResetStep

    deleted = T0 + dt.timedelta(seconds=60)
    trail = Trail("audit.log", (CsrEvent(T0, "kubernetes-admin", audit.CREATED, "jane", 201),
                                CsrEvent(deleted, "kubernetes-admin", audit.DELETED, "jane", 200)), T0)
    command = "ckslab reset certificates-api --step csr-object"
    reset = ResetStep("csr-object", "t", "2026-11-30 09:01:10", command, str(tmp_path / ".backup" / "x"),
                      (deleted - dt.timedelta(seconds=1)).isoformat(), (deleted + dt.timedelta(seconds=9)).isoformat())
    want = absent.CsrFiles("jane", "jane", tmp_path / "jane-csr.yaml", tmp_path / "jane.key", tmp_path / "jane.csr")
    message, hint = absent.why_missing(want, None, trail, None, "kubectl apply -f jane-csr.yaml", [reset])  # type: ignore[arg-type]
    assert message.startswith("There is no CertificateSigningRequest named jane in the cluster. "
                              f"`{command}` deleted it at 2026-11-30 08:01:00 UTC (the audit log shows it, as "
                              "kubernetes-admin). jane-csr.yaml does not exist in "), message
    assert hint == "Write the CertificateSigningRequest for jane to jane-csr.yaml, then kubectl apply -f jane-csr.yaml"
    # Never created (a fresh lab): the hint is kept, the message says nothing of the file.
    fresh = Trail("audit.log", (), T0)
    message, hint = absent.why_missing(want, None, fresh, None, "kubectl apply -f jane-csr.yaml", [reset])  # type: ignore[arg-type]
    assert message == "There is no CertificateSigningRequest named jane in the cluster." \
        and hint == "kubectl apply -f jane-csr.yaml"
    # A deletion outside the reset's time is the admin's; a hint that does not name the file is kept.
    late = ResetStep(*[getattr(reset, f) for f in ("id", "title", "at", "command", "backup")],
                     (deleted + dt.timedelta(seconds=5)).isoformat(), (deleted + dt.timedelta(seconds=9)).isoformat())
    message, hint = absent.why_missing(want, None, trail, None, "Make a key and submit it", [late])  # type: ignore[arg-type]
    assert "The audit log shows kubernetes-admin deleted it at 2026-11-30 08:01:00 UTC." in message
    assert hint == "Make a key and submit it"
    # The manifest there: its hint is kept (the dry run of it is the cluster's; not asked here).
    (tmp_path / "jane-csr.yaml").write_text("")
    message, hint = absent.why_missing(want, None, trail, None, "kubectl apply -f jane-csr.yaml", [])  # type: ignore[arg-type]
    assert hint == "kubectl apply -f jane-csr.yaml" and "does not exist" not in message
