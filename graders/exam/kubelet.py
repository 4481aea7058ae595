"""What the kubelet tasks' graders read on the node: the certificate its port 10250 serves, its files.

The served certificate comes from a TLS handshake with the kubelet itself (``openssl s_client`` on the
node, through ``Node.exec``: the engine's exec on kind), not from a file it may not be using. The
node must run a kubelet (``Node.runs_kubelet``): a local plane's node has none, so work looked for
there is said to be missing, not an error.
"""

from __future__ import annotations

from cryptography import x509

from cluster import pki
from cluster.backends.node import Node
from cluster.errors import CkslabError
from graders.expect import fail

#: The kubelet's HTTPS port (KubeletConfiguration.port's default, which kind and kubeadm keep).
KUBELET_PORT = 10250
#: Prints the first certificate the kubelet presents in a handshake, as PEM (nothing when none).
_HANDSHAKE = (f"echo | openssl s_client -connect 127.0.0.1:{KUBELET_PORT} 2>/dev/null "
              "| sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'")


def kubelet_node(node: Node) -> Node:
    """``node``, when it runs a kubelet; a StepFailure saying this cluster has none otherwise."""
    if not node.runs_kubelet:
        fail("this cluster's node runs no kubelet (a local control plane): the task's work cannot be here.",
             "Do it in the task's context: kubectl config use-context cks-k")
    return node


def served_certificate(node: Node) -> x509.Certificate | None:
    """The certificate the kubelet presents on port 10250 of its node, or None when it serves none."""
    try:
        done = node.exec("sh", "-c", _HANDSHAKE, timeout=30)
    except CkslabError as err:
        fail(f"could not check: {err.message}", err.hint)
    if not done.stdout.strip():
        return None
    try:
        return x509.load_pem_x509_certificate(done.stdout)
    except ValueError:
        return None


def describe(cert: x509.Certificate | None, ca: x509.Certificate) -> str:
    """"a certificate for CN=.. issued by CN=.. (the cluster CA | not the cluster CA)", or "no certificate"."""
    if cert is None:
        return f"no certificate (no TLS on port {KUBELET_PORT})"
    signed = "signed by the cluster CA" if pki.chains_to(cert, ca) else "not signed by the cluster CA"
    return f"a certificate for {cert.subject.rfc4514_string()} issued by {cert.issuer.rfc4514_string()} ({signed})"
