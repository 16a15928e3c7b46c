"""Speed and memory figures: one Rasa server and one action server on loopback, or the
scaled set-up behind nginx, over REST and socket.io.

    make bench                 # this project's config and Rasa's default config, side by side
    make bench-scaled          # the scaled set-up (2 + 2 servers, nginx, PostgreSQL, Redis)
    python scripts/bench.py --help

Load: virtual families, each going through a realistic conversation (FAQ questions, the
pre-screen, a handoff started and cancelled, messages the assistant does not understand),
a new conversation each time, at fixed concurrency levels. A family sends its next
message once it has the answer, after a pause of `--pace` seconds on average (0.75 s:
faster than anyone types; each pause drawn between half and one and a half times that).
Families start at random moments within the first pause, as real ones do: started all
at once and paced alike, they would stay in lockstep and every message of a level would
arrive in the same millisecond, a load no web page produces. Each level is bounded in
time and in messages, and seeded, so two runs send the same load.

Reports, per channel and level: p50/p95/p99 latency, throughput, errors; training time,
time until the server answers, peak memory of each process. Writes reports/bench.json,
reports/bench.md and reports/bench.png, and prints the table. Figures, not pass/fail:
the targets (README.md, Speed) are shown beside them.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import RASA, running_servers  # noqa: E402

REPORTS = ROOT / "reports"
CONVERSATIONS = {
    "faq": ["hi", "what is car t", "how much does it cost", "what is crs",
            "where can we stay", "thanks"],
    "prescreen": ["is my child eligible", "7", "yes", "yes", "what are the side effects"],
    "handoff_cancelled": ["i'd like to talk to a coordinator", "Maria Lopez", "stop",
                          "what is kymriah"],
    "fallback": ["qwzx plorb", "blorf zzk", "who can get kymriah"],
}  # fmt: skip
# Rasa's default configuration: the pipeline and policies `rasa init` writes (and Rasa
# picks when config.yml names none).
DEFAULT_CONFIG = """recipe: default.v1
assistant_id: bench-default
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: RegexFeaturizer
  - name: LexicalSyntacticFeaturizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: 100
    constrain_similarities: true
  - name: EntitySynonymMapper
  - name: ResponseSelector
    epochs: 100
    constrain_similarities: true
  - name: FallbackClassifier
    threshold: 0.3
    ambiguity_threshold: 0.1
policies:
  - name: MemoizationPolicy
  - name: RulePolicy
  - name: UnexpecTEDIntentPolicy
    max_history: 5
    epochs: 100
  - name: TEDPolicy
    max_history: 5
    epochs: 100
    constrain_similarities: true
"""
# One family's long conversation, sequential: ten messages repeated, so the first ten and
# the last ten are the same messages (FAQs, the pre-screen, a message not understood).
LONG_CYCLE = ["what is car t", "how much does it cost", "qwzx plorb", "what is crs",
              "is my child eligible", "7", "yes", "yes", "where can we stay", "thanks"]  # fmt: skip
LONG_TARGET_RATIO = 1.5  # the last ten at most 1.5x the first ten (issue #18)
TARGETS = {"level": 32, "throughput": 40.0, "p95_ms": 250.0, "startup_s": 30.0,
           "rasa_memory_mb": 800.0}  # fmt: skip
CLOSED_LOOP_TARGET_RATIO = 2.5


@dataclass
class LevelResult:
    channel: str
    level: int
    messages: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput: float


@dataclass
class LongResult:
    messages: int
    first_ten_ms: float  # median answer time of the first ten messages
    last_ten_ms: float  # ...and of the last ten
    ratio: float
    errors: int


@dataclass
class ModelResult:
    name: str
    training_s: float
    startup_s: float = 0.0
    rasa_memory_mb: float = 0.0
    action_memory_mb: float = 0.0
    levels: list[LevelResult] = field(default_factory=list)
    long: list[LongResult] = field(default_factory=list)
    # Families that send their next message the moment they have the answer (no pause):
    # what one server can do at most (issue #18's "closed loop of 16").
    closed: list[LevelResult] = field(default_factory=list)
    other_memory_mb: dict[str, float] = field(default_factory=dict)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its children."""
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


# ---- The two channels, as a family's client uses them ----


class RestFamily:
    def __init__(self, url: str) -> None:
        self.url = f"{url}/webhooks/rest/webhook"
        self.http = requests.Session()

    def start(self, sender: str) -> None:
        self.sender = sender

    def say(self, text: str) -> bool:
        response = self.http.post(
            self.url, json={"sender": self.sender, "message": text}, timeout=30
        )
        return response.status_code == 200 and bool(response.json())

    def close(self) -> None:
        self.http.close()


class SocketFamily:
    def __init__(self, url: str) -> None:
        import socketio

        self.client = socketio.Client(
            reconnection=False, websocket_extra_options={"suppress_origin": True}
        )
        self.replies: list[dict] = []
        self.client.on("bot_uttered", self.replies.append)
        self.client.connect(
            url, socketio_path="/socket.io", transports=["websocket"], wait_timeout=15
        )

    def start(self, sender: str) -> None:
        self.sender = sender
        confirmed = threading.Event()
        # The server issues the conversation id (channels/session_ids.py): use the one it confirms.
        def confirm(session_id: str) -> None:
            self.sender = session_id
            confirmed.set()

        self.client.on("session_confirm", confirm)
        self.client.emit("session_request", {"session_id": sender})
        confirmed.wait(10)

    def say(self, text: str) -> bool:
        self.replies.clear()
        self.client.call("user_uttered", {"message": text, "session_id": self.sender}, timeout=30)
        return True  # acknowledged once every answer of the turn was sent

    def close(self) -> None:
        self.client.disconnect()


CLIENTS: dict[str, Callable[[str], RestFamily | SocketFamily]] = {
    "rest": RestFamily,
    "socketio": SocketFamily,
}


def run_level(url: str, channel: str, level: int, seconds: float, max_messages: int,
              pace: float) -> LevelResult:  # fmt: skip
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    scripts = list(CONVERSATIONS.values())

    def family(n: int) -> None:
        rng = random.Random(n)  # the same pauses in every run, different for each family
        time.sleep(rng.uniform(0.0, pace))
        try:
            client = CLIENTS[channel](url)
        except Exception:  # noqa: BLE001 - a refused connection is an error, counted
            with lock:
                errors[0] += 1
            return
        turn = n
        try:
            while time.monotonic() < stop_at:
                client.start(f"bench-{uuid.uuid4().hex[:12]}")
                for text in scripts[turn % len(scripts)]:
                    if time.monotonic() >= stop_at:
                        return
                    with lock:
                        if len(latencies) + errors[0] >= max_messages:
                            return
                    started = time.perf_counter()
                    try:
                        ok = client.say(text)
                    except Exception:  # noqa: BLE001 - counted, the family goes on
                        ok = False
                    elapsed = time.perf_counter() - started
                    with lock:
                        if ok:
                            latencies.append(elapsed * 1000)
                        else:
                            errors[0] += 1
                    time.sleep(max(0.0, pace * rng.uniform(0.5, 1.5) - elapsed))
                turn += 1
        finally:
            client.close()

    started = time.monotonic()
    with ThreadPoolExecutor(level) as pool:
        list(pool.map(family, range(level)))
    duration = time.monotonic() - started
    return LevelResult(
        channel=channel,
        level=level,
        messages=len(latencies),
        errors=errors[0],
        seconds=round(duration, 1),
        p50_ms=round(percentile(latencies, 0.50), 1),
        p95_ms=round(percentile(latencies, 0.95), 1),
        p99_ms=round(percentile(latencies, 0.99), 1),
        throughput=round(len(latencies) / duration, 1),
    )


def run_long(url: str, messages: int) -> LongResult:
    """One conversation of `messages` messages over REST, each sent once the previous is
    answered: does a message cost more the longer its conversation is?"""
    family = RestFamily(url)
    family.start(f"bench-long-{uuid.uuid4().hex[:12]}")
    latencies: list[float] = []
    errors = 0
    try:
        for index in range(messages):
            started = time.perf_counter()
            try:
                ok = family.say(LONG_CYCLE[index % len(LONG_CYCLE)])
            except Exception:  # noqa: BLE001 - counted
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok
    finally:
        family.close()
    first, last = percentile(latencies[:10], 0.5), percentile(latencies[-10:], 0.5)
    return LongResult(messages, round(first, 1), round(last, 1), round(last / first, 2), errors)


def train(name: str, out: Path, config: Path | None) -> tuple[Path, float]:
    started = time.monotonic()
    command = [str(RASA), "train", "--force", "--out", str(out), "--fixed-model-name", name]
    if config:
        command += ["--config", str(config)]
    print(f"Training {name}...", flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"training {name} failed:\n{done.stdout[-2000:]}")
    return out / f"{name}.tar.gz", time.monotonic() - started


@contextmanager
def single_server(model: Path) -> Iterator[tuple[str, dict[str, int]]]:
    with running_servers(Path(tempfile.mkdtemp(prefix="bench-logs-")), model=model) as servers:
        yield servers.rasa_url, {"rasa": servers.rasa_pid, "action": servers.action_pid}


@contextmanager
def scaled(model: Path) -> Iterator[tuple[str, dict[str, int]]]:
    from scripts.scaled_stack import scaled_stack

    env = {"CART_SENDER_MESSAGES_PER_MINUTE": "0", "CART_ADDRESS_MESSAGES_PER_MINUTE": "0"}
    logs = Path(tempfile.mkdtemp(prefix="bench-scaled-"))
    # REST through nginx for the benchmark only: families' set-ups expose socket.io alone.
    with scaled_stack(logs, env, model=model, expose_rest=True) as stack:
        yield stack.url, {name: p.pid for name, p in stack.processes.items()}


def measure(name: str, model: Path, training_s: float, args: argparse.Namespace) -> ModelResult:
    result = ModelResult(name=name, training_s=round(training_s, 1))
    started = time.monotonic()
    with (scaled if args.scaled else single_server)(model) as (url, pids):
        result.startup_s = round(time.monotonic() - started, 1)
        for channel in args.channels:
            for level in args.levels:
                print(f"  {name}: {channel}, {level} families...", flush=True)
                result.levels.append(
                    run_level(url, channel, level, args.seconds, args.max_messages, args.pace)
                )
        if args.closed_loop:
            for channel in args.channels:
                print(f"  {name}: {channel}, closed loop of {args.closed_loop}...", flush=True)
                result.closed.append(
                    run_level(url, channel, args.closed_loop, args.seconds, args.max_messages, 0.0)
                )
        for messages in args.long:
            print(f"  {name}: one conversation of {messages} messages...", flush=True)
            result.long.append(run_long(url, messages))
        memory = {n: round(peak_rss_mb(pid), 0) for n, pid in pids.items()}
    rasa = [m for n, m in memory.items() if n.startswith("rasa")]
    action = [m for n, m in memory.items() if n.startswith("action")]
    result.rasa_memory_mb = max(rasa)
    result.action_memory_mb = max(action)
    result.other_memory_mb = memory
    return result


def markdown(results: list[ModelResult], args: argparse.Namespace) -> str:
    setup = "scaled set-up (2 Rasa + 2 action servers, nginx, PostgreSQL, Redis)" if args.scaled \
        else "one Rasa server, one action server"  # fmt: skip
    lines = [
        f"# Benchmark: {setup}",
        "",
        f"Machine: {platform.machine()}, {_cores()} cores, Python {platform.python_version()}. "
        f"Pace: a family sends a message every {args.pace} s on average (starts staggered, "
        f"pauses from {args.pace / 2:g} to {args.pace * 1.5:g} s); each level runs "
        f"{args.seconds:.0f} s or {args.max_messages} messages.",
        "",
        "| model | channel | families | messages | errors | p50 ms | p95 ms | p99 ms | msg/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for level in result.levels:
            lines.append(
                f"| {result.name} | {level.channel} | {level.level} | {level.messages} | "
                f"{level.errors} | {level.p50_ms} | {level.p95_ms} | {level.p99_ms} | "
                f"{level.throughput} |"
            )
    lines += ["", "| model | training s | first answer s | Rasa server MB | action server MB |",
              "|---|---:|---:|---:|---:|"]  # fmt: skip
    for result in results:
        lines.append(
            f"| {result.name} | {result.training_s} | {result.startup_s} | "
            f"{result.rasa_memory_mb:.0f} | {result.action_memory_mb:.0f} |"
        )
    if any(result.long for result in results):
        lines += ["", "One conversation, sequential (REST): median answer time of its first ten "
                  "and last ten messages (the same ten messages):", "",
                  "| model | messages | first ten ms | last ten ms | ratio | errors |",
                  "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for result in results:
            for long in result.long:
                lines.append(
                    f"| {result.name} | {long.messages} | {long.first_ten_ms} | "
                    f"{long.last_ten_ms} | {long.ratio:.2f} | {long.errors} |"
                )
    if len(results) == 2:
        ours, default = results
        lines += ["", f"Ratio {ours.name} / {default.name} (below 1: ours is faster):", "",
                  "| channel | families | p95 | throughput |", "|---|---:|---:|---:|"]  # fmt: skip
        for mine, theirs in zip(ours.levels, default.levels, strict=True):
            p95 = mine.p95_ms / theirs.p95_ms if theirs.p95_ms else float("nan")
            rate = mine.throughput / theirs.throughput if theirs.throughput else float("nan")
            lines.append(f"| {mine.channel} | {mine.level} | {p95:.2f} | {rate:.2f} |")
        lines += ["", f"Training time {ours.training_s / default.training_s:.2f}, memory "
                  f"{ours.rasa_memory_mb / default.rasa_memory_mb:.2f}."]  # fmt: skip
        if ours.closed and default.closed:
            lines += ["", f"Closed loop (no pause between messages), {ours.name} beside "
                      f"{default.name}:", "",
                      "| channel | families | msg/s | default msg/s | ratio (target >= "
                      f"{CLOSED_LOOP_TARGET_RATIO}) | p95 ms | default p95 ms | errors |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
            for mine, theirs in zip(ours.closed, default.closed, strict=True):
                rate = mine.throughput / theirs.throughput if theirs.throughput else float("nan")
                lines.append(
                    f"| {mine.channel} | {mine.level} | {mine.throughput} | {theirs.throughput} "
                    f"| {rate:.2f} | {mine.p95_ms} | {theirs.p95_ms} | {mine.errors} |"
                )
    lines += ["", "Targets (set for one Rasa server on 2 cores; for reference here):" if args.scaled
              else "Targets (one Rasa server, 2 cores):", ""]  # fmt: skip
    ours = results[0]
    for level in ours.levels:
        if level.level == TARGETS["level"]:
            met = (level.throughput >= TARGETS["throughput"] and level.p95_ms < TARGETS["p95_ms"]
                   and level.errors == 0)  # fmt: skip
            lines.append(
                f"- {level.channel} at {level.level} families: {level.throughput} msg/s "
                f"(target 40), p95 {level.p95_ms} ms (target < 250), {level.errors} errors: "
                f"{'met' if met else 'NOT met'}"
            )
    lines.append(f"- first answer {ours.startup_s} s after start (target < 30): "
                 f"{'met' if ours.startup_s < TARGETS['startup_s'] else 'NOT met'}")  # fmt: skip
    for long in ours.long:
        met = long.ratio <= LONG_TARGET_RATIO and long.errors == 0
        lines.append(
            f"- a message at turn {long.messages}: {long.ratio:.2f}x one at turn 1 "
            f"(target at most {LONG_TARGET_RATIO}x): {'met' if met else 'NOT met'}"
        )
    memory_met = ours.rasa_memory_mb <= TARGETS["rasa_memory_mb"]
    lines.append(f"- Rasa server memory {ours.rasa_memory_mb:.0f} MB peak under load "
                 f"(target at most {TARGETS['rasa_memory_mb']:.0f}): "
                 f"{'met' if memory_met else 'NOT met'}")  # fmt: skip
    if len(results) == 2 and ours.closed and results[1].closed:
        for mine, theirs in zip(ours.closed, results[1].closed, strict=True):
            rate = mine.throughput / theirs.throughput if theirs.throughput else 0.0
            met = rate >= CLOSED_LOOP_TARGET_RATIO and mine.errors == 0
            lines.append(
                f"- {mine.channel}, closed loop of {mine.level}: {rate:.2f}x the default's "
                f"throughput (target at least {CLOSED_LOOP_TARGET_RATIO}x), {mine.errors} "
                f"errors: {'met' if met else 'NOT met'}"
            )
    return "\n".join(lines) + "\n"


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def plot(results: list[ModelResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for result in results:
        for channel in sorted({level.channel for level in result.levels}):
            levels = [lv for lv in result.levels if lv.channel == channel]
            x = [lv.level for lv in levels]
            axes[0].plot(x, [lv.p95_ms for lv in levels], marker="o",
                         label=f"{result.name}, {channel} p95")  # fmt: skip
            axes[0].plot(x, [lv.p50_ms for lv in levels], marker=".", linestyle="--",
                         label=f"{result.name}, {channel} p50")  # fmt: skip
            axes[1].plot(x, [lv.throughput for lv in levels], marker="o",
                         label=f"{result.name}, {channel}")  # fmt: skip
    axes[0].axhline(TARGETS["p95_ms"], color="red", linewidth=0.8, label="p95 target")
    axes[1].axhline(TARGETS["throughput"], color="red", linewidth=0.8, label="target at 32")
    axes[0].set(xlabel="concurrent conversations", ylabel="latency (ms)", yscale="log",
                title="Latency against concurrency")  # fmt: skip
    axes[1].set(xlabel="concurrent conversations", ylabel="messages per second",
                title="Throughput")  # fmt: skip
    for axis in axes:
        axis.set_xscale("log", base=2)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,8,32,64")
    parser.add_argument("--channels", default="rest,socketio")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level and channel")
    parser.add_argument("--max-messages", type=int, default=3000, help="per level and channel")
    parser.add_argument("--pace", type=float, default=0.75)
    parser.add_argument("--closed-loop", type=int, default=16,
                        help="families with no pause, per channel (0 to skip)")  # fmt: skip
    parser.add_argument("--long", default="150,500",
                        help="lengths of the long conversations ('' to skip)")  # fmt: skip
    parser.add_argument("--scaled", action="store_true", help="the scaled set-up (nginx)")
    parser.add_argument("--no-default", action="store_true",
                        help="skip Rasa's default configuration")  # fmt: skip
    parser.add_argument("--model", type=Path, help="use this trained model, do not train")
    args = parser.parse_args()
    args.levels = [int(n) for n in args.levels.split(",")]
    args.channels = [c.strip() for c in args.channels.split(",")]
    args.long = [int(n) for n in args.long.split(",") if n.strip()]

    results: list[ModelResult] = []
    stem = "bench-scaled" if args.scaled else "bench"
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            ours, ours_s = args.model, float("nan")
        else:
            ours, ours_s = train("project-config", Path(tmp), None)
        results.append(measure("project config", ours, ours_s, args))
        write_reports(results, args, stem)  # kept even if the comparison fails
        if not args.no_default:
            config = Path(tmp) / "default-config.yml"
            config.write_text(DEFAULT_CONFIG)
            default, default_s = train("rasa-default-config", Path(tmp), config)
            results.append(measure("Rasa default config", default, default_s, args))
    report = write_reports(results, args, stem)
    print("\n" + report)
    print(f"Written: reports/{stem}.md, reports/{stem}.json, reports/{stem}.png")
    return 0


def write_reports(results: list[ModelResult], args: argparse.Namespace, stem: str) -> str:
    REPORTS.mkdir(exist_ok=True)
    report = markdown(results, args)
    (REPORTS / f"{stem}.md").write_text(report)
    summary = {"targets": TARGETS, "pace_s": args.pace, "seconds_per_level": args.seconds,
               "results": [asdict(r) for r in results]}  # fmt: skip
    (REPORTS / f"{stem}.json").write_text(json.dumps(summary, indent=2))
    plot(results, REPORTS / f"{stem}.png")
    return report


if __name__ == "__main__":
    sys.exit(main())
