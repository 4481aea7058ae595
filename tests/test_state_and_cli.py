"""The CLI's contract without a cluster: one-line errors, exit codes, env, damaged state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cluster import state
from cluster.errors import StateCorrupted


def ckslab(*args: str, env_root: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "CKSLAB_ROOT": str(env_root)}
    return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_unknown_backend_is_a_one_line_usage_error(lab_root: Path) -> None:
    result = ckslab("up", "--backend", "minikube", env_root=lab_root)
    assert result.returncode == 2
    assert "unknown backend 'minikube'" in result.stderr
    assert "auto, kind, local, existing" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (lab_root / ".lab" / "state.json").exists()


def test_env_prints_kubeconfig_and_pinned_kubectl_path(lab_root: Path) -> None:
    from cluster import paths

    result = ckslab("env", env_root=lab_root)
    assert result.returncode == 0
    assert f"export KUBECONFIG={lab_root / '.lab' / 'kubeconfig'}" in result.stdout
    assert f"export PATH={paths.kubernetes_bin_dir()}:" in result.stdout
    assert "no cluster is up" in result.stderr


def test_env_puts_ckslab_on_path(lab_root: Path) -> None:
    """`make up` and `make lab` say `ckslab controlplane show ...`: after the eval it must be found."""
    exports = ckslab("env", env_root=lab_root).stdout
    shell = subprocess.run(["bash", "-c", f"{exports}\ncommand -v ckslab && ckslab --help"], capture_output=True,
                           text=True, timeout=60, check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(lab_root)})
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines()[0] == str(Path(sys.executable).parent / "ckslab")


def test_status_without_cluster_says_so(lab_root: Path) -> None:
    result = ckslab("status", env_root=lab_root)
    assert result.returncode == 3
    assert "No cluster is up" in result.stdout


def test_controlplane_show_without_cluster_is_one_line(lab_root: Path) -> None:
    result = ckslab("controlplane", "show", "controller-manager", env_root=lab_root)
    assert result.returncode == 1
    assert "no cluster is up" in result.stderr and "make up" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content", ["{not json", '{"backend": 3}', "[]", '{"backend": "local"}'])
def test_damaged_state_is_reported_with_the_way_out(tmp_path: Path, content: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(StateCorrupted, match="make down"):
        state.read(path)


def test_damaged_state_via_cli_then_down_repairs_it(lab_root: Path) -> None:
    lab = lab_root / ".lab"
    (lab / "local").mkdir(parents=True)
    (lab / "state.json").write_text("{garbage")
    result = ckslab("status", env_root=lab_root)
    assert result.returncode == 1
    assert "damaged" in result.stderr and "make down" in result.stderr
    assert "Traceback" not in result.stderr
    down = ckslab("down", env_root=lab_root)
    assert down.returncode == 0, down.stderr
    assert not (lab / "state.json").exists() and not (lab / "local").exists()
    again = ckslab("down", env_root=lab_root)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_the_command_line_starts_without_importing_the_kubernetes_client() -> None:
    """Every `ckslab` call (a notebook cell, `ckslab node` polled each second by a wait loop) paid 0.2 s of CPU
    importing the Kubernetes client it rarely needs: the modules that use it import it when they do."""
    code = "import sys, ckslab.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout
