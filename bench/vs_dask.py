#!/usr/bin/env python3
"""Side-by-side benchmark: wasmdask vs. Dask distributed (from PyPI), on this machine, in one run.

Set up once with `bash scripts/bench-setup.sh`, then:

    .venv/bin/python bench/vs_dask.py [--wasmdask target/release/wasmdask]
        [--component target/guests/wasm32-wasip2/release/wasmdask_example.wasm]
        [--repeat 3] [--json results.json]

Two measurements, each the best (minimum wall time) of --repeat runs per side:

1. start-to-result: process start to printed result of the 1,000-subtask fan-out
   `sum-of-squares(n=1000)`, i.e. `wasmdask run ... -- n=1000` as a subprocess vs. a Python
   subprocess that starts a default `LocalCluster(n_workers=2, threads_per_worker=1)` (worker
   processes), maps `square` over 1..=1000, gathers, sums, prints and shuts the cluster down.
   Both sides get one untimed warm-up run first (wasmdask: fills the compiled-component cache;
   Python: warms the OS file cache for the dask imports).

2. throughput of 10,000 tiny subtasks: the whole `wasmdask run --workers 2 ... -- n=10000`
   process (process start, component load and the parent task included: conservative) vs. ONLY
   `client.gather(client.map(square, range(1, 10001)))` inside a Python process whose in-process
   cluster `LocalCluster(processes=False, n_workers=1, threads_per_worker=2)` is already started
   and warmed up by a few untimed tasks (cluster start-up excluded: favours Dask).

Uses only the standard library (dask is only imported by the child processes this script starts).
Exits 1 if a side prints a wrong result or fails; the speed-up targets are only reported, unless
--fail-below-target is given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WASMDASK = REPO / "target" / "release" / "wasmdask"
DEFAULT_COMPONENT = REPO / "target" / "guests" / "wasm32-wasip2" / "release" / "wasmdask_example.wasm"

N_START = 1000
N_THROUGHPUT = 10_000
EXPECTED_START = N_START * (N_START + 1) * (2 * N_START + 1) // 6  # 333833500
EXPECTED_THROUGHPUT = N_THROUGHPUT * (N_THROUGHPUT + 1) * (2 * N_THROUGHPUT + 1) // 6  # 333383335000
TARGET_START_RATIO = 20.0
TARGET_THROUGHPUT_RATIO = 50.0
TIMEOUT_S = 600

# Benchmark 1, Dask side: a whole program, timed from process start to exit.
DASK_START_SCRIPT = f"""
from dask.distributed import Client, LocalCluster

def square(x):
    return x * x

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        futures = client.map(square, range(1, {N_START} + 1))
        print(sum(client.gather(futures)), flush=True)
"""

# Benchmark 2, Dask side: only the map+gather is timed, by the child itself.
DASK_THROUGHPUT_SCRIPT = f"""
import time
from dask.distributed import Client, LocalCluster

def square(x):
    return x * x

if __name__ == "__main__":
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=2) as cluster, Client(cluster) as client:
        # Untimed warm-up on other inputs (distinct keys): threads started, function shipped.
        client.gather(client.map(square, range({N_THROUGHPUT} + 1, {N_THROUGHPUT} + 101)))
        t0 = time.perf_counter()
        total = sum(client.gather(client.map(square, range(1, {N_THROUGHPUT} + 1))))
        elapsed = time.perf_counter() - t0
        print(f"RESULT {{total}} {{elapsed!r}}", flush=True)
"""


class BenchError(Exception):
    pass


def run(cmd: list[str], what: str) -> tuple[float, str]:
    """Runs cmd to completion; returns (wall seconds from spawn to exit, stdout)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: timed out after {TIMEOUT_S}s: {' '.join(cmd)}")
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise BenchError(
            f"{what}: exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-2000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return elapsed, proc.stdout


def check_printed(stdout: str, expected: int, what: str) -> None:
    tokens = stdout.replace(",", " ").replace(":", " ").replace('"', " ").split()
    if str(expected) not in tokens:
        raise BenchError(f"{what}: expected {expected} in the output, got: {stdout.strip()[:500]!r}")


def wasmdask_cmd(args, n: int, workers: int | None = None) -> list[str]:
    cmd = [str(args.wasmdask), "run", str(args.component), "--function", "sum-of-squares"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return cmd + ["--", f"n={n}"]


def bench_wasmdask(args, n: int, expected: int, workers: int | None, label: str) -> list[float]:
    times = []
    for i in range(args.repeat):
        t, out = run(wasmdask_cmd(args, n, workers), f"wasmdask {label} (run {i + 1})")
        check_printed(out, expected, f"wasmdask {label}")
        times.append(t)
        log(f"  wasmdask {label} run {i + 1}: {t:.4f}s")
    return times


def bench_dask_start(args, script: Path) -> list[float]:
    cmd = [sys.executable, str(script)]
    t, out = run(cmd, "dask start-to-result (warm-up)")
    check_printed(out, EXPECTED_START, "dask start-to-result")
    log(f"  dask start-to-result warm-up: {t:.3f}s (not counted)")
    times = []
    for i in range(args.repeat):
        t, out = run(cmd, f"dask start-to-result (run {i + 1})")
        check_printed(out, EXPECTED_START, "dask start-to-result")
        times.append(t)
        log(f"  dask start-to-result run {i + 1}: {t:.3f}s")
    return times


def bench_dask_throughput(args, script: Path) -> list[float]:
    times = []
    for i in range(args.repeat):
        _, out = run([sys.executable, str(script)], f"dask throughput (run {i + 1})")
        line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            raise BenchError(f"dask throughput: no RESULT line in the output: {out.strip()[:500]!r}")
        _, total, elapsed = line.split()
        if int(total) != EXPECTED_THROUGHPUT:
            raise BenchError(f"dask throughput: expected {EXPECTED_THROUGHPUT}, got {total}")
        times.append(float(elapsed))
        log(f"  dask map+gather run {i + 1}: {float(elapsed):.3f}s")
    return times


def versions(args) -> dict:
    probe = "import dask, distributed; print(dask.__version__, distributed.__version__)"
    try:
        dask_v, distributed_v = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
        ).stdout.split()
    except (subprocess.CalledProcessError, ValueError) as e:
        raise BenchError(
            f"dask/distributed do not import with {sys.executable} ({e}); "
            "run `bash scripts/bench-setup.sh` and use .venv/bin/python"
        )
    try:
        wasmdask_v = subprocess.run(
            [str(args.wasmdask), "--version"], capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise BenchError(f"`{args.wasmdask} --version` failed: {e}")
    return {
        "python": platform.python_version(),
        "dask": dask_v,
        "distributed": distributed_v,
        "wasmdask": wasmdask_v,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wasmdask", type=Path, default=DEFAULT_WASMDASK, help="wasmdask binary (default: %(default)s)")
    p.add_argument("--component", type=Path, default=DEFAULT_COMPONENT, help="example component (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per side; the best is kept (default: %(default)s)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON to FILE")
    p.add_argument("--fail-below-target", action="store_true", help="exit 1 when a ratio misses its target")
    args = p.parse_args()
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    for path, hint in ((args.wasmdask, "cargo build --release -p wasmdask"), (args.component, "bash scripts/setup.sh")):
        if not path.is_file():
            print(f"error: {path} not found (build it: {hint})", file=sys.stderr)
            return 2

    try:
        vers = versions(args)
        log(
            f"python {vers['python']}, dask {vers['dask']}, distributed {vers['distributed']}, "
            f"{vers['wasmdask']}; {vers['cpus']} CPUs, {vers['platform']}"
        )
        with tempfile.TemporaryDirectory(prefix="wasmdask-vs-dask-") as tmp:
            start_script = Path(tmp) / "dask_start.py"
            start_script.write_text(DASK_START_SCRIPT)
            tp_script = Path(tmp) / "dask_throughput.py"
            tp_script.write_text(DASK_THROUGHPUT_SCRIPT)

            log(f"\n[1] process start to printed result, sum-of-squares n={N_START}")
            t, out = run(wasmdask_cmd(args, N_START), "wasmdask warm-up")
            check_printed(out, EXPECTED_START, "wasmdask warm-up")
            log(f"  wasmdask warm-up (fills the compiled cache): {t:.3f}s (not counted)")
            w1 = bench_wasmdask(args, N_START, EXPECTED_START, None, "start-to-result")
            d1 = bench_dask_start(args, start_script)

            log(f"\n[2] {N_THROUGHPUT:,} tiny subtasks")
            w2 = bench_wasmdask(args, N_THROUGHPUT, EXPECTED_THROUGHPUT, 2, "10k throughput")
            d2 = bench_dask_throughput(args, tp_script)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    w1b, d1b, w2b, d2b = min(w1), min(d1), min(w2), min(d2)
    start_ratio = d1b / w1b
    w_tps, d_tps = N_THROUGHPUT / w2b, N_THROUGHPUT / d2b
    tp_ratio = w_tps / d_tps

    def verdict(ratio: float, target: float) -> str:
        return f"{'meets' if ratio >= target else 'BELOW'} target >= {target:g}x"

    rows = [
        ("", "wasmdask", "dask", "ratio"),
        (f"[1] start to result, n={N_START} (s)", f"{w1b:.4f}", f"{d1b:.3f}", f"{start_ratio:.1f}x faster"),
        (f"[2] {N_THROUGHPUT:,} subtasks (s)", f"{w2b:.4f}", f"{d2b:.3f}", ""),
        (f"[2] {N_THROUGHPUT:,} subtasks (tasks/s)", f"{w_tps:,.0f}", f"{d_tps:,.0f}", f"{tp_ratio:.1f}x higher"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(
        f"\nwasmdask vs dask — python {vers['python']}, dask {vers['dask']}, distributed {vers['distributed']}, "
        f"{vers['wasmdask']}; {vers['cpus']} CPUs; best of {args.repeat}"
    )
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\n[1] dask / wasmdask start-to-result time: {start_ratio:.1f}x ({verdict(start_ratio, TARGET_START_RATIO)})")
    print(f"[2] wasmdask / dask tasks per second:     {tp_ratio:.1f}x ({verdict(tp_ratio, TARGET_THROUGHPUT_RATIO)})")
    print(
        "    [1] both whole processes, compiled cache warm; [2] wasmdask whole process (start included) "
        "vs dask map+gather only (cluster already up)"
    )

    if args.json:
        data = {
            "versions": vers,
            "repeat": args.repeat,
            "start_to_result": {
                "n": N_START,
                "expected": EXPECTED_START,
                "wasmdask_s": w1b,
                "dask_s": d1b,
                "wasmdask_runs_s": w1,
                "dask_runs_s": d1,
                "ratio_dask_over_wasmdask": start_ratio,
                "target_ratio": TARGET_START_RATIO,
                "dask_setup": "subprocess: LocalCluster(n_workers=2, threads_per_worker=1), map, gather, sum, print, shutdown",
                "wasmdask_setup": "subprocess: wasmdask run --function sum-of-squares -- n=1000 (default workers, cache warm)",
            },
            "throughput": {
                "tasks": N_THROUGHPUT,
                "expected": EXPECTED_THROUGHPUT,
                "wasmdask_s": w2b,
                "dask_s": d2b,
                "wasmdask_runs_s": w2,
                "dask_runs_s": d2,
                "wasmdask_tasks_per_s": w_tps,
                "dask_tasks_per_s": d_tps,
                "ratio_wasmdask_over_dask": tp_ratio,
                "target_ratio": TARGET_THROUGHPUT_RATIO,
                "dask_setup": "in-process LocalCluster(processes=False, n_workers=1, threads_per_worker=2); only gather(map) timed",
                "wasmdask_setup": "whole process: wasmdask run --workers 2 --function sum-of-squares -- n=10000",
            },
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        log(f"wrote {args.json}")

    if args.fail_below_target and (start_ratio < TARGET_START_RATIO or tp_ratio < TARGET_THROUGHPUT_RATIO):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
