"""Podman's settings for a host like ours, written where none exist (used by ``ckslab kind-ready``).

kind's podman provider mounts the host's ``/lib/modules`` into every node (its provision.go:
``--volume /lib/modules:/lib/modules:ro``); Docker creates a missing bind-mount source, podman
refuses it ("statfs /lib/modules: no such file or directory"), and a kernel built without loadable
modules (this project's VMs) has no such folder: kind-ready creates it, empty (LIB_MODULES).

Podman 4.3 asks a container for more open files than this host's hard limit allows ("error setting
rlimit type 7: operation not permitted"), and its default OCI runtime crun refuses the host's
hybrid cgroup v1 layout. ``default_ulimits`` within the hard limits and ``runtime = "runc"`` in
containers.conf fix both (containers.conf(5): [containers] default_ulimits, [engine] runtime).
A containers.conf that already has settings is never rewritten: TOML has no comment-preserving writer
in the standard library, so the lines to add are shown instead.
"""

from __future__ import annotations

import os
import resource
import tomllib
from pathlib import Path

from cluster.dockerd import EngineSetupFailed

CONTAINERS_CONF = Path("/etc/containers/containers.conf")


def conf_path() -> Path:
    """The file podman reads its settings from: ``$CONTAINERS_CONF``, else CONTAINERS_CONF."""
    return Path(os.environ.get("CONTAINERS_CONF") or CONTAINERS_CONF)


#: Podman 4.3.1 lowers its own RLIMIT_NPROC to 32768 at start (seen with strace: setrlimit(RLIMIT_NPROC,
#: {32768, 32768})), so a container can never get more processes than that, whatever the host allows.
PODMAN_NPROC_CEILING = 32768
#: Failures of the privileged probe that these settings fix.
FIXABLE = ("setting rlimit", "crun")


def wanted_settings() -> str:
    """The containers.conf text: ulimits at this process's hard limits (nproc at most 32768), and runc."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(_finite(resource.getrlimit(resource.RLIMIT_NPROC)[1]), PODMAN_NPROC_CEILING)
    limits = ", ".join(f'"{name}={_limit(value)}:{_limit(value)}"' for name, value in
                       (("nofile", nofile), ("nproc", nproc)))
    return ("# written by ckslab kind-ready: ulimits within this host's hard limits, and runc\n"
            f"[containers]\ndefault_ulimits = [{limits}]\n\n[engine]\nruntime = \"runc\"\n")


def _finite(value: int) -> int:
    return PODMAN_NPROC_CEILING if value == resource.RLIM_INFINITY else value


def _limit(value: int) -> str:
    return "-1" if value == resource.RLIM_INFINITY else str(value)


def configure(path: Path | None = None) -> str | None:
    """Write ``path`` (default conf_path()) with wanted_settings(); None when it has both settings."""
    path = path or conf_path()
    if path.exists() and path.read_text().strip():  # an empty file is as good as none
        try:
            current = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise EngineSetupFailed(f"cannot read {path}: {err}.", f"Fix {path}, then run `make kind-ready` "
                                    "again.") from err
        if current.get("containers", {}).get("default_ulimits") and current.get("engine", {}).get("runtime"):
            return None
        raise EngineSetupFailed(f"{path} exists without default_ulimits and runtime, which podman needs here.",
                                f"Add these settings to it, then run `make kind-ready` again:\n{wanted_settings()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(wanted_settings())
    return f"wrote {path}: podman's default_ulimits within this host's hard limits, and runtime = \"runc\""


#: The folder kind's podman provider mounts into every node.
LIB_MODULES = Path("/lib/modules")


def ensure_lib_modules(path: Path | None = None) -> str | None:
    """Create ``path`` (default LIB_MODULES) empty where it is missing; the sentence saying so, else None."""
    path = path or LIB_MODULES
    if path.exists():
        return None
    path.mkdir(parents=True)
    return (f"created {path}, empty (this kernel has no loadable modules): kind's podman nodes mount it, and podman "
            "refuses a missing mount source")
