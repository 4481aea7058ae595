"""Fake container-engine clients: small ``docker``/``podman`` scripts that answer as real ones do.

Each records every call, one per line, in ``<name>.calls`` next to it, so a test can prove what was (not)
asked — for instance that the availability check never pulls. Use :func:`use_engine`, which
points ``$CKSLAB_ENGINE`` at the fake and empties PATH of everything else, so the host's own
docker (Debian's /usr/bin/docker, say) can never answer in its place.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DAEMON_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
# What Debian's docker 20.10 client prints for a failed `info --format` (the bug of issue 9).
TEMPLATE_ERROR = ('template: :1:2: executing "" at <.ServerVersion>: reflect: indirection through nil pointer '
                  "to embedded struct field Info")
CAPS_ERROR = ("docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc "
              "create failed: unable to start container process: unable to apply caps: operation not permitted: "
              "unknown.\n\nRun 'docker run --help' for more information")

_COMMON = 'echo "$*" >> "$0.calls"\n'
_PARTS = {
    "answers": 'version) echo 28.2.2;; info) echo 4.3.1;;',
    "down": f'version) echo "{DAEMON_DOWN}" >&2; exit 1;; info) echo "{TEMPLATE_ERROR}" >&2; exit 1;;',
    "denied": 'version) echo "permission denied while trying to connect to the Docker daemon socket at '
              'unix:///var/run/docker.sock: Get \\"http://%2Fvar%2Frun%2Fdocker.sock/v1.24/version\\": dial unix '
              '/var/run/docker.sock: connect: permission denied" >&2; exit 1;;',
    "privileged": "import) /bin/cat >/dev/null; echo sha256:0f0f;; rmi) exit 0;; run) exit 127;;",
    "no caps": f"import) /bin/cat >/dev/null; echo sha256:0f0f;; rmi) exit 0;; run) printf '%s\\n' \"{CAPS_ERROR}\" >&2; "
               "exit 125;;",
    "image": "image) exit 0;;",
    # podman 4.3 on this host until containers.conf lowers its ulimits (cluster/podman.py)
    "rlimit": 'import) /bin/cat >/dev/null; echo 0f0f;; rmi) exit 0;; run) [ -s "$CONTAINERS_CONF" ] && exit 127; '
              'echo "Error: runc: runc create failed: unable to start container process: error during container '
              'init: error setting rlimits for ready process: error setting rlimit type 7: operation not permitted: '
              'OCI permission denied" >&2; exit 126;;',
    "no image": 'image) echo "Error: No such image: kindest/node:v1.37.0" >&2; exit 1;;',
    "pull": 'pull) echo "Error response from daemon: Get \\"https://registry-1.docker.io/v2/\\": dial tcp: lookup '
            'registry-1.docker.io: no such host" >&2; exit 1;;',
}
#: The engines the tests play, as the parts of their behaviour.
ENGINES = {
    "usable": ("answers", "privileged", "image", "pull"),
    "usable without image": ("answers", "privileged", "no image", "pull"),
    "stopped": ("down", "pull"),
    "denied": ("denied",),
    "no caps": ("answers", "no caps", "image", "pull"),
    "podman without conf": ("answers", "rlimit", "image"),
}


def write_engine(folder: Path, engine: str, name: str = "docker") -> Path:
    """Write the fake client ``folder/name`` playing ``engine`` (a key of ENGINES)."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = " ".join(_PARTS[part] for part in ENGINES[engine])
    script = folder / name
    script.write_text(f'#!/bin/sh\n{_COMMON}case "$1" in {cases} *) echo "fake {name}: unexpected $*" >&2; '
                      "exit 99;; esac\n")
    script.chmod(0o755)
    return script


def calls(script: Path) -> list[str]:
    """Every call the fake received, in order."""
    log = script.with_name(script.name + ".calls")
    return log.read_text().splitlines() if log.exists() else []


def use_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: str | None, name: str = "docker") -> Path:
    """Make ``engine`` (None: no engine at all) the only one this process and its children can find."""
    folder = tmp_path / f"engine-{(engine or 'none').replace(' ', '-')}"
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PATH", str(folder))  # the fakes use /bin/sh by absolute path; nothing else is needed
    monkeypatch.delenv("CKSLAB_ENGINE", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    if engine is None:
        return folder / name
    return write_engine(folder, engine, name)
