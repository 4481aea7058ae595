"""Step expiration-facts: expiry.yaml says what the API server and the signer do with expirationSeconds."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from cryptography import x509

from graders import files
from graders.expect import expect, fail
from graders.expiry_rotation.lab import MINIMUM_EXPIRATION_SECONDS, LabFiles, validity_of
from graders.signing_duration import SigningDuration

pytestmark = pytest.mark.step("expiration-facts")

#: What to write, said in words: a command with placeholders in it is run as it is, placeholders and all.
EXAMPLE = ("write expiry.yaml with three keys, each a whole number: minimum_expiration_seconds, "
           "setup_validity_seconds and signing_duration_hours")


def _answers(lab: LabFiles) -> dict[str, Any]:
    data = files.read_bytes(lab.answers, EXAMPLE)
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as err:
        fail(f"{lab.answers.name} is not valid YAML ({' '.join(str(err).split())[:120]}).", EXAMPLE)
    if not isinstance(doc, dict):
        fail(f"{lab.answers.name} must be a YAML mapping of keys to numbers, like "
             "`minimum_expiration_seconds: 600`.", EXAMPLE)
    return doc


def _number(lab: LabFiles, key: str, unit: str) -> int:
    doc = _answers(lab)
    if key not in doc:
        fail(f"{lab.answers.name} has no key {key}.", EXAMPLE)
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int):
        fail(f"{key} in {lab.answers.name} is {value!r}; write a plain number of {unit}, without units "
             "or quotes.", EXAMPLE)
    return int(value)


def test_answers_file_is_a_mapping(lab: LabFiles) -> None:
    _answers(lab)


def test_minimum_expiration_seconds(lab: LabFiles) -> None:
    value = _number(lab, "minimum_expiration_seconds", "seconds")
    expect(value == MINIMUM_EXPIRATION_SECONDS,
           f"minimum_expiration_seconds is {value}, but that is not the smallest spec.expirationSeconds the "
           "API server accepts: try a CSR with one second less and read its answer.",
           "kubectl apply --dry-run=server -f <a CSR with expirationSeconds: 599>")


def test_setup_validity_seconds(lab: LabFiles, original: x509.Certificate) -> None:
    value = _number(lab, "setup_validity_seconds", "seconds")
    issued = validity_of(original.not_valid_before_utc, original.not_valid_after_utc)
    seconds = int(issued.total_seconds())
    if value == MINIMUM_EXPIRATION_SECONDS and seconds != value:
        fail(f"setup_validity_seconds is {value}, what the CSR {lab.user}-original asked for; the certificate "
             "itself says otherwise: subtract its notBefore from its notAfter (the signer backdates "
             "notBefore).", lab.dates)
    expect(value == seconds,
           f"setup_validity_seconds is {value}; {lab.crt.name} as setup issued it is valid for "
           "a different time: subtract its notBefore from its notAfter.", lab.dates)


def test_signing_duration_hours(lab: LabFiles, signing: SigningDuration | None) -> None:
    value = _number(lab, "signing_duration_hours", "hours")
    look = "ckslab controlplane show controller-manager | grep -- --cluster-signing-duration"
    if signing is None:
        fail("could not check: neither the controller manager's flags nor a certificate issued without "
             "expirationSeconds can be read on this cluster.", look)
    expect(value == signing.hours,
           f"signing_duration_hours is {value}; the signer gives at most {signing.hours} hours: "
           f"{signing.evidence}. (Without the flag the default is 8760h; the signing-config lab may have changed "
           "it.)", look)
