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
    ends = setup_record.certificates[left[0]].not_after
    if len(left) == len(node_pki.RENEWED):
        fail(f"None of the {len(left)} certificates kubeadm manages was renewed: they are still the ones the lab "
             f"started with, which expire on {ends:%Y-%m-%d %H:%M} UTC.", lab.renew())
    fail(f"{', '.join(left)} {'was' if len(left) == 1 else 'were'} not renewed: still the certificate"
         f"{'' if len(left) == 1 else 's'} the lab started with, expiring on {ends:%Y-%m-%d %H:%M} UTC.",
         " && ".join(lab.renew(n) for n in left[:3]) + (" ..." if len(left) > 3 else ""))


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
