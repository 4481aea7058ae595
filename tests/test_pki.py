"""Unit tests of the PKI code: what kubeadm's layout needs and what the labs rely on."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import yaml
from cryptography import x509

from cluster import certlist, kubeconfig, pki
from cluster.backends.local_pki import cert_path, ensure_pki, key_path, write_kubeconfigs
from cluster.controlplane import Layout


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


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(ext.get_values_for_type(x509.DNSName)), {str(i) for i in ext.get_values_for_type(x509.IPAddress)}


def _days(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc) / dt.timedelta(days=1)


def test_cluster_pki_is_kubeadms_table_with_private_keys_0600(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    cas = ensure_pki(layout)
    write_kubeconfigs(layout, cas["ca"], "https://127.0.0.1:6443")
    assert set(cas) == {"ca", "front-proxy-ca", "etcd-ca"}
    for spec in certlist.CERTIFICATES:
        crt, key = cert_path(layout, spec), key_path(layout, spec)
        assert crt.is_file() and key.is_file(), spec.name
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
        cert = _load_cert(crt)
        assert pki.common_name(cert.subject) == spec.common_name, spec.name
        assert tuple(pki.organizations(cert.subject)) == spec.organizations, spec.name
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca is spec.is_ca, spec.name
        if spec.is_ca:
            assert 3649 <= _days(cert) <= 3651, spec.name  # ten years, as kubeadm
            assert pki.chains_to(cert, cert), spec.name
            continue
        assert 364 <= _days(cert) <= 366, spec.name  # one year, as kubeadm
        assert pki.chains_to(cert, cas[spec.ca].cert), spec.name
        for other in set(cas) - {spec.ca}:
            assert not pki.chains_to(cert, cas[other].cert), (spec.name, other)
        assert pki.extended_usages(cert) == list(spec.usages), spec.name
        assert _sans(cert) == (set(spec.dns_names), set(spec.ip_addresses)), spec.name
    assert stat.S_IMODE((layout.pki / "sa.key").stat().st_mode) == 0o600
    for conf in certlist.KUBECONFIGS:
        path = layout.etc / conf.file_name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        doc = yaml.safe_load(path.read_text())
        assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
        cert = kubeconfig.client_certificate(doc)
        assert pki.common_name(cert.subject) == conf.common_name
        assert tuple(pki.organizations(cert.subject)) == conf.organizations
        assert pki.chains_to(cert, cas["ca"].cert)
        assert pki.extended_usages(cert) == [pki.CLIENT_AUTH]
        assert 364 <= _days(cert) <= 366


def test_the_table_is_kubeadms() -> None:
    """Spot checks against certlist.go / kubeconfig.go of v1.37.0 (a typo in the table fails here)."""
    rows = certlist.BY_NAME
    assert [s.name for s in certlist.CERTIFICATES] == [
        "ca", "apiserver", "apiserver-kubelet-client", "front-proxy-ca", "front-proxy-client",
        "etcd-ca", "etcd-server", "etcd-peer", "etcd-healthcheck-client", "apiserver-etcd-client"]
    assert rows["etcd-server"].base_name == "etcd/server" and rows["etcd-server"].ca == "etcd-ca"
    assert rows["apiserver-etcd-client"].ca == "etcd-ca"
    assert rows["front-proxy-client"].ca == "front-proxy-ca"
    assert rows["etcd-healthcheck-client"].common_name == "kube-etcd-healthcheck-client"
    assert "::1" in rows["etcd-peer"].ip_addresses and "10.96.0.1" in rows["apiserver"].ip_addresses
    confs = certlist.KUBECONFIG_BY_NAME
    assert confs["admin.conf"].organizations == ("kubeadm:cluster-admins",)
    assert confs["super-admin.conf"].organizations == ("system:masters",)
    assert confs["scheduler.conf"].common_name == "system:kube-scheduler"


def test_ensure_pki_keeps_an_existing_ca_and_remakes_what_is_missing(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    first = ensure_pki(layout)
    kept = (layout.pki / "front-proxy-client.crt").read_bytes()
    (layout.pki / "apiserver.crt").unlink()
    second = ensure_pki(layout)
    assert second["ca"].cert == first["ca"].cert
    assert (layout.pki / "apiserver.crt").exists()
    assert (layout.pki / "front-proxy-client.crt").read_bytes() == kept


def test_an_older_layout_gains_the_missing_rows(tmp_path: Path) -> None:
    """A cluster started before etcd TLS had only ca, apiserver and sa: the rest is made, the CA kept."""
    layout = Layout(tmp_path)
    ensure_pki(layout)
    ca_before = (layout.pki / "ca.crt").read_bytes()
    for spec in certlist.CERTIFICATES:
        if spec.name not in ("ca", "apiserver"):
            cert_path(layout, spec).unlink()
            key_path(layout, spec).unlink()
    cas = ensure_pki(layout)
    assert (layout.pki / "ca.crt").read_bytes() == ca_before
    for spec in certlist.CERTIFICATES:
        if spec.ca is not None:
            assert pki.chains_to(_load_cert(cert_path(layout, spec)), cas[spec.ca].cert), spec.name


def test_a_new_ca_remakes_the_leaves_it_signs(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ensure_pki(layout)
    (layout.etcd_pki / "ca.key").unlink()
    cas = ensure_pki(layout)
    for name in ("etcd-server", "etcd-peer", "etcd-healthcheck-client", "apiserver-etcd-client"):
        assert pki.chains_to(_load_cert(cert_path(layout, certlist.BY_NAME[name])), cas["etcd-ca"].cert), name


def test_kubeconfigs_are_kept_across_starts_and_follow_the_port(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ca = ensure_pki(layout)["ca"]
    write_kubeconfigs(layout, ca, "https://127.0.0.1:6443")
    before = kubeconfig.client_certificate(yaml.safe_load(layout.admin_conf.read_text()))
    write_kubeconfigs(layout, ca, "https://127.0.0.1:7443")
    after = yaml.safe_load(layout.admin_conf.read_text())
    assert after["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:7443"
    assert kubeconfig.client_certificate(after) == before


def test_an_older_admin_conf_in_system_masters_is_made_anew(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ca = ensure_pki(layout)["ca"]
    req = pki.LeafRequest("kubernetes-admin", ("system:masters",))
    layout.admin_conf.write_bytes(kubeconfig.dump(kubeconfig.build(
        server="https://127.0.0.1:6443", ca_pem=pki.cert_pem(ca.cert), user="kubernetes-admin",
        client_cert_pem=pki.cert_pem(ca.issue(req)), client_key_pem=pki.key_pem(req.key))))
    write_kubeconfigs(layout, ca, "https://127.0.0.1:6443")
    cert = kubeconfig.client_certificate(yaml.safe_load(layout.admin_conf.read_text()))
    assert pki.organizations(cert.subject) == ["kubeadm:cluster-admins"]
