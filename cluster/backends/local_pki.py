"""The local backend's PKI and kubeconfigs, laid out as kubeadm lays them out.

``etc/kubernetes/pki/{ca.crt,ca.key,apiserver.crt,apiserver.key,sa.key,sa.pub}`` and
``etc/kubernetes/{admin.conf,controller-manager.conf}``; keys are written 0600. The CA is made
once per cluster and kept across restarts, so certificates it signed stay valid.
"""

from __future__ import annotations

from cluster import kubeconfig, pki
from cluster.controlplane import HOST, Layout
from cluster.paths import write_private, write_public

#: The admin identity. kubeadm's admin.conf uses the kubeadm:cluster-admins group, bound by a
#: ClusterRoleBinding kubeadm creates; with no kubeadm here, system:masters is the equivalent.
ADMIN = pki.LeafRequest("kubernetes-admin", ("system:masters",))
CONTROLLER_MANAGER = pki.LeafRequest("system:kube-controller-manager")


def ensure_pki(layout: Layout) -> pki.CertificateAuthority:
    """Create whatever PKI files are missing; return the cluster CA."""
    d = layout.pki
    if (d / "ca.crt").exists() and (d / "ca.key").exists():
        ca = pki.CertificateAuthority.load((d / "ca.crt").read_bytes(), (d / "ca.key").read_bytes())
    else:
        ca = pki.CertificateAuthority.create("kubernetes")
        write_private(d / "ca.key", pki.key_pem(ca.key))
        write_public(d / "ca.crt", pki.cert_pem(ca.cert))
        for stale in ("apiserver.crt", "apiserver.key"):
            (d / stale).unlink(missing_ok=True)
    if not ((d / "apiserver.crt").exists() and (d / "apiserver.key").exists()):
        req = pki.LeafRequest(
            "kube-apiserver",
            extended_usages=(pki.SERVER_AUTH,),
            dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"),
            ip_addresses=(HOST, "10.96.0.1"),
        )
        write_private(d / "apiserver.key", pki.key_pem(req.key))
        write_public(d / "apiserver.crt", pki.cert_pem(ca.issue(req)))
    if not ((d / "sa.key").exists() and (d / "sa.pub").exists()):
        key = pki.new_rsa_key()
        write_private(d / "sa.key", pki.key_pem(key))
        write_public(d / "sa.pub", pki.public_key_pem(key))
    return ca


def write_kubeconfigs(layout: Layout, ca: pki.CertificateAuthority, server: str) -> None:
    """(Re)write admin.conf and controller-manager.conf for the API server at ``server``."""
    for path, req in ((layout.admin_conf, ADMIN), (layout.controller_manager_conf, CONTROLLER_MANAGER)):
        config = kubeconfig.build(
            server=server,
            ca_pem=pki.cert_pem(ca.cert),
            user=req.common_name,
            client_cert_pem=pki.cert_pem(ca.issue(req)),
            client_key_pem=pki.key_pem(req.key),
        )
        write_private(path, kubeconfig.dump(config))
