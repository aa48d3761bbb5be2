"""Shared measuring tools: medians of repeated runs, peak memory of a child process, tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "ham10000"


def median_seconds(work: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``repeats`` runs after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb(code: str) -> float:
    """Peak RSS growth (MB) of running ``code`` once in a fresh interpreter.

    The child imports and reads its inputs first, notes its peak RSS, runs the code, and
    reports the growth, so the baseline interpreter and the input bytes do not count.
    ``code`` runs after a ``setup`` block defined by the caller inside the same string.
    """
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child would start
    # with the benchmark's own high-water mark; VmHWM belongs to the new address space.
    script = (
        "import json\n"
        "def hwm_kb():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
        f"{code}\n"
        "before = hwm_kb()\n"
        "run()\n"
        "after = hwm_kb()\n"
        "print(json.dumps((after - before) / 1024))\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


def machine() -> str:
    """One line describing where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


@dataclass(frozen=True)
class Table:
    """A result table, printed as Markdown."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |"]
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)
