"""ckslab class, without a cluster: the roster's rules, passwords, TLS and the one-line faults."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from ckslab import cli
from ckslab.classhost import accounts, layout, roster, tls
from cluster.errors import CkslabError, UsageError
from cluster.waiting import wait_until


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return path


def test_roster_reads_names_in_order(tmp_path: Path) -> None:
    assert roster.read(write(tmp_path, "name\nalice\nbob-2\n")).names == ("alice", "bob-2")


@pytest.mark.parametrize("text, says", [
    ("name\nalice\nbob\nalice\n", "line 4: alice is listed twice (first on line 2)"),
    ("name\nAlice\n", "line 2: 'Alice' is not a usable Unix user name"),
    ("name\nbob smith\n", "is not a usable Unix user name"),
    ("name\n-bob\n", "is not a usable Unix user name"),
    ("name\nbob_1\n", "is not a usable Unix user name"),
    ("name\n" + "a" * 33 + "\n", "is not a usable Unix user name"),
    ("name\nroot\n", "'root' is reserved"),
    ("name\ninstructor\n", "is reserved"),
    ("name\n\n", "empty"),
    ("login\nalice\n", "needs a header line with a `name` column"),
])
def test_roster_refuses_bad_names_with_the_line(tmp_path: Path, text: str, says: str) -> None:
    if says == "empty":  # csv skips blank lines: a roster of none has no rows at all
        says = "needs a header line with a `name` column"
    with pytest.raises(UsageError) as err:
        roster.read(write(tmp_path, text))
    assert says in str(err.value)


def test_passwords_are_hashed_and_checked() -> None:
    password = accounts.new_password()
    stored = accounts.hash_password(password)
    assert password not in stored and stored.startswith("scrypt$")
    assert accounts.check_password(password, stored)
    assert not accounts.check_password(password + "x", stored)
    assert not accounts.check_password(password, "plain")


def test_class_certificate_names_the_address_and_keeps_its_ca(tmp_path: Path) -> None:
    where = layout.ClassPaths(tmp_path / "class")
    crt, key, ca = tls.class_certificate(where, "192.0.2.10")
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "192.0.2.10" in [str(i) for i in sans.get_values_for_type(x509.IPAddress)]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((where.tls / "ca.key").stat().st_mode) == 0o600
    first_ca = ca.read_bytes()
    tls.class_certificate(where, "192.0.2.11")
    assert ca.read_bytes() == first_ca, "a second certificate must come from the same class CA"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_bad_roster_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKSLAB_CLASS_DIR", str(tmp_path / "class"))
    code, said = run_cli(capsys, "class", "up", str(write(tmp_path, "name\nann\nann\n")))
    assert code == 2 and "listed twice" in said and "Traceback" not in said
    assert len(said.strip().splitlines()) <= 2  # one line, maybe wrapped once by rich


def test_not_root_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKSLAB_CLASS_DIR", str(tmp_path / "class"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, said = run_cli(capsys, "class", "up", str(write(tmp_path, "name\nann\n")))
    assert code == 1 and "needs root" in said and "sudo" in said and "Traceback" not in said


def test_a_taken_port_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "require_root", lambda: None)  # the root check has its own test
    monkeypatch.setenv("CKSLAB_CLASS_DIR", str(tmp_path / "class"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, said = run_cli(capsys, "class", "up", str(write(tmp_path, "name\nann\n")), "--port", str(port))
    assert code == 1 and f"port {port} on 127.0.0.1 is taken" in said and "--port" in said
    assert not (tmp_path / "class" / "state.json").exists()


def test_ip_must_be_an_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, said = run_cli(capsys, "class", "up", str(write(tmp_path, "name\nann\n")), "--ip", "example.org")
    assert code == 2 and "is not an IP address" in said


def test_a_user_ckslab_did_not_make_is_never_taken_over() -> None:
    with pytest.raises(CkslabError, match="was not made by ckslab"):
        accounts.ensure_user("daemon")


def test_down_without_a_class_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKSLAB_CLASS_DIR", str(tmp_path / "class"))
    code, said = run_cli(capsys, "class", "down")
    assert code == 0 and "No class is up" in said
    code, said = run_cli(capsys, "class", "status", "--json")
    assert code == 3 and '"up": false' in said


def test_scoreboard_says_a_dead_control_plane_restarts_at_next_login() -> None:
    from ckslab.classhost import scoreboard

    row = {"name": "bob", "lab": "certificates-api", "score": 40, "max_score": 100, "passed": False,
           "steps": {"key": True, "csr": False}, "control_plane": "down", "error": "", "seconds": 1.0}
    page = scoreboard.page({"graded_at": "now", "seconds": 1.0, "learners": [row]}, "", "/services/scoreboard/")
    assert "control plane down: it restarts at their next login" in page and "40/100" in page
    assert "grades.csv" in page and "grades.json" in page


def test_beyond_loopback_the_hub_serves_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ckslab.classhost import service

    monkeypatch.setenv("CKSLAB_CLASS_DIR", str(tmp_path / "class"))
    where = layout.class_paths()
    where.hub.mkdir(parents=True)
    names = roster.Roster(("ann",), tmp_path / "roster.csv")
    loopback = service._settings(where, names, "127.0.0.1", 8000, None, Path("chp"), None)
    assert "ssl_cert" not in loopback
    wide = service._settings(where, names, "0.0.0.0", 8000, None, Path("chp"), None)
    assert Path(str(wide["ssl_cert"])).parent == where.tls and (where.tls / "ca.crt").exists()
    given = service._settings(where, names, "0.0.0.0", 8000, (Path("/x.crt"), Path("/x.key")), Path("chp"), None)
    assert given["ssl_cert"] == "/x.crt" and given["ssl_key"] == "/x.key"


class _Handler:
    def __init__(self, name: str | None) -> None:
        self.current_user = None if name is None else type("User", (), {"name": name})()


def test_the_landing_page_sends_the_instructor_to_the_scoreboard_after_their_login() -> None:
    # Asked before the login as well: a learner's spawn there sent the instructor to a spawn that fails.
    assert layout.landing(_Handler(None)) == ""
    assert layout.landing(_Handler(layout.INSTRUCTOR)) == f"/services/{layout.SCOREBOARD}/"
    assert layout.landing(_Handler("alice")) == "/hub/spawn"
    for config in ("jupyterhub_config.py", "jupyterhub_config_kube.py"):  # one server and Kubernetes alike
        text = (Path(layout.__file__).parent / config).read_text()
        assert "c.JupyterHub.default_url = layout.landing" in text, config


def test_a_learner_asking_for_the_class_state_is_told_it_is_the_instructors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = layout.ClassPaths(tmp_path)
    where.state.write_text("{}")

    def refused(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refused)  # as a learner, who may not read root's 0600 file
    with pytest.raises(CkslabError) as err:
        layout.read_state(where)
    assert "only the instructor can read the class state" in str(err.value) and "damaged" not in str(err.value)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_scoreboard_stopped_mid_grading_leaves_no_grading_behind(tmp_path: Path, stop: int) -> None:
    """The hub stops its services with SIGINT, then SIGTERM (`class down`): a grading under way, and what it
    started, ends with the scoreboard instead of running on as an orphan."""
    pids = tmp_path / "pids"
    fake = tmp_path / "python"  # what the scoreboard runs as `python -m ckslab class grade`: a grading that hangs
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $$ $! > {pids}.tmp && mv {pids}.tmp {pids}\nwait\n")
    fake.chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    board = subprocess.Popen(
        [sys.executable, "-c", f"import sys; sys.executable = {str(fake)!r}; "
         "from ckslab.classhost import scoreboard; scoreboard.run()"],
        env={**os.environ, "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}", "CKSLAB_SCOREBOARD_INTERVAL": "600"},
        stderr=subprocess.PIPE, text=True,
        # Started with SIGINT ignored, as by a hub that a script's background job started (POSIX gives such
        # jobs SIGINT ignored, and exec keeps it): the hub's SIGINT must stop it all the same.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # noqa: PLW1509
    try:
        wait_until(pids.exists, 60, what="the scoreboard's first grading")
        grading = [int(p) for p in pids.read_text().split()]
        board.send_signal(stop)
        assert board.wait(timeout=30) is not None
        wait_until(lambda: not any(_alive(p) for p in grading), 10, what="the grading and its child to end")
        assert "Traceback" not in (board.stderr.read() if board.stderr else "")
    finally:
        board.kill()
        board.wait()
        for pid in (int(p) for p in (pids.read_text().split() if pids.exists() else [])):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """A process ``pid`` runs (a zombie of ours counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("learners", [1, 10, 30])
def test_the_hub_waits_for_a_learner_queued_behind_the_whole_class(learners: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control planes start one at a time and the hub's start_timeout counts that queue: the last learner of a
    class logging in together must not be given up on (a flat 240 s lost 16 of 30 in `ckslab bench`)."""
    from traitlets.config import Config

    from ckslab.classhost import spawner

    settings = {"ip": "127.0.0.1", "port": 1, "hub_port": 2, "proxy": "chp", "proxy_api_port": 3, "proxy_token": "t", "scoreboard_port": 4,
                "learners": [f"l{i}" for i in range(learners)], "python": sys.executable, "api_token": "a",
                "interval": 60}
    monkeypatch.setattr(layout, "read_settings", lambda _where: settings)
    config = Config()
    source = (Path(layout.__file__).parent / "jupyterhub_config.py").read_text()
    exec(compile(source, "jupyterhub_config.py", "exec"), {"get_config": lambda: config})  # noqa: S102
    queued = (learners - 1) * 40  # the last one's wait behind the others, at ~40 s a plane on a loaded server
    assert config.Spawner.start_timeout >= queued + spawner.CONTROL_PLANE_TIMEOUT
