"""The local control plane's components, described as kubeadm describes its static pods.

Pure code. For each component it builds the command line (the lesson's flags, on 127.0.0.1)
and a Pod manifest holding it, the file a learner reads as they would read
``/etc/kubernetes/manifests/kube-controller-manager.yaml`` on a kubeadm node. The local backend
starts every component from its manifest's command and, like the kubelet with a static pod,
restarts it when its manifest changes (``cluster.backends.local_kubelet``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
#: Start order; stop is the reverse.
COMPONENTS = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER)
#: Short names accepted on the command line (``ckslab controlplane show controller-manager``).
ALIASES = {
    "etcd": ETCD,
    "apiserver": APISERVER, "kube-apiserver": APISERVER,
    "controller-manager": CONTROLLER_MANAGER, "kube-controller-manager": CONTROLLER_MANAGER,
    "scheduler": SCHEDULER, "kube-scheduler": SCHEDULER,
}
#: Ports tried first, as on a kubeadm node; a port in use is replaced by a free one.
PREFERRED_PORTS = {"etcd": 2379, "etcd-peer": 2380, APISERVER: 6443, CONTROLLER_MANAGER: 10257,
                   SCHEDULER: 10259}
SERVICE_CIDR = "10.96.0.0/12"
HOST = "127.0.0.1"
#: The API server's audit policy (audit.k8s.io/v1 Policy), shared by every backend that creates
#: its cluster: the local backend copies it to ``Layout.audit_policy``; kind mounts it.
AUDIT_POLICY = Path(__file__).resolve().parent / "audit" / "audit-policy.yaml"


@dataclass(frozen=True)
class Layout:
    """Where the local backend keeps a cluster: kubeadm's tree, rooted at ``base``."""

    base: Path

    @property
    def etc(self) -> Path:
        return self.base / "etc" / "kubernetes"

    @property
    def pki(self) -> Path:
        return self.etc / "pki"

    @property
    def manifests(self) -> Path:
        return self.etc / "manifests"

    @property
    def admin_conf(self) -> Path:
        return self.etc / "admin.conf"

    @property
    def controller_manager_conf(self) -> Path:
        return self.etc / "controller-manager.conf"

    @property
    def scheduler_conf(self) -> Path:
        return self.etc / "scheduler.conf"

    @property
    def etcd_pki(self) -> Path:
        return self.pki / "etcd"

    @property
    def etcd_data(self) -> Path:
        return self.base / "var" / "lib" / "etcd"

    @property
    def logs(self) -> Path:
        return self.base / "var" / "log"

    @property
    def audit_policy(self) -> Path:
        """Where kubeadm's docs put it: /etc/kubernetes/audit-policy.yaml."""
        return self.etc / "audit-policy.yaml"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log, as in the Kubernetes docs: /var/log/kubernetes/audit/audit.log."""
        return self.logs / "kubernetes" / "audit" / "audit.log"

    def manifest(self, component: str) -> Path:
        return self.manifests / f"{component}.yaml"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


@dataclass(frozen=True)
class Ports:
    etcd: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int


def etcd_command(layout: Layout, ports: Ports) -> list[str]:
    """etcd serving TLS and requiring client certificates, client and peer, as kubeadm's
    ``cmd/kubeadm/app/phases/etcd/local.go`` (``getEtcdCommand``) runs it."""
    client = f"https://{HOST}:{ports.etcd}"
    peer = f"https://{HOST}:{ports.etcd_peer}"
    etcd = layout.etcd_pki
    return [
        "etcd",
        "--name=ckslab",
        f"--cert-file={etcd / 'server.crt'}",
        f"--key-file={etcd / 'server.key'}",
        "--client-cert-auth=true",
        f"--trusted-ca-file={etcd / 'ca.crt'}",
        f"--peer-cert-file={etcd / 'peer.crt'}",
        f"--peer-key-file={etcd / 'peer.key'}",
        "--peer-client-cert-auth=true",
        f"--peer-trusted-ca-file={etcd / 'ca.crt'}",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=ckslab={peer}",
        # A lab cluster on one machine: fsync buys nothing a learner needs and costs seconds.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_command(layout: Layout, ports: Ports) -> list[str]:
    pki = layout.pki
    return [
        "kube-apiserver",
        f"--advertise-address={HOST}",
        f"--bind-address={HOST}",
        f"--secure-port={ports.apiserver}",
        f"--etcd-servers=https://{HOST}:{ports.etcd}",
        f"--etcd-cafile={pki / 'etcd' / 'ca.crt'}",
        f"--etcd-certfile={pki / 'apiserver-etcd-client.crt'}",
        f"--etcd-keyfile={pki / 'apiserver-etcd-client.key'}",
        "--allow-privileged=true",
        "--authorization-mode=Node,RBAC",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-bootstrap-token-auth=true",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
        "--requestheader-allowed-names=front-proxy-client",
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # No kubelet publishes this address: keep the API server from writing a loopback
        # endpoint for the `kubernetes` Service (which validation rejects) every 10 seconds.
        "--endpoint-reconciler-type=none",
        # The audit log (JSON lines, written before the API server answers: --audit-log-mode
        # defaults to blocking): the graders' evidence of what was issued through the API.
        f"--audit-policy-file={layout.audit_policy}",
        f"--audit-log-path={layout.audit_log}",
        "--audit-log-maxage=7",
        "--audit-log-maxbackup=2",
        "--audit-log-maxsize=100",
    ]


def controller_manager_command(layout: Layout, ports: Ports) -> list[str]:
    pki, conf = layout.pki, layout.controller_manager_conf
    return [
        "kube-controller-manager",
        f"--bind-address={HOST}",
        f"--secure-port={ports.controller_manager}",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--cluster-name=ckslab",
        # The CSR signer: the CA files it signs approved CertificateSigningRequests with.
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        # `*` includes csrsigning, csrapproving and csrcleaner.
        "--controllers=*,bootstrapsigner,tokencleaner",
        f"--kubeconfig={conf}",
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
        # The first start creates a service account and token for each of ~40 controllers
        # (--use-service-account-credentials): at the default 20 QPS that alone takes seconds.
        "--kube-api-qps=100",
        "--kube-api-burst=200",
        # One instance only: leader election would make a restart wait for the old lease.
        "--leader-elect=false",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        "--use-service-account-credentials=true",
    ]


def scheduler_command(layout: Layout, ports: Ports) -> list[str]:
    """kube-scheduler with scheduler.conf, as kubeadm's ``getSchedulerCommand`` runs it."""
    conf = layout.scheduler_conf
    return [
        "kube-scheduler",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        f"--bind-address={HOST}",
        f"--kubeconfig={conf}",
        f"--secure-port={ports.scheduler}",
        # One instance only, as the controller manager.
        "--leader-elect=false",
    ]


def commands(layout: Layout, ports: Ports) -> dict[str, list[str]]:
    return {
        ETCD: etcd_command(layout, ports),
        APISERVER: apiserver_command(layout, ports),
        CONTROLLER_MANAGER: controller_manager_command(layout, ports),
        SCHEDULER: scheduler_command(layout, ports),
    }


def health_url(component: str, ports: Ports) -> str:
    return {
        # Answered only to a client certificate the etcd CA signed (kubeadm's healthcheck-client).
        ETCD: f"https://{HOST}:{ports.etcd}/health",
        APISERVER: f"https://{HOST}:{ports.apiserver}/readyz",
        # Verbose, to see the CSR signer: /healthz passes before the controllers have started.
        CONTROLLER_MANAGER: f"https://{HOST}:{ports.controller_manager}/healthz?verbose",
        SCHEDULER: f"https://{HOST}:{ports.scheduler}/healthz",
    }[component]


def health_ca(layout: Layout, component: str) -> Path | None:
    """The CA that verifies a component's health endpoint (None: a self-signed serving cert)."""
    return {ETCD: layout.etcd_pki / "ca.crt", APISERVER: layout.pki / "ca.crt"}.get(component)


def health_client_cert(layout: Layout, component: str) -> tuple[Path, Path] | None:
    """The client certificate and key a health probe presents (etcd requires one)."""
    if component == ETCD:
        return layout.etcd_pki / "healthcheck-client.crt", layout.etcd_pki / "healthcheck-client.key"
    return None


def health_text(component: str, command: Sequence[str] = ()) -> str:
    """What a healthy answer must say: the controller manager must be running the CSR signer.

    Unless its ``command`` turns the signer off (``--controllers=*,-csrsigning``, which the
    signing-config lab mentions): then any controller's check, once the controllers run.
    """
    if component == CONTROLLER_MANAGER:
        return "[+]certificatesigningrequest-signing-controller ok" if signs_csrs(command) else "-controller ok"
    return ""


def signs_csrs(command: Sequence[str]) -> bool:
    """Whether a kube-controller-manager ``command`` runs the CSR signing controller.

    As the controller manager decides (IsControllerEnabled): the first mention of the controller,
    ``csrsigning`` or ``-csrsigning`` (or its long name), wins, else ``*`` enables it (it is on by
    default). --controllers is a pflag StringSlice, so every occurrence of the flag adds up.
    """
    items: list[str] = []
    for i, arg in enumerate(command):
        value = arg[len("--controllers="):] if arg.startswith("--controllers=") else (
            command[i + 1] if arg == "--controllers" and i + 1 < len(command) else None)
        if value is not None:
            items += [c.strip() for c in value.split(",") if c.strip()]
    items = items or ["*"]
    for item in items:
        if item.lstrip("-") in ("csrsigning", "certificatesigningrequest-signing-controller"):
            return not item.startswith("-")
    return "*" in items


def manifest(component: str, command: list[str]) -> dict[str, Any]:
    """A static-pod-shaped document holding ``command``, as kubeadm writes it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": component,
            "namespace": "kube-system",
            "labels": {"component": component, "tier": "control-plane"},
            "annotations": {
                "ckslab.io/note": (
                    "The local backend runs this command as a process on 127.0.0.1 (no container). "
                    "Like a kubelet, it follows this folder: move this file out and the process stops; "
                    "put it back or change it and it starts again within seconds "
                    f"(`ckslab controlplane restart {component}` does it at once)."
                )
            },
        },
        "spec": {
            "hostNetwork": True,
            "containers": [{"name": component, "command": list(command)}],
        },
    }


def dump_manifest(doc: dict[str, Any]) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False).encode()


def command_from_manifest(text: str, component: str) -> list[str]:
    """The command of the manifest's first container; ValueError when there is none."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "a syntax error"
        raise ValueError(f"the manifest of {component} is not valid YAML: {problem}{where} "
                         "(an item indented unlike the others?)") from err
    try:
        command = doc["spec"]["containers"][0]["command"]
    except (TypeError, KeyError, IndexError) as err:
        raise ValueError(f"the manifest of {component} has no spec.containers[0].command") from err
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise ValueError(f"the command in the manifest of {component} must be a list of strings")
    return command
