"""The certificate a TLS server presents, read with a handshake (no verification: it is compared, not trusted)."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

from cryptography import x509

from graders.expect import fail


def served_certificate(server: str) -> x509.Certificate:
    """The certificate the server at ``server`` (https://host:port) presents; no verification."""
    parts = urlsplit(server)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 443), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
                der = tls.getpeercert(binary_form=True)
    except OSError as err:
        fail(f"could not check: no TLS handshake with the API server at {server} ({err}).", "ckslab status")
    if not der:
        fail(f"could not check: the API server at {server} presented no certificate.", "ckslab status")
    return x509.load_der_x509_certificate(der)
