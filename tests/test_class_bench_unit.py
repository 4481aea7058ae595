"""``ckslab bench``'s hosted class without a class: reading /proc, and the arithmetic of its figures (fast).

The figures themselves are measured by ``make bench``, never asserted here.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from ckslab import bench, cli
from ckslab.classhost import benchfigures, procstats
from ckslab.classhost.benchfigures import LearnerMemory, Measured

# proc(5)'s example shape; the comm holds a space and a ')' as a process may name itself.
STAT = "4242 (kube apiserver) x) S 17 4242 4242 0 -1 4194560 900 0 0 0 150 25 7 3 20 0 9 0 1000 0 0 " + "0 " * 30


def test_stat_is_split_after_the_last_parenthesis() -> None:
    s = procstats.parse_stat(STAT)
    assert (s.pid, s.comm, s.ppid, s.ticks) == (4242, "kube apiserver) x", 17, 150 + 25 + 7 + 3)


@pytest.mark.parametrize("text", ["", "4242 kube-apiserver S 1 2 3", "1 (a) S 1 2 3"])
def test_a_line_that_is_not_stat_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        procstats.parse_stat(text)


def test_smaps_rollup_gives_rss_and_pss_in_kb() -> None:
    text = ("55d0-7ffc ---p 00000000 00:00 0   [rollup]\nRss:  1744 kB\nPss:  237 kB\nPss_Dirty:  112 kB\n"
            "Pss_Anon:  112 kB\nShared_Clean:  1500 kB\n")
    assert procstats.parse_smaps_rollup(text) == (1744, 237)
    with pytest.raises(ValueError, match="Pss"):
        procstats.parse_smaps_rollup("Rss: 10 kB\nPss_Anon: 5 kB\n")


def test_descendants_follow_the_whole_tree_and_nothing_else() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
    assert procstats.descendants(10, parents) == {10, 11, 12, 13}
    assert procstats.descendants(99, parents) == set()


def test_this_process_is_read_from_proc() -> None:
    mine = procstats.stats()[os.getpid()]
    assert mine.ppid == os.getppid()
    rss, pss = procstats.memory_kb(os.getpid())
    assert rss >= pss > 0
    assert procstats.owners([os.getpid()]) == {os.getpid(): os.getuid()}


def test_fit_floors_and_never_goes_below_zero() -> None:
    assert benchfigures.fit(24576, 576, 800) == 30
    assert benchfigures.fit(24576, 577, 800) == 29
    assert benchfigures.fit(100, 200, 10) == 0
    with pytest.raises(ValueError):
        benchfigures.fit(100, 0, 0)


def test_room_for_refuses_a_class_the_memory_cannot_hold() -> None:
    assert benchfigures.room_for(10, 10 * benchfigures.LEARNER_MB_GUESS + benchfigures.SPARE_MB) == ""
    why = benchfigures.room_for(30, 8000)
    assert "30 learners need about 14524 MB" in why and "8000 MB are available" in why and "--hosted-learners" in why


def _measured(n: int) -> Measured:
    return Measured(
        learners=n, up_seconds=12.34, ready_seconds=[10.0 * (i + 1) for i in range(n)],
        memory=[LearnerMemory(500.0, 300.0, 200.0, 100.0 + i) for i in range(n)], hub_rss_mb=300.0,
        hub_pss_mb=250.0, idle_seconds=30.0, idle_cpu_learners=0.03 * 30 * n, idle_cpu_hub=0.3,
        idle_cpu_control_planes=0.02 * 30 * n, grade_seconds=8.0,
        grade_inner_seconds=6.0, grade_cpu_seconds=6.0, grade_interval=60.0, down_seconds=20.0)


def test_figures_of_a_class_of_ten_and_its_extrapolation_to_thirty() -> None:
    f = benchfigures.figures(_measured(10))
    mem = f["hosted_class_memory_mb"]
    assert mem["learner_pss"] == 404.5 and mem["learner_pss_max"] == 409.0 and mem["learner_rss"] == 700.0
    assert mem["control_plane_pss"] == 300.0 and mem["class_pss"] == 10 * 404.5 + 250.0
    assert f["hosted_class_ready_seconds"] == 100.0 and f["hosted_class_ready_first_seconds"] == 10.0
    assert f["hosted_class_idle_cores"] == 0.31 and f["hosted_class_idle_cores_hub"] == 0.01
    assert f["hosted_class_idle_cores_per_learner"] == 0.03 and f["hosted_class_idle_cores_control_planes"] == 0.2
    assert f["hosted_class_fit_24gb"] == (24576 - 250) // 404.5 == 60
    assert f["hosted_class_fit_under_one_core"] == 33  # (1 - 0.01) / 0.03
    assert f["hosted_class_scoreboard_cores"] == round(6.0 / (8.0 + 60.0), 3)  # it grades, then waits 60 s
    x = f["hosted_class_extrapolated_30"]
    assert x["from_learners"] == 10 and x["idle_cores"] == 0.91 and x["memory_mb"] == 250.0 + 30 * 404.5
    assert x["grade_seconds"] == 2.0 + 6.0 * 3 and x["scoreboard_cores"] == round(18.0 / (20.0 + 60.0), 3) and x["ready_seconds"] == 300.0


def test_a_class_of_thirty_is_not_extrapolated_and_its_rows_say_measured() -> None:
    f = benchfigures.figures(_measured(30))
    assert "hosted_class_extrapolated_30" not in f
    labels = [label for label, *_ in benchfigures.rows(f)]
    assert "  idle CPU of a class of 30 (measured)" in labels
    ten = [label for label, *_ in benchfigures.rows(benchfigures.figures(_measured(10)))]
    assert "  the scoreboard grades 30 (extrapolated from 10)" in ten


@pytest.mark.parametrize("broken", [
    {"learners": 0, "memory": [], "ready_seconds": []},
    {"memory": []},
    {"idle_seconds": 0.0},
])
def test_inconsistent_measurements_are_refused(broken: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        benchfigures.figures(replace(_measured(3), **broken))  # type: ignore[arg-type]


def test_bench_table_shows_at_least_targets_the_right_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = {"kubernetes_version": "v1", "cpus": 2, "up_seconds": 7.0, "approve_to_certificate_p50_seconds": 0.01,
              "approve_to_certificate_p95_seconds": 0.02, "rss_mb_total": 500.0, "rss_mb": {},
              "class_grading_seconds": None, **benchfigures.figures(_measured(10))}
    monkeypatch.setattr(bench, "run", lambda *a, **k: result)
    console = Console(record=True, width=200)
    assert bench.main(str(tmp_path / "b.json"), 1, console, lambda _m: None) == 0
    lines = console.export_text().splitlines()
    fit = next(line for line in lines if "fit in 24 GB" in line)
    assert ">= 30 " in fit and fit.rstrip(" │").endswith("yes")
    idle = next(line for line in lines if "idle CPU of a class of 30" in line)
    assert "<= 1.0 cores" in idle and idle.rstrip(" │").endswith("yes")
    grade = next(line for line in lines if "scoreboard grades 30" in line)
    assert "20.0s" in grade and "<= 30.0s" in grade


def test_the_option_reaches_the_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, int] = {}
    monkeypatch.setattr(bench, "main", lambda *a: seen.setdefault("hosted", a[-1]) and 0)
    assert cli.main(["bench", "--hosted-learners", "0", "--json", os.devnull]) == 0
    assert seen == {"hosted": 0}
    assert bench.hosted_class_measurements(0, lambda _m: None) == {"hosted_class_skipped": "not asked for"}


def test_the_hubs_reason_for_giving_up_on_a_server_is_read_from_its_log(tmp_path: Path) -> None:
    from ckslab.classhost import bench as class_bench

    log = tmp_path / "jupyterhub.log"
    log.write_text(
        "[I 2026-12-06 03:39:50.817 JupyterHub pages:516] ann is pending spawn\n"
        "[W 2026-12-06 03:39:58.961 JupyterHub base:1312] User ann is slow to start (timeout=10)\n"
        "[W 2026-12-06 03:43:50.100 JupyterHub user:1058] ann's server failed to start in 240 seconds, giving up.\n"
        "[W 2026-12-06 03:43:50.467 JupyterHub user:1058] ann-2's server failed to start in 240 seconds, giving up.\n"
        "[I 2026-12-06 03:43:51.497 JupyterHub log:192] 200 GET /hub/api/users (ckslab-class@127.0.0.1) 133.13ms\n")
    assert class_bench._why_given_up(log, "ann") == "ann's server failed to start in 240 seconds, giving up."
    assert class_bench._why_given_up(log, "bob") == "the hub's log says nothing about it"
    assert class_bench._why_given_up(tmp_path / "gone.log", "ann") == "no hub log"


def test_a_process_left_by_the_class_is_found_by_its_class_folder(tmp_path: Path) -> None:
    import subprocess

    from ckslab.classhost import bench as class_bench

    b = class_bench.Bench(tmp_path, "python3", [], lambda _m: None)
    other = class_bench.Bench(tmp_path / "other", "python3", [], lambda _m: None)
    left = subprocess.Popen(["sleep", "30"], env={"CKSLAB_CLASS_DIR": str(b.where.base), "PATH": os.environ["PATH"]})
    try:
        assert left.pid in class_bench._of_class(b)
        assert left.pid not in class_bench._of_class(other)
    finally:
        left.kill()
        left.wait()
