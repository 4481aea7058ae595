"""Step restarted: the controller manager and the scheduler started after their kubeconfigs were renewed.

Both read their kubeconfig (with its embedded client certificate) once, when they start, and keep
that certificate until they stop: renewing the file changes nothing for the running process, which
fails once the old certificate expires. The evidence is the process's start time on the node
(``Node.started_at``) against the kubeconfig's modification time. The API server and etcd
reload their certificate files by themselves in v1.37 (the notebook shows where); step
apiserver-serving grades the API server by what it serves.
"""

from __future__ import annotations

import datetime as dt

import pytest
from kubernetes import client

from graders.control_plane_certificates import components
from graders.control_plane_certificates.lab import CertLab
from graders.control_plane_certificates.node_pki import NodePki
from graders.control_plane_certificates.record import SetupRecord, is_renewed
from graders.expect import fail

pytestmark = pytest.mark.step("restarted")

#: A process's start is known to 10 ms (clock ticks); a file's mtime to ``Node.mtime_resolution``.
SLACK = dt.timedelta(milliseconds=20)


def _restarted_after_renewal(component: str, conf: str, lab: CertLab, pki: NodePki, setup_record: SetupRecord,
                             admin_api: client.ApiClient) -> None:
    found = pki.get(conf)
    issued = setup_record.certificates[conf]
    if not is_renewed(found.cert, issued):
        fail(f"{conf} is not renewed yet: {component} cannot use a new certificate before there is one.",
             f"{lab.renew(conf)}, then {lab.restart(component)}")
    running = components.started(pki.node, admin_api, component)
    written = found.written
    if running.at + SLACK + dt.timedelta(seconds=pki.node.mtime_resolution) >= written:
        return
    fail(f"{component} ({running.where}) started at {running.at:%H:%M:%S} UTC, before {conf} was renewed at "
         f"{written:%H:%M:%S} UTC: it reads its kubeconfig once, when it starts, so it still authenticates with the "
         f"old certificate, which expires on {issued.not_after:%Y-%m-%d %H:%M} UTC.", lab.restart(component))


def test_controller_manager_restarted(lab: CertLab, pki: NodePki, setup_record: SetupRecord,
                                      admin_api: client.ApiClient) -> None:
    _restarted_after_renewal("kube-controller-manager", "controller-manager.conf", lab, pki, setup_record, admin_api)


def test_scheduler_restarted(lab: CertLab, pki: NodePki, setup_record: SetupRecord,
                             admin_api: client.ApiClient) -> None:
    _restarted_after_renewal("kube-scheduler", "scheduler.conf", lab, pki, setup_record, admin_api)
