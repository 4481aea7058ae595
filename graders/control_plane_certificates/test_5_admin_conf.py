"""Step admin-conf: admin.conf was renewed, authenticates, and the learner's copy holds the new credentials.

``kubeadm certs renew admin.conf`` rewrites /etc/kubernetes/admin.conf only: a copy made before
(``~/.kube/config`` on a kubeadm node, here ``.lab/kubeconfig``, what ``ckslab env`` exports) keeps the old
certificate until it is replaced (kubeadm's docs: "Certificate Management with kubeadm"). The new
one is proved by a SelfSubjectReview (``kubectl auth whoami``), made with admin.conf's credentials
against the server this machine reaches.
"""

from __future__ import annotations

import copy
import subprocess

import pytest
import yaml
from cryptography import x509
from kubernetes import client, config

from cluster import certlist, kubeconfig
from graders import kube
from graders.control_plane_certificates import record
from graders.control_plane_certificates.lab import CertLab
from graders.control_plane_certificates.node_pki import NodePki
from graders.control_plane_certificates.record import SetupRecord, is_renewed
from graders.expect import brief, expect, fail

pytestmark = pytest.mark.step("admin-conf")

ADMIN = certlist.KUBECONFIG_BY_NAME["admin.conf"]


def test_admin_conf_was_renewed(lab: CertLab, pki: NodePki, setup_record: SetupRecord) -> None:
    found, issued = pki.get("admin.conf"), setup_record.certificates["admin.conf"]
    cert = found.cert
    if cert is None:
        fail(f"{found.problem}.", lab.renew("admin.conf"))
    if is_renewed(cert, issued):
        return
    if cert.serial_number == issued.serial:
        fail(f"admin.conf still holds the certificate the lab started with, which expires on "
             f"{issued.not_after:%Y-%m-%d %H:%M} UTC.", lab.renew("admin.conf"))
    fail(f"admin.conf holds another certificate (serial {cert.serial_number:x}) than the lab started with, but "
         f"it expires on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, no later than that one "
         f"({issued.not_after:%Y-%m-%d %H:%M} UTC).", lab.renew("admin.conf"))


def test_admin_conf_authenticates(lab: CertLab, pki: NodePki, setup_record: SetupRecord) -> None:
    if not is_renewed(pki.get("admin.conf").cert, setup_record.certificates["admin.conf"]):
        fail("admin.conf is not renewed yet.", lab.renew("admin.conf"))
    try:
        admin = record.admin_conf(pki)
        ours = yaml.safe_load(lab.kubeconfig.read_text())
    except (OSError, subprocess.CalledProcessError, ValueError, yaml.YAMLError) as err:
        fail(f"could not check: admin.conf or {lab.kubeconfig} cannot be read ({brief(err)}).", "ckslab status")
    probe = copy.deepcopy(ours)  # this machine's server and CA, admin.conf's credentials
    probe["users"][0]["user"] = admin["users"][0]["user"]
    try:
        api = config.new_client_from_config_dict(probe, persist_config=False)  # type: ignore[no-untyped-call]
        review = client.AuthenticationV1Api(api).create_self_subject_review(
            client.V1SelfSubjectReview(), _request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as err:
        fail(f"The API server refused admin.conf's new certificate ({brief(err)}).", lab.renew("admin.conf"))
    info = review.status.user_info if review.status else None
    name, groups = (info.username, info.groups or []) if info else ("", [])
    expect(name == ADMIN.common_name and set(ADMIN.organizations) <= set(groups),
           f"admin.conf's new certificate authenticates as {name} {groups}, not {ADMIN.common_name} in "
           f"{', '.join(ADMIN.organizations)}.", lab.renew("admin.conf"))


def test_your_copy_holds_the_new_certificate(lab: CertLab, pki: NodePki, setup_record: SetupRecord) -> None:
    renewed = pki.get("admin.conf").cert
    issued = setup_record.certificates["admin.conf"]
    if not is_renewed(renewed, issued):
        fail("admin.conf is not renewed yet, so your copy of it cannot hold a renewed certificate.",
             f"{lab.renew('admin.conf')}, then {lab.copy_admin}")
    try:
        mine: x509.Certificate | None = kubeconfig.client_certificate(yaml.safe_load(lab.kubeconfig.read_text()))
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, ValueError):
        mine = None
    if mine is not None and mine == renewed:
        return
    if mine is not None and mine.serial_number == issued.serial:
        fail(f"Your kubeconfig {lab.kubeconfig} (your copy of admin.conf, what `ckslab env` exports) still holds the "
             f"old admin certificate: kubectl stops working when it expires on {issued.not_after:%Y-%m-%d %H:%M} UTC. "
             "Renewal rewrote admin.conf only.", lab.copy_admin)
    if mine is None:
        fail(f"Your kubeconfig {lab.kubeconfig} holds no client certificate, so not admin.conf's renewed one.",
             lab.copy_admin)
    fail(f"Your kubeconfig {lab.kubeconfig} does not hold admin.conf's renewed certificate: {_whose(mine, pki, setup_record)}",
         lab.copy_admin)


#: Why holding another kubeconfig's certificate matters, by the kubeconfig kubeadm wrote it in.
WHY_NOT = {
    "super-admin.conf": ("its group system:masters bypasses RBAC: the API server allows it everything before any "
                         "authorizer is asked, and no binding can take that away, which is why kubeadm keeps it for "
                         "emergencies and gives admins admin.conf (group kubeadm:cluster-admins, bound to cluster-admin "
                         "by a ClusterRoleBinding that can be removed)."),
    "controller-manager.conf": ("kubectl then acts as the controller manager, with that component's rights only and "
                                "in its name in the audit log, not as the cluster's admin."),
    "scheduler.conf": ("kubectl then acts as the scheduler, with that component's rights only and in its name in the "
                       "audit log, not as the cluster's admin."),
}


def _whose(cert: x509.Certificate, pki: NodePki, setup_record: SetupRecord) -> str:
    """Which of the node's kubeconfigs ``cert`` comes from (now, or when the lab started), and why that matters."""
    for spec in certlist.KUBECONFIGS:
        now, then = pki.get(spec.file_name).cert, setup_record.certificates.get(spec.file_name)
        when = ("" if now is not None and cert == now else
                " as it was when the lab started" if then is not None and cert.serial_number == then.serial else None)
        if when is not None and spec.file_name != "admin.conf":
            groups = f", O={', '.join(spec.organizations)}" if spec.organizations else ""
            return (f"it holds {spec.file_name}'s certificate{when} (CN={spec.common_name}{groups}): "
                    + WHY_NOT.get(spec.file_name, "that is not the admin's identity."))
    subject = cert.subject.rfc4514_string()
    return (f"it holds a certificate for {subject} (serial {cert.serial_number:x}), from none of the node's "
            "kubeconfigs.")
