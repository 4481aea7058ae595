"""The kind backend: a real kubeadm control plane in a container, its controller manager a static pod.

The cluster is named ``ckslab``, made from ``cluster/kind/kind-config.yaml`` (plus
``KIND_WORKERS`` workers and what the host needs, see ``kind_config``) and a node image chosen
in this order: ``KIND_NODE_IMAGE`` when set; the official ``kindest/node`` pinned by digest in
``cluster/versions.py`` when it is present or can be pulled (pulled with progress; a refusal is
remembered for an hour); else the node image built here from the pinned release (``cluster/nodeimage``, ``make node-image``).
Creation deletes what it made when it fails and shows kind's output.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from cluster import binaries, controlplane, docker, imageref, paths, podman, preflight, state
from cluster.backends import kind_config as config
from cluster.backends import kind_status
from cluster.backends.kind_node import KindNode
from cluster.backends.node import NodeError
from cluster.backends.base import Availability, Backend, ClusterStatus, ComponentStatus, Progress, UpResult
from cluster.errors import CkslabError
from cluster.paths import LabPaths
from cluster.process import log_tail
from cluster.versions import KIND_NODE_IMAGE, KUBERNETES_VERSION
from cluster.waiting import WaitTimeout, wait_until

def _cluster_name() -> str:
    """The kind cluster's name: ``KIND_CLUSTER_NAME`` (kind's own variable) or ``ckslab``.

    kind names the control-plane node's container ``<name>-control-plane``
    (kind's pkg/cluster/internal/create/actions/config); a name must be lower-case letters,
    digits, ``-`` and ``.`` (kind's pkg/internal/apis/config/validate.go).
    """
    return os.environ.get("KIND_CLUSTER_NAME", "").strip() or "ckslab"


def check_cluster_name(name: str | None = None) -> None:
    """Raise :class:`CkslabError` (with its fix) when ``name`` (default ``KIND_CLUSTER_NAME``) is not a kind name."""
    name = CLUSTER_NAME if name is None else name
    if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", name):
        raise CkslabError(f"KIND_CLUSTER_NAME={name!r} is not a kind cluster name.",
                          "Use lower-case letters, digits, '-' and '.', or unset KIND_CLUSTER_NAME (ckslab).")


#: Two checkouts (or test runs) on one machine each set their own KIND_CLUSTER_NAME.
CLUSTER_NAME = _cluster_name()
NODE = f"{CLUSTER_NAME}-control-plane"


def node_for(state_file: Path) -> str:
    """The control-plane node container of the kind cluster recorded in ``state_file``.

    ``<cluster>-control-plane`` for the cluster ``up`` recorded (``details.cluster``), so graders and
    notebooks find the checkout's node whatever KIND_CLUSTER_NAME says now; :data:`NODE` when the
    file is missing, unreadable or records no cluster.
    """
    try:
        current = state.read(state_file)
    except CkslabError:
        current = None
    cluster = str(current.details.get("cluster", "")) if current is not None else ""
    return f"{cluster}-control-plane" if cluster else NODE
CONFIG_TEMPLATE = paths.checkout() / "cluster" / "kind" / "kind-config.yaml"
#: kind's own wait for the control plane to be Ready.
CREATE_WAIT = "300s"
#: Seconds for the official node image (about 400 MB) to be pulled.
PULL_TIMEOUT = 900.0
#: Seconds the kubelet gets to bring a restarted static pod back.
RESTART_TIMEOUT = 120.0
#: A line of a failing component's log worth quoting: cobra's "Error: ..." or a klog error ("E1130 ...").
_ERROR_LINE = re.compile(r"^(Error: |E\d{4} )")
#: The network kind makes for its nodes (kind's pkg/cluster/internal/providers/docker/network.go).
KIND_NETWORK = "kind"
#: The label kind gives a cluster's node containers, valued with the cluster's name (kind's providers/*/constants.go).
KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"


def workers_from_env() -> int:
    value = os.environ.get("KIND_WORKERS", "0") or "0"
    if not value.isdigit() or int(value) > 3:
        raise CkslabError(f"KIND_WORKERS={value!r} is not a number of workers from 0 to 3.",
                          "Use for example `make up BACKEND=kind KIND_WORKERS=1`.")
    return int(value)


@functools.lru_cache(maxsize=1)
def detected_engine() -> tuple[str, str]:
    """The engine found here, as (provider, client command): ``docker``, or ``podman`` where only it runs
    (``$CKSLAB_ENGINE`` forces one)."""
    found = docker.engine_commands()
    if len(found) > 1:  # both installed: the one whose engine answers (docker.check's order)
        usable = docker.check()
        if usable.usable:
            return usable.provider, usable.command
    return found[0] if found else ("docker", "docker")


def engine_for(state_file: Path) -> tuple[str, str]:
    """The engine of the kind cluster recorded in ``state_file``, as (provider, client command).

    What ``up`` recorded (``details.engine`` and ``details.engine_command``), so graders, lab
    scripts, notebooks and ``down`` reach a cluster made on podman even where Docker answers too;
    :func:`detected_engine` when the file is missing, unreadable or records none.
    """
    try:
        current = state.read(state_file)
    except CkslabError:
        current = None
    details = current.details if current is not None and current.backend == "kind" else {}
    provider, command = str(details.get("engine", "")), str(details.get("engine_command", ""))
    if provider not in ("docker", "podman"):
        return detected_engine()
    return provider, command if command and os.access(command, os.X_OK) else shutil.which(provider) or provider


def engine() -> tuple[str, str]:
    """The engine of this project root's kind cluster (:func:`engine_for`), else the one found here."""
    return engine_for(paths.lab_paths().state_file)


def kind_env() -> dict[str, str]:
    """kind's environment: its podman provider when podman is the engine (kind's own variable)."""
    provider, _command = engine()
    return {**os.environ, "KIND_EXPERIMENTAL_PROVIDER": provider} if provider == "podman" else dict(os.environ)


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([engine()[1], *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def image_present(image: str) -> bool:
    return _docker("image", "inspect", image).returncode == 0


def stored_name(reference: str) -> str | None:
    """The fully qualified name the engine has ``reference`` under (imageref.stored_names); None if absent."""
    return next((name for name in imageref.stored_names(reference) if image_present(name)), None)


#: kind's default CNI manifest, which kind applies unless the config disables it (kind's
#: pkg/cluster/internal/create/actions/installcni/cni.go; written by pkg/build/nodeimage).
DEFAULT_CNI_MANIFEST = "/kind/manifests/default-cni.yaml"


def carries_default_cni(image: str) -> bool:
    """Whether ``image`` holds DEFAULT_CNI_MANIFEST, read from its filesystem.

    A container is created from it (never started: no runtime runs, nothing is pulled), the file
    is copied out of it (``cp``: status 0 when it exists), and the container is removed with its
    anonymous volumes. Raises CkslabError when the engine cannot create the container.
    """
    created = _docker("create", image, timeout=120)
    if created.returncode != 0:
        raise CkslabError(f"cannot look inside the node image {image}: {docker.what_is_wrong(created.stderr)}.",
                          f"Check it with `{engine()[1]} image inspect {image}`, or unset KIND_NODE_IMAGE.")
    container = created.stdout.strip().splitlines()[-1]
    try:
        return _docker("cp", f"{container}:{DEFAULT_CNI_MANIFEST}", "-", timeout=120).returncode == 0
    finally:
        _docker("rm", "-f", "-v", container)


def pull(image: str, progress: Progress) -> str | None:
    """Pull ``image``, reporting progress; None when done, else the engine's one-line reason."""
    progress(f"pulling the node image {image} (about 400 MB, once)")
    proc = subprocess.Popen([engine()[1], "pull", image], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    last: list[str] = []
    reported = time.monotonic()
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line:
            last = (last + [line])[-5:]
        if time.monotonic() - reported > 10:
            done = sum(1 for item in last if "complete" in item.lower())
            progress(f"  pulling: {line[:100]}" + (f" ({done} layers complete)" if done else ""))
            reported = time.monotonic()
    try:
        code = proc.wait(timeout=PULL_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        return f"the pull did not finish in {PULL_TIMEOUT:.0f}s"
    if code == 0:
        return None
    return last[-1] if last else f"docker pull exited {code}"


def choose_image(progress: Progress) -> tuple[str, bool, str]:
    """The node image to use (fully qualified: imageref), whether it lacks kind's default CNI (the one
    built here does: the kind config then disables it), and why it was chosen.

    A refused pull of the official image is remembered for :data:`PULL_REFUSAL_SECONDS` (per
    engine), so that every ``up`` on a machine without a registry neither waits for the engine's
    refusal again nor repeats it at length.
    """
    wanted = os.environ.get("KIND_NODE_IMAGE", "").strip()
    if wanted:
        try:
            image = stored_name(wanted) or imageref.qualified(wanted)
        except ValueError as err:
            raise CkslabError(f"KIND_NODE_IMAGE={wanted!r} is not an image name.",
                              "Unset KIND_NODE_IMAGE to use the pinned image, or name one.") from err
        if not image_present(image):
            failed = pull(image, progress)
            if failed:
                raise CkslabError(f"KIND_NODE_IMAGE={wanted} is neither present nor pullable: {failed}.",
                                  "Unset KIND_NODE_IMAGE to use the pinned image, or `make node-image`.")
        return image, not carries_default_cni(image), f"KIND_NODE_IMAGE={wanted}"
    official = imageref.qualified(KIND_NODE_IMAGE)
    if image_present(official):
        return official, False, "the official node image is present"
    refused = _refused_pulls()
    key = f"{engine()[1]} {os.environ.get('DOCKER_HOST', '')} {official}"
    earlier = refused.get(key)
    from cluster.nodeimage import build as nodeimage
    if earlier is not None and 0 <= time.time() - earlier[1] < PULL_REFUSAL_SECONDS:
        # Said in full when it was refused; here only that it was, and when it is tried again.
        minutes = (time.time() - earlier[1]) / 60
        progress(f"using the node image built here from the same release (the official one's pull was refused "
                 f"{minutes:.0f} min ago; tried again after an hour, or now after `rm {_refusals_file()}`)")
        built = nodeimage.ensure(progress, engine()[1])
        return built.reference, True, "built here from the same release"
    failed = pull(official, progress)
    if failed is None:
        refused.pop(key, None)
        _save_refused_pulls(refused)
        return official, False, "the official node image was pulled"
    refused[key] = (failed, time.time())
    _save_refused_pulls(refused)
    progress(f"the official node image cannot be pulled ({failed}); using the node image built here "
             "from the same release")
    built = nodeimage.ensure(progress, engine()[1])
    return built.reference, True, "built here from the same release"  # why: said just above


#: Seconds a refused pull of the official node image is remembered (see choose_image).
PULL_REFUSAL_SECONDS = 3600.0


def _refusals_file() -> Path:
    return paths.cache_root() / "node-image-pulls-refused.json"


def _refused_pulls() -> dict[str, tuple[str, float]]:
    """``{"<engine client> <DOCKER_HOST> <image>": (the engine's reason, when, in epoch seconds)}``."""
    try:
        loaded = json.loads(_refusals_file().read_text())
        return {str(k): (str(v[0]), float(v[1])) for k, v in loaded.items()}
    except (OSError, ValueError, TypeError, IndexError, AttributeError):
        return {}  # none yet, or unreadable: pull again


def _save_refused_pulls(refused: dict[str, tuple[str, float]]) -> None:
    target = _refusals_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_text(json.dumps(refused, indent=1) + "\n")
        os.replace(partial, target)
    except OSError:
        pass  # a cache we cannot write only costs a pull next time


def host_facts() -> config.HostFacts:
    """The engine host's cgroup version (asked of the engine) and capability bounding set."""
    # docker info: CgroupVersion "1"/"2"; podman info: Host.CgroupsVersion "v1"/"v2".
    asked = "{{.Host.CgroupsVersion}}" if engine()[0] == "podman" else "{{.CgroupVersion}}"
    answer = _docker("info", "--format", asked, timeout=30).stdout.strip().removeprefix("v")
    version = 2 if answer == "2" else 1 if answer == "1" else \
        (2 if Path("/sys/fs/cgroup/cgroup.controllers").exists() else 1)
    return config.HostFacts(version, config.read_cap_bounding_set())


class KindBackend(Backend):
    """A kind cluster: ``cluster_name`` (default :data:`CLUSTER_NAME`, ``$KIND_CLUSTER_NAME`` or ``ckslab``),
    its state and kubeconfig under ``lab``. The exam gives its kind context a name of its own."""

    name = "kind"
    needs = ("kind", "kubectl")

    def __init__(self, lab: LabPaths, cluster_name: str | None = None) -> None:
        super().__init__(lab)
        self._cluster_name = cluster_name

    @property
    def cluster_name(self) -> str:
        return self._cluster_name or CLUSTER_NAME

    @property
    def _container(self) -> str:
        if self._cluster_name and not self.lab.state_file.exists():
            return f"{self._cluster_name}-control-plane"
        return node_for(self.lab.state_file)

    def available(self) -> Availability:
        found = docker.check()
        return Availability(found.usable, found.reason)

    def _kind(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binaries.require(self.needs).kind), *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False, env=kind_env())

    def _exists(self) -> bool:
        listed = self._kind("get", "clusters", timeout=60)
        return self.cluster_name in listed.stdout.split()

    def _node_image(self) -> str:
        shown = _docker("inspect", "-f", "{{.Config.Image}}", self._container)
        return shown.stdout.strip() if shown.returncode == 0 else ""

    def up(self, progress: Progress) -> UpResult:
        started = time.monotonic()
        current = state.read(self.lab.state_file)
        if current is not None and current.backend == self.name:
            # The node and its API server: a component the learner stopped (a manifest moved out, a
            # flag broken in a lab) is theirs to fix, and `up` must not recreate the cluster for it.
            if self._node_status().healthy:
                return UpResult(self.name, current.version, current.server, self.lab.kubeconfig,
                                time.monotonic() - started, already_running=True)
        check_cluster_name(self.cluster_name)
        workers = workers_from_env()
        image, local, why = choose_image(progress)
        progress(f"node image {image.split('@')[0]}: {why}")
        if self._exists():
            existing = self._node_image()
            if existing and not imageref.same_image(existing, image):
                raise CkslabError(f"a kind cluster {self.cluster_name!r} from another node image ({existing}) exists.",
                                  "Run `make down` to delete it, then `make up BACKEND=kind` again.")
            progress(f"kind cluster {self.cluster_name!r} exists: using it")
            exported = self._kind("export", "kubeconfig", "--name", self.cluster_name,
                                  f"--kubeconfig={self.lab.kubeconfig}")
            if exported.returncode != 0:
                raise CkslabError(f"kind export kubeconfig failed: {exported.stderr.strip()}",
                                  "Run `make down`, then `make up BACKEND=kind`.")
        else:
            # Recorded first, so that a `make down` while kind is still creating finds and deletes it.
            state.write(self.lab.state_file, state.ClusterState(
                self.name, KUBERNETES_VERSION, "", {"cluster": self.cluster_name, "creating": True, **_engine_details()}))
            self._create(image, local, workers, progress)
        os.chmod(self.lab.kubeconfig, 0o600)
        server = _server_of(self.lab.kubeconfig)
        state.write(self.lab.state_file, state.ClusterState(
            self.name, KUBERNETES_VERSION, server,
            {"cluster": self.cluster_name, "workers": workers, "image": image, "local_image": local, **_engine_details()}))
        progress("preflight: proving the cluster signs kube-apiserver-client CSRs")
        preflight.require_signing(self.lab.kubeconfig, self.ca_certificate())
        return UpResult(self.name, KUBERNETES_VERSION, server, self.lab.kubeconfig, time.monotonic() - started)

    def _create(self, image: str, local: bool, workers: int, progress: Progress) -> None:
        if engine()[0] == "podman" and not podman.LIB_MODULES.exists():
            self.lab.state_file.unlink(missing_ok=True)
            raise CkslabError(f"{podman.LIB_MODULES} does not exist, and kind's podman nodes mount it.",
                              f"Run `make kind-ready` (as root it creates it) or `sudo mkdir -p {podman.LIB_MODULES}`.")
        config_file = self.lab.lab / "kind" / "kind-config.yaml"
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(config.kind_config(CONFIG_TEMPLATE.read_text(), workers, host_facts(), local,
                                                  config.Audit(controlplane.AUDIT_POLICY)))
        log = self.lab.lab / "kind" / "create.log"
        progress(f"creating kind cluster {self.cluster_name!r} ({1 + workers} node{'s' if workers else ''}; about a "
                 f"minute); config: {config_file}")
        self.lab.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        try:
            created = self._kind("create", "cluster", "--name", self.cluster_name, "--image", image,
                                 f"--config={config_file}", f"--kubeconfig={self.lab.kubeconfig}",
                                 f"--wait={CREATE_WAIT}")
        except subprocess.TimeoutExpired as err:
            log.write_text(f"kind create cluster did not finish in {err.timeout:.0f}s\n")
            created = None
        if created is not None:
            log.write_text(created.stdout + created.stderr)
        if created is None or created.returncode != 0:
            self._delete()
            self.lab.kubeconfig.unlink(missing_ok=True)
            self.lab.state_file.unlink(missing_ok=True)
            raise CkslabError(f"kind could not create the cluster; its output ({log}):\n{log_tail(log)}\n",
                              "What was made has been deleted. Fix the cause above and run `make up` again.")

    def _delete(self) -> None:
        if engine()[0] == "podman":
            # kind deletes with `podman rm -f`, which waits out the node's 10 s stop timeout (its systemd
            # does not stop in time) before it kills; Docker's `rm -f` kills at once. Kill first, as Docker.
            nodes = _docker("ps", "-q", "--filter", f"label={KIND_CLUSTER_LABEL}={self.cluster_name}").stdout.split()
            if nodes:
                _docker("kill", *nodes)
        deleted = self._kind("delete", "cluster", "--name", self.cluster_name, timeout=300)
        if deleted.returncode != 0 and "already in progress" in deleted.stderr:
            # The engine is removing a node already (kind create's own clean-up, racing this
            # down): wait for that removal, then delete what is left.
            gone = lambda: _docker("inspect", self._container).returncode != 0  # noqa: E731
            try:
                wait_until(gone, 60, interval=1.0, what=f"the engine to remove {self._container}")
            except WaitTimeout:
                pass
            deleted = self._kind("delete", "cluster", "--name", self.cluster_name, timeout=300)
        if deleted.returncode != 0:
            raise CkslabError(f"kind delete cluster failed: {deleted.stderr.strip()}",
                              f"Run `make down` again, or `{engine()[1]} rm -f -v {self._container}`.")
        # kind keeps its network for other clusters; remove it when no container uses it (asked with
        # `ps --filter network=`: podman's `network inspect` lists no containers).
        attached = _docker("ps", "-a", "-q", "--filter", f"network={KIND_NETWORK}")
        if attached.returncode == 0 and not attached.stdout.split() and \
                _docker("network", "inspect", KIND_NETWORK).returncode == 0:
            _docker("network", "rm", KIND_NETWORK)

    def down(self, progress: Progress) -> bool:
        existed = self.lab.state_file.exists()
        try:
            current = state.read(self.lab.state_file)
        except CkslabError:  # a damaged state file: down repairs it
            current = None
        recorded = str(current.details.get("cluster", "")) if current is not None else ""
        if recorded and recorded != self.cluster_name:
            raise CkslabError(f"this checkout's kind cluster is {recorded!r}, but KIND_CLUSTER_NAME says "
                              f"{self.cluster_name!r}.", f"Run `KIND_CLUSTER_NAME={recorded} make down`.")
        if not binaries.missing(("kind",)) and self._exists():
            progress(f"deleting kind cluster {self.cluster_name!r}")
            self._delete()
            existed = True
        for path in (self.lab.state_file, self.lab.kubeconfig):
            path.unlink(missing_ok=True)
        return existed

    def _node_status(self) -> ComponentStatus:
        """The node container: running, and its API server answering on the kubeconfig's address."""
        inspect = _docker("inspect", "-f", "{{.State.Running}}", self._container, timeout=30)
        running = inspect.stdout.strip() == "true"
        answers = running and preflight.api_answers(self.lab.kubeconfig)
        detail = (f"container {self._container} is not running" if not running else
                  f"container {self._container}, the API server answers here" if answers else
                  f"container {self._container}, the API server does not answer here")
        return ComponentStatus("control-plane node", running, answers, detail)

    def status(self) -> ClusterStatus | None:
        """The node, then its kubelet and the four static pods as the node runs them (``kind_status``)."""
        current = state.read(self.lab.state_file)
        if current is None:
            return None
        node = self._node_status()
        components = [node]
        if node.running:
            try:
                components += kind_status.read(self.node())
            except NodeError as err:
                components.append(ComponentStatus("kubelet", False, False, f"{err.message} {err.hint}".strip()))
        return ClusterStatus(self.name, current.version, current.server, components)

    def node(self) -> KindNode:
        """The control-plane node container of the cluster ``up`` recorded, reached with ``engine()``."""
        if state.read(self.lab.state_file) is None:
            raise CkslabError("no kind cluster is up.", "Run `make up BACKEND=kind` first.")
        return KindNode(self._container, engine_for(self.lab.state_file)[1])

    def _node(self, *command: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return self.node().exec(*command, stdin=stdin, timeout=timeout)

    def _node_file(self, path: str) -> bytes:
        shown = self._node("cat", path)
        if shown.returncode != 0:
            raise CkslabError(f"cannot read {path} in the node {self._container}: {shown.stderr.decode().strip()}.",
                              "Run `make status`; `make up` restarts a stopped cluster.")
        return shown.stdout

    def show_component(self, component: str) -> str:
        path = f"/etc/kubernetes/manifests/{component}.yaml"
        if self._node("test", "-e", path).returncode == 1:  # moved out, as the exam restarts a static pod
            raise CkslabError(f"{component}'s manifest {path} is not in the node {self._container} (moved out?): "
                              "the kubelet stops a static pod whose manifest leaves its folder.",
                              f"Put it back ({engine_for(self.lab.state_file)[1]} exec {self._container} mv <where it "
                              f"went> {path}); the kubelet starts it again within about 20 seconds.")
        return f"# {path} in the node container {self._container}\n{self._node_file(path).decode()}"

    def ca_certificate(self) -> bytes:
        return self._node_file("/etc/kubernetes/pki/ca.crt")

    def running_command(self, component: str) -> list[str]:
        """The command line the component's process runs with in the node (``Node.running_command``)."""
        return self.node().running_command(component)

    def _manifest_command(self, component: str) -> list[str]:
        path = f"/etc/kubernetes/manifests/{component}.yaml"
        try:
            return controlplane.command_from_manifest(self._node_file(path).decode(), component)
        except ValueError as err:  # the kubelet cannot read it either: it runs no pod of it
            raise CkslabError(f"{err}: {path} in the node {self._container}.",
                              f"Fix it ({engine()[1]} exec -it {self._container} bash), then `ckslab controlplane restart "
                              f"{component}`.") from err

    #: Seconds a restarted component must keep running to count as started (see restart).
    STAYS_SECONDS = 2.0

    def restart(self, component: str, progress: Progress) -> None:
        """Apply the static pod's manifest: wait for the kubelet to run it, or restart its container.

        The kubelet notices a changed manifest by itself (within its 20 s file check) and replaces
        the pod; a manifest that did not change gets its container stopped, and the kubelet
        starts it again. Either way this returns once the process runs the manifest's command.

        The stopped (exited) containers of the component are removed: the kubelet backs a restart
        off (10 s, doubling up to 5 minutes) only while an exited container of that name exists
        (v1.37 ``pkg/kubelet/kuberuntime/kuberuntime_manager.go``, ``doBackOff``), so a component
        restarted many times, or waiting out a back-off after it exited, starts again at once.
        """
        wanted = self._manifest_command(component)
        self._refuse_duplicates(component)
        before = set(self._containers(component))

        def runs_manifest() -> bool:
            try:
                return self.running_command(component) == wanted
            except CkslabError:
                self._refuse_crash(component, before)
                return False

        if runs_manifest():
            listed = self._node("crictl", "ps", "-q", "--name", f"^{component}$")
            ids = listed.stdout.decode().split()
            progress(f"stopping the {component} container; the kubelet starts it again from its manifest")
            if ids:
                self._node("crictl", "stop", *ids, timeout=120)
            self._remove_exited(component)

            def running_again() -> bool:
                now = self._node("crictl", "ps", "-q", "--state", "running", "--name", f"^{component}$")
                return bool(set(now.stdout.decode().split()) - set(ids)) and runs_manifest()

            done, what = running_again, f"the kubelet to restart {component}"
        else:
            self._remove_exited(component)
            progress(f"the manifest changed: waiting for the kubelet to replace the {component} pod")
            done, what = runs_manifest, f"the kubelet to run {component} from its edited manifest"
        hint = (f"A typo in the manifest leaves the pod failing: see `{engine()[1]} exec {self._container} "
                f"crictl ps -a --name {component}` and `{engine()[1]} exec {self._container} journalctl -u kubelet "
                "-n 50`.")
        try:
            wait_until(done, RESTART_TIMEOUT, interval=1.0, what=what)
            # A flag the component refuses still runs the manifest's command for a moment before it exits:
            # it has started only once it is still there a little later (else its exit is said, as above).
            time.sleep(self.STAYS_SECONDS)
            wait_until(runs_manifest, RESTART_TIMEOUT, interval=1.0, what=f"{component} to keep running")
        except WaitTimeout as err:
            raise CkslabError(f"{err}.", hint) from err

    def _containers(self, component: str, only: str | None = None) -> list[str]:
        """The ids of the component's containers in the node (every state, or only those in ``only``)."""
        listed = self._node("crictl", "ps", "-a", "-q", *(["--state", only] if only else []),
                            "--name", f"^{component}$")
        return listed.stdout.decode().split()

    def _refuse_crash(self, component: str, before: set[str]) -> None:
        """Raise when a container started since ``before`` has exited: the manifest's command fails."""
        crashed = [c for c in self._containers(component, "exited") if c not in before]
        for container in crashed:
            log = self._node("crictl", "logs", "--tail", "30", container)
            if log.returncode == 0:  # else the kubelet removed it meanwhile: crictl's own error is no quote
                break
        else:
            return  # none left to quote: the kubelet starts it again, and the next look reads that one
        lines = (log.stdout + log.stderr).decode(errors="replace").splitlines()
        errors = [line.strip() for line in lines if _ERROR_LINE.match(line)]
        said = f": {errors[-1][:200]}" if errors else ""
        crashed = [container]
        raise CkslabError(f"{component} started from its edited manifest and exited{said}.",
                          f"Fix /etc/kubernetes/manifests/{component}.yaml in the node ({engine()[1]} exec -it {self._container} "
                          f"bash); the kubelet starts it again. Its log: {engine()[1]} exec {self._container} crictl logs {crashed[0]}")

    def _refuse_duplicates(self, component: str) -> None:
        """Raise when another file of the kubelet's manifest folder defines the component's pod.

        The kubelet reads every file of the folder but hidden ones (pkg/kubelet/config/file.go)
        and runs one pod of a name, so a backup copy left there may be what it runs.
        """
        folder = "/etc/kubernetes/manifests"
        found = self._node("grep", "-l", "-r", component, folder).stdout.decode().split()
        for path in found:
            name = path.rsplit("/", 1)[-1]
            if name == f"{component}.yaml" or name.startswith(".") or path.rsplit("/", 1)[0] != folder:
                continue
            try:
                doc = yaml.safe_load(self._node_file(path))
            except yaml.YAMLError:
                continue
            if isinstance(doc, dict) and (doc.get("metadata") or {}).get("name") == component:
                raise CkslabError(f"{path} also defines the static pod {component}, and the kubelet runs only "
                                  f"one pod of a name: maybe not the one of {folder}/{component}.yaml.",
                                  f"Move it out of {folder}/ ({engine()[1]} exec {self._container} mv {path} /root/), then run "
                                  "this again.")

    def _remove_exited(self, component: str) -> None:
        """Remove the component's exited containers, so that the kubelet starts it without a back-off."""
        listed = self._node("crictl", "ps", "-a", "-q", "--state", "exited", "--name", f"^{component}$")
        exited = listed.stdout.decode().split()
        if exited:
            self._node("crictl", "rm", *exited)


def _engine_details() -> dict[str, str]:
    """What ``up`` records of the engine, for :func:`engine_for`."""
    provider, command = engine()
    return {"engine": provider, "engine_command": command}


def _server_of(kubeconfig: Path) -> str:
    loaded = yaml.safe_load(kubeconfig.read_text())
    return str(loaded["clusters"][0]["cluster"]["server"])


def node_status(kubeconfig: Path) -> dict[str, bool]:
    """Each node's Ready condition (``kubectl get nodes``), by name."""
    shown = subprocess.run([str(binaries.cached().kubectl), f"--kubeconfig={kubeconfig}", "get", "nodes", "-o", "json"],
                           capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    if shown.returncode != 0:
        return {}
    ready = {}
    for item in json.loads(shown.stdout)["items"]:
        conditions = {c["type"]: c["status"] for c in item["status"].get("conditions", [])}
        ready[item["metadata"]["name"]] = conditions.get("Ready") == "True"
    return ready
