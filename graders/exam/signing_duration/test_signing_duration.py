"""Graders of the exam task signing-duration: the flag the running controller manager signs with, that
it runs its edited manifest and signs, and a certificate issued after the change with the capped lifetime."""

from __future__ import annotations

import datetime as dt
from typing import Callable

import pytest
from cryptography import x509

from cluster import controlplane
from cluster.backends.node import Node
from graders.context import GradingContext
from graders.exam import controlplane as plane
from graders.exam.inputs import TaskInput
from graders.expect import expect, fail
from graders.expiry_rotation.lab import BACKDATE, TOLERANCE, issued_validity, spoken
from graders.signing_config.flags import SIGNING_DURATION, SigningConfig, show_duration
from graders.signing_config.lab import MANIFEST

Observe = Callable[[object, object], None]
CM = controlplane.CONTROLLER_MANAGER


def _running(node: Node, observe: Observe, wanted: str) -> SigningConfig:
    flags = plane.running_flags(node, CM)
    if isinstance(flags, str):
        observe(wanted, flags)
        fail(f"{flags}: nothing is signed until it runs.", f"Fix {MANIFEST} on the node; the kubelet restarts it.")
    return SigningConfig(tuple(flags))


@pytest.mark.step("running-duration")
def test_running_duration(task: TaskInput, node: Node, observe: Observe) -> None:
    wanted = dt.timedelta(hours=int(task["hours"]))
    running = _running(node, observe, f"{SIGNING_DURATION}={task['hours']}h")
    observe(f"{SIGNING_DURATION}={task['hours']}h", f"it signs for {running.describe_duration()}")
    expect(running.duration == wanted, f"the running kube-controller-manager signs for {running.describe_duration()}, "
           f"not {show_duration(wanted)}.", f"Set {SIGNING_DURATION}={task['hours']}h in {MANIFEST} on the node.")


@pytest.mark.step("restarted")
def test_restarted(context: GradingContext, node: Node, observe: Observe) -> None:
    wanted = f"a running kube-controller-manager with {SIGNING_DURATION}, its CSR signer healthy"
    running = _running(node, observe, wanted)
    ok, seen = plane.healthy(context.root, CM)
    has_flag = running.duration_text is not None
    observe(wanted, f"it runs {'with' if has_flag else 'without'} {SIGNING_DURATION}, {seen}")
    expect(has_flag, f"the running kube-controller-manager has no {SIGNING_DURATION}: it was not restarted with one.")
    expect(ok, f"the kube-controller-manager is {seen}.")


@pytest.mark.step("certificate")
def test_certificate(task: TaskInput, node: Node, cluster_ca: x509.Certificate, observe: Observe) -> None:
    hours = dt.timedelta(hours=int(task["hours"]))
    wanted = f"CN={task['user']}, signed by this cluster's CA, valid {spoken(hours)}, issued after the change"
    crt, key = task.path("dir") / f"{task['user']}.crt", task.path("dir") / f"{task['user']}.key"
    if not crt.is_file():
        observe(wanted, f"no file {task['dir']}/{task['user']}.crt")
        fail(f"{task['dir']}/{task['user']}.crt does not exist.")
    cert, seen = plane.user_certificate(crt, key, cluster_ca)
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    started = plane.started_at(node, CM)
    # The signer backdates notBefore by 5 minutes: the issuance is notBefore + 5 minutes.
    after = started is not None and cert.not_valid_before_utc + BACKDATE + TOLERANCE >= started
    observe(wanted, f"{seen}, valid {spoken(life)}, issued "
                    + ("after" if after else "before") + " the running kube-controller-manager started")
    expect(seen.startswith(f"CN={task['user']}, signed by this cluster's CA, for"), f"{task['dir']}/{task['user']}.crt "
           f"is {seen}, not a certificate this cluster issued for CN={task['user']}.")
    expect(f"not for {key.name}" not in seen, f"{task['dir']}/{task['user']}.crt is not for {task['user']}.key.")
    expect(abs(life - issued_validity(None, hours)) <= TOLERANCE,
           f"{task['dir']}/{task['user']}.crt is valid {spoken(life)}, not {spoken(hours)}: issued before the new "
           "duration ran, or with expirationSeconds.")
    expect(after, f"{task['dir']}/{task['user']}.crt was issued before the running kube-controller-manager started.")
