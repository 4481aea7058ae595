"""Can this machine run kind? Asked of Docker itself, in a fixed order, with one reason.

1. a ``docker`` client on PATH; 2. an engine that answers ``docker info``; 3. the pinned node
image present or pullable; 4. a privileged container from it that starts (what kind's nodes
need; rootless or restricted engines fail here with errors such as "unable to apply caps").
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from cluster.versions import KIND_NODE_IMAGE

#: Seconds for `docker info` to answer: a healthy local engine answers in well under one.
INFO_TIMEOUT = 10.0
#: Seconds to pull the node image (about 400 MB) when it is missing.
PULL_TIMEOUT = 600.0


@dataclass(frozen=True)
class DockerCheck:
    usable: bool
    reason: str


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def check(image: str = KIND_NODE_IMAGE) -> DockerCheck:
    """Whether Docker can run kind's node containers here, and if not, why."""
    docker = shutil.which("docker")
    if docker is None:
        return DockerCheck(False, "Docker is not installed (no `docker` on PATH)")
    try:
        info = _run([docker, "info", "--format", "{{.ServerVersion}}"], INFO_TIMEOUT)
        if info.returncode != 0:
            return DockerCheck(False, f"the Docker engine does not answer: {_first_line(info.stderr)}")
        present = _run([docker, "image", "inspect", image], INFO_TIMEOUT).returncode == 0
        if not present:
            pull = _run([docker, "pull", image], PULL_TIMEOUT)
            if pull.returncode != 0:
                return DockerCheck(False, f"cannot pull the node image {image}: {_first_line(pull.stderr)}")
        probe = _run([docker, "run", "--rm", "--privileged", "--entrypoint", "true", image], 120)
        if probe.returncode != 0:
            return DockerCheck(False, "Docker answers but cannot run kind's privileged node containers: "
                               f"{_first_line(probe.stderr)}")
    except subprocess.TimeoutExpired as err:
        return DockerCheck(False, f"Docker did not answer `{' '.join(map(str, err.cmd[1:3]))}` in {err.timeout:.0f}s")
    return DockerCheck(True, f"Docker {info.stdout.strip()} runs privileged containers")
