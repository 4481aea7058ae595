"""JupyterHub's proxy, configurable-http-proxy from npm, installed into ckslab's cache (never assumed).

``make class-proxy`` and ``ckslab class up`` install the pinned version with ``npm install
--prefix`` into ``<cache>/configurable-http-proxy-<version>/`` when it is not there yet.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable

from cluster import paths
from cluster.errors import CkslabError

#: npm's configurable-http-proxy, pinned (JupyterHub 6 works with 4.x and 5.x).
VERSION = "5.3.0"


def prefix() -> Path:
    return paths.cache_root() / f"configurable-http-proxy-{VERSION}"


def binary() -> Path:
    return prefix() / "node_modules" / ".bin" / "configurable-http-proxy"


def ensure(progress: Callable[[str], None]) -> Path:
    """The proxy's binary, installed with npm when missing; CkslabError naming what to install."""
    if binary().exists():
        return binary()
    npm = shutil.which("npm")
    if npm is None:
        raise CkslabError("JupyterHub's proxy (npm's configurable-http-proxy) needs npm, which is not installed.",
                          "Install Node.js and npm (Debian: apt-get install -y npm), then run `make class-proxy`.")
    progress(f"installing configurable-http-proxy {VERSION} with npm into {prefix()}")
    prefix().mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--prefix", str(prefix()), "--no-audit", "--no-fund",
                           f"configurable-http-proxy@{VERSION}"], capture_output=True, text=True, check=False)
    if done.returncode != 0 or not binary().exists():
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CkslabError(f"npm could not install configurable-http-proxy {VERSION}: {tail}.",
                          "Check access to the npm registry, then run `make class-proxy`.")
    return binary()
