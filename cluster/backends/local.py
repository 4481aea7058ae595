"""The local backend: etcd, kube-apiserver, kube-controller-manager and kube-scheduler as processes.

No Docker needed. Everything listens on 127.0.0.1. Components start in order from their
manifests (``.lab/local/etc/kubernetes/manifests/``), each waited on through its health
endpoint; a failure stops what already started. ``down`` stops them in reverse and removes
the cluster, and also finds processes a damaged state file no longer names. Like a kubelet, a
small loop started by ``up`` follows the manifests folder (``local_kubelet``); ports are reserved
against other clusters starting at the same moment (``cluster.ports``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from cluster import binaries, certlist, controlplane, ports, preflight, process, security, state, staticpods
from cluster.backends import local_kubelet
from cluster.backends.base import Availability, Backend, ClusterStatus, ComponentStatus, Progress, UpResult
from cluster.backends.local_node import LocalNode
from cluster.backends.local_pki import bind_cluster_admins, ensure_pki, write_kubeconfigs
from cluster.controlplane import APISERVER, COMPONENTS, ETCD, Layout, Ports
from cluster.errors import CkslabError, ComponentFailed, ManifestFailed, StateCorrupted
from cluster.paths import write_private
from cluster.preflight import Finding
from cluster.versions import KUBERNETES_VERSION

#: Attempts at starting the plane when another program takes a chosen port meanwhile.
PORT_ATTEMPTS = 3


class LocalBackend(Backend):
    name = "local"
    needs = binaries.CLUSTER_BINARIES

    @property
    def layout(self) -> Layout:
        return Layout(self.lab.lab / "local")

    @property
    def marker(self) -> str:
        """A string in every one of our components' command lines (guards recycled pids)."""
        return str(self.layout.base)

    def available(self) -> Availability:
        gone = binaries.missing()
        if gone:
            return Availability(False, f"binaries not built yet ({', '.join(gone)}): run `make binaries`")
        return Availability(True)

    # --- up -------------------------------------------------------------------------------

    def up(self, progress: Progress) -> UpResult:
        """Start (or recover) the plane, holding the cluster's lock; then make sure its kubelet loop runs."""
        try:
            with local_kubelet.cluster_lock(self.lab):
                return self._up(progress)
        finally:  # also after a failed recovery: the cluster is still there, and still followed
            local_kubelet.ensure(self, progress)

    def _up(self, progress: Progress) -> UpResult:
        started = time.monotonic()
        current = self._state()
        recovered = False
        if current is not None:
            if current.backend != self.name:
                raise CkslabError(f"a {current.backend} cluster is already up.",
                                  "Run `make down` first to switch backends.")
            self._node_home()
            status = self.status()
            if status is not None and status.healthy:
                if not self.lab.kubeconfig.exists() and self.layout.admin_conf.exists():
                    progress(f"restoring the missing {self.lab.kubeconfig}")
                    write_private(self.lab.kubeconfig, self.layout.admin_conf.read_bytes())
                return UpResult(self.name, current.version, current.server, self.lab.kubeconfig,
                                time.monotonic() - started, already_running=True)
            if any(c not in dict(current.details.get("pids", {})) for c in COMPONENTS):
                progress("this cluster was started by an older ckslab (no etcd TLS, no kube-scheduler): "
                         "restarting it with kubeadm's whole PKI (data and CA kept)")
            elif status is not None and self._restart_from_manifests(status, progress):
                if not self.lab.kubeconfig.exists():
                    write_private(self.lab.kubeconfig, self.layout.admin_conf.read_bytes())
                return UpResult(self.name, current.version, current.server, self.lab.kubeconfig,
                                time.monotonic() - started, recovered=True)
            else:
                progress("restarting the whole control plane with ckslab's manifests (data and PKI kept)")
            self._stop_all(progress)
            recovered = True
        bins = binaries.require(self.needs)
        self._node_home()
        ca = ensure_pki(self.layout)["ca"]
        avoid: set[int] = set()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            chosen = self._choose_ports(avoid)
            server = f"https://{controlplane.HOST}:{chosen.apiserver}"
            write_kubeconfigs(self.layout, ca, server)
            self._write_audit_policy()
            for component, command in controlplane.commands(self.layout, chosen).items():
                self._write_manifest(component, command)
            applied = {c: staticpods.text_digest(self.layout.manifest(c).read_text()) for c in COMPONENTS}
            try:
                pids = self._start_all(chosen, bins, progress)
                break
            except ComponentFailed as err:
                if "address already in use" not in err.message or attempt == PORT_ATTEMPTS:
                    raise
                progress("a port was taken meanwhile: trying other ports")
                avoid |= set(vars(chosen).values())
        details = {"ports": vars(chosen), "pids": pids, "applied": applied}
        state.write(self.lab.state_file, state.ClusterState(self.name, KUBERNETES_VERSION, server, details))
        write_private(self.lab.kubeconfig, self.layout.admin_conf.read_bytes())
        progress("preflight: proving the cluster signs kube-apiserver-client CSRs")
        try:
            bind_cluster_admins(self.layout)
            preflight.require_signing(self.lab.kubeconfig, self.ca_certificate())
        except CkslabError:
            if not recovered:  # a new cluster that cannot sign is no use: remove it
                self.down(lambda _m: None)
            raise
        return UpResult(self.name, KUBERNETES_VERSION, server, self.lab.kubeconfig,
                        time.monotonic() - started, recovered=recovered)

    def _restart_from_manifests(self, status: ClusterStatus, progress: Progress) -> bool:
        """Start the unhealthy components again from their manifests, keeping a learner's edits.

        True when the plane is healthy again; False when a port another program took meanwhile
        means starting afresh with new ports (and ckslab's manifests). A manifest whose component
        cannot start (an edit gone wrong) raises :class:`ManifestFailed` with the fix: ``make up`` never
        overwrites a learner's edit without a word.
        """
        down = [c.name for c in status.components if not c.healthy]
        progress(f"not running: {', '.join(down)}; starting {'it' if len(down) == 1 else 'them'} again from "
                 f"{self.layout.manifest(down[0]).parent} (your edits kept)")
        for component in down:
            try:
                self.restart(component, progress)
            except ComponentFailed as err:
                if "address already in use" in err.message:
                    progress(f"{component}'s port was taken meanwhile")
                    return False
                raise ManifestFailed(f"{component} does not start from its manifest {self.layout.manifest(component)}: "
                                  f"{err.message}",
                                  f"Fix that manifest and run `ckslab controlplane restart {component}`; or "
                                  "`make down && make up` for a new cluster with ckslab's manifests.") from err
        return True

    def _choose_ports(self, avoid: set[int]) -> Ports:
        """Free ports, kubeadm's when free, reserved for this cluster against concurrent ``up``s."""
        return Ports(**ports.reserve(self.layout.base, (
            ("etcd", 2379), ("etcd_peer", 2380), ("apiserver", 6443),
            ("controller_manager", 10257), ("scheduler", 10259)), avoid))

    def _node_home(self) -> None:
        """The node's /root (0700, root's home on a real node): statements name files there."""
        (self.layout.base / "root").mkdir(mode=0o700, parents=True, exist_ok=True)  # 0700 & ~umask: 0700

    def _write_audit_policy(self) -> None:
        self.layout.audit_policy.parent.mkdir(parents=True, exist_ok=True)
        self.layout.audit_policy.write_bytes(controlplane.AUDIT_POLICY.read_bytes())
        self.layout.audit_log.parent.mkdir(parents=True, exist_ok=True)

    def _write_manifest(self, component: str, command: list[str]) -> None:
        path = self.layout.manifest(component)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(controlplane.dump_manifest(controlplane.manifest(component, command)))

    def _process(self, component: str, chosen: Ports, bins: binaries.Binaries,
                 path: Path | None = None) -> process.Process:
        path = path or self.layout.manifest(component)
        try:
            text = path.read_text()
        except FileNotFoundError as err:
            raise CkslabError(f"{component} has no manifest in {path.parent} (moved out?): like a kubelet, the "
                              "local backend runs a component only while its manifest is there.",
                              f"Put it back as {path}; it starts within seconds.") from err
        except OSError as err:
            raise StateCorrupted(f"cannot read the manifest {path} ({err}).", state.REPAIR_HINT) from err
        try:
            command = controlplane.command_from_manifest(text, component)
        except ValueError as err:  # an edit gone wrong: the learner's to fix, not a damaged state
            raise CkslabError(f"{err}: {path}.",
                              f"Fix it, then `ckslab controlplane restart {component}`.") from err
        if command[0] != component:
            raise CkslabError(f"{path}: the command must start with {component!r}, not {command[0]!r}.",
                              "Restore the first item of the command list.")
        return process.Process(
            name=component,
            command=[str(bins.path(component)), *command[1:]],
            log_file=self.layout.log(component),
            health_url=controlplane.health_url(component, chosen),
            health_ca=controlplane.health_ca(self.layout, component),
            health_client_cert=controlplane.health_client_cert(self.layout, component),
            health_text=controlplane.health_text(component, command),
        )

    def _start_all(self, chosen: Ports, bins: binaries.Binaries, progress: Progress) -> dict[str, int]:
        pids: dict[str, int] = {}
        try:
            for component in COMPONENTS:
                t0 = time.monotonic()
                progress(f"starting {component}")
                pids[component] = self._process(component, chosen, bins).start()
                progress(f"{component} healthy after {time.monotonic() - t0:.1f}s")
        except BaseException:
            for component in reversed(list(pids)):  # roll back what started
                process.stop_pid(pids[component], component, self.marker)
            raise
        return pids

    # --- down, status ----------------------------------------------------------------------

    def _state(self) -> state.ClusterState | None:
        return state.read(self.lab.state_file)

    def _stop_all(self, progress: Progress) -> bool:
        """Stop our components, named by the state file or found by their command lines."""
        pids: dict[int, str] = {}
        try:
            current = self._state()
        except StateCorrupted:
            current = None
        if current is not None and current.backend == self.name:
            for component, pid in dict(current.details.get("pids", {})).items():
                if isinstance(pid, int):
                    pids[pid] = component
        for pid in process.processes_with(self.marker, COMPONENTS):
            pids.setdefault(pid, process.program_name(pid))
        order = {name: i for i, name in enumerate(COMPONENTS)}
        for pid, component in sorted(pids.items(), key=lambda kv: -order.get(kv[1], -1)):
            if process.is_running(pid, self.marker):
                progress(f"stopping {component} (pid {pid})")
            process.stop_pid(pid, component, self.marker)
        return bool(pids)

    def stop(self, progress: Progress) -> bool:
        """Stop the components and keep the cluster (data, PKI, manifests); ``up`` starts it again.

        False when nothing was running. A hosted class stops a learner's plane this way, so their
        next login brings back the same cluster with their CSRs and bindings. The kubelet loop stops
        first (it would note each stop as a crash, and otherwise outlives the plane); ``up`` starts it.
        """
        local_kubelet.stop(self, progress)
        return self._stop_all(progress)

    def down(self, progress: Progress) -> bool:
        local_kubelet.stop(self, progress)  # first: it would start what is being stopped
        stopped = self._stop_all(progress)
        existed = stopped or self.lab.state_file.exists() or self.layout.base.exists()
        shutil.rmtree(self.layout.base, ignore_errors=True)
        for path in (self.lab.state_file, self.lab.kubeconfig):
            path.unlink(missing_ok=True)
        ports.release(self.layout.base)
        return existed

    def status(self) -> ClusterStatus | None:
        current = self._state()
        if current is None:
            return None
        try:
            chosen = _ports(current.details["ports"])
            # A component missing from the state (the scheduler, for a cluster an older ckslab
            # started) counts as not running, so `make up` restarts the plane with it.
            pids = {c: int(current.details["pids"].get(c, 0)) for c in COMPONENTS}
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise StateCorrupted(f"the lab state {self.lab.state_file} is damaged ({err!r}).",
                                 state.REPAIR_HINT) from err
        components = []
        problems = dict(current.details.get("problems", {}))
        for component in COMPONENTS:
            running = process.is_running(pids[component], self.marker)
            url = controlplane.health_url(component, chosen)
            healthy = running and process.answers(
                pids[component], url, controlplane.health_ca(self.layout, component),
                controlplane.health_text(component, _cmdline(pids[component])),
                controlplane.health_client_cert(self.layout, component))
            detail = (f"pid {pids[component]}, {url}" if running else
                      f"not running (was pid {pids[component]}): {problems[component]}"
                      if pids[component] and problems.get(component) else
                      f"not running (was pid {pids[component]})" if pids[component] else
                      "not started (this cluster was started by an older ckslab: `make up` adds it)")
            components.append(ComponentStatus(component, running, healthy, detail))
        return ClusterStatus(self.name, current.version, current.server, components)

    # --- introspection -----------------------------------------------------------------------

    def show_component(self, component: str) -> str:
        found = staticpods.scan(self.layout.manifests).pods.get(component)  # the file that runs, as a kubelet reads
        path = found.path if found else self.layout.manifest(component)
        if self._state() is None:
            raise CkslabError("no local cluster is up.", "Run `make up` first.")
        if not path.exists():
            raise CkslabError(f"{path} is not there (moved out?): {component} is stopped, as a kubelet stops "
                              "a static pod whose manifest is removed.",
                              f"Put it back into {path.parent}; it starts again within seconds.")
        return f"# {path}\n{path.read_text()}"

    def following_note(self, component: str) -> str:
        """What ``controlplane show`` adds on stderr: the kubelet's rule, and why ``component`` is down."""
        current = self._state()
        problem = dict(current.details.get("problems", {})).get(component) if current else None
        note = (f"# The local backend follows {self.layout.manifests} like a kubelet: a manifest moved out stops "
                "its component; put back or changed, it starts again within seconds (log: "
                f"{self.layout.log(local_kubelet.NAME)}).")
        return note + (f"\n# {component} is not running: {problem}" if problem else "")

    def ca_certificate(self) -> bytes:
        path = self.layout.pki / "ca.crt"
        if self._state() is None or not path.exists():
            raise CkslabError("no local cluster is up.", "Run `make up` first.")
        return path.read_bytes()

    def node(self) -> LocalNode:
        """This machine as the plane's node: kubeadm's tree under ``.lab/local``, the recorded processes."""
        current = self._state()
        if current is None or current.backend != self.name:
            raise CkslabError("no local cluster is up.", "Run `make up` first.")
        return LocalNode(self.layout, self.pid_of)

    def pid_of(self, component: str) -> int:
        """The pid ``.lab/state.json`` records for ``component`` now (0 when none)."""
        current = self._state()
        pids = current.details.get("pids", {}) if current is not None else {}
        pid = pids.get(component, 0) if isinstance(pids, dict) else 0
        return pid if isinstance(pid, int) else 0

    def running_command(self, component: str) -> list[str]:
        """The command line the component's process runs with (``Node.running_command``)."""
        return self.node().running_command(component)

    def restart(self, component: str, progress: Progress, source: Path | None = None) -> None:
        """Stop one component and start it again from its (possibly edited) manifest.

        ``source`` is the manifest to run: by default the file of the folder that names the pod, as a
        kubelet reads it (:mod:`cluster.staticpods`), else ``<component>.yaml``. Holds the cluster's
        lock (the kubelet loop waits meanwhile) and records the pid, the manifest's digest and, when
        the start fails, why (``ComponentFailed`` is raised after that).
        """
        with local_kubelet.cluster_lock(self.lab):
            current = self._state()
            if current is None or current.backend != self.name:
                raise CkslabError("no local cluster is up.", "Run `make up` first.")
            chosen = _ports(current.details["ports"])
            pid = int(current.details["pids"].get(component, 0))
            found = staticpods.scan(self.layout.manifests).pods.get(component)
            path = source or (found.path if found else self.layout.manifest(component))
            try:
                applied = staticpods.text_digest(path.read_text())  # before the start reads it
            except OSError:
                applied = ""
            # Read first: a manifest that cannot be read leaves the running process as it is.
            started = self._process(component, chosen, binaries.require(self.needs), path)
            progress(f"stopping {component} (pid {pid})")
            process.stop_pid(pid, component, self.marker)
            progress(f"starting {component} from {path}")
            details = current.details
            details.setdefault("applied", {})[component] = applied
            try:
                details["pids"][component] = started.start()
                details.setdefault("problems", {}).pop(component, None)
            except ComponentFailed as err:  # the pid that failed stays recorded: "was pid N"
                details["pids"][component] = started.pid or pid
                details.setdefault("problems", {})[component] = local_kubelet.one_line(err.message)
                raise
            finally:
                state.write(self.lab.state_file, current)

    def security_findings(self) -> list[Finding]:
        """``ckslab doctor``'s security checks of the running plane (``cluster.security``)."""
        current = self._state()
        if current is None or current.backend != self.name:
            raise CkslabError("no local cluster is up.", "Run `make up` first.")
        etcd_flags = self.running_command(ETCD)
        client_url = next((a.split("=", 1)[1].split(",")[0] for a in etcd_flags
                           if a.startswith("--listen-client-urls=")), "")
        etc, pki_dir = self.layout.etc, self.layout.pki
        keys = sorted(pki_dir.rglob("*.key")) + [etc / spec.file_name for spec in certlist.KUBECONFIGS]
        ca_keys = [pki_dir / f"{spec.base_name}.key" for spec in certlist.CERTIFICATES if spec.is_ca]
        return [
            security.etcd_requires_client_certificates(client_url, self.layout.manifest(ETCD)),
            security.private_files(keys),
            security.ca_keys_owner_only(ca_keys),
            security.anonymous_as_kubeadm(current.server, pki_dir / "ca.crt", self.layout.admin_conf,
                                          self.running_command(APISERVER), self.layout.manifest(APISERVER)),
        ]


def _ports(recorded: dict[str, int]) -> Ports:
    """The ports in a state file; one an older ckslab did not record is 0 (none)."""
    return Ports(**{**{name: 0 for name in Ports.__dataclass_fields__}, **recorded})


def _cmdline(pid: int) -> list[str]:
    """The command line of ``pid`` (empty when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    except OSError:
        return []
