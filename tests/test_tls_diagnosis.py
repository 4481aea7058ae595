"""Why the API server's certificate is not trusted: each cause named with its fix (cluster/tls_diagnosis.py).

The pure ``explain`` on certificates made here; ``diagnose`` and ``ckslab grade``'s cluster check
against a real TLS server; the real API server with a replaced CA is in test_tls_diagnosis_cluster.
"""

from __future__ import annotations

import base64
import datetime as dt
import ssl
import threading
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from cryptography import x509

from cluster import pki, tls_diagnosis, tls_probe
from cluster.tls_diagnosis import NodeCa

NOW = dt.datetime.now(dt.timezone.utc)


def _serving(ca: pki.CertificateAuthority, *, dns: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = ("127.0.0.1",),
             validity: dt.timedelta = dt.timedelta(days=365)) -> tuple[pki.LeafRequest, x509.Certificate]:
    request = pki.LeafRequest("kube-apiserver", extended_usages=(pki.SERVER_AUTH,), dns_names=dns, ip_addresses=ips,
                              validity=validity)
    return request, ca.issue(request)


@pytest.fixture(scope="module")
def old_ca() -> pki.CertificateAuthority:
    return pki.CertificateAuthority.create()


@pytest.fixture(scope="module")
def new_ca() -> pki.CertificateAuthority:
    return pki.CertificateAuthority.create()


def test_a_certificate_the_trusted_ca_signed_for_this_host_is_no_problem(old_ca: pki.CertificateAuthority) -> None:
    _req, served = _serving(old_ca)
    assert tls_diagnosis.explain(served, [old_ca.cert], "127.0.0.1", kubeconfig="k") is None
    assert tls_diagnosis.explain(served, [old_ca.cert], "localhost", kubeconfig="k") is None


def test_a_replaced_ca_is_named_with_the_change_since_the_lab_started_and_the_recovery(
        old_ca: pki.CertificateAuthority, new_ca: pki.CertificateAuthority) -> None:
    _req, served = _serving(new_ca)  # `kubeadm init phase certs ca`, then `kubeadm certs renew all`
    node = NodeCa(new_ca.cert, "/x/pki/ca.crt", "/x/pki")
    problem = tls_diagnosis.explain(served, [old_ca.cert], "127.0.0.1", kubeconfig=".lab/kubeconfig",
                                    node_ca=node, recorded_ca=tls_diagnosis.fingerprint(old_ca.cert))
    assert problem is not None and problem.kind == "ca-replaced"
    assert "signed by another CA than .lab/kubeconfig trusts" in problem.message
    assert tls_diagnosis.fingerprint(old_ca.cert)[:16] in problem.message
    assert tls_diagnosis.fingerprint(new_ca.cert)[:16] in problem.message
    assert "/x/pki/ca.crt" in problem.message and "ca.crt was replaced" in problem.message
    assert "changed since the lab control-plane-certificates started" in problem.message
    assert "put them back in /x/pki" in problem.fix and "make down && make up" in problem.fix
    assert "kubeadm certs renew all" in problem.fix
    # Without the lab's record, the same cause without "since the lab started".
    unrecorded = tls_diagnosis.explain(served, [old_ca.cert], "127.0.0.1", kubeconfig="k", node_ca=node)
    assert unrecorded is not None and unrecorded.kind == "ca-replaced" and "since the lab" not in unrecorded.message


def test_a_kubeconfig_of_another_cluster_is_not_called_a_replaced_ca(
        old_ca: pki.CertificateAuthority, new_ca: pki.CertificateAuthority) -> None:
    _req, served = _serving(new_ca)
    node = NodeCa(new_ca.cert, "/x/pki/ca.crt", "/x/pki")
    for node_ca in (None, NodeCa(old_ca.cert, "/x/pki/ca.crt", "/x/pki")):
        problem = tls_diagnosis.explain(served, [old_ca.cert], "127.0.0.1", kubeconfig="k", node_ca=node_ca)
        assert problem is not None and problem.kind == "another-ca", node_ca
        assert "signed by another CA than k trusts" in problem.message and "another cluster" in problem.fix
    assert tls_diagnosis.explain(served, [new_ca.cert], "127.0.0.1", kubeconfig="k", node_ca=node) is None


def test_an_expired_serving_certificate_is_named_with_its_date(old_ca: pki.CertificateAuthority) -> None:
    _req, served = _serving(old_ca, validity=dt.timedelta(days=5))
    later = NOW + dt.timedelta(days=6)
    problem = tls_diagnosis.explain(served, [old_ca.cert], "127.0.0.1", kubeconfig="k", now=later)
    assert problem is not None and problem.kind == "expired"
    assert f"expired on {served.not_valid_after_utc:%Y-%m-%d %H:%M} UTC" in problem.message
    assert "kubeadm certs renew apiserver" in problem.fix
    too_early = tls_diagnosis.explain(served, [old_ca.cert], "127.0.0.1", kubeconfig="k",
                                      now=NOW - dt.timedelta(days=2))
    assert too_early is not None and too_early.kind == "not-yet-valid" and "clock" in too_early.fix


def test_a_server_address_the_certificate_does_not_name_is_a_hostname_problem(old_ca: pki.CertificateAuthority) -> None:
    _req, served = _serving(old_ca, dns=("kubernetes", "kubernetes.default"), ips=("10.96.0.1", "127.0.0.1"))
    problem = tls_diagnosis.explain(served, [old_ca.cert], "192.0.2.7", kubeconfig="k")
    assert problem is not None and problem.kind == "hostname"
    assert "is for kubernetes, kubernetes.default, 10.96.0.1, 127.0.0.1, not for 192.0.2.7" in problem.message


# --- a real TLS server --------------------------------------------------------------------------------

@pytest.fixture
def tls_server(tmp_path: Path, new_ca: pki.CertificateAuthority) -> Iterator[int]:
    """A TLS server on 127.0.0.1 presenting a certificate of ``new_ca``; its port."""
    request, served = _serving(new_ca)
    (tmp_path / "srv.crt").write_bytes(pki.cert_pem(served))
    (tmp_path / "srv.key").write_bytes(pki.key_pem(request.key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "srv.crt"), str(tmp_path / "srv.key"))
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _kubeconfig(path: Path, port: int, ca: pki.CertificateAuthority) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}",
                                              "certificate-authority-data": base64.b64encode(pki.cert_pem(ca.cert)).decode()}}],
        "contexts": [{"name": "admin", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {}}]}))
    return path


def test_the_grader_says_another_ca_instead_of_a_cluster_that_does_not_answer(
        tls_server: int, tmp_path: Path, old_ca: pki.CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    from graders import cli as grade_cli

    monkeypatch.setenv("CKSLAB_ROOT", str(tmp_path))
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", tls_server, old_ca)
    problem = tls_probe.diagnose(kubeconfig)
    assert problem is not None and problem.kind == "another-ca"
    with pytest.raises(grade_cli.CannotGrade) as raised:
        grade_cli.check_cluster(kubeconfig)
    said = str(raised.value)
    assert "does not answer" not in said and "signed by another CA than" in said, said
    assert raised.value.exit_code == 2


def test_an_old_ca_the_learner_kept_on_the_node_is_named_with_the_commands_that_put_it_back(
        tmp_path: Path, old_ca: pki.CertificateAuthority, new_ca: pki.CertificateAuthority) -> None:
    pki_dir = tmp_path / "etc" / "kubernetes" / "pki"
    pki_dir.mkdir(parents=True)
    (pki_dir / "ca.crt").write_bytes(pki.cert_pem(new_ca.cert))
    (pki_dir / "ca.key").write_bytes(pki.key_pem(new_ca.key))
    (pki_dir / "ca.crt.old").write_bytes(pki.cert_pem(old_ca.cert))  # `mv ca.crt ca.crt.old` before kubeadm
    _req, served = _serving(new_ca)
    node = NodeCa(new_ca.cert, str(pki_dir / "ca.crt"), str(pki_dir),
                  tls_probe.kept_cas(pki_dir.parent, skip=pki_dir / "ca.crt"))
    without_key = tls_diagnosis.explain(served, [old_ca.cert], "127.0.0.1", kubeconfig="k", node_ca=node)
    assert without_key is not None and f"still at {pki_dir / 'ca.crt.old'}, but no key" in without_key.fix
    (pki_dir / "ca.key.old").write_bytes(pki.key_pem(old_ca.key))
    node = NodeCa(new_ca.cert, str(pki_dir / "ca.crt"), str(pki_dir),
                  tls_probe.kept_cas(pki_dir.parent, skip=pki_dir / "ca.crt"))
    problem = tls_diagnosis.explain(served, [old_ca.cert], "127.0.0.1", kubeconfig="k", node_ca=node)
    assert problem is not None and problem.kind == "ca-replaced"
    assert (f"cp {pki_dir / 'ca.crt.old'} {pki_dir}/ca.crt && cp {pki_dir / 'ca.key.old'} {pki_dir}/ca.key"
            in problem.fix), problem.fix


def test_a_refused_client_certificate_is_expired_of_another_ca_or_not_reloaded(
        old_ca: pki.CertificateAuthority, new_ca: pki.CertificateAuthority) -> None:
    client = old_ca.issue(pki.LeafRequest("kubernetes-admin", ("kubeadm:cluster-admins",),
                                          validity=dt.timedelta(days=5)))
    node_old = NodeCa(old_ca.cert, "/x/pki/ca.crt", "/x/pki")
    node_new = NodeCa(new_ca.cert, "/x/pki/ca.crt", "/x/pki")
    expired = tls_diagnosis.explain_client(client, kubeconfig="k", node_ca=node_old, now=NOW + dt.timedelta(days=6))
    assert expired.kind == "client-expired" and f"expired on {client.not_valid_after_utc:%Y-%m-%d %H:%M} UTC" in expired.message
    assert "kubeadm certs renew admin.conf" in expired.fix
    other = tls_diagnosis.explain_client(client, kubeconfig="k", node_ca=node_new)
    assert other.kind == "client-another-ca" and "signed by another CA than the node's /x/pki/ca.crt" in other.message
    stale = tls_diagnosis.explain_client(client, kubeconfig="k", node_ca=node_old)
    assert stale.kind == "client-ca-not-reloaded" and "ckslab controlplane restart etcd" in stale.fix
    assert tls_diagnosis.explain_client(None, kubeconfig="k").kind == "client-unauthorized"


def test_a_kubeconfig_of_another_cluster_is_not_compared_with_this_projects_node(
        tls_server: int, tmp_path: Path, old_ca: pki.CertificateAuthority, new_ca: pki.CertificateAuthority,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A class roster grades kubeconfigs of other clusters: this machine's ca.crt says nothing of them."""
    from cluster.paths import LabPaths

    node = NodeCa(new_ca.cert, "/x/pki/ca.crt", "/x/pki")
    monkeypatch.setattr(tls_probe, "node_ca", lambda lab: node)
    lab = LabPaths(tmp_path)
    (tmp_path / ".lab").mkdir()
    ours = _kubeconfig(tmp_path / ".lab" / "kubeconfig", tls_server, old_ca)
    problem = tls_probe.refused(ours, lab)
    assert problem is not None and problem.kind == "ca-replaced"
    learners = _kubeconfig(tmp_path / "learner.kubeconfig", tls_server, old_ca)
    problem = tls_probe.refused(learners, lab)
    assert problem is not None and problem.kind == "another-ca"
