"""Build the kind node image here (``make node-image``), cache it, and load it in seconds later.

Order, each step resumable: the binaries (cluster.binaries, built with Go) and pause (``gcc``
from the pinned Kubernetes module's ``build/pause/linux/pause.c``); two Debian root filesystems
with ``mmdebstrap`` (the node's, with kind's files and our binaries in it, and kube-proxy's
base); one image archive per ``kubeadm config images list`` entry; then, as kind's
``buildcontext.go`` does, a build container from the node root filesystem whose containerd
imports those archives, committed as the node image. The image is saved next to the binaries
(``<cache>/<release>/node-image/node-<recipe>.tar``); a later run loads that file instead of
building. Every intermediate file is written under a temporary name and renamed when complete,
and the image gets its final tag only from a finished build container, so an interrupted build
is never used: the next run starts the unfinished step again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cluster import binaries, dockerd, imageref, paths
from cluster.errors import CkslabError
from cluster.nodeimage import archive, recipe
from cluster.process import log_tail
from cluster.versions import KUBERNETES_VERSION, NODE_IMAGE_DEBIAN_SUITE, PAUSE_VERSION

Progress = Callable[[str], None]
#: Seconds one mmdebstrap run may take (about 2.5 minutes here, most of it downloads).
MMDEBSTRAP_TIMEOUT = 1800.0
#: Seconds for containerd in the build container to answer ``ctr version``.
CONTAINERD_TIMEOUT = 60.0


#: The name the node image is built and saved under: recipe.IMAGE with podman's local registry, so that
#: Docker and podman store it under the same fully qualified name (cluster/imageref.py). An image
#: loaded from an older archive (``ckslab/node:<release>``) is found under its own name: stored_names().
LOCAL_IMAGE = f"{imageref.LOCAL_REGISTRY}/{recipe.IMAGE}"


class NodeImageError(CkslabError):
    """The node image could not be built or loaded."""


@dataclass(frozen=True)
class NodeImage:
    """A node image ready in the engine: its reference and the recipe that made it."""

    reference: str  # fully qualified, as the engine stores it (localhost/ckslab/node:<release>, ...)
    recipe: str
    how: str  # "present" (already in the engine), "loaded" (from the saved archive) or "built"
    seconds: float


def log_file() -> Path:
    return paths.cache_root() / "logs" / f"node-image-{KUBERNETES_VERSION}.log"


def _kind_module() -> Path:
    return _module_dir("kind", "sigs.k8s.io/kind")


def _module_dir(build_module: str, module: str) -> Path:
    """The module cache folder of ``module`` as required by ``cluster/gobuild/<build_module>``."""
    go = binaries.find_go()
    if go is None:
        raise NodeImageError("Go is not installed, so the node image cannot be built.", binaries.INSTALL_HINT)
    found = subprocess.run([go, "mod", "download", "-json", module], cwd=paths.checkout() / "cluster" / "gobuild" /
                           build_module, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    try:
        return Path(json.loads(found.stdout)["Dir"])
    except (ValueError, KeyError) as err:
        raise NodeImageError(f"`go mod download {module}` failed: {found.stderr.strip() or found.stdout.strip()}",
                             "Access to the Go module proxy is needed; run `make node-image` again.") from err


def current_recipe() -> str:
    """The recipe id: what goes into the image (recipe.py, archive.py), not how the build runs."""
    here = Path(__file__).parent
    return recipe.recipe_id(_kind_module(), [here / "recipe.py", here / "archive.py"])


class _Runner:
    """Runs the build's commands with their output in the build log."""

    def __init__(self, log: Path) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)

    def run(self, args: list[str], what: str, timeout: float = 900.0, stdin_file: Path | None = None,
            capture: bool = False, env: dict[str, str] | None = None) -> str:
        with open(self.log, "ab") as fh:
            fh.write(f"\n$ {' '.join(args)}\n".encode())
            fh.flush()
            stdin = open(stdin_file, "rb") if stdin_file else subprocess.DEVNULL
            try:
                done = subprocess.run(args, stdin=stdin, stdout=subprocess.PIPE if capture else fh,
                                      stderr=fh, timeout=timeout, check=False, env={**os.environ, **(env or {})})
            except subprocess.TimeoutExpired as err:
                raise NodeImageError(f"{what} did not finish in {timeout:.0f}s; the end of {self.log}:\n"
                                     f"{log_tail(self.log)}", "Run `make node-image` again.") from err
            finally:
                if stdin_file:
                    stdin.close()  # type: ignore[union-attr]
        if done.returncode != 0:
            raise NodeImageError(f"{what} failed (exit {done.returncode}); the end of {self.log}:\n{log_tail(self.log)}",
                                 "Fix the cause above and run `make node-image` again; finished steps are kept.")
        return done.stdout.decode() if capture else ""


def image_recipe(docker: str, reference: str) -> str | None:
    """The recipe label of ``reference`` in the engine, "" when unlabelled, None when absent."""
    shown = subprocess.run([docker, "image", "inspect", "-f", f'{{{{index .Config.Labels "{recipe.RECIPE_LABEL}"}}}}',
                            reference], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if shown.returncode != 0:
        return None
    value = shown.stdout.strip()
    return "" if value in ("", "<no value>") else value


def present_as(docker: str, rid: str) -> str | None:
    """The fully qualified name the engine has the node image of recipe ``rid`` under, None when absent.

    Docker stores ``ckslab/node:<release>`` as ``docker.io/ckslab/node:<release>``, podman as
    ``localhost/ckslab/node:<release>``; each name is asked for, and the image is recognised by its
    recipe label (RECIPE_LABEL), not by its name.
    """
    return next((name for name in imageref.stored_names(recipe.IMAGE) if image_recipe(docker, name) == rid), None)


def ensure(progress: Progress, docker: str = "docker") -> NodeImage:
    """The node image of the current recipe in the engine: present, loaded from the cache, or built."""
    started = time.monotonic()
    rid = current_recipe()
    present = present_as(docker, rid)
    if present:
        return NodeImage(present, rid, "present", time.monotonic() - started)
    saved = paths.node_image_dir() / f"node-{rid}.tar"
    runner = _Runner(log_file())
    if saved.is_file():
        progress(f"loading the node image {LOCAL_IMAGE} from {saved}")
        runner.run([docker, "load", "-i", str(saved)], "docker load of the saved node image")
        present = present_as(docker, rid)
        if present:
            return NodeImage(present, rid, "loaded", time.monotonic() - started)
        saved.unlink()  # not what its name promised: build again
    build(rid, runner, progress, docker)
    progress(f"saving the node image to {saved} (loaded in seconds next time)")
    partial = saved.with_name(saved.name + ".partial")
    runner.run([docker, "save", "-o", str(partial), LOCAL_IMAGE], "docker save of the node image")
    os.replace(partial, saved)
    for old in saved.parent.glob("node-*.tar"):
        if old != saved:
            old.unlink()
    return NodeImage(LOCAL_IMAGE, rid, "built", time.monotonic() - started)


def build(rid: str, runner: _Runner, progress: Progress, docker: str) -> None:
    """Build the node image of recipe ``rid`` and tag it ``LOCAL_IMAGE``."""
    _tools(progress)
    progress(f"building the node image {LOCAL_IMAGE} (recipe {rid}; about 10 minutes the first time); "
             f"log: {runner.log}")
    work = paths.node_image_dir() / f"work-{rid}"
    work.mkdir(parents=True, exist_ok=True)
    bins = binaries.ensure("build", progress, names=binaries.NODE_IMAGE_BINARIES)
    pause = _pause(work, runner, progress)
    node_rootfs = _rootfs(work / "node-rootfs.tar", recipe.NODE_PACKAGES, _node_stage(work, bins), runner, progress)
    proxy_rootfs = _rootfs(work / "proxy-rootfs.tar", recipe.PROXY_PACKAGES, None, runner, progress)
    archives = _component_archives(work, bins, pause, proxy_rootfs, runner, progress)
    _assemble(rid, node_rootfs, archives, runner, progress, docker)
    shutil.rmtree(work, ignore_errors=True)


#: Debian packages the build runs (gcc and libc6-dev for the static pause binary).
BUILD_PACKAGES = {"mmdebstrap": "mmdebstrap", "gcc": "gcc"}


def _tools(progress: Progress) -> None:
    """mmdebstrap and gcc: installed with apt-get where we are root on Debian, else an error."""
    absent = [tool for tool in BUILD_PACKAGES if shutil.which(tool) is None]
    if not absent:
        return
    packages = [BUILD_PACKAGES[tool] for tool in absent] + (["libc6-dev"] if "gcc" in absent else [])
    command = f"apt-get install {' '.join(packages)}"
    if os.geteuid() != 0 or not dockerd.is_debian():
        raise NodeImageError(f"{', '.join(absent)} {'is' if len(absent) == 1 else 'are'} needed to build the node "
                             "image and not installed.", f"Install {' and '.join(absent)} (on Debian: `sudo {command}`), "
                             "then run `make node-image` again.")
    progress(f"installing {', '.join(packages)} with apt-get (needed to build the node image)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]):
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL,
                              timeout=dockerd.APT_TIMEOUT)
        if done.returncode != 0:
            raise NodeImageError(f"`{' '.join(args)}` failed: {(done.stderr or done.stdout).strip()[-300:]}",
                                 "Fix apt (network, sources) and run `make node-image` again.")


def _pause(work: Path, runner: _Runner, progress: Progress) -> Path:
    dest = work / "pause"
    if dest.is_file():
        return dest
    source = _module_dir("kubernetes", "k8s.io/kubernetes") / "build" / "pause" / "linux" / "pause.c"
    progress(f"building pause {PAUSE_VERSION} from {source.name} with gcc")
    partial = work / "pause.partial"
    # CFLAGS of Kubernetes' build/pause/Makefile.
    runner.run(["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{PAUSE_VERSION}-ckslab", "-o",
                str(partial), str(source)], "gcc of pause.c")
    os.replace(partial, dest)
    return dest


def _node_stage(work: Path, bins: binaries.Binaries) -> Path:
    """A folder laid out like the node's root: kind's files, our files, the node binaries."""
    stage = work / "node-stage"
    shutil.rmtree(stage, ignore_errors=True)
    files = _kind_module() / "images" / "base" / "files"
    for rel, mode in recipe.KIND_FILES:
        dest = stage / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files / rel, dest)
        dest.chmod(mode)
    for name, node_path in recipe.NODE_BINARIES:
        archive.copy_executable(bins.path(name), stage / node_path.lstrip("/"))
    extra = {
        "kind/version": KUBERNETES_VERSION,
        "kind/manifests/default-storage.yaml": recipe.DEFAULT_STORAGE,
        recipe.CNI_CONFIG_PATH.lstrip("/"): json.dumps(recipe.CNI_CONFIG, indent=2) + "\n",
        "tmp/ckslab-customize.sh": recipe.CUSTOMIZE,
    }
    for rel, text in extra.items():
        dest = stage / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        dest.chmod(0o644)
    for folder in ("kind", "kind/bin", "kind/manifests"):
        (stage / folder).chmod(0o755)
    return stage


def _rootfs(dest: Path, packages: tuple[str, ...], stage: Path | None, runner: _Runner, progress: Progress) -> Path:
    if dest.is_file():
        return dest
    progress(f"making a Debian {NODE_IMAGE_DEBIAN_SUITE} root filesystem with mmdebstrap: {dest.name} "
             "(about 2.5 minutes)")
    partial = dest.with_name(dest.name + ".partial.tar")
    args = ["mmdebstrap", "--variant=minbase", f"--include={','.join(packages)}",
            "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*"]
    if stage is not None:
        args += [f"--customize-hook=sync-in {stage} /",
                 '--customize-hook=chroot "$1" sh /tmp/ckslab-customize.sh && rm "$1/tmp/ckslab-customize.sh"']
    runner.run([*args, NODE_IMAGE_DEBIAN_SUITE, str(partial)], f"mmdebstrap of {dest.name}", MMDEBSTRAP_TIMEOUT)
    os.replace(partial, dest)
    return dest


def required_images(kubeadm: Path, runner: _Runner) -> list[str]:
    """What kubeadm of the pinned release pulls: ``kubeadm config images list``."""
    listed = runner.run([str(kubeadm), "config", "images", "list", "--kubernetes-version", KUBERNETES_VERSION],
                        "kubeadm config images list", capture=True)
    return [line.strip() for line in listed.splitlines() if line.strip()]


def _component_archives(work: Path, bins: binaries.Binaries, pause: Path, proxy_rootfs: Path, runner: _Runner,
                        progress: Progress) -> list[Path]:
    made = []
    for reference in required_images(bins.kubeadm, runner):
        try:
            component = recipe.component_for(reference)
        except KeyError:
            raise NodeImageError(f"kubeadm {KUBERNETES_VERSION} asks for {reference}, which the node image recipe "
                                 "cannot make.", "Add it to COMPONENTS in cluster/nodeimage/recipe.py.") from None
        dest = work / "images" / (reference.replace("/", "_").replace(":", "_") + ".tar")
        if not dest.is_file():
            progress(f"image {reference}")
            files = tuple(archive.ImageFile(path, pause if name == "pause" else bins.path(name))
                          for name, path in component.binaries)
            archive.write_archive(archive.Image(reference, files, component.entrypoint,
                                                proxy_rootfs if component.debian_base else None), dest)
        made.append(dest)
    return made


def _assemble(rid: str, node_rootfs: Path, archives: list[Path], runner: _Runner, progress: Progress,
              docker: str) -> None:
    base = f"{imageref.LOCAL_REGISTRY}/{recipe.IMAGE_REPOSITORY}-build:{rid}"
    container = f"ckslab-node-build-{rid}"
    progress("importing the root filesystem into the engine and preloading the images in its containerd")
    subprocess.run([docker, "rm", "-f", "-v", container], capture_output=True, check=False, stdin=subprocess.DEVNULL)
    runner.run([docker, "import", str(node_rootfs), base], "docker import of the node root filesystem")
    try:
        runner.run([docker, "run", "-d", "--name", container, "--entrypoint", "sleep", base, "infinity"],
                   "starting the build container")
        runner.run([docker, "exec", container, "bash", "-c", "nohup containerd > /var/log/containerd-build.log 2>&1 &"],
                   "starting containerd in the build container")
        runner.run([docker, "exec", container, "bash", "-c",
                    f"for i in $(seq 1 {int(CONTAINERD_TIMEOUT)}); do ctr version >/dev/null 2>&1 && exit 0; "
                    "sleep 1; done; exit 1"], "waiting for containerd in the build container")
        for path in archives:
            # As kind's imageimporter.go: pinned (never garbage-collected), not unpacked (the node
            # unpacks on its /var volume; overlayfs cannot be nested in the build container).
            runner.run([docker, "exec", "-i", container, "ctr", "--namespace=k8s.io", "images", "import",
                        "--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests",
                        "-"], f"ctr import of {path.name}", stdin_file=path)
        listed = runner.run([docker, "exec", container, "ctr", "--namespace=k8s.io", "images", "list", "-q"],
                            "ctr images list", capture=True).split()
        expected = [_reference_of(p) for p in archives]
        absent = [ref for ref in expected if ref not in listed]
        if absent:
            raise NodeImageError(f"the node's containerd does not list {', '.join(absent)} after the import.",
                                 f"See {runner.log}, then run `make node-image` again.")
        runner.run([docker, "exec", container, "bash", "-c",
                    # `sleep` is PID 1 here and reaps nothing: count only processes not yet zombies.
                    "pkill containerd; for i in $(seq 1 30); do pgrep --runstates R,S,D,T -x containerd >/dev/null "
                    "|| exit 0; sleep 1; done; exit 1"], "stopping containerd in the build container")
        runner.run([docker, "exec", container, "rm", "-f", "/var/log/containerd-build.log"], "cleaning up")
        committed = f"{base}-committed"
        runner.run([docker, "commit", container, committed], "docker commit of the build container")
        # `docker commit --change` takes no STOPSIGNAL: a one-line build sets the image's config as
        # kind's base image Dockerfile does (systemd stops cleanly on SIGRTMIN+3).
        dockerfile = runner.log.parent / f"node-image-{rid}.Dockerfile"
        dockerfile.write_text(f"FROM {committed}\n"
                              'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]\n'
                              "ENV container=docker\n"
                              "STOPSIGNAL SIGRTMIN+3\n"
                              f"LABEL {recipe.RECIPE_LABEL}={rid}\n")
        try:
            runner.run([docker, "build", "-t", LOCAL_IMAGE, "-"], "docker build of the node image's config",
                       stdin_file=dockerfile, env={"DOCKER_BUILDKIT": "0"})
        finally:
            dockerfile.unlink(missing_ok=True)
            subprocess.run([docker, "rmi", committed], capture_output=True, check=False, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([docker, "rm", "-f", "-v", container], capture_output=True, check=False, stdin=subprocess.DEVNULL)
        subprocess.run([docker, "rmi", base], capture_output=True, check=False, stdin=subprocess.DEVNULL)


def _reference_of(path: Path) -> str:
    """The tag of the image in a ``docker save`` archive."""
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise NodeImageError(f"{path} has no manifest.json.", "Delete it and run `make node-image` again.")
        return str(json.load(member)[0]["RepoTags"][0])
