"""A replaced cluster CA on the real local control plane: `ckslab grade` and `ckslab doctor` say so.

What a learner does "to renew the CA": the old ca.crt and ca.key gone, a new CA in their place
(`kubeadm init phase certs ca`), the API server's certificate re-signed with it (`kubeadm certs
renew`), which the API server loads by itself. The learner's kubeconfig still trusts the old CA.
The session's cluster gets its own files back at the end, and is checked to answer again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509

from cluster import pki, tls_probe
from cluster.backends.local import LocalBackend
from cluster.waiting import wait_until

pytestmark = pytest.mark.cluster

#: The API server reloads a changed serving certificate on a file event, or within a minute at worst.
SERVING_TIMEOUT = 90.0
RECORD = Path(".lab") / "control-plane-certificates" / "setup.json"


def _ckslab(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"CKSLAB_ROOT": str(root)}
    return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True, timeout=180,
                          check=False, env=env, cwd=root)


def _wait_serving(backend: LocalBackend, cert: x509.Certificate) -> None:
    server = backend.status().server  # type: ignore[union-attr]
    host, port = server.removeprefix("https://").rsplit(":", 1)
    wait_until(lambda: tls_probe.served_certificate(host, int(port)) == cert, SERVING_TIMEOUT, interval=0.5,
               what="the API server to serve the re-signed apiserver.crt")


@pytest.fixture
def replaced_ca(local_cluster: LocalBackend) -> Iterator[tuple[LocalBackend, Path, tuple[bytes, bytes]]]:
    """The cluster with a new CA in ca.crt/ca.key and apiserver.crt re-signed by it; restored after."""
    root, pki_dir = local_cluster.lab.root, local_cluster.layout.pki
    names = ("ca.crt", "ca.key", "apiserver.crt")
    kept = {n: (pki_dir / n).read_bytes() for n in names}
    record = root / RECORD
    old_record = record.read_bytes() if record.exists() else None
    # The lab's own record of the CA at its start, as `ckslab start control-plane-certificates` writes it.
    subprocess.run([sys.executable, "-m", "graders.control_plane_certificates.record", "write", "--root", str(root)],
                   check=True, capture_output=True, timeout=60)
    old_serving = x509.load_pem_x509_certificate(kept["apiserver.crt"])
    new_ca = pki.CertificateAuthority.create()
    san = old_serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    request = pki.LeafRequest("kube-apiserver", extended_usages=(pki.SERVER_AUTH,),
                              dns_names=tuple(san.get_values_for_type(x509.DNSName)),
                              ip_addresses=tuple(str(i) for i in san.get_values_for_type(x509.IPAddress)))
    served = new_ca.issue(request, public_key=old_serving.public_key())
    (pki_dir / "ca.crt").write_bytes(pki.cert_pem(new_ca.cert))
    (pki_dir / "ca.key").write_bytes(pki.key_pem(new_ca.key))
    (pki_dir / "apiserver.crt").write_bytes(pki.cert_pem(served))
    try:
        _wait_serving(local_cluster, served)
        yield local_cluster, pki_dir, (kept["ca.crt"], kept["ca.key"])
    finally:
        for name, data in kept.items():
            (pki_dir / name).write_bytes(data)
        for copy in ("ca.crt.old", "ca.key.old"):
            (pki_dir / copy).unlink(missing_ok=True)
        if old_record is None:
            record.unlink(missing_ok=True)
        else:
            record.write_bytes(old_record)
        _wait_serving(local_cluster, old_serving)


def test_grade_and_doctor_name_a_replaced_ca_and_its_recovery(
        replaced_ca: tuple[LocalBackend, Path, tuple[bytes, bytes]]) -> None:
    backend, pki_dir, old_ca = replaced_ca
    root = backend.lab.root
    graded = _ckslab(root, "grade", "certificates-api")
    said = " ".join(graded.stderr.split())
    assert graded.returncode == 2, graded.stdout + graded.stderr
    assert "does not answer" not in said and "make up`, then grade" not in said, said
    assert "the API server's certificate (issuer CN=kubernetes) is signed by another CA than .lab/kubeconfig trusts" \
        in said, said
    assert f"The node's {pki_dir / 'ca.crt'} is that other CA" in said and "ca.crt was replaced" in said, said
    assert "It changed since the lab control-plane-certificates started" in said, said
    assert "kubeadm keeps no copy of a CA it replaces" in said and "`make down && make up`" in said, said

    doctor = _ckslab(root, "doctor")
    assert doctor.returncode == 1 and doctor.stdout, doctor.stdout + doctor.stderr
    line = next((l for l in doctor.stdout.splitlines() if "API server certificate" in l), doctor.stdout)
    assert line.startswith(" NO ") and "signed by another CA than" in line and "ca.crt was replaced" in line, line
    assert "fix: Renewal never needs a new CA" in doctor.stdout, doctor.stdout

    # The learner moved the old CA aside before kubeadm made the new one: the fix names the copies.
    (pki_dir / "ca.crt.old").write_bytes(old_ca[0])
    (pki_dir / "ca.key.old").write_bytes(old_ca[1])
    graded = _ckslab(root, "grade", "certificates-api")
    said = " ".join(graded.stderr.split())
    assert graded.returncode == 2
    assert (f"The old CA is still there: {pki_dir / 'ca.crt.old'} and its key {pki_dir / 'ca.key.old'}. Put them back "
            f"(`cp {pki_dir / 'ca.crt.old'} {pki_dir}/ca.crt && cp {pki_dir / 'ca.key.old'} {pki_dir}/ca.key`)") in said, said


def test_a_client_certificate_of_another_ca_is_named_not_a_cluster_that_does_not_answer(
        local_cluster: LocalBackend) -> None:
    """The API server answers 401 to a kubeconfig whose client certificate another CA signed."""
    import base64

    import yaml

    root = local_cluster.lab.root
    kubeconfig = local_cluster.lab.kubeconfig
    kept = kubeconfig.read_bytes()
    stranger = pki.CertificateAuthority.create()
    request = pki.LeafRequest("kubernetes-admin", ("kubeadm:cluster-admins",))
    doc = yaml.safe_load(kept)
    doc["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode(pki.cert_pem(stranger.issue(request))).decode(),
        "client-key-data": base64.b64encode(pki.key_pem(request.key)).decode()}
    kubeconfig.write_text(yaml.safe_dump(doc))
    try:
        graded = _ckslab(root, "grade", "certificates-api")
        doctor = _ckslab(root, "doctor")
    finally:
        kubeconfig.write_bytes(kept)
    said = " ".join(graded.stderr.split())
    assert graded.returncode == 2 and "does not answer" not in said, said
    assert (".lab/kubeconfig's client certificate (CN=kubernetes-admin,O=kubeadm:cluster-admins) is signed by another "
            f"CA than the node's {local_cluster.layout.pki / 'ca.crt'}") in said, said
    line = next((l for l in doctor.stdout.splitlines() if "kubeconfig's certificate" in l), doctor.stdout + doctor.stderr)
    assert line.startswith(" NO ") and "401 Unauthorized" in line, line
