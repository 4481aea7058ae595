"""The learner's CertificateSigningRequest manifest (``jane-csr.yaml``) and what can be wrong in it.

Pure code (PyYAML; spec.request is decoded by ``graders.request``). The checks on ``signerName`` and ``usages`` are shared with the
object in the cluster, which may have been created from another file: each takes the subject of
its sentence ("jane-csr.yaml", "The CSR jane in the cluster").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from cluster import pki
from graders import files, request
from graders.expect import StepFailure, because, fail
from graders.files import read_bytes
from graders.request import one_line_base64

API_VERSION = "certificates.k8s.io/v1"
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
#: What the kube-apiserver-client signer accepts (client auth is required), as its controller
#: checks them (pkg/controller/certificates/signer: validAPIServerClientUsages).
ALLOWED_USAGES = ("client auth", "digital signature", "key encipherment")
_ALLOWED_TEXT = "client auth, digital signature and key encipherment"
# A line of `base64` output (76 columns) that a heredoc put at the start of a line.
_WRAPPED_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]{40,}={0,2}$")


def load(path: Path, user: str) -> dict[str, Any]:
    """The CertificateSigningRequest document of ``path`` (the one named ``user`` if several)."""
    name = path.name
    hint = f"Write the CertificateSigningRequest for {user} to {name}, then kubectl apply -f {name}"
    text = read_bytes(path, hint).decode("utf-8", errors="replace")
    if not text.strip():
        fail(f"{name} is empty; it must hold the CertificateSigningRequest manifest.", hint)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        fail(_yaml_error(name, text, err), one_line_base64(f"{user}.csr"))
    csrs = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CertificateSigningRequest"]
    if not csrs:
        kinds = ", ".join(sorted({str(d.get("kind")) for d in docs if isinstance(d, dict)})) or "none"
        fail(f"{name} has no document of kind CertificateSigningRequest (kinds found: {kinds}).", hint)
    named = [d for d in csrs if _get(d, "metadata", "name") == user]
    return (named or csrs)[0]


def _yaml_error(name: str, text: str, err: yaml.YAMLError) -> str:
    for line in text.splitlines():
        key, _, value = line.partition("request:")
        if not key.strip() and value.strip() and request.SHELL_TEXT.search(value):
            return (f"spec.request in {name} is the shell text {value.strip()} itself, not its output: the "
                    "shell never ran it (and YAML cannot read it). A quoted heredoc (<<'EOF') keeps it as "
                    "text, and so does an editor; use an unquoted <<EOF, or paste the output of the command.")
    for number, line in enumerate(text.splitlines(), start=1):
        if _WRAPPED_BASE64_LINE.match(line):
            return (f"{name} is not valid YAML: line {number} continues spec.request on a new line "
                    "(base64 wraps at 76 characters); the request must be on one line.")
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"{name} is not valid YAML ({problem}{where})."


def _get(doc: dict[str, Any], *keys: str) -> Any:
    value: Any = doc
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def check_api_version(doc: dict[str, Any], name: str) -> None:
    """certificates.k8s.io/v1, the only version served since Kubernetes 1.22."""
    version = doc.get("apiVersion")
    hint = (f"Set apiVersion: {API_VERSION} and spec.signerName: {KUBE_APISERVER_CLIENT} in {name}, "
            f"then kubectl apply -f {name}")
    if version == "certificates.k8s.io/v1beta1":
        fail(f"{name} uses certificates.k8s.io/v1beta1, which is not served since Kubernetes 1.22; "
             f"use {API_VERSION} and add spec.signerName.", hint)
    if version != API_VERSION:
        fail(f"{name} has apiVersion {version!r}; a CertificateSigningRequest is {API_VERSION}.", hint)


def check_name(doc: dict[str, Any], name: str, user: str) -> None:
    """metadata.name is the user's name, which the lab looks the CSR up by."""
    got = _get(doc, "metadata", "name")
    if got != user:
        fail(f"{name} names the CSR {got!r}; the lab looks for the CSR named {user}.",
             f"Set metadata.name: {user} in {name}, then kubectl apply -f {name}")


def check_request(doc: dict[str, Any], name: str, csr_path: Path, key_path: Path | None = None,
                  user: str | None = None) -> None:
    """spec.request is the base64 of a PEM request for the learner's key (and CN=``user``), on one line.

    Decoded in stages (``graders.request``), each failing with its own message. With ``key_path``
    the request must be for that key; a request that differs from ``csr_path`` byte for byte is
    right all the same when it is for that key and names ``user`` (jane.csr made again, same key).
    Without ``key_path``, it must decode to ``csr_path`` exactly.
    """
    csr_name = csr_path.name
    src = request.RequestSource(f"spec.request in {name}", csr_name, key_path.name if key_path else "",
                                f"{one_line_base64(csr_name)}, and paste the output as spec.request")
    decoded = request.decode_text(_get(doc, "spec", "request"), src)
    parsed = request.load_request(decoded, src)
    if key_path is not None:
        try:
            key = files.load_private_key(key_path, "")
        except StepFailure as err:
            fail(f"spec.request in {name} cannot be checked against {key_path.name}, because {because(err)}.",
                 err.hint)
        request.check_key(parsed, key, src, src.hint)
        cn = pki.common_name(parsed.subject)
        if user is not None and cn != user:
            fail(f"spec.request in {name} is a request for CN={cn}; it must name the user: CN={user}.", src.hint)
        return
    try:
        expected = read_bytes(csr_path, src.hint)
    except StepFailure as err:
        fail(f"spec.request in {name} cannot be compared with {csr_name}, because {because(err)}.",
             err.hint)
    if decoded != expected:
        fail(f"spec.request in {name} does not decode to {csr_name} (another request, or "
             f"{csr_name} changed since).", src.hint)


def check_signer(signer: object, subject: str, hint: str) -> None:
    """``signer`` is kubernetes.io/kube-apiserver-client, the signer of user certificates."""
    if not signer:
        fail(f"{subject} has no spec.signerName; {API_VERSION} requires one: "
             f"signerName: {KUBE_APISERVER_CLIENT}.", hint)
    if signer != KUBE_APISERVER_CLIENT:
        fail(f"{subject} has signerName {signer}; a user's client certificate comes from "
             f"{KUBE_APISERVER_CLIENT}.", hint)


def check_usages(usages: object, subject: str, hint: str) -> None:
    """``usages`` include client auth and nothing the kube-apiserver-client signer refuses."""
    if not usages or not isinstance(usages, list):
        fail(f"{subject} has no spec.usages; {API_VERSION} requires them: usages: [client auth].", hint)
    refused = [str(u) for u in usages if u not in ALLOWED_USAGES]
    if refused:
        listed = ", ".join(f"'{u}'" for u in refused)
        fail(f"{subject} asks for the usage {listed}; the {KUBE_APISERVER_CLIENT} signer allows only "
             f"{_ALLOWED_TEXT}, and marks such a CSR Failed.", hint)
    if "client auth" not in usages:
        fail(f"{subject} does not ask for the usage 'client auth', which the "
             f"{KUBE_APISERVER_CLIENT} signer requires.", hint)


def signer_of(doc: dict[str, Any]) -> object:
    return _get(doc, "spec", "signerName")


def usages_of(doc: dict[str, Any]) -> object:
    return _get(doc, "spec", "usages")


def explain_refusal(code: int, reason: str, message: str, name: str, user: str,
                    key_file: str, csr_file: str) -> tuple[str, str]:
    """The API server's refusal of the manifest ``name``, quoted and translated: (sentence, hint).

    ``code``, ``reason`` and ``message`` are the API server's Status (``kubectl apply`` prints the
    same message). CertificateSubjectRestriction, an admission plugin on by default, refuses a
    kube-apiserver-client CSR whose subject has the group system:masters
    (plugin/pkg/admission/certificates/subjectrestriction/admission.go).
    """
    quoted = " ".join(message.split())[:300]
    apply = f"kubectl apply -f {name}"
    redo = (f'openssl req -new -key {key_file} -subj "/CN={user}" -out {csr_file}, put the output of '
            f"base64 -w0 {csr_file} in spec.request of {name}, then {apply}")
    if code == 403 and "system:masters" in message:
        return (f"The API server refuses {name} ({code} {reason}: \"{quoted}\"): the admission plugin "
                "CertificateSubjectRestriction forbids asking the kube-apiserver-client signer for the group "
                "system:masters (O=system:masters in the request's subject), which would be cluster-admin. "
                f"Make the request without O=system:masters.", redo)
    if code == 403:
        return (f"The API server refuses {name} ({code} {reason}: \"{quoted}\").",
                f"Create it with the admin kubeconfig: KUBECONFIG=$(ckslab env | sed -n 's/^export KUBECONFIG=//p') {apply}")
    if code == 422:
        return (f"The API server refuses {name} as invalid ({quoted}); fix the fields it names.",
                f"Edit {name}, then {apply}")
    return (f"The API server refuses {name} ({code} {reason}: \"{quoted}\").", f"Edit {name}, then {apply}")
