"""``make bench``: how fast the local control plane comes up and signs, and what it weighs.

Runs its own cluster in a temporary project root (the learner's cluster is left alone), with
the cached binaries. Targets are recorded, not asserted: up <= 8 s, approve->certificate
p95 <= 0.5 s, resident memory of the three processes <= 600 MB.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from cluster import csr, pki
from cluster.backends.local import LocalBackend
from cluster.controlplane import COMPONENTS
from cluster.paths import LabPaths
from cluster.versions import KUBERNETES_VERSION

TARGETS = {"up_seconds": 8.0, "approve_to_certificate_p95_seconds": 0.5, "rss_mb_total": 600.0}


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation."""
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]) if len(values) > 1 \
        else values[0]


def signing_latencies(kubeconfig: Path, count: int) -> list[float]:
    """Seconds from approval to a certificate in status, for ``count`` fresh CSRs."""
    api = csr.api_client(kubeconfig)
    key = pki.new_ec_key()
    latencies = []
    for i in range(count):
        name = f"bench-{i}"
        csr.submit(api, name, pki.csr_pem(pki.new_csr(key, f"bench-{i}")))
        t0 = time.monotonic()
        csr.approve(api, name)
        result = csr.wait_for_outcome(api, name, timeout=30, interval=0.01)
        latencies.append(time.monotonic() - t0)
        if result.certificate is None:
            raise RuntimeError(f"CSR {name} ended {result.condition}: {result.message}")
        csr.delete(api, name)
    return latencies


def run(count: int, say: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ckslab-bench-") as tmp:
        backend = LocalBackend(LabPaths(Path(tmp)))
        try:
            t0 = time.monotonic()
            backend.up(say)
            up_seconds = time.monotonic() - t0
            say(f"timing {count} approvals")
            latencies = signing_latencies(backend.kubeconfig(), count)
            status = json.loads(backend.lab.state_file.read_text())
            rss = {c: rss_mb(int(status["details"]["pids"][c])) for c in COMPONENTS}
        finally:
            backend.down(lambda _m: None)
    return {
        "kubernetes_version": KUBERNETES_VERSION,
        "cpus": os.cpu_count(),
        "up_seconds": round(up_seconds, 2),
        "approve_to_certificate_p50_seconds": round(percentile(latencies, 50), 3),
        "approve_to_certificate_p95_seconds": round(percentile(latencies, 95), 3),
        "csrs": count,
        "rss_mb": {k: round(v, 1) for k, v in rss.items()},
        "rss_mb_total": round(sum(rss.values()), 1),
        "targets": TARGETS,
    }


def main(json_path: str, count: int, out: Console, say: Callable[[str], None]) -> int:
    result = run(count, say)
    table = Table(title=f"ckslab bench (Kubernetes {result['kubernetes_version']}, {result['cpus']} CPUs)")
    for column in ("measure", "value", "target", "met"):
        table.add_column(column)
    rows = [
        ("up with cached binaries", result["up_seconds"], "up_seconds", "s"),
        ("approve -> certificate p50", result["approve_to_certificate_p50_seconds"], None, "s"),
        ("approve -> certificate p95", result["approve_to_certificate_p95_seconds"],
         "approve_to_certificate_p95_seconds", "s"),
        ("resident memory, 3 processes", result["rss_mb_total"], "rss_mb_total", " MB"),
    ]
    for label, value, target_key, unit in rows:
        target = TARGETS.get(target_key or "")
        met = "" if target is None else ("yes" if value <= target else "no")
        table.add_row(label, f"{value}{unit}", "" if target is None else f"<= {target}{unit}", met)
    out.print(table)
    for name, mb in result["rss_mb"].items():
        out.print(f"  {name}: {mb} MB")
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
    out.print(f"JSON written to {json_path}")
    return 0
