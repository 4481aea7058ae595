"""Unit tests of the component command lines and manifests (no processes started)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cluster import controlplane
from cluster.controlplane import Layout, Ports

PORTS = Ports(etcd=2379, etcd_peer=2380, apiserver=6443, controller_manager=10257)


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
    assert f["etcd-servers"] == "http://127.0.0.1:2379"


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
