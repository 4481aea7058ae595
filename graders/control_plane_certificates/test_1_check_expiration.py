"""Step check-expiration: expiration.yaml has the dates `kubeadm certs check-expiration` shows.

apiserver_expires is the apiserver certificate's notAfter as the lab started (setup issued it to
expire 5 days later; the record keeps it), ca_expires the cluster CA's notAfter: both UTC dates.
"""

from __future__ import annotations

import pytest

from graders.control_plane_certificates import answers
from graders.control_plane_certificates.lab import CertLab
from graders.control_plane_certificates.node_pki import NodePki
from graders.control_plane_certificates.record import SetupRecord
from graders.expect import expect, fail

pytestmark = pytest.mark.step("check-expiration")

#: What to write, said in words: a command with placeholders in it is run as it is, placeholders and all.
EXAMPLE = ("write expiration.yaml with two keys, apiserver_expires and ca_expires, each the date (UTC, as "
           "2031-07-01) of the apiserver certificate and of the CA (the CERTIFICATE AUTHORITY table)")


def test_answers_file_is_a_mapping(lab: CertLab) -> None:
    answers.mapping(lab.expiration, f"{lab.check}, then {EXAMPLE}")


def test_apiserver_expires(lab: CertLab, setup_record: SetupRecord, pki: NodePki) -> None:
    hint = f"{lab.check}, then {EXAMPLE}"
    given = answers.date_answer(answers.mapping(lab.expiration, hint), "apiserver_expires", lab.expiration.name, hint)
    before = setup_record.certificates["apiserver"].not_after.date()
    if given == before:
        return
    now = pki.get("apiserver").cert
    if now is not None and given == now.not_valid_after_utc.date():
        fail(f"apiserver_expires is {given}, the date of the renewed certificate; the lab asks for the date "
             f"check-expiration showed before renewal, when the certificate setup issued was about to expire "
             f"({before}).", hint)
    fail(f"apiserver_expires is {given}; check-expiration shows another date for the apiserver certificate (the "
         "EXPIRES column, in UTC).", hint)


def test_ca_expires(lab: CertLab, pki: NodePki) -> None:
    hint = f"{lab.check} (the CERTIFICATE AUTHORITY table), then {EXAMPLE}"
    given = answers.date_answer(answers.mapping(lab.expiration, hint), "ca_expires", lab.expiration.name, hint)
    ca = pki.get("ca").cert
    if ca is None:
        fail(f"could not check: {pki.get('ca').problem}.", "make up")
    actual = ca.not_valid_after_utc.date()
    expect(given == actual, f"ca_expires is {given}; check-expiration shows another date for the CA ca (kubeadm "
                            "makes it valid for 10 years).", hint)
