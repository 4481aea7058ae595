"""Kubeconfig documents, built as plain data and written with PyYAML. Pure code."""

from __future__ import annotations

import base64
from typing import Any

import yaml
from cryptography import x509


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build(
    *,
    server: str,
    ca_pem: bytes,
    user: str,
    client_cert_pem: bytes,
    client_key_pem: bytes,
    cluster: str = "ckslab",
) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user and one context, credentials embedded."""
    context = f"{user}@{cluster}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client_cert_pem),
                    "client-key-data": _b64(client_key_pem),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def dump(config: dict[str, Any]) -> bytes:
    return yaml.safe_dump(config, sort_keys=False).encode()


def client_certificate(config: dict[str, Any]) -> x509.Certificate:
    """The first user's embedded client certificate; KeyError/ValueError when there is none."""
    data = config["users"][0]["user"]["client-certificate-data"]
    return x509.load_pem_x509_certificate(base64.b64decode(data))
