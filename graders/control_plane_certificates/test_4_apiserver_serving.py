"""Step apiserver-serving: a TLS handshake with the API server gets the renewed certificate.

The API server reloads its serving certificate when the files change
(``DynamicServingContentFromFiles``, k8s.io/apiserver ``pkg/server/dynamiccertificates``: a file
watch, and a check every minute), so a renewal shows without a restart; a restart shows it at once.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from kubernetes import client

from graders import kube
from graders.control_plane_certificates.lab import CertLab
from graders.control_plane_certificates.serving import served_certificate
from graders.control_plane_certificates.node_pki import NodePki
from graders.control_plane_certificates.record import SetupRecord, is_renewed
from graders.expect import expect, fail

pytestmark = pytest.mark.step("apiserver-serving")


def _hostport(server: str) -> str:
    return urlsplit(server).netloc


def test_serves_the_renewed_certificate(lab: CertLab, pki: NodePki, setup_record: SetupRecord,
                                        admin_api: client.ApiClient) -> None:
    server = kube.server_of(admin_api)
    served = served_certificate(server)
    issued = setup_record.certificates["apiserver"]
    on_disk = pki.get("apiserver").cert
    look = (f"openssl s_client -connect {_hostport(server)} </dev/null 2>/dev/null "
            "| openssl x509 -noout -serial -enddate")
    if served.serial_number == issued.serial:
        if not is_renewed(on_disk, issued):
            fail(f"The API server serves the certificate the lab started with (expiring on "
                 f"{issued.not_after:%Y-%m-%d %H:%M} UTC), and apiserver.crt is not renewed yet.", lab.renew("apiserver"))
        fail(f"apiserver.crt is renewed, but the API server still serves the old certificate (expiring on "
             f"{issued.not_after:%Y-%m-%d %H:%M} UTC). It reloads the file within a minute; restart it to be sure.",
             f"{lab.restart('kube-apiserver')}, then {look}")
    expect(on_disk is not None and served == on_disk,
           f"The API server serves a certificate (serial {served.serial_number:x}) that is not apiserver.crt "
           f"in {pki.etc}.", f"{lab.restart('kube-apiserver')}, then {look}")
    expect(served.not_valid_after_utc > issued.not_after,
           f"The API server's certificate expires on {served.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, no later than "
           f"the one the lab started with.", lab.renew("apiserver"))
