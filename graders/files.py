"""Read the learner's PEM files and say precisely what is wrong with them. Pure code.

Learners mix files up: a certificate saved as the key, an empty ``jane.crt`` because the CSR was
not signed yet, a certificate still base64-encoded, a key encrypted with a passphrase. Each
reader here takes the block of the kind it expects and otherwise fails with a message that names
what the file holds instead. Parsing is ``cryptography``'s; this module only finds the PEM
labels, which ``cryptography`` does not expose.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from graders.expect import fail

MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


class Kind(Enum):
    """What a PEM block holds, as a phrase for messages."""

    PRIVATE_KEY = "a private key"
    CERTIFICATE = "a certificate"
    CSR = "a certificate signing request"
    PUBLIC_KEY = "a public key only"
    OPENSSH_KEY = "an OpenSSH key (from ssh-keygen)"
    OTHER = "something else"


_KINDS = {
    "PRIVATE KEY": Kind.PRIVATE_KEY, "RSA PRIVATE KEY": Kind.PRIVATE_KEY,
    "EC PRIVATE KEY": Kind.PRIVATE_KEY, "DSA PRIVATE KEY": Kind.PRIVATE_KEY,
    "ENCRYPTED PRIVATE KEY": Kind.PRIVATE_KEY,
    "CERTIFICATE": Kind.CERTIFICATE, "TRUSTED CERTIFICATE": Kind.CERTIFICATE,
    "X509 CERTIFICATE": Kind.CERTIFICATE,
    "CERTIFICATE REQUEST": Kind.CSR, "NEW CERTIFICATE REQUEST": Kind.CSR,
    "PUBLIC KEY": Kind.PUBLIC_KEY, "RSA PUBLIC KEY": Kind.PUBLIC_KEY,
    "OPENSSH PRIVATE KEY": Kind.OPENSSH_KEY,
}
#: The label each expected kind is normally written with, for messages.
_LABEL = {Kind.PRIVATE_KEY: "PRIVATE KEY", Kind.CERTIFICATE: "CERTIFICATE",
          Kind.CSR: "CERTIFICATE REQUEST"}
# Written before the key by `openssl ecparam -genkey`; not what the file is about.
_IGNORED = {"EC PARAMETERS"}


@dataclass(frozen=True)
class PemBlock:
    """One ``-----BEGIN label-----`` ... ``-----END label-----`` block of a file."""

    label: str
    text: bytes

    @property
    def kind(self) -> Kind:
        return _KINDS.get(self.label, Kind.OTHER)

    @property
    def encrypted(self) -> bool:
        """PKCS#8 ``ENCRYPTED PRIVATE KEY``, or a traditional key with ``Proc-Type: 4,ENCRYPTED``."""
        return self.label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in self.text


def shown(path: Path) -> str:
    """``path`` as the learner would type it: relative to the current folder when inside it."""
    try:
        relative = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
    return "the current folder" if relative == "." else relative


def blocks(data: bytes) -> list[PemBlock]:
    """The PEM blocks of ``data``, in order."""
    return [PemBlock(m.group(1).decode(), m.group(0)) for m in _BLOCK.finditer(data)]


def read_bytes(path: Path, hint: str) -> bytes:
    """The content of ``path``; fails when it is missing, a folder or unreadable."""
    name = path.name
    if not path.parent.is_dir():
        fail(f"{name} does not exist: there is no folder {shown(path.parent)} yet.", hint)
    if not path.exists():
        fail(f"{name} does not exist in {shown(path.parent)}.", hint)
    if path.is_dir():
        fail(f"{name} is a folder, not a file.", hint)
    try:
        return path.read_bytes()
    except OSError as err:
        fail(f"{name} cannot be read ({err.strerror}).", hint)


def read_pem(path: Path, expected: Kind, hint: str) -> PemBlock:
    """The first block of ``path`` that is of the ``expected`` kind, or a precise failure."""
    name, label = path.name, _LABEL[expected]
    data = read_bytes(path, hint)
    if not data.strip():
        fail(f"{name} is empty; it must hold {expected.value} in PEM.", hint)
    found = [b for b in blocks(data) if b.label not in _IGNORED]
    if not found:
        if _is_base64_of_pem(data):
            fail(f"{name} is still base64-encoded; decode it (base64 -d) so that it starts with "
                 f"-----BEGIN {label}-----.", hint)
        what = "binary (DER?), not PEM" if _is_binary(data) else "not PEM"
        fail(f"{name} is {what}: it has no -----BEGIN {label}----- line.", hint)
    for block in found:
        if block.kind is expected:
            return block
    first = found[0]
    holds = first.kind.value if first.kind is not Kind.OTHER else f"a PEM block labelled {first.label}"
    fail(f"{name} holds {holds}, not {expected.value}.", hint)


def load_private_key(path: Path, hint: str) -> PrivateKeyTypes:
    """The unencrypted private key in ``path``, or a precise failure."""
    block = read_pem(path, Kind.PRIVATE_KEY, hint)
    name = path.name
    if block.encrypted:
        fail(f"{name} is encrypted with a passphrase; a kubeconfig needs an unencrypted key.",
             f"openssl pkey -in {name} -out {name}.new && mv {name}.new {name} "
             f"(asks for the passphrase), or start over: {hint}")
    try:
        return serialization.load_pem_private_key(block.text, password=None)
    except (ValueError, TypeError) as err:
        fail(f"{name} has a {block.label} block that cannot be read ({err}); it may be damaged.", hint)


def load_csr(path: Path, hint: str) -> tuple[PemBlock, x509.CertificateSigningRequest]:
    """The first signing request in ``path`` (with its block), or a precise failure."""
    block = read_pem(path, Kind.CSR, hint)
    try:
        return block, x509.load_pem_x509_csr(block.text)
    except ValueError as err:
        fail(f"{path.name} has a {block.label} block that cannot be read ({err}); it may be damaged.",
             hint)


def load_certificate(path: Path, hint: str) -> x509.Certificate:
    """The first certificate in ``path``, or a precise failure."""
    block = read_pem(path, Kind.CERTIFICATE, hint)
    try:
        return x509.load_pem_x509_certificate(block.text)
    except ValueError as err:
        fail(f"{path.name} has a {block.label} block that cannot be read ({err}); it may be damaged.",
             hint)


def describe_key(key: object) -> str:
    """ "a 2048-bit RSA key", "an EC key on secp256r1 (256 bits)", "an Ed25519 key"..."""
    if isinstance(key, rsa.RSAPrivateKey):
        return f"a {key.key_size}-bit RSA key"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC key on {key.curve.name} ({key.curve.key_size} bits)"
    kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
    return f"an {kind} key" if kind[:1] in "AEIOU" else f"a {kind} key"


def key_weakness(key: object, name: str) -> str | None:
    """Why ``key`` (the file ``name``) is too weak or of a type the lab does not take, else None."""
    strong = f"RSA of at least {MIN_RSA_BITS} bits or EC P-256 or stronger"
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= MIN_EC_BITS:
        return None
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return f"{name} is {describe_key(key)}, which is too weak; use {strong}."
    return f"{name} is {describe_key(key)}; the lab expects {strong}."


def group_or_other_access(path: Path) -> int | None:
    """The permission bits of ``path`` when its group or others may access it, else None."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    return mode if mode & 0o077 else None


def _is_base64_of_pem(data: bytes) -> bool:
    try:
        return base64.b64decode(b"".join(data.split()), validate=True).lstrip().startswith(b"-----BEGIN ")
    except (binascii.Error, ValueError):
        return False


def _is_binary(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
