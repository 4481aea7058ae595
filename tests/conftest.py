"""Shared fixtures: an isolated project root, and one real local control plane per session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from cluster import binaries
from cluster.backends.local import LocalBackend
from cluster.paths import LabPaths

pytest_plugins = ["pytester"]  # the graders' score plugin is tested with pytester


@pytest.fixture(autouse=True)
def fresh_engine_detection() -> Iterator[None]:
    """No test sees the container engine another test detected: ``kind.detected_engine`` caches the client's
    absolute path, and a test with a fake ``docker`` on PATH would leave that fake (in its tmp dir) to every
    later test of the process (seen: the exam's kind context failed to start after the backend tests)."""
    from cluster.backends import kind

    kind.detected_engine.cache_clear()
    yield
    kind.detected_engine.cache_clear()


@pytest.fixture
def lab_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root of its own: .lab/ and workspace/ under tmp_path."""
    monkeypatch.setenv("CKSLAB_ROOT", str(tmp_path))
    return tmp_path


def cannot_run(reason: str) -> None:
    """Skip with ``reason``; in CI (``CI=true``), fail with it: CI must run every test."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _require_binaries() -> None:
    gone = binaries.missing()
    if gone:
        # `make test` builds them first; a bare `pytest` without them is a setup mistake, not
        # a reason to pass quietly.
        pytest.fail(f"Kubernetes binaries missing ({', '.join(gone)}): run `make binaries` first",
                    pytrace=False)


@pytest.fixture(scope="session")
def binaries_built() -> None:
    """Fail (never skip) when the binaries the cluster tests need are missing."""
    _require_binaries()


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[LocalBackend]:
    """A real etcd + kube-apiserver + kube-controller-manager, up for the whole session."""
    root = tmp_path_factory.mktemp("cluster")
    backend = LocalBackend(LabPaths(root))
    backend.up(lambda _msg: None)
    try:
        yield backend
    finally:
        backend.down(lambda _msg: None)


@pytest.fixture(scope="session")
def kubeconfig(local_cluster: LocalBackend) -> Path:
    return local_cluster.kubeconfig()
