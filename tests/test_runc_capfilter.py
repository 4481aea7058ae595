"""The runtime wrapper: drops what the bounding set lacks from the spec runc reads, passes the rest.

The pure functions are tested on docker 20.10's own privileged ``config.json`` (tests/data/oci,
captured from a real bundle, CAP_SYS_RESOURCE included) with fixed bounding sets. The installed
form — the file run as a program by /usr/bin/python3 — is tested with a fake runc that records
its arguments; the real thing (dockerd running privileged containers through it) is in
tests/test_engine.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cluster import runc_capfilter
from cluster.runc_capfilter import bounding_set, filter_process, missing_from_bounding_set, spec_to_patch

DATA = Path(__file__).parent / "data" / "oci"
#: This project's VMs: every capability of Linux 6.x but CAP_SYS_RESOURCE (bit 24).
VM_BOUNDING = 0x000001FFFEFFFFFF
FULL_BOUNDING = (1 << 41) - 1
WRAPPER = Path(runc_capfilter.__file__)


def test_bounding_set_is_read_from_the_status_file() -> None:
    status = "Name:\tpython3\nCapPrm:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n"
    assert bounding_set(status) == VM_BOUNDING
    with pytest.raises(ValueError, match="CapBnd"):
        bounding_set("Name:\tx\n")


def test_missing_capabilities_are_those_the_kernel_has_and_the_set_lacks() -> None:
    assert missing_from_bounding_set(VM_BOUNDING, 40) == ["CAP_SYS_RESOURCE"]
    assert missing_from_bounding_set(FULL_BOUNDING, 40) == []
    # an older kernel (cap_last_cap 37) has no PERFMON/BPF/CHECKPOINT_RESTORE to miss
    assert missing_from_bounding_set((1 << 38) - 1, 37) == []
    assert missing_from_bounding_set(VM_BOUNDING & ~(1 << 21), 40) == ["CAP_SYS_ADMIN", "CAP_SYS_RESOURCE"]


def test_filter_removes_only_unavailable_capabilities_from_every_set() -> None:
    spec = json.loads((DATA / "config.json").read_text())
    before = json.loads(json.dumps(spec))
    assert filter_process(spec["process"], VM_BOUNDING) == ["CAP_SYS_RESOURCE"]
    for name, caps in spec["process"]["capabilities"].items():
        assert caps == [c for c in before["process"]["capabilities"][name] if c != "CAP_SYS_RESOURCE"]
    before["process"]["capabilities"] = spec["process"]["capabilities"]
    assert spec == before  # nothing else changed
    assert filter_process(spec["process"], VM_BOUNDING) == []  # idempotent


def test_unknown_capability_names_are_left_for_runc_to_judge() -> None:
    process = {"capabilities": {"bounding": ["CAP_FUTURE_THING", "CAP_SYS_RESOURCE", "CAP_CHOWN"]}}
    assert filter_process(process, VM_BOUNDING) == ["CAP_SYS_RESOURCE"]
    assert process["capabilities"]["bounding"] == ["CAP_FUTURE_THING", "CAP_CHOWN"]
    assert filter_process({"args": ["true"]}, VM_BOUNDING) == []  # no capabilities at all


@pytest.mark.parametrize("args, expected", [
    # how containerd's shim (go-runc) calls it: global options first, then the command
    (["--root", "/run/r", "--log", "/l.json", "--log-format", "json", "--systemd-cgroup", "create",
      "--bundle", "/b", "--pid-file", "/p", "id"], ("/b/config.json", True)),
    (["run", "-b", "/b", "id"], ("/b/config.json", True)),
    (["--debug", "create", "--bundle=/b", "id"], ("/b/config.json", True)),
    (["create", "id"], ("./config.json", True)),  # runc's default bundle is the working directory
    (["--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "--pid-file", "/p", "id"],
     ("/tmp/p.json", False)),
    (["exec", "-p", "/tmp/p.json", "id"], ("/tmp/p.json", False)),
    (["exec", "--detach", "--pid-file", "/p", "-p=/tmp/p.json", "id"], ("/tmp/p.json", False)),
    (["exec", "-process", "/tmp/p.json", "id"], ("/tmp/p.json", False)),
    (["exec", "--cwd", "/", "id", "ls", "--process", "x"], None),  # after the id: the command's own
    (["exec", "id", "ls"], None),
    (["--root", "/r", "delete", "--force", "id"], None),
    (["state", "id"], None),
    (["features"], None),
    (["--version"], None),
    ([], None),
])
def test_which_spec_a_command_line_reads(args: list[str], expected: tuple[str, bool] | None) -> None:
    assert spec_to_patch(args) == expected


@pytest.fixture
def fake_runc(tmp_path: Path) -> tuple[Path, Path]:
    """A runc that records its arguments, one per line."""
    record = tmp_path / "argv"
    runc = tmp_path / "runc"
    runc.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    runc.chmod(0o755)
    return runc, record


def run_wrapper(fake: tuple[Path, Path], args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The wrapper as dockerd runs it: the file executed by its own #! interpreter."""
    installed = cwd / "runc-capfilter"
    shutil.copy(WRAPPER, installed)
    installed.chmod(0o755)
    done = subprocess.run([str(installed), *args], cwd=cwd, capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "CKSLAB_REAL_RUNC": str(fake[0])}, check=False)
    assert done.returncode == 0, done.stderr
    assert fake[1].read_text().splitlines() == args  # runc got exactly the same arguments
    return done


def this_host_lacks() -> list[str]:
    status = Path("/proc/self/status").read_text()
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    return missing_from_bounding_set(bounding_set(status), last)


def test_installed_wrapper_patches_the_bundle_on_create(tmp_path: Path, fake_runc: tuple[Path, Path]) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(DATA / "config.json", bundle / "config.json")
    (bundle / "config.json").chmod(0o640)
    original = json.loads((DATA / "config.json").read_text())
    run_wrapper(fake_runc, ["--root", "/run/x", "--log", "l.json", "--log-format", "json", "create",
                            "--bundle", str(bundle), "--pid-file", "p", "ctr"], tmp_path)
    patched = json.loads((bundle / "config.json").read_text())
    lacks = set(this_host_lacks())
    for name, caps in original["process"]["capabilities"].items():
        assert patched["process"]["capabilities"][name] == [c for c in caps if c not in lacks]
    assert patched["mounts"] == original["mounts"] and patched["linux"] == original["linux"]
    assert (bundle / "config.json").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in bundle.iterdir()] == ["config.json"]  # no temporary file left


def test_installed_wrapper_patches_the_process_file_on_exec(tmp_path: Path, fake_runc: tuple[Path, Path]) -> None:
    process = tmp_path / "runc-process123"
    shutil.copy(DATA / "process.json", process)
    run_wrapper(fake_runc, ["--root", "/run/x", "exec", "--process", str(process), "--detach", "ctr"], tmp_path)
    caps = json.loads(process.read_text())["capabilities"]
    lacks = this_host_lacks()
    assert all(c not in caps[name] for name in caps for c in lacks)
    assert "CAP_SYS_ADMIN" in caps["bounding"] and "CAP_CHOWN" in caps["effective"]


def test_other_commands_pass_through_untouched(tmp_path: Path, fake_runc: tuple[Path, Path]) -> None:
    shutil.copy(DATA / "config.json", tmp_path / "config.json")
    before = (tmp_path / "config.json").read_bytes()
    for args in (["--root", "/r", "delete", "--force", "ctr"], ["state", "ctr"], ["kill", "ctr", "9"],
                 ["--version"], ["exec", "ctr", "true"]):
        done = run_wrapper(fake_runc, args, tmp_path)
        assert done.stderr == ""
    assert (tmp_path / "config.json").read_bytes() == before


def test_an_unreadable_spec_is_left_to_runc_with_a_note(tmp_path: Path, fake_runc: tuple[Path, Path]) -> None:
    done = run_wrapper(fake_runc, ["create", "--bundle", str(tmp_path / "absent"), "ctr"], tmp_path)
    assert "runc-capfilter: could not filter" in done.stderr and "absent/config.json" in done.stderr


def test_real_runc_is_found_where_debian_puts_it() -> None:
    found = runc_capfilter.real_runc()
    assert found in runc_capfilter.REAL_RUNC_CANDIDATES
    if any(os.path.exists(p) for p in runc_capfilter.REAL_RUNC_CANDIDATES):
        assert os.path.exists(found)
