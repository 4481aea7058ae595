"""A class of three hosted on this machine: real Unix users, JupyterHub, a control plane each.

One class for the whole module (about two minutes): learners log in over HTTP as a browser does,
their server starts with their cluster, one solves a lab as their own Unix user and the
instructor sees it on the scoreboard; isolation is tried as learner A against B's files, kubeconfig
and API server; then the faults (a dead control plane, a crashed hub) and ``class down``.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import stat
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from ckslab.classhost import accounts, grading, layout, proxy, service
from cluster import binaries, ports, process, state
from cluster.backends.local import LocalBackend
from class_browser import active_cell_output, listing, log_in, open_item, run_all, scoreboard_row, \
    scoreboard_url, shot, wait_for_grade, wait_for_jupyterlab, wait_for_kernel
from class_host import Class, learner_python, processes_of
from conftest import cannot_run
from lab_server import CHROMIUM, CHROMIUM_ARGS, require_chromium

pytestmark = pytest.mark.cluster
LAB = "certificates-api"


@pytest.fixture(scope="module")
def klass() -> Iterator[Class]:
    if os.geteuid() != 0:
        cannot_run("hosting a class needs root (it makes Unix users)")
    if not shutil.which("runuser") or not shutil.which("useradd"):
        cannot_run("runuser and useradd are needed to act as learners")
    gone = binaries.missing()
    if gone:
        pytest.fail(f"Kubernetes binaries missing ({', '.join(gone)}): run `make binaries` first", pytrace=False)
    proxy.ensure(lambda _m: None)
    base = Path(tempfile.mkdtemp(prefix="ckslab-t-", dir="/tmp"))
    base.chmod(0o711)
    tag = uuid.uuid4().hex[:6]
    names = [f"ckslab-t-{tag}-{x}" for x in "abc"]
    (base / "roster.csv").write_text("name\n" + "\n".join(names) + "\n")
    python = learner_python(base)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CKSLAB_CLASS"))}
    env["CKSLAB_CLASS_DIR"] = str(base / "class")
    c = Class(base, python, names, ports.pick(18000, set()), env)
    try:
        up = c.ckslab("class", "up", str(base / "roster.csv"), "--port", str(c.port))
        assert up.returncode == 0, up.stdout + up.stderr
        assert "The class is up at" in up.stdout
        c.read_passwords()
        yield c
    finally:
        state_before = layout.read_state(c.where) if c.where.state.exists() else None
        c.ckslab("class", "down")
        if state_before is not None and process.is_running(state_before.pid):  # a down that failed
            os.kill(state_before.pid, signal.SIGKILL)
        for name in names:
            try:
                uid = pwd.getpwnam(name).pw_uid
            except KeyError:
                continue
            for pid in service.learner_processes(uid):  # only what this class started runs as them
                os.kill(pid, signal.SIGKILL)
            accounts.remove_user(name)
        shutil.rmtree(base, ignore_errors=True)


def test_up_twice_changes_nothing_and_homes_are_private(klass: Class) -> None:
    again = klass.ckslab("class", "up", str(klass.base / "roster.csv"), "--port", str(klass.port))
    assert again.returncode == 0 and "already up" in again.stdout, again.stdout + again.stderr
    assert stat.S_IMODE(klass.where.credentials.stat().st_mode) == 0o600
    assert set(klass.passwords) == {layout.INSTRUCTOR, *klass.names}
    for name in klass.names:
        home = layout.learner_home(name)
        assert stat.S_IMODE(home.home.stat().st_mode) == 0o700 and home.home.stat().st_uid == home.uid


def test_learners_log_in_and_their_server_starts_with_their_cluster(klass: Class) -> None:
    a, b, _ = klass.names
    sessions = {name: klass.login(name) for name in (a, b)}
    for name, session in sessions.items():  # both servers start at once, as in a class
        session.get(klass.url + "hub/spawn", timeout=60)
    for name, session in sessions.items():
        klass.open_lab(session, name)
        home = layout.learner_home(name)
        status = LocalBackend(home.lab).status()
        assert status is not None and status.healthy, f"{name}'s control plane is not healthy: {status}"
        current = state.read(home.lab.state_file)
        assert current is not None
        etcd = int(current.details["pids"]["etcd"])
        assert Path(f"/proc/{etcd}").stat().st_uid == home.uid, "the control plane must run as the learner"
    servers = {layout.learner_home(n).name: state.read(layout.learner_home(n).lab.state_file) for n in (a, b)}
    assert servers[a].server != servers[b].server  # type: ignore[union-attr]
    status = json.loads(klass.ckslab("class", "status", "--json").stdout)
    rows = {r["name"]: r for r in status["learners"]}
    assert rows[a]["logged_in"] and rows[a]["cluster"] == "up"
    assert not rows[klass.names[2]]["logged_in"] and rows[klass.names[2]]["cluster"] == "never started"


def _client_check(klass: Class, name: str, server: str) -> str:
    """As ``name``: GET ``server``/api/v1/namespaces with their own client certificate; the HTTP status."""
    home = layout.learner_home(name)
    script = (
        "import base64, os, ssl, sys, tempfile, urllib.request, urllib.error, yaml\n"
        f"user = yaml.safe_load(open({str(home.lab.kubeconfig)!r}))['users'][0]['user']\n"
        "ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
        "with tempfile.TemporaryDirectory() as d:  # nothing of the learner's is left in /tmp\n"
        "    open(d + '/c', 'wb').write(base64.b64decode(user['client-certificate-data']))\n"
        "    open(d + '/k', 'wb').write(base64.b64decode(user['client-key-data']))\n"
        "    ctx.load_cert_chain(d + '/c', d + '/k')\n"
        "try:\n"
        f"    print(urllib.request.urlopen({server!r} + '/api/v1/namespaces', context=ctx, timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
    )
    done = klass.as_learner(name, klass.python, "-c", script)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_learner_a_cannot_reach_b(klass: Class) -> None:
    a, b, _ = klass.names
    home_a, home_b = layout.learner_home(a), layout.learner_home(b)
    b_key = home_b.lab.lab / "local" / "etc" / "kubernetes" / "pki" / "ca.key"
    assert b_key.exists()
    read = klass.as_learner(a, "cat", str(b_key))
    assert read.returncode != 0 and "Permission denied" in read.stderr
    used = klass.as_learner(a, "kubectl", "--kubeconfig", str(home_b.lab.kubeconfig), "get", "namespaces")
    assert used.returncode != 0 and "permission denied" in used.stderr.lower(), used.stdout + used.stderr
    own = klass.as_learner(a, "kubectl", "get", "namespaces")
    assert own.returncode == 0, f"A's own kubectl must work (else the refusals prove nothing): {own.stderr}"
    b_server = state.read(home_b.lab.state_file).server  # type: ignore[union-attr]
    a_server = state.read(home_a.lab.state_file).server  # type: ignore[union-attr]
    assert _client_check(klass, a, a_server) == "200"
    assert _client_check(klass, a, b_server) in ("401", "403"), "B's API server must refuse A's certificate"


def test_a_solved_lab_shows_on_the_scoreboard(klass: Class) -> None:
    a, b, c = klass.names
    solved = klass.as_learner(a, "ckslab", "solve", LAB, "--yes")
    assert solved.returncode == 0, solved.stdout[-2000:] + solved.stderr[-2000:]
    instructor = klass.login(layout.INSTRUCTOR)
    board = instructor.get(klass.url + "services/scoreboard/", timeout=30)
    assert board.status_code == 200 and "Class scoreboard" in board.text
    graded = instructor.post(klass.url + "services/scoreboard/grade", timeout=300,
                             data={"_xsrf": instructor.cookies.get("_xsrf", path="/services/scoreboard/")
                                   or instructor.cookies.get("_xsrf")})
    assert graded.status_code == 200, graded.text[-500:]
    grades = instructor.get(klass.url + "services/scoreboard/grades.json", timeout=30).json()
    rows = {g["name"]: g for g in grades["learners"]}
    assert rows[a]["lab"] == LAB and rows[a]["score"] == rows[a]["max_score"] and rows[a]["passed"], rows[a]
    assert rows[b]["error"] == "no lab started yet" and rows[c]["control_plane"] == "never started"
    csv_text = instructor.get(klass.url + "services/scoreboard/grades.csv", timeout=30).text
    assert f"{a},{LAB},{rows[a]['score']}" in csv_text
    learner = klass.login(b)
    refused = learner.get(klass.url + "services/scoreboard/grades.json", timeout=30)
    assert refused.status_code == 403, "a learner must not see the scoreboard"
    status = json.loads(klass.ckslab("class", "status", "--json").stdout)
    row = next(r for r in status["learners"] if r["name"] == a)
    assert row["lab"] == LAB and row["score"] == rows[a]["max_score"]


def test_grading_the_class_from_the_hub_runs_nothing_of_a_learner_as_root(klass: Class) -> None:
    """``ckslab grade LAB --class hub`` runs as root: a learner's kubeconfig is theirs to write, and its
    ``exec`` credential plugin is a command the grader runs. It must run as that learner."""
    a, _, c = klass.names
    home_c = layout.learner_home(c)
    witness = home_c.home / "exec-ran-as"
    plugin = {"apiVersion": "client.authentication.k8s.io/v1", "interactionMode": "Never",
              "command": "/bin/sh", "args": ["-c", f"id -u > {witness}; echo {{}}"]}
    kubeconfig = json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
        "users": [{"name": "x", "user": {"exec": plugin}}]})
    planted = klass.as_learner(c, klass.python, "-c", (  # as C, in C's home, as any learner may
        f"import os; os.makedirs({str(home_c.lab.lab)!r}, exist_ok=True); "
        f"open({str(home_c.lab.kubeconfig)!r}, 'w').write({kubeconfig!r})"))
    assert planted.returncode == 0, planted.stderr
    out = klass.base / "report"
    roster_grade = klass.ckslab("grade", LAB, "--class", "hub", "--out", str(out))
    assert (out / "class.csv").exists(), roster_grade.stdout + roster_grade.stderr
    assert witness.read_text().strip() == str(home_c.uid), "a learner's kubeconfig plugin ran as root"
    lines = (out / "class.csv").read_text().splitlines()
    assert {line.split(",")[0] for line in lines[1:]} == set(klass.names)
    report = json.loads((out / "learners" / f"{a}.json").read_text())  # written back from A's grading
    assert report["score"] == report["max_score"] and any(line.startswith(f"{a},{report['score']},") for line in lines)
    home_c.lab.kubeconfig.unlink()
    uid = layout.learner_home(a).uid  # a grading process ends with os._exit: the client's key files it wrote
    since = (klass.base / "roster.csv").stat().st_mtime  # a recycled uid may own older files there
    left = [p for p in Path(tempfile.gettempdir()).iterdir()
            if p.lstat().st_uid == uid and p.lstat().st_mtime >= since]
    assert not left, f"A's gradings left files in /tmp: {left}"
    private = layout.learner_home(a).home / grading.GRADING_TMP  # their temporary files: in A's home, 0700
    assert private.is_dir() and private.stat().st_uid == uid and private.stat().st_mode & 0o077 == 0
    assert list(private.iterdir()) == [], "a grading that ended left its folder"


def test_what_a_lab_says_to_type_works_in_a_learners_terminal(klass: Class) -> None:
    """`ckslab start` says `make grade LAB=...`: in a learner's terminal (JupyterHub gives it JUPYTERHUB_USER), whose
    folder has no Makefile, ckslab's make runs it; `make jupyter`, which it no longer names there, starts no second
    JupyterLab and says where the notebook is."""
    _, b, _ = klass.names
    started = klass.as_learner(b, "env", f"JUPYTERHUB_USER={b}", "ckslab", "start", "certificates-api")
    said = " ".join(started.stdout.split())
    assert started.returncode == 0 and "Check: make grade LAB=certificates-api" in said, started.stdout + started.stderr
    assert "make jupyter" not in said, said
    found = re.search(r"Work in:\s+(\S+)", started.stdout)
    assert found is not None, started.stdout
    graded = klass.as_learner(b, "sh", "-c", f"cd {found.group(1)} && make grade LAB=certificates-api")
    shown = " ".join(graded.stdout.split())
    assert graded.returncode == 0 and "ckslab grade certificates-api" in shown and "Score: " in shown, \
        graded.stdout + graded.stderr
    second = klass.as_learner(b, "sh", "-c", f"cd {found.group(1)} && JUPYTERHUB_USER={b} make jupyter "
                                             "LAB=certificates-api")
    assert second.returncode != 0 and "this is your class's JupyterLab already" in " ".join(second.stderr.split()), \
        second.stdout + second.stderr


@pytest.mark.browser
def test_in_chromium_a_learner_solves_lab_1_and_the_instructor_sees_it(klass: Class) -> None:
    """C's first login on the hub's page, their JupyterLab, lab 1 run whole; the scoreboard; B sees only theirs."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    a, b, c = klass.names
    home = layout.learner_home(c)
    folder = f"{LAB}-{c}"
    copy = home.root / "workspace" / folder / "01-certificates-api.ipynb"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            learner = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            log_in(learner, klass.url, c, klass.passwords[c], shot_as="1-login")
            learner.locator("#progress-bar, .jp-LabShell").first.wait_for(timeout=60_000)  # a first login waits
            shot(learner, "2-first-login")
            wait_for_jupyterlab(learner, c)
            shown = listing(learner)
            shot(learner, "3-jupyterlab")
            assert folder in shown, shown
            open_item(learner, folder)
            learner.locator(".jp-DirListing-item", has_text="01-certificates-api.ipynb").first.wait_for()
            open_item(learner, "01-certificates-api.ipynb")
            wait_for_kernel(learner)
            shot(learner, "4-notebook")
            run_all(learner)
            record = wait_for_grade(home.lab.lab / "progress" / f"{LAB}--{c}.json")
            assert record.get("score") == record.get("max_score"), record
            wait_for_kernel(learner)
            sources = [cell["source"] for cell in json.loads(copy.read_text())["cells"]]
            grade_cell = next(i for i, s in enumerate(sources) if "lab.grade(" in "".join(s))
            graded = active_cell_output(learner, len(sources) - 1 - grade_cell)
            shot(learner, "5-graded")
            assert "Score: 100/100, every step passes." in graded, graded

            teacher = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            log_in(teacher, klass.url, layout.INSTRUCTOR, klass.passwords[layout.INSTRUCTOR])
            teacher.wait_for_url(scoreboard_url(klass.url) + "**", timeout=60_000)
            teacher.get_by_role("button", name="Grade now").click(timeout=300_000)  # back once graded
            teacher.wait_for_url(scoreboard_url(klass.url), timeout=300_000)
            row = scoreboard_row(teacher, c)
            shot(teacher, "6-scoreboard")
            assert LAB in row and "100/100" in row, row

            other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            log_in(other, klass.url, b, klass.passwords[b])
            wait_for_jupyterlab(other, b)
            theirs = listing(other)
            shot(other, "7-another-learner")
            assert f"{LAB}-{b}" in theirs and not [n for n in theirs if c in n or a in n], theirs
            other.goto(f"{klass.url}user/{c}/lab", timeout=60_000)
            other.wait_for_load_state()
            shot(other, "8-another-learners-server")
            assert other.locator(".jp-LabShell").count() == 0 and f"{LAB}-{c}" not in other.content(), other.url
        finally:
            browser.close()


def test_a_file_of_a_learner_that_blocks_a_read_does_not_stop_the_grading_of_the_class(klass: Class) -> None:
    a, _, c = klass.names
    key = next((layout.learner_home(a).root / "workspace").rglob(f"{a}.key"))  # A solved the lab
    kept = key.read_bytes()
    made = klass.as_learner(a, "sh", "-c", f"rm {key} && mkfifo {key}")  # a read of it waits for a writer
    assert made.returncode == 0, made.stderr
    try:
        graded = klass.ckslab("class", "grade", "--json", timeout=150, CKSLAB_LEARNER_GRADE_TIMEOUT="10")
        rows = {g["name"]: g for g in json.loads(graded.stdout)}
        assert rows[a]["error"].startswith("grading took over 10s and was stopped"), rows[a]
        assert rows[c]["score"] == rows[c]["max_score"], rows[c]  # the others are graded all the same
    finally:  # the scoreboard's own gradings (every minute) would wait 120 s on it in the next tests
        key.unlink()
        key.write_bytes(kept)
        os.chown(key, layout.learner_home(a).uid, layout.learner_home(a).gid)
        key.chmod(0o600)


def test_a_state_file_of_a_learner_that_blocks_a_read_does_not_stop_class_status(klass: Class) -> None:
    """`class status` reads each learner's control plane as that learner, in a fork with a time limit: a named
    pipe in place of A's state file says A's is unknown, and the others are listed all the same."""
    a, _, c = klass.names
    state_file = layout.learner_home(a).lab.state_file
    kept, mode = state_file.read_bytes(), state_file.stat().st_mode & 0o777
    made = klass.as_learner(a, "sh", "-c", f"rm {state_file} && mkfifo {state_file}")
    assert made.returncode == 0, made.stderr
    try:
        shown = klass.ckslab("class", "status", "--json", timeout=120, CKSLAB_CLASS_LOOK_TIMEOUT="5")
        assert shown.returncode == 0, shown.stderr
        rows = {r["name"]: r for r in json.loads(shown.stdout)["learners"]}
        assert rows[a]["cluster"] == "unknown" and rows[c]["cluster"] == "up", rows
    finally:
        state_file.unlink()
        state_file.write_bytes(kept)
        os.chown(state_file, layout.learner_home(a).uid, layout.learner_home(a).gid)
        state_file.chmod(mode)


def test_a_dead_control_plane_is_said_and_restarted_at_next_login(klass: Class) -> None:
    b = klass.names[1]
    home = layout.learner_home(b)
    current = state.read(home.lab.state_file)
    assert current is not None
    apiserver = int(current.details["pids"]["kube-apiserver"])
    os.kill(apiserver, signal.SIGKILL)
    graded = klass.ckslab("class", "grade", "--json")
    rows = {g["name"]: g for g in json.loads(graded.stdout)}
    assert rows[b]["control_plane"] == "down", rows[b]
    klass.login(b)  # the authenticator brings the plane back (in the background)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = LocalBackend(home.lab).status()
        if status is not None and status.healthy:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"{b}'s control plane did not come back after their login")


def test_a_crashed_hub_finds_servers_and_clusters_again(klass: Class) -> None:
    a = klass.names[0]
    current = layout.read_state(klass.where)
    assert current is not None
    os.kill(current.pid, signal.SIGKILL)
    again = klass.ckslab("class", "up", str(klass.base / "roster.csv"), "--port", str(klass.port))
    assert again.returncode == 0 and "started again" in again.stdout, again.stdout + again.stderr
    session = klass.login(a)
    assert klass.open_lab(session, a) < 30, "A's server should have been found running, not started again"
    status = LocalBackend(layout.learner_home(a).lab).status()
    assert status is not None and status.healthy


def test_down_while_a_learner_works_keeps_files_and_leaves_no_process(klass: Class) -> None:
    a = klass.names[0]
    home = layout.learner_home(a)
    klass.as_learner(a, "sh", "-c", "nohup sleep 600 >/dev/null 2>&1 &")
    hub = layout.read_state(klass.where)
    assert hub is not None
    down = klass.ckslab("class", "down")
    assert down.returncode == 0 and "files are kept" in down.stdout, down.stdout + down.stderr
    for name in klass.names:
        left = processes_of(layout.learner_home(name).uid)
        assert not left, f"{name} still runs: {left}"
    assert not process.is_running(hub.pid)
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and
                str(klass.where.base) in _cmdline(p)], "a process of the class is left"
    assert (home.root / "workspace").is_dir() and any((home.root / "workspace").rglob(f"{a}.key"))
    assert home.lab.state_file.exists(), "the cluster's data is kept for the next class up"
    twice = klass.ckslab("class", "down")
    assert twice.returncode == 0 and "No class is up" in twice.stdout


def test_down_with_delete_data_removes_the_learners_accounts_and_homes(klass: Class) -> None:
    """Last: the class up again over the kept accounts, then `class down --delete-data` (after a class)."""
    homes = {name: layout.learner_home(name).home for name in klass.names}
    up = klass.ckslab("class", "up", str(klass.base / "roster.csv"), "--port", str(klass.port))
    assert up.returncode == 0, up.stdout + up.stderr
    # What a learner leaves in /tmp outlives `userdel --remove`: the next account with their uid would own it.
    leftover = klass.as_learner(klass.names[0], "sh", "-c", "d=$(mktemp -d /tmp/ckslab-t-left-XXXX) && "
                                "touch $d/key.pem && mktemp /tmp/ckslab-t-left-XXXX && echo $d")
    assert leftover.returncode == 0, leftover.stderr
    left = [Path(p) for p in leftover.stdout.split()]
    assert len(left) == 2 and all(p.exists() for p in left)
    down = klass.ckslab("class", "down", "--delete-data")
    said = " ".join(down.stdout.split())
    assert down.returncode == 0 and "Unix accounts and homes are deleted" in said, down.stdout + down.stderr
    for name, home in homes.items():
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
        assert not home.exists(), f"{name}'s home {home} is left"
    assert not [p for p in left if p.exists()], "what the learner left in /tmp is left"
    assert klass.where.credentials.exists(), "the class folder stays"


def _cmdline(p: Path) -> str:
    try:
        return (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""

