"""Graders of the exam task kubeadm-renew: the report of what expires soon, the renewal, the running
components, and the admin's copy of admin.conf. Setup's record (graders.exam.pki_record) says what the
certificates were; the control-plane-certificates lab's modules read the node and the processes."""

from __future__ import annotations

import datetime as dt

import pytest
from kubernetes import client

from graders.context import GradingContext
from cluster import kubeconfig
from graders import kube
from graders.control_plane_certificates import components, node_pki
from graders.control_plane_certificates.record import is_renewed
from graders.control_plane_certificates.serving import served_certificate
from graders.exam import pki_look
from graders.exam.inputs import TaskInput
from graders.exam.pki_look import Observe
from graders.expect import brief, expect, fail

#: A process's start is known to 10 ms (clock ticks).
SLACK = dt.timedelta(milliseconds=20)
#: The components that read their kubeconfig only when they start, and that kubeconfig.
READ_AT_START = (("kube-controller-manager", "controller-manager.conf"), ("kube-scheduler", "scheduler.conf"))


@pytest.mark.step("expiring")
def test_expiring(task: TaskInput, context: GradingContext, observe: Observe) -> None:
    # The expected names are the task's values: a report written on the node of another context is found there.
    wanted = sorted([task["first"], task["second"]])
    data = pki_look.node_file(pki_look.current(context.root, ", ".join(wanted), observe).node, task["report"])
    if data is None:
        observe(", ".join(wanted), f"no file {task['report']} on the node")
        fail(f"{task['report']} does not exist on the node of context {task['context']}.")
    given = sorted({line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()})
    observe(", ".join(wanted), ", ".join(given) or "an empty file")
    expect(given == wanted, f"{task['report']} names {', '.join(given) or 'nothing'}; check-expiration shows "
                            f"{', '.join(wanted)} expiring within {task['within']} days.")


@pytest.mark.step("renewed")
def test_renewed(task: TaskInput, context: GradingContext, observe: Observe) -> None:
    wanted = f"all {len(node_pki.RENEWED)} renewed (new serial, later notAfter), signed by the same CAs"
    rec = pki_look.setup_record(context.root, task, wanted, observe)
    pki = pki_look.current(context.root, wanted, observe)
    left = [n for n in node_pki.RENEWED if not is_renewed(pki.get(n).cert, rec.certificates[n])]
    wrong = []
    for name in node_pki.RENEWED:
        cert, ca = pki.get(name).cert, pki.get(node_pki.SIGNED_BY[name]).cert
        if cert is not None and ca is not None and name not in left:
            try:
                cert.verify_directly_issued_by(ca)
            except Exception:
                wrong.append(name)
    found = (f"{len(node_pki.RENEWED) - len(left)} of {len(node_pki.RENEWED)} renewed"
             + (f"; not renewed: {', '.join(left)}" if left else "")
             + (f"; not signed by their CA: {', '.join(wrong)}" if wrong else ""))
    observe(wanted, found)
    expect(not left and not wrong, f"{found}: kubeadm certs renew all renews them from the CAs in /etc/kubernetes/pki.")


@pytest.mark.step("running")
def test_running(task: TaskInput, context: GradingContext, admin_api: client.ApiClient, observe: Observe) -> None:
    wanted = ("kube-controller-manager and kube-scheduler started after their kubeconfigs were renewed; "
              "the API server serves the renewed apiserver.crt")
    rec = pki_look.setup_record(context.root, task, wanted, observe)
    pki = pki_look.current(context.root, wanted, observe)
    said = []
    for component, conf in READ_AT_START:
        found = pki.get(conf)
        if not is_renewed(found.cert, rec.certificates[conf]):
            said.append(f"{conf} is not renewed, so {component} cannot use a renewed one")
            continue
        try:
            running = components.started(pki.node, admin_api, component)
        except AssertionError as err:  # a StepFailure: it does not run
            said.append(str(err).split("\n")[0])
            continue
        if running.at + SLACK < found.written:
            said.append(f"{component} started at {running.at:%H:%M:%S}, before {conf} was renewed at "
                        f"{found.written:%H:%M:%S} UTC: it still holds the old certificate")
    try:
        served = served_certificate(kube.server_of(admin_api))
    except AssertionError as err:
        served = None
        said.append(f"no TLS handshake with the API server ({brief(err)})")
    disk = pki.get("apiserver").cert
    if served is not None and not (served == disk and is_renewed(served, rec.certificates["apiserver"])):
        said.append(f"the API server serves serial {served.serial_number:x}, expiring "
                    f"{served.not_valid_after_utc:%Y-%m-%d}, not a renewed apiserver.crt")
    observe(wanted, "; ".join(said) or wanted)
    expect(not said, "; ".join(said) + ". Restart the components after renewing (move each manifest out of "
                     "/etc/kubernetes/manifests and back).")


@pytest.mark.step("kubeconfig")
def test_kubeconfig(task: TaskInput, context: GradingContext, observe: Observe) -> None:
    wanted = "admin.conf's renewed certificate, authenticating as kubernetes-admin"
    rec = pki_look.setup_record(context.root, task, wanted, observe)
    pki = pki_look.current(context.root, wanted, observe)
    data = pki_look.node_file(pki.node, task["kubeconfig"])
    doc = pki_look.yaml_doc(data) if data is not None else None
    if doc is None:
        observe(wanted, f"no kubeconfig at {task['kubeconfig']} on the node")
        fail(f"{task['kubeconfig']} is missing on the node or is not a kubeconfig.")
    try:
        mine = kubeconfig.client_certificate(doc)
    except (KeyError, IndexError, TypeError, ValueError):
        mine = None
    admin = pki.get("admin.conf").cert
    if mine is None or mine != admin or not is_renewed(mine, rec.certificates["admin.conf"]):
        what = ("no client certificate" if mine is None else
                "the old admin certificate" if mine.serial_number == rec.certificates["admin.conf"].serial else
                f"another certificate (CN={mine.subject.rfc4514_string()})")
        observe(wanted, f"{task['kubeconfig']} holds {what}")
        fail(f"{task['kubeconfig']} holds {what}, not admin.conf's renewed certificate.")
    try:
        user, _groups = pki_look.identity(doc)
    except Exception as err:
        observe(wanted, f"the renewed certificate, but the kubeconfig does not work: {brief(err)}")
        fail(f"{task['kubeconfig']} does not work: {brief(err)}.")
    observe(wanted, f"admin.conf's renewed certificate, authenticating as {user}")
    expect(user == "kubernetes-admin", f"{task['kubeconfig']} authenticates as {user}, not kubernetes-admin.")
