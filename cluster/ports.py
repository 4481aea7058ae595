"""Free TCP ports on 127.0.0.1, preferring the well-known ones."""

from __future__ import annotations

import socket


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick(preferred: int, avoid: set[int], host: str = "127.0.0.1") -> int:
    """``preferred`` when it is free and not in ``avoid``, else a free ephemeral port."""
    if preferred not in avoid and is_free(preferred, host):
        return preferred
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
