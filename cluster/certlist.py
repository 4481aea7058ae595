"""Every certificate and kubeconfig of the local control plane, in one table, as kubeadm's.

Pure code. It mirrors kubeadm's own table, ``cmd/kubeadm/app/phases/certs/certlist.go``
(``GetDefaultCertList``: name, CA, subject, usages, SANs from ``util/pkiutil/pki_helpers.go``
``GetAPIServerAltNames`` / ``GetEtcdAltNames``) and the kubeconfig specs of
``cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go`` (``getKubeConfigSpecsBase``), all in
Kubernetes v1.37.0. ``cluster.backends.local_pki`` makes the files from these rows and the
tests check the files against the same rows, so the layout cannot drift from what is checked.
File names are kubeadm's (``constants.go``): ``<base_name>.crt`` and ``<base_name>.key`` under
``etc/kubernetes/pki``; kubeconfigs under ``etc/kubernetes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from cluster.pki import CLIENT_AUTH, SERVER_AUTH

#: The node name kubeadm puts in the etcd certificates' CN and SANs (the node is "ckslab").
NODE_NAME = "ckslab"
#: The API server's advertise address, and kubeadm's first service IP for ``10.96.0.0/12``.
ADVERTISE_ADDRESS = "127.0.0.1"
SERVICE_IP = "10.96.0.1"
#: The group kubeadm's admin.conf is in, bound to cluster-admin by a ClusterRoleBinding of the
#: same name (``constants.ClusterAdminsGroupAndClusterRoleBinding``).
CLUSTER_ADMINS = "kubeadm:cluster-admins"


@dataclass(frozen=True)
class CertSpec:
    """One row of kubeadm's certificate list.

    ``ca`` is the ``name`` of the signing CA's row, or None for a CA (self-signed, ten years);
    every other row is a leaf (one year). ``base_name`` is the path under ``pki/`` without the
    ``.crt``/``.key`` suffix.
    """

    name: str
    base_name: str
    ca: str | None
    common_name: str
    organizations: tuple[str, ...] = ()
    usages: tuple[x509.ObjectIdentifier, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()

    @property
    def is_ca(self) -> bool:
        return self.ca is None


_ETCD_DNS = (NODE_NAME, "localhost")
_ETCD_IPS = (ADVERTISE_ADDRESS, "127.0.0.1", "::1")

#: kubeadm's ``GetDefaultCertList()``, in its order (each CA before the leaves it signs).
CERTIFICATES: tuple[CertSpec, ...] = (
    CertSpec("ca", "ca", None, "kubernetes"),
    CertSpec("apiserver", "apiserver", "ca", "kube-apiserver", usages=(SERVER_AUTH,),
             dns_names=(NODE_NAME, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                        "kubernetes.default.svc.cluster.local"),
             ip_addresses=(SERVICE_IP, ADVERTISE_ADDRESS)),
    CertSpec("apiserver-kubelet-client", "apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client",
             usages=(CLIENT_AUTH,)),
    CertSpec("front-proxy-ca", "front-proxy-ca", None, "front-proxy-ca"),
    CertSpec("front-proxy-client", "front-proxy-client", "front-proxy-ca", "front-proxy-client",
             usages=(CLIENT_AUTH,)),
    CertSpec("etcd-ca", "etcd/ca", None, "etcd-ca"),
    # etcd needs client auth on its server certificate too (etcd-io/etcd#9785, kubeadm's TODO).
    CertSpec("etcd-server", "etcd/server", "etcd-ca", NODE_NAME, usages=(SERVER_AUTH, CLIENT_AUTH),
             dns_names=_ETCD_DNS, ip_addresses=_ETCD_IPS),
    CertSpec("etcd-peer", "etcd/peer", "etcd-ca", NODE_NAME, usages=(SERVER_AUTH, CLIENT_AUTH),
             dns_names=_ETCD_DNS, ip_addresses=_ETCD_IPS),
    CertSpec("etcd-healthcheck-client", "etcd/healthcheck-client", "etcd-ca", "kube-etcd-healthcheck-client",
             usages=(CLIENT_AUTH,)),
    CertSpec("apiserver-etcd-client", "apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client",
             usages=(CLIENT_AUTH,)),
)
BY_NAME = {spec.name: spec for spec in CERTIFICATES}
#: The service-account key pair (not a certificate): ``sa.key`` and ``sa.pub``.
SERVICE_ACCOUNT_KEY_BASE_NAME = "sa"


@dataclass(frozen=True)
class KubeconfigSpec:
    """A kubeconfig kubeadm writes: a client certificate signed by the cluster CA ("ca")."""

    file_name: str
    common_name: str
    organizations: tuple[str, ...] = ()


#: kubeadm's kubeconfigs for a control-plane node, kubelet.conf left out (no kubelet here).
KUBECONFIGS: tuple[KubeconfigSpec, ...] = (
    KubeconfigSpec("admin.conf", "kubernetes-admin", (CLUSTER_ADMINS,)),
    KubeconfigSpec("super-admin.conf", "kubernetes-super-admin", ("system:masters",)),
    KubeconfigSpec("controller-manager.conf", "system:kube-controller-manager"),
    KubeconfigSpec("scheduler.conf", "system:kube-scheduler"),
)
KUBECONFIG_BY_NAME = {spec.file_name: spec for spec in KUBECONFIGS}
