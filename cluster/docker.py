"""Can this machine run kind's node containers? Asked of the container engine, in a fixed order.

1. a client: ``docker`` on PATH, else ``podman`` (kind's podman provider); 2. an engine that
answers ``<client> version``; 3. a privileged container that the engine really starts (what kind's
nodes need; engines on hosts with a reduced capability bounding set fail here with "unable to
apply caps"); 4. whether the node image is present — looked up only, never pulled: the first pull
(about 400 MB) belongs to ``make up``/``make kind-ready``, where its progress can be shown.

Each failure is one sentence (``reason``) and one fix (``fix``). The engine's command can be
forced with ``$CKSLAB_ENGINE`` (a path or a name on PATH), which also keeps tests off the host's
engine.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import uuid
from dataclasses import dataclass

from cluster.versions import KIND_NODE_IMAGE

#: Seconds for ``docker version`` to answer: a healthy local engine answers in well under one.
INFO_TIMEOUT = 10.0
#: Seconds for each step of the privileged probe (import an empty image, run it, remove it).
PROBE_TIMEOUT = 60.0
#: The program the probe asks for; it does not exist in the empty probe image, on purpose.
PROBE_ENTRYPOINT = "/ckslab-privileged-probe"
#: ``docker run``'s exit status when the container started but its command does not exist
#: (docs.docker.com/reference/cli/docker/container/run/#exit-status; podman uses the same).
COMMAND_NOT_FOUND = 127

START_FIX = "Start it: `make kind-ready` (or `sudo systemctl start docker`)."
INSTALL_FIX = "Run `make kind-ready`, which installs and starts an engine where it can or prints the command to run."


@dataclass(frozen=True)
class EngineCheck:
    """What the container engine answered.

    ``usable`` is True when the engine answers and starts privileged containers (kind can create
    nodes); the node image may still be absent (``image_present`` False: pull or build it).
    """

    usable: bool
    #: One sentence: what was found (and, when not usable, what is wrong).
    reason: str
    #: One sentence saying what to do; "" when usable.
    fix: str = ""
    #: kind's provider for this engine: "docker" or "podman" ("" when no client was found).
    provider: str = ""
    #: The client program that answered (absolute path), "" when none was found.
    command: str = ""
    #: The engine's server version, "" when it did not answer.
    version: str = ""
    #: True when a client is installed but its engine does not answer (stopped daemon).
    stopped: bool = False
    #: The node image that was looked up, and whether the engine has it; None when not looked up.
    image: str = ""
    image_present: bool | None = None


#: The old name: kept so callers written against ``docker.DockerCheck`` keep working.
DockerCheck = EngineCheck


def engine_commands() -> list[tuple[str, str]]:
    """The clients to ask, in order, as (provider, absolute path).

    ``$CKSLAB_ENGINE`` alone when set (a path or a name on PATH); else ``docker`` then ``podman``,
    those found on PATH.
    """
    forced = os.environ.get("CKSLAB_ENGINE")
    if forced:
        path = shutil.which(forced)
        return [("podman" if os.path.basename(path).startswith("podman") else "docker", path)] if path else []
    found = [(provider, shutil.which(provider)) for provider in ("docker", "podman")]
    return [(provider, path) for provider, path in found if path is not None]


def engine_command() -> tuple[str, str] | None:
    """The first client engine_commands() finds (provider, path); None when there is none."""
    commands = engine_commands()
    return commands[0] if commands else None


def _run(args: list[str], timeout: float, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, input=stdin if stdin is not None else b"",
                          timeout=timeout, check=False)
    return subprocess.CompletedProcess(args, done.returncode, done.stdout.decode(errors="replace"),
                                       done.stderr.decode(errors="replace"))


def what_is_wrong(stderr: str) -> str:
    """The one line of an engine client's error output that says what is wrong.

    Clients print usage hints and wrapped errors around it; the line naming the daemon wins,
    then one with "Error"/"error", then the last non-empty line. Trailing dots are dropped.
    """
    lines = [_logged_message(line.strip()) for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Run '", "See '"))]
    if not lines:
        return "no error message"
    for marker in ("Cannot connect to", "permission denied", "Is the docker daemon running", "rror"):
        for line in lines:
            if marker in line:
                return line.rstrip(".").removesuffix(". Is the docker daemon running?").rstrip(".")
    return lines[-1].rstrip(".")


def _logged_message(line: str) -> str:
    """The msg of a logrus line (podman: ``time="..." level=error msg="..."``), else the line."""
    if line.startswith("time=") and ' msg="' in line:
        return line.split(' msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return line


def _empty_image_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        root = tarfile.TarInfo("./")
        root.type, root.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(root)
    return buffer.getvalue()


def privileged_probe(command: str) -> str | None:
    """Start a privileged container from an empty image; None when it started, else the error.

    The image holds no program, so the container's start goes through everything runc (or crun)
    does for a privileged container — namespaces, every capability, devices — and ends at the exec
    of a missing command: exit status 127. Any earlier failure (125) is what kind would hit. The
    image is tagged uniquely and removed, so nothing is left behind and parallel checks never clash.
    """
    tag = f"ckslab-engine-probe:{uuid.uuid4().hex[:12]}"
    imported = _run([command, "import", "-", tag], PROBE_TIMEOUT, stdin=_empty_image_tar())
    if imported.returncode != 0:
        return f"cannot create the probe image: {what_is_wrong(imported.stderr)}"
    try:
        probe = _run([command, "run", "--rm", "--privileged", "--network", "none",
                      "--entrypoint", PROBE_ENTRYPOINT, tag], PROBE_TIMEOUT)
    finally:
        _run([command, "rmi", "--force", tag], PROBE_TIMEOUT)
    if probe.returncode == COMMAND_NOT_FOUND:
        return None
    return what_is_wrong(probe.stderr) if probe.stderr.strip() else f"exit status {probe.returncode}"


def server_version(provider: str, command: str) -> tuple[str, str]:
    """(the engine's version, "") when it answers, else ("", the line of its error that matters)."""
    # `version` fails with the daemon's own message; Debian's 20.10 client turns a failed
    # `info --format` into a template error ("template: :1:2: executing ... nil pointer").
    asked = ["version", "--format", "{{.Server.Version}}"] if provider == "docker" \
        else ["info", "--format", "{{.Version.Version}}"]
    answered = _run([command, *asked], INFO_TIMEOUT)
    if answered.returncode == 0 and answered.stdout.strip():
        return answered.stdout.strip(), ""
    return "", what_is_wrong(answered.stderr)


def _fix_for(provider: str, error: str) -> str:
    if "permission denied" in error:
        return f"Add yourself to the {provider} group (`sudo usermod -aG {provider} $USER`) and log in again."
    if provider == "podman":
        return "Fix podman (`podman info` shows why), or install Docker and run `make kind-ready`."
    return START_FIX


def check(image: str = KIND_NODE_IMAGE) -> EngineCheck:
    """Whether an engine can run kind's node containers here, and if not, why. Never pulls.

    Docker is asked first; podman is used when Docker is absent or its engine does not answer and
    podman's does. When none is usable, the reason is the first client's.
    """
    commands = engine_commands()
    if not commands:
        forced = os.environ.get("CKSLAB_ENGINE")
        what = f"CKSLAB_ENGINE={forced} is not a program" if forced else \
            "Docker is not installed (no `docker` or `podman` on PATH)"
        return EngineCheck(False, what, INSTALL_FIX)
    first = _check_with(*commands[0], image)
    for provider, command in commands[1:]:
        if first.usable or not first.stopped:
            break
        other = _check_with(provider, command, image)
        if other.usable:
            return other
    return first


def _check_with(provider: str, command: str, image: str) -> EngineCheck:
    name = provider.capitalize()
    try:
        version, error = server_version(provider, command)
        if not version:
            return EngineCheck(False, f"{name} is installed but its engine does not answer: {error}",
                               _fix_for(provider, error), provider, command, stopped=True)
        failed = privileged_probe(command)
        if failed is not None:
            return EngineCheck(False, f"{name} {version} answers but cannot run kind's privileged node "
                               f"containers: {failed}", "Run `make kind-ready` (as root it configures the "
                               "engine for this host and says what it changed).", provider, command, version)
        present = _run([command, "image", "inspect", "--format", "{{.Id}}", image], INFO_TIMEOUT).returncode == 0
    except subprocess.TimeoutExpired as err:
        return EngineCheck(False, f"{name} did not answer `{' '.join(map(str, err.cmd[1:3]))}` in {err.timeout:.0f}s",
                           START_FIX, provider, command, stopped=True)
    short = image.split("@")[0]
    state = "present" if present else "not present (not pulled by this check)"
    return EngineCheck(True, f"{name} {version} runs privileged containers; the node image {short} is {state}",
                       "", provider, command, version, image=image, image_present=present)
