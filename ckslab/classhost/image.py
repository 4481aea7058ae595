"""The learner image: a class's JupyterLab, ckslab and a local control plane in one container image.

Built here without a registry, as the kind node image is (cluster/nodeimage): a Debian root
filesystem made with ``mmdebstrap`` holding Python, a venv with ckslab's dependencies, JupyterLab,
JupyterHub and KubeSpawner (wheels fetched by the host's pip, installed offline in the chroot),
the pinned Kubernetes and etcd binaries copied from ckslab's cache (never rebuilt), and Node.js
with JupyterHub's proxy; imported with ``docker import`` as ``ckslab/learner-base:<recipe>``. The
project's source goes on top in a second, small layer (``docker build`` FROM that local image, so
nothing is pulled), tagged ``ckslab/learner:<source>``. A source change rebuilds only that layer
(seconds); the root filesystem is kept in the cache keyed by its recipe. The image runs as the
unprivileged user ``learner`` (uid 1000) and holds no Docker.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ckslab.classhost import proxy
from cluster import paths
from cluster.errors import CkslabError
from cluster.versions import ETCD_VERSION, KUBERNETES_VERSION, NODE_IMAGE_DEBIAN_SUITE

Progress = Callable[[str], None]

BASE_REPOSITORY = "ckslab/learner-base"
REPOSITORY = "ckslab/learner"
#: The learner's account in the image (KubeSpawner's uid and fs_gid).
UID = 1000
USER = "learner"
HOME = "/home/learner"
VENV = "/opt/ckslab/venv"
SOURCE = "/opt/ckslab/src"
#: ``CKSLAB_CACHE`` in the image: the control plane's binaries, laid out as ckslab's cache.
CACHE = "/opt/ckslab/cache"
CHP = "/opt/ckslab/chp/node_modules/.bin/configurable-http-proxy"
#: What a learner's terminal and the labs' scripts use (openssl for keys and CSRs, make for `make`).
PACKAGES = ("python3", "python3-venv", "ca-certificates", "bash", "procps", "openssl", "make", "curl", "jq",
            "less", "vim-tiny", "iproute2", "nodejs", "git")
#: PyPI's KubeSpawner, pinned as in pyproject's ``class-kubernetes`` extra.
KUBESPAWNER = "jupyterhub-kubespawner==7.1.0"
#: The cached binaries the image carries (copied, not rebuilt): (cache folder, names).
BINARIES = ((f"{KUBERNETES_VERSION}/bin", ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
                                           "kubeadm")),
            (f"etcd-{ETCD_VERSION}/bin", ("etcd",)))
MMDEBSTRAP_TIMEOUT = 1800.0
#: Wheels for the image's Python (Debian bookworm's 3.11.2, glibc 2.36), not the host's: pip
#: resolves each dependency's Requires-Python against it (soupsieve 2.9 refuses 3.11.2).
WHEEL_TARGET = ("--only-binary=:all:", "--python-version", "3.11.2", "--implementation", "cp", "--abi", "cp311",
                *(arg for tag in ("manylinux_2_36_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                                  "manylinux2014_x86_64", "linux_x86_64", "any") for arg in ("--platform", tag)))
PATH = f"{CACHE}/{KUBERNETES_VERSION}/bin:{VENV}/bin:/usr/local/bin:/usr/bin:/bin"


class ImageError(CkslabError):
    """The learner image could not be built or loaded."""


@dataclass(frozen=True)
class LearnerImage:
    reference: str
    how: str  # "present" or "built"
    seconds: float


def image_dir() -> Path:
    return paths.cache_root() / KUBERNETES_VERSION / "learner-image"


def _dependencies() -> list[str]:
    """ckslab's runtime dependencies (pyproject) and KubeSpawner: what the venv installs."""
    import tomllib

    project = tomllib.loads((paths.checkout() / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], KUBESPAWNER, "setuptools>=77", "wheel"]


def _digest(parts: list[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def base_recipe() -> str:
    """What the root filesystem holds: packages, dependencies, binaries' versions, this module."""
    return _digest([" ".join(PACKAGES).encode(), "\n".join(_dependencies()).encode(), NODE_IMAGE_DEBIAN_SUITE.encode(),
                    KUBERNETES_VERSION.encode(), ETCD_VERSION.encode(), proxy.VERSION.encode(),
                    _base_script().encode(), " ".join(WHEEL_TARGET).encode()])


def source_files() -> list[Path]:
    """The project's files that go into the image (git's list when a checkout, else the packages)."""
    root = paths.checkout()
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"], capture_output=True, check=False,
                            stdin=subprocess.DEVNULL)
    if listed.returncode == 0 and listed.stdout:
        names = [n for n in listed.stdout.decode().split("\0") if n and not n.startswith(("tests/", ".ci/"))]
    else:
        names = [str(p.relative_to(root)) for top in ("ckslab", "cluster", "labs", "graders", "exam", "notebooks")
                 for p in (root / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        names += ["pyproject.toml", "README.md", "Makefile"]
    return sorted(root / n for n in names if (root / n).is_file())


def source_recipe(base: str) -> str:
    root = paths.checkout()
    return _digest([base.encode(), *(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes()
                                     for p in source_files())])


def _docker(docker: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([docker, *args], capture_output=True, text=True, check=False, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def present(docker: str, reference: str) -> bool:
    return _docker(docker, "image", "inspect", reference).returncode == 0


def ensure(progress: Progress, docker: str = "docker") -> LearnerImage:
    """The learner image of this checkout in the engine: present, or built (the base from the cache)."""
    started = time.monotonic()
    if shutil.which(docker) is None:
        raise ImageError(f"{docker} is not installed, so the learner image cannot be built here.",
                         "Install Docker (the learner image is built with `docker import` and `docker build`).")
    base_id = base_recipe()
    reference = f"{REPOSITORY}:{source_recipe(base_id)}"
    if present(docker, reference):
        return LearnerImage(reference, "present", time.monotonic() - started)
    base = f"{BASE_REPOSITORY}:{base_id}"
    if not present(docker, base):
        rootfs = _rootfs(base_id, progress)
        progress(f"importing {rootfs.name} as {base}")
        done = subprocess.run([docker, "import", "--change", f"ENV PATH={PATH}", "--change", f"USER {UID}",
                               "--change", f"WORKDIR {HOME}", "--change", f"ENV HOME={HOME}",
                               str(rootfs), base], capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            raise ImageError(f"docker import of the learner root filesystem failed: {done.stderr.strip()[-300:]}")
    _source_layer(docker, base, reference, progress)
    return LearnerImage(reference, "built", time.monotonic() - started)


def _base_script() -> str:
    """Commands run in the root filesystem (a chroot) once the wheels and binaries are in."""
    return f"""set -eu
useradd --uid {UID} --user-group --create-home --home-dir {HOME} --shell /bin/bash {USER}
python3 -m venv {VENV}
{VENV}/bin/pip install --quiet --no-index --find-links /tmp/wheels -r /tmp/wheels/requirements.txt
rm -rf /tmp/wheels /root/.cache
chown -R {UID}:{UID} {CACHE}/run
rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/* /usr/share/doc /usr/share/man
"""


def _rootfs(recipe_id: str, progress: Progress) -> Path:
    """The base root filesystem tar (cached as ``rootfs-<recipe>.tar``), made with mmdebstrap."""
    dest = image_dir() / f"rootfs-{recipe_id}.tar"
    if dest.is_file():
        return dest
    if shutil.which("mmdebstrap") is None:
        raise ImageError("mmdebstrap is needed to build the learner image and is not installed.",
                         "Install it (Debian: apt-get install mmdebstrap), then run it again.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    log = dest.with_suffix(".log")
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".stage-") as tmp:
        stage = Path(tmp) / "stage"
        wheels = stage / "tmp" / "wheels"
        wheels.mkdir(parents=True)
        (wheels / "requirements.txt").write_text("\n".join(_dependencies()) + "\n")
        progress(f"fetching the learner image's wheels with pip (log: {log})")
        _run([sys.executable, "-m", "pip", "download", "--quiet", "-d", str(wheels), *WHEEL_TARGET, "-r",
              str(wheels / "requirements.txt")], "pip download of the learner image's dependencies", log, 900)
        for folder, names in BINARIES:
            for name in names:
                source = paths.cache_root() / folder / name
                if not source.is_file():
                    raise ImageError(f"{source} is missing: the learner image copies the cached binaries.",
                                     "Run `make binaries` once (it builds them), then try again.")
                target = stage / CACHE.lstrip("/") / folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                target.chmod(0o755)
        (stage / CACHE.lstrip("/") / "run").mkdir(parents=True)
        chp = proxy.prefix()
        if not proxy.binary().exists():
            proxy.ensure(progress)
        shutil.copytree(chp, stage / "opt" / "ckslab" / "chp", symlinks=True)
        (stage / "tmp" / "ckslab-base.sh").write_text(_base_script())
        progress(f"making the learner root filesystem with mmdebstrap (Debian {NODE_IMAGE_DEBIAN_SUITE}; "
                 "a few minutes the first time)")
        partial = dest.with_name(dest.name + ".partial.tar")
        _run(["mmdebstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
              "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
              f"--customize-hook=sync-in {stage} /",
              '--customize-hook=chroot "$1" sh /tmp/ckslab-base.sh && rm "$1/tmp/ckslab-base.sh"',
              NODE_IMAGE_DEBIAN_SUITE, str(partial)], "mmdebstrap of the learner root filesystem", log,
             MMDEBSTRAP_TIMEOUT)
        os.replace(partial, dest)
    for old in dest.parent.glob("rootfs-*.tar"):
        if old != dest:
            old.unlink()
    return dest


def _run(args: list[str], what: str, log: Path, timeout: float) -> None:
    with open(log, "ab") as fh:
        fh.write(f"\n$ {' '.join(args)}\n".encode())
        fh.flush()
        try:
            # The host's pip settings (PIP_FIND_LINKS, ...) mean nothing in the image's chroot.
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or "pip" in args[1:3]}
            done = subprocess.run(args, stdout=fh, stderr=fh, stdin=subprocess.DEVNULL, timeout=timeout, check=False,
                                  env=env)
        except subprocess.TimeoutExpired as err:
            raise ImageError(f"{what} did not finish in {timeout:.0f}s; see {log}.") from err
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ImageError(f"{what} failed (exit {done.returncode}): {tail[0][:300]}", f"See {log}.")


def _source_layer(docker: str, base: str, reference: str, progress: Progress) -> None:
    """``docker build`` FROM the local base (nothing pulled): the project's source, installed editable."""
    progress(f"adding this checkout's source to {reference}")
    root = paths.checkout()
    with tempfile.TemporaryDirectory(prefix="ckslab-learner-") as tmp:
        context = Path(tmp)
        for path in source_files():
            target = context / "src" / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        (context / "Dockerfile").write_text(
            f"FROM {base}\n"
            "USER 0\n"
            f"COPY src {SOURCE}\n"
            f"RUN {VENV}/bin/pip install --quiet --no-deps --no-index --no-build-isolation -e {SOURCE} "
            f"&& chown -R {UID}:{UID} {CACHE}/run "
            # Debian's /etc/profile sets PATH anew: a login shell (`bash -l`) keeps kubectl and ckslab.
            f"&& echo 'export PATH={PATH}' > /etc/profile.d/ckslab.sh\n"
            f"USER {UID}\n"
            f'LABEL io.ckslab.learner-image="{reference}"\n')
        done = subprocess.run([docker, "build", "-q", "-t", reference, str(context)], capture_output=True, text=True,
                              check=False, timeout=900, stdin=subprocess.DEVNULL,
                              env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if done.returncode != 0:
        raise ImageError(f"docker build of the learner image failed: {(done.stderr or done.stdout).strip()[-300:]}")
