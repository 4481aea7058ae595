"""``ckslab class up|down|status|grade``: a class hosted on this server (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ckslab.classhost import grading, hub, layout, proxy, roster, service, tls
from cluster.errors import UsageError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _say(message: str) -> None:
    err.print(message, soft_wrap=True)


def add_parser(subparsers: Any) -> None:
    """Register ``class`` on the ``ckslab`` command line."""
    s = subparsers.add_parser("class", help="host a class on this server: JupyterHub, a control plane per learner")
    sub = s.add_subparsers(dest="class_command", metavar="ACTION", required=True)
    u = sub.add_parser("up", help="start JupyterHub with a login, a Unix user and a control plane per learner")
    u.add_argument("roster", metavar="ROSTER.csv", help="a CSV with a `name` column: one learner a line")
    u.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need TLS)")
    u.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    u.add_argument("--ssl-cert", help="your TLS certificate (PEM) for --ip; default: one from the class's own CA")
    u.add_argument("--ssl-key", help="its private key (PEM)")
    u.add_argument("--kubernetes", action="store_true",
                   help="deploy JupyterHub with KubeSpawner on a Kubernetes cluster: a pod per learner")
    u.add_argument("--kubeconfig", help="with --kubernetes: the cluster's kubeconfig (default: kubectl's current)")
    u.set_defaults(func=cmd_up)
    d = sub.add_parser("down", help="stop every server, control plane and the hub (learners' files are kept)")
    d.add_argument("--delete-data", action="store_true",
                   help="also delete every learner's work: on this server their Unix accounts and homes, "
                        "on Kubernetes the namespace with their PVCs")
    d.set_defaults(func=cmd_down)
    st = sub.add_parser("status", help="each learner: logged in, cluster up, current lab, score")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    st.set_defaults(func=cmd_status)
    g = sub.add_parser("grade", help="grade every learner's current lab now (what the scoreboard does each minute)")
    g.add_argument("--json", action="store_true", help="print the grades as JSON")
    g.set_defaults(func=cmd_grade)
    sub.add_parser("proxy", help="install JupyterHub's proxy (npm's configurable-http-proxy) into the cache"
                   ).set_defaults(func=cmd_proxy)


def cmd_proxy(args: argparse.Namespace) -> int:
    out.print(f"configurable-http-proxy {proxy.VERSION}: {proxy.ensure(_say)}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    if args.kubeconfig and not args.kubernetes:
        raise UsageError("--kubeconfig goes with --kubernetes.", "Add --kubernetes, or leave --kubeconfig out.")
    if args.kubernetes:
        return _up_kubernetes(args)
    ip = tls.check_ip(args.ip)
    if bool(args.ssl_cert) != bool(args.ssl_key):
        raise UsageError("--ssl-cert and --ssl-key go together.", "Give both, or neither for the class's own CA.")
    cert = tls.given_certificate(Path(args.ssl_cert), Path(args.ssl_key)) if args.ssl_cert else None
    if cert is not None and ip == "127.0.0.1":
        _say("note: TLS on 127.0.0.1 as asked")
    started = time.monotonic()
    state = service.up(roster.read(Path(args.roster)), ip, args.port, cert, _say)
    where = layout.class_paths()
    if state.details.get("already_up"):
        out.print(f"The class is already up at {state.url} ({_learners(len(state.learners))}); nothing changed. "
                  "`ckslab class down` stops it.", soft_wrap=True)
        return 0
    verb = "started again" if state.details.get("restarted") else "is up"
    out.print(f"The class {verb} at {state.url} in {time.monotonic() - started:.1f}s: {_learners(len(state.learners))}, "
              f"scoreboard at {state.url}services/{layout.SCOREBOARD}/ (log in as {layout.INSTRUCTOR}).",
              soft_wrap=True)
    if state.tls:
        made_here = str(layout.read_settings(where).get("ssl_cert", "")).startswith(str(where.tls))
        how = (f"a certificate from the class's own CA: learners' browsers must trust {where.tls / 'ca.crt'}"
               if made_here else "your certificate")
        out.print(f"Listening on {state.ip}, so over TLS only, with {how}.", soft_wrap=True)
    out.print(f"Logins and passwords, for you only: {where.credentials} (0600).", soft_wrap=True)
    return 0


def _up_kubernetes(args: argparse.Namespace) -> int:
    if args.ip != "127.0.0.1" or args.ssl_cert or args.ssl_key or args.port != 8000:
        raise UsageError("--ip, --port and --ssl-* are for one server; on Kubernetes the proxy-public Service "
                         "is the entry (expose it with your Ingress or LoadBalancer).", "Leave them out.")
    started = time.monotonic()
    state = service.up_kubernetes(roster.read(Path(args.roster)), args.kubeconfig,
                                  lambda message: _say(f"{time.monotonic() - started:6.1f}s  {message}"))
    where = layout.class_paths()
    out.print(f"The class is up on Kubernetes (namespace {state.details['namespace']}, context "
              f"{state.details['context']}) in {time.monotonic() - started:.1f}s: {_learners(len(state.learners))}, "
              f"a pod each at their first login (image {state.details['image']}). Reach it: {state.url} "
              f"(scoreboard: /services/{layout.SCOREBOARD}/, log in as {layout.INSTRUCTOR}).", soft_wrap=True)
    out.print(f"Logins and passwords, for you only: {where.credentials} (0600).", soft_wrap=True)
    return 0


def _learners(count: int) -> str:
    return f"{count} learner" + ("" if count == 1 else "s")


def cmd_down(args: argparse.Namespace) -> int:
    state, running = service.down(_say, args.delete_data)
    if state is None:
        out.print("No class is up; nothing to do." + (
            " --delete-data removes the accounts of the class it takes down; those of a class already down stay "
            "until `class up ROSTER.csv` and `class down --delete-data` with its roster (or `userdel --remove "
            "NAME`)." if args.delete_data else ""), soft_wrap=True)
        return 0
    if state.details.get("kubernetes"):
        kept = ("every learner's PVC was deleted with the namespace (--delete-data)" if args.delete_data else
                "each learner's PVC (claim-<name>) is kept: `class up --kubernetes` again finds their work; "
                "`class down --delete-data` deletes it")
        had = f" ({', '.join(running)} had a pod)" if running else ""
        out.print(f"The class is down on Kubernetes: no hub, proxy or learner pod is left{had}; {kept}.",
                  soft_wrap=True)
        return 0
    if args.delete_data:
        out.print(f"The class is down: no server, control plane or hub of it is left running, and "
                  f"the learners' Unix accounts and homes are deleted ({', '.join(state.learners)}; "
                  "--delete-data). "
                  f"The class folder stays: {layout.class_paths().base}.", soft_wrap=True)
        return 0
    kept = f"; {', '.join(running)} had a server running: their files are kept" if running else ""
    out.print(f"The class is down: no server, control plane or hub of it is left running{kept}. "
              "Each learner's files stay in their home (~/ckslab); `class down --delete-data` deletes their "
              "accounts with them.", soft_wrap=True)
    return 0


def rows() -> tuple[layout.ClassState | None, list[dict[str, Any]]]:
    """The class and one dict a learner: name, logged_in, cluster, lab, score, max_score, graded_at."""
    where = layout.class_paths()
    state = layout.read_state(where)
    if state is None:
        return None, []
    if state.details.get("kubernetes"):
        from ckslab.classhost import kubeclass

        state.details["hub_up"], kube_rows = kubeclass.status(where, state)
        return state, kube_rows
    servers: dict[str, bool] = {}
    hub_up = hub.is_running(state.pid) and hub.answers(where)
    if hub_up:
        for user in hub.api(where, "GET", "/users"):
            server = (user.get("servers") or {}).get("")
            servers[user["name"]] = bool(server and server.get("ready"))
    last = grading.last(where)
    grades = {g["name"]: g for g in last["learners"]}
    found = []
    accounts = [n for n in state.learners if layout.has_account(n)]
    looked = grading.look(where, accounts)  # each read as the learner, in a fork of its own
    for name in state.learners:
        if name not in looked:
            found.append({"name": name, "logged_in": False, "cluster": "no Unix user", "lab": None,
                          "score": None, "max_score": None, "graded_at": None})
            continue
        g = grades.get(name, {})
        cluster, lab = looked[name]
        found.append({"name": name, "logged_in": servers.get(name, False) if hub_up else None,
                      "cluster": cluster, "lab": lab,
                      "score": g.get("score"), "max_score": g.get("max_score"), "graded_at": last["graded_at"]})
    state.details["hub_up"] = hub_up
    return state, found


def cmd_status(args: argparse.Namespace) -> int:
    state, learners = rows()
    if state is None:
        if args.json:
            print(json.dumps({"up": False, "learners": []}))
        else:
            out.print("No class is up. Run `ckslab class up ROSTER.csv`.")
        return 3
    if args.json:
        print(json.dumps({"up": True, "url": state.url, "hub": state.details["hub_up"], "learners": learners}, indent=2))
        return 0
    table = Table(title=f"class at {state.url}" + ("" if state.details["hub_up"] else
                                                   " (hub NOT running: `ckslab class up` starts it again)"))
    for column in ("learner", "logged in", "cluster", "lab", "score"):
        table.add_column(column)
    for r in learners:
        table.add_row(r["name"], {True: "yes", False: "no", None: "?"}[r["logged_in"]], r["cluster"], r["lab"] or "-",
                      "-" if r["score"] is None else f"{r['score']}/{r['max_score']}")
    out.print(table)
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    where = layout.class_paths()
    state = layout.read_state(where)
    if state is None:
        raise UsageError("no class is up.", "Run `ckslab class up ROSTER.csv` first.")
    if state.details.get("kubernetes"):
        from ckslab.classhost import kubeclass

        graded = kubeclass.grade(where, kubeclass.target_of(state), state.learners)
    else:
        graded = grading.grade(where, state.learners)
    if args.json:
        print(json.dumps(graded, indent=2))
    else:
        for g in graded:
            score = f"{g['score']}/{g['max_score']}" if g["score"] is not None else f"not graded: {g['error']}"
            out.print(f"{g['name']:<20} {g['lab'] or '-':<28} {score}  (control plane {g['control_plane']})")
    return 0
