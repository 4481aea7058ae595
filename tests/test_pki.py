"""Unit tests of the PKI code: what kubeadm's layout needs and what the labs rely on."""

from __future__ import annotations

import datetime as dt
import stat

from cryptography import x509

from cluster import pki
from cluster.backends.local_pki import ensure_pki, write_kubeconfigs
from cluster.controlplane import Layout
import yaml


def test_ca_is_a_ca_named_kubernetes() -> None:
    ca = pki.CertificateAuthority.create()
    assert pki.common_name(ca.cert.subject) == "kubernetes"
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True
    assert ca.cert.not_valid_after_utc - ca.cert.not_valid_before_utc > dt.timedelta(days=3000)


def test_leaf_chains_to_its_ca_and_not_to_another() -> None:
    ca, other = pki.CertificateAuthority.create(), pki.CertificateAuthority.create()
    cert = ca.issue(pki.LeafRequest("jane", ("developers",)))
    assert pki.chains_to(cert, ca.cert)
    assert not pki.chains_to(cert, other.cert)
    assert pki.common_name(cert.subject) == "jane"
    assert pki.organizations(cert.subject) == ["developers"]
    assert pki.extended_usages(cert) == [pki.CLIENT_AUTH]


def test_csr_carries_subject_and_is_signed_by_the_key() -> None:
    key = pki.new_rsa_key()
    request = pki.new_csr(key, "jane", ["team-a"])
    assert request.is_signature_valid
    assert pki.common_name(request.subject) == "jane"
    assert pki.organizations(request.subject) == ["team-a"]
    assert pki.same_public_key(request.public_key(), key.public_key())
    assert not pki.same_public_key(request.public_key(), pki.new_ec_key().public_key())
    assert pki.csr_pem(request).startswith(b"-----BEGIN CERTIFICATE REQUEST-----")


def test_key_pem_is_traditional_unencrypted() -> None:
    assert pki.key_pem(pki.new_rsa_key()).startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert pki.key_pem(pki.new_ec_key()).startswith(b"-----BEGIN EC PRIVATE KEY-----")


def test_cluster_pki_in_kubeadm_layout_with_private_keys_0600(tmp_path) -> None:
    layout = Layout(tmp_path)
    ca = ensure_pki(layout)
    write_kubeconfigs(layout, ca, "https://127.0.0.1:6443")
    for name in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub"):
        assert (layout.pki / name).is_file(), name
    for key in ("ca.key", "apiserver.key", "sa.key"):
        assert stat.S_IMODE((layout.pki / key).stat().st_mode) == 0o600, key
    for conf in (layout.admin_conf, layout.controller_manager_conf):
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    serving = x509.load_pem_x509_certificate((layout.pki / "apiserver.crt").read_bytes())
    assert pki.chains_to(serving, ca.cert)
    assert pki.extended_usages(serving) == [pki.SERVER_AUTH]
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    admin = yaml.safe_load(layout.admin_conf.read_text())
    assert admin["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


def test_ensure_pki_keeps_an_existing_ca(tmp_path) -> None:
    layout = Layout(tmp_path)
    first = ensure_pki(layout)
    (layout.pki / "apiserver.crt").unlink()
    second = ensure_pki(layout)
    assert second.cert == first.cert
    assert (layout.pki / "apiserver.crt").exists()
