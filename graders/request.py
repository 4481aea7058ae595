"""``spec.request`` decoded in stages, each with its own diagnosis. Pure code.

A CertificateSigningRequest carries the PEM file of the request, base64-encoded (a ``[]byte``
field in the API). Learners get it wrong in distinct ways, and each stage below names one:
nothing there (the command printed nothing), the shell text ``$(cat jane.csr | base64 ...)``
itself (a quoted heredoc, or an editor: the shell never ran it), the PEM text pasted as is,
base64 wrapped over lines, not base64 at all, base64 of the DER body only (the lines between
``-----BEGIN`` and ``-----END`` rather than the whole file), base64 of the base64, another kind
of PEM (the private key!), a damaged request, and a request for another key than the learner's.
The order is the order of decoding: base64 -> PEM -> CSR -> public key.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography import x509

from cluster import pki
from graders import files
from graders.expect import fail

# What a shell would have expanded: $(...), `...`, ${...}, or the commands of the usual pipeline.
SHELL_TEXT = re.compile(r"\$\(|\$\{|`|\|\s*(base64|tr)\b|\bcat\s+\S+\.csr\b")


@dataclass(frozen=True)
class RequestSource:
    """Where the request was read and what it should be: for the learner's sentences and hints."""

    #: The subject of the messages: "spec.request in jane-csr.yaml".
    where: str
    #: The learner's request file, jane.csr (it may be gone: its name is still what to encode).
    csr_name: str
    #: The learner's key file, jane.key.
    key_name: str
    #: What fixes the request: the command that encodes it, and what to do with its output.
    hint: str


def one_line_base64(csr_name: str) -> str:
    """The command that prints a file in base64 on one line (GNU, then macOS)."""
    return f'base64 -w0 {csr_name}  (macOS: base64 -i {csr_name} | tr -d "\\n")'


def decode_text(value: object, src: RequestSource) -> bytes:
    """The bytes ``value`` (spec.request as written in YAML) encodes, or a StepFailure naming the stage."""
    where, hint, csr_name = src.where, src.hint, src.csr_name
    if value is None:
        fail(f"{where} is empty: it must hold {csr_name} encoded in base64. An empty value is what "
             f"$(base64 -w0 {csr_name}) gives when {csr_name} did not exist yet as the shell ran it.", hint)
    if not isinstance(value, str):
        fail(f"{where} is a YAML {type(value).__name__}, not a string of base64.", hint)
    text = value.strip()
    if not text:
        fail(f"{where} is empty: it must hold {csr_name} encoded in base64. An empty value is what "
             f"$(base64 -w0 {csr_name}) gives when {csr_name} did not exist yet as the shell ran it.", hint)
    if SHELL_TEXT.search(text):
        fail(f"{where} is the shell text {_short(text)} itself, not its output: the shell never ran it. "
             "A quoted heredoc (<<'EOF' or <<\"EOF\") keeps $(...) as text, and so does an editor; use an "
             "unquoted <<EOF, or paste the output of the command.", hint)
    if "-----BEGIN" in text:
        fail(f"{where} holds the PEM text itself; it must be the base64 of the whole of {csr_name}.", hint)
    if any(c.isspace() for c in text):
        fail(f"{where} is split over several lines (base64 wraps at 76 characters unless told -w0); "
             "it must be one line.", hint)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        fail(f"{where} is not valid base64 ({err}).", hint)


def load_request(decoded: bytes, src: RequestSource) -> x509.CertificateSigningRequest:
    """The signing request in ``decoded`` (the PEM file), or a StepFailure naming what it is instead."""
    where, hint, csr_name = src.where, src.hint, src.csr_name
    found = files.blocks(decoded)
    if not found:
        if _is_der_request(decoded):
            fail(f"{where} is the base64 of the DER body only (the lines between -----BEGIN CERTIFICATE "
                 f"REQUEST----- and -----END CERTIFICATE REQUEST-----, decoded); the API wants the whole "
                 f"PEM file, {csr_name}, base64-encoded, BEGIN and END lines included.", hint)
        if _is_base64_of_pem(decoded):
            fail(f"{where} is encoded twice: it decodes to base64 again, not to the PEM file.", hint)
        fail(f"{where} decodes to something that is not a PEM file (no -----BEGIN line); it must be "
             f"{csr_name} encoded in base64.", hint)
    csrs = [b for b in found if b.kind is files.Kind.CSR]
    if not csrs:
        first = found[0]
        if first.kind is files.Kind.PRIVATE_KEY:
            fail(f"{where} holds a private key ({first.label}), not the request: it must be {csr_name}. "
                 f"A private key never leaves its owner; if this manifest was sent anywhere, make a new "
                 f"key.", hint)
        holds = first.kind.value if first.kind is not files.Kind.OTHER else f"a PEM block labelled {first.label}"
        fail(f"{where} holds {holds}, not a certificate signing request; it must be {csr_name}.", hint)
    block = csrs[0]
    if block.label != "CERTIFICATE REQUEST":
        fail(f"{where} holds a request labelled {block.label}; the Kubernetes API accepts only "
             "-----BEGIN CERTIFICATE REQUEST-----.", hint)
    try:
        return x509.load_pem_x509_csr(block.text)
    except ValueError as err:
        fail(f"{where} holds a damaged CERTIFICATE REQUEST block ({err}).", hint)


def check_key(request: x509.CertificateSigningRequest, key: object, src: RequestSource, hint: str) -> None:
    """``request`` is for ``key`` (the learner's private key), or a StepFailure that says so."""
    public = getattr(key, "public_key")()
    if not pki.same_public_key(request.public_key(), public):
        cn = pki.common_name(request.subject)
        fail(f"{src.where} is a request for another key than {src.key_name} (CN={cn}): a certificate "
             f"issued for it would not work with {src.key_name}. It was made with another key, or "
             f"{src.key_name} was made again since.", hint)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _is_der_request(data: bytes) -> bool:
    try:
        x509.load_der_x509_csr(data)
    except ValueError:
        return False
    return True


def _is_base64_of_pem(data: bytes) -> bool:
    try:
        return base64.b64decode(b"".join(data.split()), validate=True).lstrip().startswith(b"-----BEGIN ")
    except (binascii.Error, ValueError):
        return False
