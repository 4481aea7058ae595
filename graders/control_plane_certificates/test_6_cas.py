"""Step cas: cas.yaml says that `kubeadm certs renew` renews no CA, with each CA's expiry date.

kubeadm's renewal manager (cmd/kubeadm/app/phases/certs/renewal/manager.go) has a renew handler for
each leaf certificate and kubeconfig and only an expiration handler for ca, front-proxy-ca and
etcd-ca: "we are not offering support for renewing CAs". The CA files must be the ones the lab
started with (same serial).
"""

from __future__ import annotations

import pytest

from graders.control_plane_certificates import answers, node_pki
from graders.control_plane_certificates.lab import CertLab
from graders.control_plane_certificates.node_pki import NodePki
from graders.control_plane_certificates.record import SetupRecord
from graders.expect import expect, fail

pytestmark = pytest.mark.step("cas")

#: What to write, said in words: a command with placeholders in it is run as it is, placeholders and all.
EXAMPLE = ("write cas.yaml with renewed_cas (a list of the CAs the renewal renewed; [] for none) and expires "
           "(a mapping of ca, etcd-ca and front-proxy-ca to each one's date in the CERTIFICATE AUTHORITY table, "
           "UTC, as 2035-07-01)")


def test_renewed_cas(lab: CertLab) -> None:
    hint = f"{lab.check} before and after renewing, then {EXAMPLE}"
    doc = answers.mapping(lab.cas, hint)
    if "renewed_cas" not in doc:
        fail("cas.yaml has no key renewed_cas: the CAs that kubeadm certs renew all renewed.", hint)
    given = doc["renewed_cas"]
    listed = [] if given is None else given if isinstance(given, list) else [given]
    expect(not listed, f"cas.yaml says kubeadm certs renew renewed {', '.join(map(str, listed))}; it renews no CA: "
                       "compare the CERTIFICATE AUTHORITY table before and after.", hint)


def test_ca_expiry_dates(lab: CertLab, pki: NodePki) -> None:
    hint = f"{lab.check} (the CERTIFICATE AUTHORITY table), then {EXAMPLE}"
    doc = answers.mapping(lab.cas, hint)
    expires = doc.get("expires")
    if not isinstance(expires, dict):
        fail("cas.yaml has no mapping expires: each CA's name (ca, etcd-ca, front-proxy-ca) and its date.", hint)
    wrong = []
    for name in node_pki.CAS:
        cert = pki.get(name).cert
        if cert is None:
            fail(f"could not check: {pki.get(name).problem}.", "make up")
        given = answers.as_date(expires.get(name))
        if given != cert.not_valid_after_utc.date():
            wrong.append(f"{name}: {expires.get(name)!r}")
    expect(not wrong, f"cas.yaml's expires has {', '.join(wrong)}; check-expiration shows other dates (UTC).", hint)


def test_cas_unchanged(lab: CertLab, pki: NodePki, setup_record: SetupRecord) -> None:
    changed = [n for n in node_pki.CAS
               if (c := pki.get(n).cert) is None or c.serial_number != setup_record.cas[n].serial]
    expect(not changed, f"{', '.join(changed)} {'is' if len(changed) == 1 else 'are'} not the CA the lab started "
                        "with: kubeadm certs renew never replaces a CA, and a CA replaced by hand invalidates every "
                        "certificate it signed (see the notebook on CA rotation).", lab.reset)
