"""Shared fixtures: an isolated project root, and one real local control plane per session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

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


#: Modules that use what this machine has only once, by group. `make test` runs the suite in two pytest-xdist
#: workers: the modules of one group run one after another in one worker, and every other module is a group of its
#: own, so that its module fixtures (a plane, an exam's clusters, set up once) run once.
#: "engine": the container engine (kind clusters of the same image, podman beside Docker, a second dockerd);
#: "accounts": Unix accounts and the hub of a class on this server.
MACHINE_GROUPS = {
    "engine": ("test_kind", "test_exam_tasks_kind", "test_kind_podman", "test_class_kube", "test_engine",
               "test_kind_name", "test_node", "test_backend_selection"),
    "accounts": ("test_class_host", "test_classhost"),
}
_GROUP_OF = {module: group for group, modules in MACHINE_GROUPS.items() for module in modules}


def work_unit(nodeid: str) -> str:
    """The unit of work of a test id (``tests/test_kind.py::test_x[a]``): its module's group, else its module."""
    module = nodeid.split("::", 1)[0]
    return _GROUP_OF.get(Path(module).stem, module)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scheduler by module (``--dist loadscope``), with the groups above as one unit each. (Its own
    ``--dist loadgroup`` reads ``xdist_group`` marks through ``item._nodeid``, which pytest 9.2 no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByGroup(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The "engine" group first: it is the longest (about half the suite), and its worker should start on it; then the
    collection's order (the same in every worker, as xdist requires)."""
    items.sort(key=lambda item: _GROUP_OF.get(item.path.stem) != "engine")


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
