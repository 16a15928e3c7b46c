"""Speed and memory figures for one Rasa server and one action server on loopback.

    make bench

Prints: training time, time until the server answers, REST latency p50/p95 over 200
sequential messages and at 16 concurrent conversations, throughput, and peak memory of
each server. Figures, not pass/fail: targets are in README.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import RASA, running_servers  # noqa: E402

MESSAGES = [
    "hi",
    "what is car t",
    "how much does it cost",
    "what is crs",
    "is my child eligible",
    "7",
    "yes",
    "yes",
    "what are the side effects",
    "where can we stay",
    "qwzx plorb",
    "thanks",
    "/timeline",
    "who can get kymriah",
]
# 200 sequential messages as 10 conversations of 20: a family's chat, not one endless one
# (every custom action call carries the whole conversation to the action server).
SEQUENTIAL_CONVERSATIONS, MESSAGES_PER_SEQUENTIAL = 10, 20
CONCURRENT_CONVERSATIONS, MESSAGES_PER_CONVERSATION = 16, 25


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its children."""
    if pid <= 0:
        raise ValueError("no process id to measure")
    total = 0.0
    pids = [str(pid)] + subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True
    ).stdout.split()
    for one in pids:
        status = Path(f"/proc/{one}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    return total


BY_MESSAGE: dict[str, list[float]] = {}


def conversation(url: str, count: int) -> list[float]:
    sender, latencies = f"bench-{uuid.uuid4().hex[:10]}", []
    with requests.Session() as session:
        for i in range(count):
            started = time.perf_counter()
            response = session.post(
                f"{url}/webhooks/rest/webhook",
                timeout=60,
                json={"sender": sender, "message": MESSAGES[i % len(MESSAGES)]},
            )
            response.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            BY_MESSAGE.setdefault(MESSAGES[i % len(MESSAGES)], []).append(latencies[-1])
    return latencies


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        subprocess.run(
            [str(RASA), "train", "--force", "--out", tmp, "--fixed-model-name", "bench"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        training_s = time.monotonic() - started

    started = time.monotonic()
    with running_servers(Path(tempfile.mkdtemp(prefix="bench-logs-"))) as servers:
        conversation(servers.rasa_url, 1)
        startup_s = time.monotonic() - started

        BY_MESSAGE.clear()
        sequential = [
            latency
            for _ in range(SEQUENTIAL_CONVERSATIONS)
            for latency in conversation(servers.rasa_url, MESSAGES_PER_SEQUENTIAL)
        ]
        slowest = sorted(
            ((text, statistics.median(values)) for text, values in BY_MESSAGE.items()),
            key=lambda item: -item[1],
        )

        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENT_CONVERSATIONS) as pool:
            runs = list(
                pool.map(
                    lambda _: conversation(servers.rasa_url, MESSAGES_PER_CONVERSATION),
                    range(CONCURRENT_CONVERSATIONS),
                )
            )
        concurrent_s = time.monotonic() - started
        concurrent = [latency for run in runs for latency in run]

        rasa_mb, action_mb = peak_rss_mb(servers.rasa_pid), peak_rss_mb(servers.action_pid)

    print("\nBenchmark (one Rasa server, one action server, REST on loopback)")
    print(f"  training time (full, --force)        {training_s:7.1f} s")
    print(f"  start until the first answer         {startup_s:7.1f} s")
    print(
        f"  sequential, {len(sequential)} messages:  p50 {statistics.median(sequential):6.1f} ms   "
        f"p95 {percentile(sequential, 0.95):6.1f} ms   "
        f"{len(sequential) / (sum(sequential) / 1000):5.1f} msg/s"
    )
    print(
        f"  {CONCURRENT_CONVERSATIONS} concurrent conversations, {len(concurrent)} messages:  "
        f"p50 {statistics.median(concurrent):6.1f} ms   "
        f"p95 {percentile(concurrent, 0.95):6.1f} ms   "
        f"{len(concurrent) / concurrent_s:5.1f} msg/s"
    )
    print(
        "  slowest turns (sequential, median): "
        + ", ".join(f"{text!r} {median:.0f} ms" for text, median in slowest[:4])
    )
    print(f"  peak memory: Rasa server {rasa_mb:6.0f} MB, action server {action_mb:5.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
