"""spec.request decoded in stages, each mistake made with the learner's own commands (no cluster).

openssl makes the key and request, bash writes jane-csr.yaml as a learner does (a quoted or an
unquoted heredoc, base64 with and without -w0, the PEM body alone), and the manifest's checks
must name the stage that fails: shell text, wrapped lines, DER body, empty value, another key.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from graders import manifest
from graders.expect import StepFailure

HEAD = """apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: jane
spec:
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
"""


def sh(ws: Path, script: str) -> None:
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ws, check=True, capture_output=True, text=True)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with jane.key and jane.csr for CN=jane, made with openssl."""
    sh(tmp_path, 'openssl genrsa -out jane.key 2048 && openssl req -new -key jane.key -subj "/CN=jane" -out jane.csr')
    return tmp_path


def request_failure(ws: Path) -> str:
    """The message of the first failing check of jane-csr.yaml's spec.request ("" when it passes)."""
    doc = manifest.load(ws / "jane-csr.yaml", "jane")
    try:
        manifest.check_request(doc, "jane-csr.yaml", ws / "jane.csr", ws / "jane.key", "jane")
    except StepFailure as err:
        assert err.hint.startswith("base64 -w0 jane.csr"), err.hint
        return err.message
    return ""


def heredoc(ws: Path, request_line: str, quoted: bool) -> None:
    """jane-csr.yaml written by `cat > jane-csr.yaml <<EOF` (or <<'EOF'), request line included."""
    marker = "'EOF'" if quoted else "EOF"
    sh(ws, f"cat > jane-csr.yaml <<{marker}\n{HEAD}  request: {request_line}\nEOF\n")


def test_the_right_request_passes(ws: Path) -> None:
    heredoc(ws, "$(base64 -w0 jane.csr)", quoted=False)
    assert request_failure(ws) == ""


def test_a_request_made_again_with_the_same_key_passes(ws: Path) -> None:
    heredoc(ws, "$(base64 -w0 jane.csr)", quoted=False)
    sh(ws, 'openssl req -new -key jane.key -subj "/CN=jane" -out jane.csr')  # jane.csr made again since
    assert request_failure(ws) == ""


def test_shell_text_from_a_quoted_heredoc(ws: Path) -> None:
    heredoc(ws, "$(cat jane.csr | base64 | tr -d '\\n')", quoted=True)
    assert "$(cat jane.csr" in (ws / "jane-csr.yaml").read_text()  # the shell kept it as text
    message = request_failure(ws)
    assert message.startswith("spec.request in jane-csr.yaml is the shell text $(cat jane.csr | base64 | "
                              "tr -d '\\n') itself, not its output: the shell never ran it.")
    assert "quoted heredoc (<<'EOF'" in message and "unquoted <<EOF" in message
    assert "several lines" not in message


def test_shell_text_typed_in_an_editor(ws: Path) -> None:
    (ws / "jane-csr.yaml").write_text(HEAD + "  request: `base64 -w0 jane.csr`\n")
    with pytest.raises(StepFailure) as info:
        manifest.load(ws / "jane-csr.yaml", "jane")
    assert info.value.message.startswith("spec.request in jane-csr.yaml is the shell text `base64 -w0 jane.csr` "
                                         "itself, not its output: the shell never ran it (and YAML cannot read it).")


def test_base64_wrapped_over_lines(ws: Path) -> None:
    sh(ws, f"cat > jane-csr.yaml <<EOF\n{HEAD}  request: $(base64 jane.csr | sed '2,$s/^/    /')\nEOF\n")
    assert request_failure(ws).startswith("spec.request in jane-csr.yaml is split over several lines (base64 wraps "
                                          "at 76 characters unless told -w0)")


def test_wrapped_base64_at_the_start_of_lines_is_a_yaml_error_that_says_so(ws: Path) -> None:
    heredoc(ws, "$(base64 jane.csr)", quoted=False)
    with pytest.raises(StepFailure) as info:
        manifest.load(ws / "jane-csr.yaml", "jane")
    assert "continues spec.request on a new line (base64 wraps at 76 characters)" in info.value.message


def test_der_body_only(ws: Path) -> None:
    # The lines between BEGIN and END, joined: the base64 of the DER request, not of the PEM file.
    heredoc(ws, "$(grep -v -- ----- jane.csr | tr -d '\\n')", quoted=False)
    message = request_failure(ws)
    assert message.startswith("spec.request in jane-csr.yaml is the base64 of the DER body only")
    assert "the whole PEM file, jane.csr, base64-encoded, BEGIN and END lines included" in message


def test_der_file_encoded(ws: Path) -> None:
    sh(ws, "openssl req -in jane.csr -outform DER -out jane.der")
    heredoc(ws, "$(base64 -w0 jane.der)", quoted=False)
    assert "is the base64 of the DER body only" in request_failure(ws)


def test_empty_because_the_file_did_not_exist_yet(ws: Path) -> None:
    sh(ws, "rm jane.csr")
    sh(ws, f"cat > jane-csr.yaml <<EOF\n{HEAD}  request: $(base64 -w0 jane.csr 2>/dev/null || true)\nEOF\n")
    message = request_failure(ws)
    assert message.startswith("spec.request in jane-csr.yaml is empty: it must hold jane.csr encoded in base64.")
    assert "when jane.csr did not exist yet" in message


def test_empty_quoted_value(ws: Path) -> None:
    heredoc(ws, '""', quoted=True)
    assert request_failure(ws).startswith("spec.request in jane-csr.yaml is empty")


def test_another_key(ws: Path) -> None:
    sh(ws, 'openssl genrsa -out other.key 2048 && openssl req -new -key other.key -subj "/CN=jane" -out other.csr')
    heredoc(ws, "$(base64 -w0 other.csr)", quoted=False)
    message = request_failure(ws)
    assert message.startswith("spec.request in jane-csr.yaml is a request for another key than jane.key (CN=jane)")


def test_another_name(ws: Path) -> None:
    sh(ws, 'openssl req -new -key jane.key -subj "/CN=john" -out john.csr')
    heredoc(ws, "$(base64 -w0 john.csr)", quoted=False)
    assert request_failure(ws) == "spec.request in jane-csr.yaml is a request for CN=john; it must name the user: CN=jane."


def test_the_private_key_encoded(ws: Path) -> None:
    heredoc(ws, "$(base64 -w0 jane.key)", quoted=False)
    message = request_failure(ws)
    assert message.startswith("spec.request in jane-csr.yaml holds a private key (PRIVATE KEY), not the request")
    assert "make a new key" in message


def test_encoded_twice(ws: Path) -> None:
    heredoc(ws, "$(base64 -w0 jane.csr | base64 -w0)", quoted=False)
    assert request_failure(ws) == "spec.request in jane-csr.yaml is encoded twice: it decodes to base64 again, not to the PEM file."


def test_the_pem_text_pasted(ws: Path) -> None:
    heredoc(ws, "|\n$(sed 's/^/    /' jane.csr)", quoted=False)
    assert request_failure(ws).startswith("spec.request in jane-csr.yaml holds the PEM text itself")


def test_not_base64(ws: Path) -> None:
    heredoc(ws, "jane.csr", quoted=True)
    assert request_failure(ws).startswith("spec.request in jane-csr.yaml is not valid base64")
