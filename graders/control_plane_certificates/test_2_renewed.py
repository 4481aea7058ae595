"""Step renewed: every certificate `kubeadm certs renew all` renews was renewed, from the same CAs.

Renewed means another serial and a later notAfter than setup's record, signed by the CA kubeadm
signs it with (certlist.go), and valid now. The names are kubeadm's.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.exceptions import InvalidSignature

from graders.control_plane_certificates import node_pki
from graders.control_plane_certificates.lab import CertLab
from graders.control_plane_certificates.node_pki import NodePki
from graders.control_plane_certificates.record import SetupRecord, is_renewed
from graders.expect import expect, fail

pytestmark = pytest.mark.step("renewed")


def test_every_certificate_was_renewed(lab: CertLab, pki: NodePki, setup_record: SetupRecord) -> None:
    broken = [pki.get(n).problem for n in node_pki.RENEWED if pki.get(n).cert is None]
    expect(not broken, "; ".join(broken) + ".", f"{lab.renew()} (kubeadm renews from the files it finds)")
    left = [n for n in node_pki.RENEWED if not is_renewed(pki.get(n).cert, setup_record.certificates[n])]
    if not left:
        return
    # More than one left: kubeadm's own command renews them all at once (and the rest again, harmlessly).
    hint = lab.renew(left[0]) if len(left) == 1 else lab.renew()
    # What each file holds now: the certificate setup issued, or another one that expires no later.
    same = [n for n in left if (c := pki.get(n).cert) is not None and c.serial_number == setup_record.certificates[n].serial]
    other = [n for n in left if n not in same]
    ends = setup_record.certificates[left[0]].not_after
    if len(same) == len(node_pki.RENEWED):
        fail(f"None of the {len(left)} certificates kubeadm manages was renewed: they are still the ones the lab "
             f"started with, which expire on {ends:%Y-%m-%d %H:%M} UTC.", hint)
    said = []
    if same:
        said.append(f"{', '.join(same)} {'was' if len(same) == 1 else 'were'} not renewed: still the certificate"
                    f"{'' if len(same) == 1 else 's'} the lab started with, expiring on {ends:%Y-%m-%d %H:%M} UTC.")
    for name in other:
        cert = pki.get(name).cert
        assert cert is not None
        said.append(f"{name} was re-issued (serial {cert.serial_number:x}) but expires on "
                    f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, no later than the certificate the lab started "
                    f"with ({setup_record.certificates[name].not_after:%Y-%m-%d %H:%M} UTC).")
    fail(" ".join(said), hint)


def test_signed_by_the_same_cas(lab: CertLab, pki: NodePki) -> None:
    wrong = []
    for name in node_pki.RENEWED:
        cert, ca = pki.get(name).cert, pki.get(node_pki.SIGNED_BY[name]).cert
        if cert is None or ca is None:
            continue  # test_every_certificate_was_renewed says so
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            wrong.append(f"{name} (not signed by {node_pki.SIGNED_BY[name]})")
    expect(not wrong, f"{', '.join(wrong)}: every component trusts only the cluster's CAs, so such a certificate "
                      "is refused.", f"{lab.renew()} (kubeadm signs with the CAs in pki/)")


def test_valid_now(lab: CertLab, pki: NodePki) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    late = [n for n in node_pki.RENEWED if (c := pki.get(n).cert) is not None
            and not c.not_valid_before_utc <= now <= c.not_valid_after_utc]
    expect(not late, f"{', '.join(late)} {'is' if len(late) == 1 else 'are'} not valid now.", lab.renew())
