"""Graders of the exam task signer-controllers: the running controller manager's --controllers (the CSR signing
controller on, and everything kubeadm runs still on), and the two approved CSRs issued."""

from __future__ import annotations

from typing import Callable

import pytest
from cryptography import x509
from kubernetes import client

from cluster import controlplane, pki
from cluster.backends.node import Node
from graders import audit
from graders.context import GradingContext
from graders.exam import controlplane as plane
from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import expect, fail
from graders.signing_config.flags import CONTROLLERS, SIGNER, SigningConfig
from graders.signing_config.lab import MANIFEST

Observe = Callable[[object, object], None]
CM = controlplane.CONTROLLER_MANAGER
#: What kubeadm's controller manager runs (--controllers=*,bootstrapsigner,tokencleaner), as the cluster did.
BEFORE = ("*", "bootstrapsigner", "tokencleaner")


def _running(node: Node, observe: Observe, wanted: str) -> SigningConfig:
    flags = plane.running_flags(node, CM)
    if isinstance(flags, str):
        observe(wanted, flags)
        fail(f"{flags}: nothing is signed until it runs.", f"Fix {MANIFEST} on the node; the kubelet restarts it.")
    return SigningConfig(tuple(flags))


def _shown(running: SigningConfig) -> str:
    return f"{CONTROLLERS}={','.join(running.controllers)}"


@pytest.mark.step("signer-runs")
def test_signer_runs(context: GradingContext, node: Node, observe: Observe) -> None:
    wanted = "the CSR signing controller (csrsigning) enabled in --controllers, the controller manager healthy"
    running = _running(node, observe, wanted)
    on = SIGNER in running.enabled_csr_controllers()
    ok, seen = plane.healthy(context.root, CM)
    observe(wanted, f"{_shown(running)}: the signer is {'on' if on else 'off'}; the controller manager is {seen}")
    expect(on, f"the running kube-controller-manager does not run the CSR signer ({_shown(running)}).",
           f"Remove the -csrsigning item from {CONTROLLERS} in {MANIFEST} on the node.")
    expect(ok, f"the kube-controller-manager is {seen}.")


@pytest.mark.step("issued")
def test_issued(task: TaskInput, admin_api: client.ApiClient, trail: audit.Trail | audit.Unavailable,
                cluster_ca: x509.Certificate, observe: Observe) -> None:
    seen = []
    for user in (task["first"], task["second"]):
        found = look.csr(admin_api, trail, user)
        if not found.exists:
            seen.append(f"{user}: no such CSR")
        elif found.certificate is None:
            seen.append(f"{user}: {'approved' if found.approved else 'not approved'}, no certificate")
        else:
            cert = x509.load_pem_x509_certificate(found.certificate)
            by = "this cluster's CA" if pki.chains_to(cert, cluster_ca) else f"another CA ({look.subject(cert.issuer)})"
            seen.append(f"{user}: issued, {look.subject(cert.subject)}, signed by {by}")
    observe(f"{task['users']}: issued, signed by this cluster's CA", "; ".join(seen))
    expect(all("signed by this cluster's CA" in s for s in seen), f"not every CSR was issued by this cluster: "
           f"{'; '.join(seen)}.", "Once the signer runs it issues approved CSRs by itself within seconds.")


@pytest.mark.step("nothing-else")
def test_nothing_else(node: Node, observe: Observe) -> None:
    wanted = f"the signer on, and {','.join(BEFORE)} still in {CONTROLLERS} with nothing turned off"
    running = _running(node, observe, wanted)
    off = [c for c in running.controllers if c.startswith("-")]
    lost = [c for c in BEFORE if c not in running.controllers]
    on = SIGNER in running.enabled_csr_controllers()
    observe(wanted, f"{_shown(running)}" + (f"; turned off: {', '.join(off)}" if off else "")
            + (f"; no longer enabled: {', '.join(lost)}" if lost else ""))
    expect(on, "the signer does not run: this check needs it on first.")
    expect(not off and not lost, f"the running kube-controller-manager no longer runs what the cluster ran: "
           f"{_shown(running)}.", f"Keep {CONTROLLERS}={','.join(BEFORE)} in {MANIFEST}.")
