"""The local backend's PKI and kubeconfigs, made from kubeadm's table (``cluster.certlist``).

``etc/kubernetes/pki/`` holds every row of ``certlist.CERTIFICATES`` (``ca``, ``apiserver``,
``etcd/ca``, ``etcd/server`` ... as ``.crt``/``.key``) and ``sa.key``/``sa.pub``;
``etc/kubernetes/`` holds ``admin.conf``, ``super-admin.conf``, ``controller-manager.conf`` and
``scheduler.conf``. Keys and kubeconfigs are written 0600, certificates 0644. Files that exist
are kept across restarts, so certificates signed before stay valid; a missing file is made
again (a cluster started by an older ckslab, without etcd TLS, gains the missing rows), and a CA
made anew has every leaf it signs made anew too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import urllib3
import yaml

from cluster import certlist, csr, kubeconfig, pki
from cluster.controlplane import Layout
from cluster.paths import write_private, write_public
from cluster.errors import CkslabError
from cluster.waiting import WaitTimeout, wait_until


def cert_path(layout: Layout, spec: certlist.CertSpec) -> Path:
    return layout.pki / f"{spec.base_name}.crt"


def key_path(layout: Layout, spec: certlist.CertSpec) -> Path:
    return layout.pki / f"{spec.base_name}.key"


def leaf_request(spec: certlist.CertSpec | certlist.KubeconfigSpec) -> pki.LeafRequest:
    """The request a row stands for (a kubeconfig's is a client certificate)."""
    if isinstance(spec, certlist.KubeconfigSpec):
        return pki.LeafRequest(spec.common_name, spec.organizations)
    return pki.LeafRequest(spec.common_name, spec.organizations, spec.usages, spec.dns_names, spec.ip_addresses)


def ensure_pki(layout: Layout) -> dict[str, pki.CertificateAuthority]:
    """Create whatever PKI files are missing; return the CAs by their row name."""
    cas: dict[str, pki.CertificateAuthority] = {}
    new_cas: set[str] = set()
    for spec in certlist.CERTIFICATES:
        crt, key = cert_path(layout, spec), key_path(layout, spec)
        present = crt.exists() and key.exists()
        if spec.ca is None:
            if present:
                cas[spec.name] = pki.CertificateAuthority.load(crt.read_bytes(), key.read_bytes())
                continue
            ca = pki.CertificateAuthority.create(spec.common_name)
            write_private(key, pki.key_pem(ca.key))
            write_public(crt, pki.cert_pem(ca.cert))
            cas[spec.name] = ca
            new_cas.add(spec.name)
        elif not present or spec.ca in new_cas:
            req = leaf_request(spec)
            write_private(key, pki.key_pem(req.key))
            write_public(crt, pki.cert_pem(cas[spec.ca].issue(req)))
    sa_key, sa_pub = layout.pki / "sa.key", layout.pki / "sa.pub"
    if not (sa_key.exists() and sa_pub.exists()):
        sa = pki.new_rsa_key()
        write_private(sa_key, pki.key_pem(sa))
        write_public(sa_pub, pki.public_key_pem(sa))
    return cas


def write_kubeconfigs(layout: Layout, ca: pki.CertificateAuthority, server: str) -> None:
    """Write kubeadm's kubeconfigs for the API server at ``server``.

    A kubeconfig whose client certificate the CA signed for the row's subject is kept and only
    pointed at ``server`` (the port may change between starts); any other is made anew.
    """
    for spec in certlist.KUBECONFIGS:
        path = layout.etc / spec.file_name
        existing = _load(path)
        if existing is not None and _matches(existing, ca, spec):
            existing["clusters"][0]["cluster"]["server"] = server
            write_private(path, kubeconfig.dump(existing))
            continue
        req = leaf_request(spec)
        config = kubeconfig.build(
            server=server,
            ca_pem=pki.cert_pem(ca.cert),
            user=req.common_name,
            client_cert_pem=pki.cert_pem(ca.issue(req)),
            client_key_pem=pki.key_pem(req.key),
        )
        write_private(path, kubeconfig.dump(config))


def bind_cluster_admins(layout: Layout, timeout: float = 30.0) -> None:
    """Bind kubeadm's ``kubeadm:cluster-admins`` group to cluster-admin, as ``kubeadm init`` does.

    admin.conf's user is in that group (not system:masters, since Kubernetes v1.29), so admin.conf
    has no rights until the ClusterRoleBinding exists; super-admin.conf (system:masters) creates
    it. Source: ``cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go`` (``EnsureAdminClusterRoleBinding``).
    Waits until admin.conf may do anything (RBAC's cache takes a moment); CkslabError otherwise.
    """
    from kubernetes import client
    try:
        _bind_cluster_admins(layout, timeout)
    except (client.ApiException, WaitTimeout, OSError, urllib3.exceptions.HTTPError) as err:
        raise CkslabError(f"could not bind {certlist.CLUSTER_ADMINS} to cluster-admin for admin.conf ({err}).",
                          "Run `make down && make up`; if it repeats, read .lab/local/var/log/kube-apiserver.log.") from err


def _bind_cluster_admins(layout: Layout, timeout: float) -> None:
    from kubernetes import client
    name = certlist.CLUSTER_ADMINS
    with csr.api_client(layout.etc / "super-admin.conf") as api:
        binding = client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"),
            subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="Group", name=name)],
        )
        try:
            client.RbacAuthorizationV1Api(api).create_cluster_role_binding(binding)
        except client.ApiException as err:
            if err.status != 409:  # 409: it exists (a restart)
                raise
    with csr.api_client(layout.admin_conf) as api:
        review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(verb="*", group="*", resource="*")))
        authz = client.AuthorizationV1Api(api)

        def allowed() -> bool:
            status = authz.create_self_subject_access_review(review).status
            return bool(status and status.allowed)

        wait_until(allowed, timeout, interval=0.05, what="admin.conf to be bound to cluster-admin")


def _load(path: Path) -> dict[str, Any] | None:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return doc if isinstance(doc, dict) else None


def _matches(config: dict[str, Any], ca: pki.CertificateAuthority, spec: certlist.KubeconfigSpec) -> bool:
    """True when the kubeconfig's client certificate is the row's, signed by ``ca``."""
    try:
        cert = kubeconfig.client_certificate(config)
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    return (pki.chains_to(cert, ca.cert) and pki.common_name(cert.subject) == spec.common_name
            and tuple(pki.organizations(cert.subject)) == spec.organizations)
