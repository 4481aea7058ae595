"""TLS for a class listening beyond 127.0.0.1: the instructor's certificate, or one from the class's own CA.

The class CA (``tls/ca.crt``, key 0600) is made with ``cryptography`` (``cluster.pki``) the first
time; the server certificate names the address the hub listens on (and the host's name).
Learners' browsers must trust ``tls/ca.crt``, which ``class up`` says.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from pathlib import Path

from cryptography import x509

from ckslab.classhost.layout import ClassPaths
from cluster import pki
from cluster.errors import UsageError
from cluster.paths import write_private, write_public


def class_certificate(where: ClassPaths, ip: str) -> tuple[Path, Path, Path]:
    """(certificate, key, CA) for ``ip``, made from the class CA (kept between runs)."""
    where.tls.mkdir(parents=True, exist_ok=True)
    where.tls.chmod(0o700)
    ca_crt, ca_key = where.tls / "ca.crt", where.tls / "ca.key"
    if ca_crt.exists() and ca_key.exists():
        ca = pki.CertificateAuthority.load(ca_crt.read_bytes(), ca_key.read_bytes())
    else:
        ca = pki.CertificateAuthority.create("ckslab class CA")
        write_private(ca_key, pki.key_pem(ca.key))
        write_public(ca_crt, pki.cert_pem(ca.cert))
    host = socket.gethostname()
    ips = tuple(i for i in (ip, "127.0.0.1") if i not in ("0.0.0.0", "::", ""))  # noqa: S104
    request = pki.LeafRequest(host, extended_usages=(pki.SERVER_AUTH,), dns_names=(host, "localhost"),
                              ip_addresses=ips, validity=dt.timedelta(days=90))
    cert = ca.issue(request)
    crt, key = where.tls / "server.crt", where.tls / "server.key"
    write_private(key, pki.key_pem(request.key))
    write_public(crt, pki.cert_pem(cert))
    return crt, key, ca_crt


def given_certificate(cert: Path, key: Path) -> tuple[Path, Path]:
    """The instructor's certificate and key, checked to be readable PEM."""
    try:
        x509.load_pem_x509_certificate(cert.read_bytes())
        key.read_bytes()
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot use the TLS certificate {cert} with key {key}: {err}.",
                         "Give a PEM certificate and its key with --ssl-cert and --ssl-key.") from err
    return cert.resolve(), key.resolve()


def check_ip(ip: str) -> str:
    """``ip`` as an address; UsageError for anything else."""
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError as err:
        raise UsageError(f"--ip {ip!r} is not an IP address.", "Give one, e.g. --ip 0.0.0.0 or --ip 192.0.2.10.") from err
