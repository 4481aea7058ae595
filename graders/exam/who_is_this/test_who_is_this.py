"""Graders of the exam task who-is-this: the record of the found kubeconfig's identity, expiry and access,
against the certificate in the Secret and the authorizer's answer at grading time."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Callable

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID
from kubernetes import client

from graders import kube
from graders.exam import look
from graders.exam.inputs import TaskInput
from graders.expect import brief, expect, fail

Observe = Callable[[object, object], None]
FIELDS = ("user", "groups", "expires", "list-secrets")
#: Groups every authenticated identity has; not in the certificate, so not required (nor wrong) in the record.
IMPLICIT = {"system:authenticated"}


@dataclass(frozen=True)
class Truth:
    user: str
    groups: tuple[str, ...]
    expires: dt.datetime


def _truth(task: TaskInput, api: client.ApiClient, observe: Observe) -> Truth:
    """The identity of the certificate in the Secret's kubeconfig; a StepFailure when it cannot be read."""
    where = f"the Secret {task['secret']} in namespace {task['ns']}"
    try:
        secret = client.CoreV1Api(api).read_namespaced_secret(task["secret"], task["ns"],
                                                              _request_timeout=kube.REQUEST_TIMEOUT)
        config = yaml.safe_load(base64.b64decode((secret.data or {})["kubeconfig"]))
        pem = base64.b64decode(config["users"][0]["user"]["client-certificate-data"])
        cert = x509.load_pem_x509_certificate(pem)
    except client.ApiException as err:
        observe(f"{where}: a kubeconfig", f"{where} of context {task['context']}: {err.status} {err.reason}")
        fail(f"the Secret {task['secret']} in namespace {task['ns']} of context {task['context']} cannot be read "
             f"({err.status} {err.reason}): there is nothing to compare the record with.")
    except (KeyError, IndexError, TypeError, ValueError, yaml.YAMLError) as err:
        observe(f"{where}: a kubeconfig", f"{where}: no client certificate ({brief(err)})")
        fail(f"the Secret {task['secret']} no longer holds a kubeconfig with a client certificate ({brief(err)}).")
    return Truth(", ".join(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)),
                 tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)),
                 cert.not_valid_after_utc)


def _record(task: TaskInput, wanted: str, observe: Observe) -> dict[str, str]:
    path = task.path("file")
    if not path.is_file():
        observe(wanted, f"no file {task['file']}")
        fail(f"{task['file']} does not exist.")
    found: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in FIELDS:
            found.setdefault(key.strip().lower(), value.strip())
    return found


def _groups(text: str) -> str:
    return ", ".join(sorted({g.strip() for g in text.replace(";", ",").split(",") if g.strip()} - IMPLICIT))


def _when(text: str) -> dt.datetime | None:
    """``text`` as a UTC time: ISO 8601 (Z or +00:00), or openssl's ``Dec  7 05:12:33 2026 GMT``."""
    text = text.strip().removeprefix("notAfter=").strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    except ValueError:
        pass
    try:
        return dt.datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.step("identity")
def test_identity(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    truth = _truth(task, admin_api, observe)
    wanted = f"user: {truth.user}; groups: {_groups(', '.join(truth.groups))}"
    record = _record(task, wanted, observe)
    found = f"user: {record.get('user', '(missing)')}; groups: {_groups(record.get('groups', '')) or '(missing)'}"
    observe(wanted, found)
    expect(found == wanted, f"{task['file']}: expected {wanted}; found {found}.")


@pytest.mark.step("expiry")
def test_expiry(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    truth = _truth(task, admin_api, observe)
    wanted = f"expires: {_iso(truth.expires)}"
    record = _record(task, wanted, observe)
    written = record.get("expires", "")
    when = _when(written) if written else None
    found = f"expires: {_iso(when)}" if when else f"expires: {written or '(missing)'}" + (
        " (not a YYYY-MM-DDTHH:MM:SSZ time)" if written else "")
    observe(wanted, found)
    expect(found == wanted, f"{task['file']}: expected {wanted} (the certificate's notAfter); found {found}.")


@pytest.mark.step("access")
def test_access(task: TaskInput, admin_api: client.ApiClient, observe: Observe) -> None:
    truth = _truth(task, admin_api, observe)
    allowed = look.can(admin_api, truth.user, [*truth.groups, "system:authenticated"], "list", "secrets",
                       namespace=task["ns"])
    wanted = f"list-secrets: {'yes' if allowed else 'no'}"
    record = _record(task, wanted, observe)
    found = f"list-secrets: {record.get('list-secrets', '(missing)').lower() or '(missing)'}"
    observe(wanted, found)
    expect(found == wanted, f"{task['file']}: expected {wanted} (kubectl auth can-i list secrets -n {task['ns']} "
           f"--as {truth.user} " + " ".join(f"--as-group {g}" for g in truth.groups) + f"); found {found}.")
