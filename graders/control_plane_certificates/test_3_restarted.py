"""Step restarted: the controller manager and the scheduler started after their kubeconfigs were renewed.

Both read their kubeconfig (with its embedded client certificate) once, when they start, and keep
that certificate until they stop: renewing the file changes nothing for the running process, which
fails once the old certificate expires. The evidence is the process's start time on the node
(``Node.started_at``) against the kubeconfig's modification time. Which certificate a component
not restarted still holds is said from that too: the one the lab started with when it started before
setup's record was written (setup restarts both first), else one of a renewal made since, never a date
that is not read now. The API server and etcd
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


#: The components that read their kubeconfig only when they start, and that kubeconfig.
READ_AT_START = (("kube-controller-manager", "controller-manager.conf"), ("kube-scheduler", "scheduler.conf"))


def _not_restarted(component: str, conf: str, lab: CertLab, pki: NodePki, setup_record: SetupRecord,
                   admin_api: client.ApiClient) -> str:
    """Why ``component`` does not use ``conf``'s renewed certificate, from what is read now; "" when it does."""
    found = pki.get(conf)
    running = components.started(pki.node, admin_api, component)
    written = found.written
    if running.at + SLACK + dt.timedelta(seconds=pki.node.mtime_resolution) >= written:
        return ""
    new = found.cert
    renewed = (f"serial {new.serial_number:x}, valid until {new.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
               if new is not None else "unreadable")
    if setup_record.recorded_at is not None and running.at <= setup_record.recorded_at:
        held = (f"the certificate the lab started with (serial {setup_record.certificates[conf].serial:x}), which "
                f"expires on {setup_record.certificates[conf].not_after:%Y-%m-%d %H:%M} UTC")
    else:  # started after the lab's start: it read a certificate of a renewal made since, not the file's now
        held = f"the certificate {conf} held at {running.at:%H:%M:%S} UTC, from an earlier renewal"
    return (f"{component} ({running.where}) started at {running.at:%H:%M:%S} UTC, before {conf} was last written at "
            f"{written:%H:%M:%S} UTC ({renewed}): it reads its kubeconfig once, when it starts, so it still "
            f"authenticates with {held}.")


def test_controller_manager_and_scheduler_restarted(lab: CertLab, pki: NodePki, setup_record: SetupRecord,
                                                    admin_api: client.ApiClient) -> None:
    """Every component that does not use a renewed certificate is named at once, with the commands for all."""
    unrenewed = [(component, conf) for component, conf in READ_AT_START
                 if not is_renewed(pki.get(conf).cert, setup_record.certificates[conf])]
    reasons, restart = [], []
    if unrenewed:
        confs, names = " and ".join(c for _, c in unrenewed), " and ".join(n for n, _ in unrenewed)
        one = len(unrenewed) == 1
        reasons.append(f"{confs} {'is' if one else 'are'} not renewed yet: {names} cannot use "
                       f"{'a new certificate before there is one' if one else 'new certificates before there are some'}.")
        restart = [component for component, _ in unrenewed]
    for component, conf in READ_AT_START:
        if (component, conf) not in unrenewed:
            reason = _not_restarted(component, conf, lab, pki, setup_record, admin_api)
            if reason:
                reasons.append(reason)
                restart.append(component)
    if not reasons:
        return
    renew = [] if not unrenewed else [lab.renew(unrenewed[0][1]) if len(unrenewed) == 1 else lab.renew()]
    commands = renew + [" && ".join(lab.restart(c) for c, _ in READ_AT_START if c in restart)]
    fail(" ".join(reasons), ", then ".join(commands) + " (what it does, and what you do on a kubeadm node: move "
         "the component's manifest out of /etc/kubernetes/manifests, wait until it stops, and move it back)")
