"""Unit tests of the component command lines and manifests (no processes started)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cluster import controlplane
from cluster.controlplane import Layout, Ports

PORTS = Ports(etcd=2379, etcd_peer=2380, apiserver=6443, controller_manager=10257, scheduler=10259)


def flags(command: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in command[1:])


def test_controller_manager_has_the_lessons_signing_flags(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    f = flags(controlplane.controller_manager_command(layout, PORTS))
    assert f["cluster-signing-cert-file"] == str(layout.pki / "ca.crt")
    assert f["cluster-signing-key-file"] == str(layout.pki / "ca.key")
    assert f["root-ca-file"] == str(layout.pki / "ca.crt")
    assert f["service-account-private-key-file"] == str(layout.pki / "sa.key")
    assert f["use-service-account-credentials"] == "true"
    assert f["controllers"] == "*,bootstrapsigner,tokencleaner"
    assert f["kubeconfig"] == str(layout.etc / "controller-manager.conf")
    assert f["bind-address"] == "127.0.0.1"


def test_apiserver_listens_on_loopback_with_rbac_and_the_cluster_ca(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    f = flags(controlplane.apiserver_command(layout, PORTS))
    assert f["bind-address"] == f["advertise-address"] == "127.0.0.1"
    assert f["authorization-mode"] == "Node,RBAC"
    assert f["client-ca-file"] == str(layout.pki / "ca.crt")
    assert f["service-account-key-file"] == str(layout.pki / "sa.pub")
    assert f["etcd-servers"] == "https://127.0.0.1:2379"


def test_apiserver_uses_kubeadms_etcd_client_and_front_proxy_flags(tmp_path: Path) -> None:
    """As cmd/kubeadm/app/phases/controlplane/manifests.go (getAPIServerCommand) sets them."""
    pki = Layout(tmp_path).pki
    f = flags(controlplane.apiserver_command(Layout(tmp_path), PORTS))
    assert f["etcd-cafile"] == str(pki / "etcd" / "ca.crt")
    assert f["etcd-certfile"] == str(pki / "apiserver-etcd-client.crt")
    assert f["etcd-keyfile"] == str(pki / "apiserver-etcd-client.key")
    assert f["kubelet-client-certificate"] == str(pki / "apiserver-kubelet-client.crt")
    assert f["kubelet-client-key"] == str(pki / "apiserver-kubelet-client.key")
    assert f["requestheader-client-ca-file"] == str(pki / "front-proxy-ca.crt")
    assert f["requestheader-allowed-names"] == "front-proxy-client"
    assert f["requestheader-username-headers"] == "X-Remote-User"
    assert f["requestheader-group-headers"] == "X-Remote-Group"
    assert f["requestheader-extra-headers-prefix"] == "X-Remote-Extra-"
    assert f["proxy-client-cert-file"] == str(pki / "front-proxy-client.crt")
    assert f["proxy-client-key-file"] == str(pki / "front-proxy-client.key")
    assert "anonymous-auth" not in f  # kubeadm leaves the default


def test_etcd_serves_tls_and_requires_client_certificates(tmp_path: Path) -> None:
    etcd = Layout(tmp_path).etcd_pki
    f = flags(controlplane.etcd_command(Layout(tmp_path), PORTS))
    assert f["listen-client-urls"] == f["advertise-client-urls"] == "https://127.0.0.1:2379"
    assert f["listen-peer-urls"] == "https://127.0.0.1:2380"
    assert f["client-cert-auth"] == f["peer-client-cert-auth"] == "true"
    assert f["trusted-ca-file"] == f["peer-trusted-ca-file"] == str(etcd / "ca.crt")
    assert (f["cert-file"], f["key-file"]) == (str(etcd / "server.crt"), str(etcd / "server.key"))
    assert (f["peer-cert-file"], f["peer-key-file"]) == (str(etcd / "peer.crt"), str(etcd / "peer.key"))
    assert controlplane.health_client_cert(Layout(tmp_path), controlplane.ETCD) == (
        etcd / "healthcheck-client.crt", etcd / "healthcheck-client.key")


def test_scheduler_runs_with_scheduler_conf_on_loopback(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    f = flags(controlplane.scheduler_command(layout, PORTS))
    conf = str(layout.etc / "scheduler.conf")
    assert f["kubeconfig"] == f["authentication-kubeconfig"] == f["authorization-kubeconfig"] == conf
    assert f["bind-address"] == "127.0.0.1" and f["secure-port"] == "10259"
    assert controlplane.health_url(controlplane.SCHEDULER, PORTS) == "https://127.0.0.1:10259/healthz"
    assert controlplane.COMPONENTS[-1] == controlplane.SCHEDULER


def test_controller_manager_trusts_the_front_proxy_ca(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    f = flags(controlplane.controller_manager_command(layout, PORTS))
    assert f["requestheader-client-ca-file"] == str(layout.pki / "front-proxy-ca.crt")


def test_every_listener_is_on_loopback(tmp_path: Path) -> None:
    for component, command in controlplane.commands(Layout(tmp_path), PORTS).items():
        for name, value in flags(command).items():
            if name.startswith("listen-") or name in ("bind-address", "advertise-address"):
                assert "127.0.0.1" in value, (component, name)


def test_manifest_round_trips_the_command(tmp_path: Path) -> None:
    command = controlplane.controller_manager_command(Layout(tmp_path), PORTS)
    text = controlplane.dump_manifest(controlplane.manifest(controlplane.CONTROLLER_MANAGER, command))
    doc = yaml.safe_load(text)
    assert doc["kind"] == "Pod" and doc["metadata"]["namespace"] == "kube-system"
    assert controlplane.command_from_manifest(text.decode(), "kube-controller-manager") == command


@pytest.mark.parametrize("text", ["", "kind: Pod", "spec: {containers: [{command: []}]}",
                                  "spec: {containers: [{command: [1, 2]}]}"])
def test_manifest_without_a_command_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="kube-controller-manager"):
        controlplane.command_from_manifest(text, "kube-controller-manager")


def test_a_probe_with_a_missing_ca_or_client_certificate_is_unhealthy_not_a_crash(tmp_path: Path) -> None:
    """A cluster an older ckslab made has no etcd/ca.crt: `ckslab status` must say "not healthy"."""
    from cluster import process

    assert not process.probe("https://127.0.0.1:1/health", tmp_path / "missing-ca.crt")
    assert not process.probe("https://127.0.0.1:1/health", None,
                             client_cert=(tmp_path / "missing.crt", tmp_path / "missing.key"))
