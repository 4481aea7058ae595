"""Keys, certificates and signing requests, made with ``cryptography``.

Pure code: it returns PEM bytes and writes nothing. The local backend lays the results out as
kubeadm does (``etc/kubernetes/pki/ca.crt`` ...), and the tests use it to act as a learner.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Validity of the cluster CA, as kubeadm: ten years.
CA_VALIDITY = dt.timedelta(days=3650)
#: Validity of the component certificates, as kubeadm: one year.
LEAF_VALIDITY = dt.timedelta(days=365)
# Backdated so a clock a few minutes apart does not make a new certificate "not yet valid".
_BACKDATE = dt.timedelta(minutes=5)


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key, like ``openssl genrsa -out jane.key 2048``."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PEM in the traditional format openssl and kubeadm write."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_key_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def subject(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    """``/O=.../CN=name``: Kubernetes reads the user from CN and the groups from O."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def new_csr(
    key: PrivateKey, common_name: str, organizations: Sequence[str] = ()
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request, like ``openssl req -new -key jane.key -subj "/CN=jane"``."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject(common_name, organizations))
        .sign(key, hashes.SHA256())
    )


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA's key and self-signed certificate."""

    key: PrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, common_name: str = "kubernetes") -> CertificateAuthority:
        """A new CA named like kubeadm's (CN=kubernetes)."""
        key = new_rsa_key()
        now = dt.datetime.now(dt.timezone.utc)
        name = subject(common_name)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_encipherment=True, key_cert_sign=True,
                    content_commitment=False, data_encipherment=False, key_agreement=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def load(cls, cert_pem_bytes: bytes, key_pem_bytes: bytes) -> CertificateAuthority:
        key = serialization.load_pem_private_key(key_pem_bytes, password=None)
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ValueError("the CA key must be RSA or EC")
        return cls(key, x509.load_pem_x509_certificate(cert_pem_bytes))

    def issue(self, request: LeafRequest, public_key: object | None = None) -> x509.Certificate:
        """Sign a leaf certificate for ``request`` (for ``public_key``, else a new one's)."""
        now = dt.datetime.now(dt.timezone.utc)
        pub = public_key if public_key is not None else request.key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject(request.common_name, request.organizations))
            .issuer_name(self.cert.subject)
            .public_key(pub)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + request.validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_encipherment=True, key_cert_sign=False,
                    content_commitment=False, data_encipherment=False, key_agreement=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(list(request.extended_usages)), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.cert.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in request.dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in request.ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())


CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH


@dataclass(frozen=True)
class LeafRequest:
    """What a component certificate says about its holder."""

    common_name: str
    organizations: tuple[str, ...] = ()
    extended_usages: tuple[x509.ObjectIdentifier, ...] = (CLIENT_AUTH,)
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    validity: dt.timedelta = LEAF_VALIDITY
    key: PrivateKey = field(default_factory=new_rsa_key, compare=False, repr=False)


def chains_to(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """True when ``cert`` was issued and signed by ``ca_cert``."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, Exception):  # InvalidSignature is not a ValueError
        return False
    return True


def common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def organizations(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def extended_usages(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return []


def same_public_key(a: object, b: object) -> bool:
    """True when two public keys are the same key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(a.public_bytes(*fmt) == b.public_bytes(*fmt))  # type: ignore[attr-defined]
