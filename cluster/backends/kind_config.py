"""The kind config ckslab creates its cluster from: the template plus what the host and image need.

Pure: facts in, YAML out. ``cluster/kind/kind-config.yaml`` is the part every cluster shares;
this module adds the workers and, only where the facts call for it:

- a host on cgroup v1: kubelet v1.35+ refuses to start there unless its configuration says
  ``failCgroupV1: false`` (KubeletConfiguration, kubelet.config.k8s.io/v1beta1);
- an engine whose containers cannot lower ``oom_score_adj`` (no CAP_SYS_RESOURCE in the
  capability bounding set, as on this project's VMs): containerd's CRI must not try
  (``restrict_oom_score_adj = true``, what kind's entrypoint sets for rootless nodes);
- the API server's audit log (``audit``): the policy file mounted into the node and the flags and
  volumes kubeadm gives the API server's static pod, as the Kubernetes docs' "Auditing" page sets
  them; appended to kind's own lists with JSON patches (a merge patch would replace them);
- the node image built here (cluster/nodeimage), which has no kindnetd: kind's default CNI off
  (the image's own bridge configuration serves the pods) and kube-proxy in nftables mode (its
  image carries ``nft``, not the iptables wrapper of the official image).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: CAP_SYS_RESOURCE's bit in /proc/<pid>/status CapBnd (linux/capability.h).
CAP_SYS_RESOURCE = 24

KUBELET_CGROUP_V1_PATCH = """kind: KubeletConfiguration
apiVersion: kubelet.config.k8s.io/v1beta1
failCgroupV1: false
"""
CONTAINERD_OOM_PATCH = """[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
"""


@dataclass(frozen=True)
class HostFacts:
    """What the engine's host is like, as far as the node containers are concerned."""

    cgroup_version: int  # 1 or 2 (docker info .CgroupVersion)
    cap_bounding_set: int  # CapBnd of the engine's host, as an integer mask

    @property
    def lacks_sys_resource(self) -> bool:
        return not self.cap_bounding_set >> CAP_SYS_RESOURCE & 1


def read_cap_bounding_set(status: Path = Path("/proc/self/status")) -> int:
    """CapBnd of this process (``/proc/self/status``, a hex mask); all bits set when unreadable."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return (1 << 64) - 1


@dataclass(frozen=True)
class Audit:
    """The API server's audit log on the node: the policy (a file here) and where the log goes."""

    policy: Path  # on this machine; mounted read-only at NODE_POLICY
    log_path: str = "/var/log/kubernetes/audit/audit.log"
    max_age_days: int = 7
    max_backups: int = 2
    max_size_mb: int = 100

    NODE_POLICY = "/etc/kubernetes/audit-policy.yaml"

    def flags(self) -> list[dict[str, str]]:
        return [{"name": "audit-policy-file", "value": self.NODE_POLICY},
                {"name": "audit-log-path", "value": self.log_path},
                {"name": "audit-log-maxage", "value": str(self.max_age_days)},
                {"name": "audit-log-maxbackup", "value": str(self.max_backups)},
                {"name": "audit-log-maxsize", "value": str(self.max_size_mb)}]

    def json6902(self) -> dict[str, str]:
        """A kubeadmConfigPatchesJSON6902 entry for kubeadm's v1beta4 ClusterConfiguration."""
        log_dir = self.log_path.rsplit("/", 1)[0]
        volumes = [{"name": "audit-policy", "hostPath": self.NODE_POLICY, "mountPath": self.NODE_POLICY,
                    "readOnly": True, "pathType": "File"},
                   {"name": "audit-log", "hostPath": log_dir, "mountPath": log_dir, "readOnly": False,
                    "pathType": "DirectoryOrCreate"}]
        ops: list[dict[str, Any]] = [{"op": "add", "path": "/apiServer/extraArgs/-", "value": flag}
                                     for flag in self.flags()]
        ops.append({"op": "add", "path": "/apiServer/extraVolumes", "value": volumes})
        return {"group": "kubeadm.k8s.io", "version": "v1beta4", "kind": "ClusterConfiguration",
                "patch": yaml.safe_dump(ops, sort_keys=False)}


def kind_config(template: str, workers: int, host: HostFacts, local_image: bool, audit: Audit | None = None) -> str:
    """The kind config: ``template`` with ``workers`` workers and the patches ``host`` needs."""
    config = yaml.safe_load(template)
    control_plane = [n for n in config["nodes"] if n.get("role") == "control-plane"]
    if audit is not None:
        for node in control_plane:
            node.setdefault("extraMounts", []).append(
                {"hostPath": str(audit.policy), "containerPath": Audit.NODE_POLICY, "readOnly": True})
        config.setdefault("kubeadmConfigPatchesJSON6902", []).append(audit.json6902())
    config["nodes"] = control_plane + [{"role": "worker"} for _ in range(workers)]
    kubeadm_patches: list[str] = list(config.get("kubeadmConfigPatches") or [])
    containerd_patches: list[str] = list(config.get("containerdConfigPatches") or [])
    if host.cgroup_version == 1:
        kubeadm_patches.append(KUBELET_CGROUP_V1_PATCH)
    if host.lacks_sys_resource:
        containerd_patches.append(CONTAINERD_OOM_PATCH)
    if kubeadm_patches:
        config["kubeadmConfigPatches"] = kubeadm_patches
    if containerd_patches:
        config["containerdConfigPatches"] = containerd_patches
    if local_image:
        networking = config.setdefault("networking", {})
        networking["disableDefaultCNI"] = True
        networking["kubeProxyMode"] = "nftables"
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False)


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the patches) as literal blocks, the way kind's docs show them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)
