"""The node image's pure parts: image archives, the recipe against kubeadm, the kind config."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from cluster import binaries
from cluster.backends import kind_config
from cluster.nodeimage import archive, recipe
from cluster.versions import KUBERNETES_VERSION
from conftest import cannot_run

TEMPLATE = (Path(__file__).resolve().parent.parent / "cluster" / "kind" / "kind-config.yaml").read_text()


def _member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        fh = tar.extractfile(name)
        assert fh is not None
        return fh.read()


def test_an_archive_holds_the_files_its_config_and_its_tag(tmp_path: Path) -> None:
    program = tmp_path / "hello"
    program.write_bytes(b"#!/bin/sh\necho hello\n")
    image = archive.Image("registry.k8s.io/hello:v1", (archive.ImageFile("/usr/local/bin/hello", program),),
                          ("/usr/local/bin/hello",))
    dest = tmp_path / "out" / "hello.tar"
    digest = archive.write_archive(image, dest)
    manifest = json.loads(_member(dest, "manifest.json"))
    assert manifest[0]["RepoTags"] == ["registry.k8s.io/hello:v1"]
    config_bytes = _member(dest, manifest[0]["Config"])
    assert digest == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    config = json.loads(config_bytes)
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/hello"]
    layer = _member(dest, manifest[0]["Layers"][0])
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    (tmp_path / "layer.tar").write_bytes(layer)
    with tarfile.open(tmp_path / "layer.tar") as tar:
        assert tar.getnames() == ["usr", "usr/local", "usr/local/bin", "usr/local/bin/hello"]
        info = tar.getmember("usr/local/bin/hello")
        assert info.mode == 0o755 and info.uid == 0 and info.mtime == archive.EPOCH
    assert not list(dest.parent.glob(".archive-*"))  # no partial files left


def test_archives_are_reproducible_and_a_base_layer_comes_first(tmp_path: Path) -> None:
    program = tmp_path / "p"
    program.write_bytes(b"x" * 1000)
    base = tmp_path / "base.tar"
    with tarfile.open(base, "w") as tar:
        info = tarfile.TarInfo("etc/os-release")
        data = b"ID=debian\n"
        info.size = len(data)
        import io
        tar.addfile(info, io.BytesIO(data))
    image = archive.Image("r/p:1", (archive.ImageFile("/p", program),), base_layer=base)
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    archive.write_archive(image, first)
    archive.write_archive(image, second)
    assert first.read_bytes() == second.read_bytes()
    manifest = json.loads(_member(first, "manifest.json"))
    assert len(manifest[0]["Layers"]) == 2
    assert manifest[0]["Layers"][0] == f"{archive.sha256_file(base)}/layer.tar"


def test_every_component_maps_to_what_we_build() -> None:
    names = {name for c in recipe.COMPONENTS.values() for name, _ in c.binaries}
    assert names - {"pause"} <= set(binaries.NODE_IMAGE_BINARIES)
    assert recipe.component_for(f"registry.k8s.io/kube-apiserver:{KUBERNETES_VERSION}").binaries[0][0] == \
        "kube-apiserver"
    with pytest.raises(KeyError):
        recipe.component_for("registry.k8s.io/kindnetd:v1")


def test_the_recipe_makes_every_image_kubeadm_asks_for() -> None:
    kubeadm = binaries.cached().kubeadm
    if not kubeadm.is_file():
        cannot_run("kubeadm is not built (`make node-image` builds it)")
    listed = subprocess.run([str(kubeadm), "config", "images", "list", "--kubernetes-version", KUBERNETES_VERSION],
                            capture_output=True, text=True, check=True).stdout.split()
    assert len(listed) == 7
    for reference in listed:
        recipe.component_for(reference)  # KeyError names the one we could not make
    assert f"registry.k8s.io/pause:{recipe.PAUSE_VERSION}" in listed
    assert "sandbox_image" in recipe.CUSTOMIZE and recipe.PAUSE_VERSION in recipe.CUSTOMIZE


def _config(host: kind_config.HostFacts, local: bool = False, workers: int = 0) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(kind_config.kind_config(TEMPLATE, workers, host, local))  # type: ignore[no-any-return]


ALL_CAPS = (1 << 41) - 1
NO_SYS_RESOURCE = ALL_CAPS & ~(1 << kind_config.CAP_SYS_RESOURCE)


def test_a_normal_host_gets_the_template_unchanged_but_for_workers() -> None:
    config = _config(kind_config.HostFacts(2, ALL_CAPS), workers=2)
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert "kubeadmConfigPatches" not in config and "containerdConfigPatches" not in config
    assert config["networking"] == {"apiServerAddress": "127.0.0.1"}


def test_cgroup_v1_and_a_short_bounding_set_get_their_patches() -> None:
    config = _config(kind_config.HostFacts(1, NO_SYS_RESOURCE))
    kubelet = yaml.safe_load(config["kubeadmConfigPatches"][0])
    assert kubelet == {"kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
                       "failCgroupV1": False}
    assert "restrict_oom_score_adj = true" in config["containerdConfigPatches"][0]


def test_the_local_image_turns_kinds_cni_off_and_uses_nftables() -> None:
    config = _config(kind_config.HostFacts(2, ALL_CAPS), local=True)
    assert config["networking"]["disableDefaultCNI"] is True
    assert config["networking"]["kubeProxyMode"] == "nftables"
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"


def test_the_bounding_set_is_read_from_proc_status(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapBnd:\t000001fffeffffff\n")
    facts = kind_config.HostFacts(1, kind_config.read_cap_bounding_set(status))
    assert facts.lacks_sys_resource  # this project's VMs: bit 24 is clear in 1fffeffffff
    status.write_text("CapBnd:\t000001ffffffffff\n")
    assert not kind_config.HostFacts(1, kind_config.read_cap_bounding_set(status)).lacks_sys_resource


def test_the_audit_log_is_mounted_and_appended_to_kinds_own_flags(tmp_path: Path) -> None:
    policy = tmp_path / "audit-policy.yaml"
    config = yaml.safe_load(kind_config.kind_config(TEMPLATE, 1, kind_config.HostFacts(2, ALL_CAPS), False,
                                                    kind_config.Audit(policy)))
    control_plane, worker = config["nodes"]
    assert control_plane["extraMounts"] == [{"hostPath": str(policy), "containerPath": "/etc/kubernetes/audit-policy.yaml",
                                             "readOnly": True}]
    assert "extraMounts" not in worker
    (entry,) = config["kubeadmConfigPatchesJSON6902"]
    assert (entry["group"], entry["version"], entry["kind"]) == ("kubeadm.k8s.io", "v1beta4", "ClusterConfiguration")
    ops = yaml.safe_load(entry["patch"])
    flags = {op["value"]["name"]: op["value"]["value"] for op in ops if op["path"] == "/apiServer/extraArgs/-"}
    assert flags["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"
    assert flags["audit-policy-file"] == "/etc/kubernetes/audit-policy.yaml"
    volumes = next(op["value"] for op in ops if op["path"] == "/apiServer/extraVolumes")
    assert {v["mountPath"] for v in volumes} == {"/etc/kubernetes/audit-policy.yaml", "/var/log/kubernetes/audit"}
