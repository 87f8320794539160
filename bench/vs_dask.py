#!/usr/bin/env python3
"""Side-by-side benchmark: wasmdask vs. Dask distributed (from PyPI), on this machine, in one run.

Set up once with `bash scripts/bench-setup.sh`, then:

    .venv/bin/python bench/vs_dask.py [--wasmdask target/release/wasmdask]
        [--component target/guests/wasm32-wasip2/release/wasmdask_example.wasm]
        [--repeat 3] [--json results.json] [--distributed | --distributed-only] [--data] [--tree]
        [--graph] [--spin] [--only local,distributed,data,tree,graph,spin]

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

With --distributed (or --distributed-only, which skips 1 and 2) it also compares the
multi-process topology, wasmdask `scheduler` + 2 `worker` processes x 1 thread against Dask's
`LocalCluster(n_workers=2, threads_per_worker=1, processes=True)` with
`distributed.scheduler.worker-saturation: inf`:

3. map+gather of 10,000 tiny tasks: the whole client process `wasmdask run ... --scheduler
   tcp://... -- n=10000` against an already running, warmed scheduler + 2 workers (client start
   included: conservative) vs. ONLY `client.gather(client.map(square, range(1, 10001)))` on the
   already started and warmed Dask cluster.
4. the same with n=1,000 (1,000-task fan-out + reduce).
5. nothing to first result: `wasmdask run --processes --workers 2 ... -- n=1000` (starts a
   scheduler and 2 worker processes, runs, stops them) vs. a Python subprocess that creates that
   LocalCluster, maps 1,000 squares, gathers, sums, prints and shuts down.
6. idle worker memory: VmRSS of each worker process after the jobs of 3 and 4 and ~2 s idle.

With --data and --tree (or --only data,tree), on 2 workers x 1 thread against Dask's default
`LocalCluster(n_workers=2, threads_per_worker=1)`, already started and warmed up, of which ONLY
submit to result is timed:

7. data-heavy fan-out: 64 `chunk` tasks of 8 MB each (1,000,000 f64) reduced by one task, the
   example's `sum-chunks(count=64, len=1000000)`: the whole client process `wasmdask run
   --scheduler tcp://... -f sum-chunks` against a running scheduler + 2 workers (the root task runs
   in the client, the chunks on the workers), and the whole `wasmdask run --processes --workers 2`
   process (cluster start and stop included), vs. `client.submit(sum_all,
   client.map(make_chunk, range(64))).result()` with numpy arrays. A third row runs Dask's shape
   in wasmdask: the example's `reduce-chunks` passes the chunks by handle to one
   `sum-all(list<list<f64>>)` call on a worker (whole `run --processes`). Target >= 2x.
8. nested fan-out: the example's `tree(depth=4, width=5)`, 781 tasks in which every inner task
   waits for its 5 children: the whole `wasmdask run --workers 2` process (embedded) and the whole
   `run --processes --workers 2` process, vs. the same recursion through `worker_client`
   (secede/rejoin) with `pure=False`. Target >= 10x.

With --graph (or --only graph), task graphs whose calls take earlier calls' results as arguments (by
handle: the values never pass through the submitting task), on the same Dask cluster as 7 and 8,
ONLY submit to result timed on the Dask side:

9. chain: 10,000 dependent `inc` calls (x + 1), each taking the previous call's result, the example's
   `chain(n=10000)` (result 10000): the whole `wasmdask run --workers 2` process (embedded) and the
   whole `run --processes --workers 2` process, vs. `x = client.submit(inc, 0, pure=False)`, then
   9,999 times `x = client.submit(inc, x, pure=False)`, then `x.result()`. Target >= 20x.
10. diamond: the example's `diamond(n=2500)`, 2,500 diamonds in a row (10,000 tasks): `top =
   inc(prev)` (inc(0) for the first), `left = inc(top)`, `right = inc(top)`, `bottom = mean(left,
   right)` with `mean(a, b) = (a + b) // 2` (result 5000); the same two wasmdask processes vs. the
   same graph of `client.submit(..., pure=False)` futures. Target >= 20x.

With --spin (or --only spin), on the same Dask cluster, ONLY gather(map) timed on the Dask side:

11. scheduling efficiency: 1,000 tasks that each busy-wait 1 ms of wall time on 2 slots, whose
   ideal time is 0.5 s; efficiency = ideal / measured. The whole `wasmdask run --workers 2 -f
   spin-many -- count=1000 micros=1000` process (embedded) and the whole `run --processes` process,
   vs. `client.gather(client.map(spin, [1000] * 1000, pure=False))`. Target: wasmdask >= 0.9
   embedded.

Uses only the standard library (dask and numpy are only imported by the child processes this script
starts).
Exits 1 if a side prints a wrong result or fails; the speed-up targets are only reported, unless
--fail-below-target is given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
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
TARGET_DIST_THROUGHPUT_RATIO = 20.0  # [3]
TARGET_DIST_START_RATIO = 10.0  # [5]
TARGET_WORKER_RSS_MB = 30.0  # [6], wasmdask worker, absolute
DIST_WORKERS = 2  # worker processes x 1 thread each, both sides
CHUNKS, CHUNK_LEN = 64, 1_000_000  # [7]: 64 tasks x 8 MB (1,000,000 f64 each), reduced by one task
# Element k of chunk i is (i * CHUNK_LEN + k) / 2, so all chunks together are 0, 0.5, ..., (N - 1) / 2 for
# N = CHUNKS * CHUNK_LEN; their sum N (N - 1) / 4 and every partial sum are multiples of 0.5 below 2^52,
# hence exact in f64 whatever the summation order.
EXPECTED_CHUNKS = float(CHUNKS * CHUNK_LEN * (CHUNKS * CHUNK_LEN - 1)) / 4  # 1023999984000000.0
CHUNK_MB = CHUNKS * CHUNK_LEN * 8 / 1e6  # 512 MB produced and reduced
TREE_DEPTH, TREE_WIDTH = 4, 5  # [8]
EXPECTED_TREE = TREE_WIDTH**TREE_DEPTH  # 625 leaves
TREE_TASKS = sum(TREE_WIDTH**d for d in range(TREE_DEPTH + 1))  # 781 tasks, the root included
TARGET_DATA_RATIO = 2.0  # [7]
TARGET_TREE_RATIO = 10.0  # [8]
CHAIN_N = 10_000  # [9]: CHAIN_N dependent inc calls from 0
EXPECTED_CHAIN = CHAIN_N
DIAMOND_N = 2_500  # [10]: DIAMOND_N diamonds of 4 calls in a row, each adding 2
DIAMOND_TASKS = 4 * DIAMOND_N  # 10,000
EXPECTED_DIAMOND = 2 * DIAMOND_N  # 5000
TARGET_GRAPH_RATIO = 20.0  # [9] and [10]
SPIN_TASKS, SPIN_US = 1_000, 1_000  # [11]: 1,000 tasks that each busy-wait 1 ms of wall time
EXPECTED_SPIN = SPIN_TASKS * SPIN_US  # the microseconds spun in total
SPIN_IDEAL_S = SPIN_TASKS * SPIN_US / 1e6 / DIST_WORKERS  # 0.5 s on 2 slots with no overhead at all
TARGET_SPIN_EFFICIENCY = 0.9  # [11], wasmdask, absolute: ideal time / measured time
# --only: [1]-[2], [3]-[6], [7], [8], [9]-[10], [11]
GROUPS = ("local", "distributed", "data", "tree", "graph", "spin")
IDLE_S = 2.0  # [6] idle time before reading the workers' RSS
TIMEOUT_S = 600  # per child process; the Dask child of [9]/[10] gets GRAPH_TIMEOUT_S more per repetition
GRAPH_TIMEOUT_S = 900  # Dask ran the 20,000 calls of one [9] + [10] repetition in about 2.5 minutes here

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


# The long-lived Dask children start a timed run only once the scheduler has forgotten every task of
# the previous one (nothing reused, nothing still being released in the background).
DASK_WAIT_RELEASED = """
def scheduler_tasks(dask_scheduler=None):
    return len(dask_scheduler.tasks)

def wait_released(client, timeout=60.0):
    deadline = time.monotonic() + timeout
    while client.run_on_scheduler(scheduler_tasks) and time.monotonic() < deadline:
        time.sleep(0.05)
"""

# Benchmarks 3, 4 and 6, Dask side: one process, one multi-process cluster, warmed up; each timed
# map+gather uses its own key prefix (so nothing is reused from an earlier repetition) and the next
# one starts only after the scheduler has forgotten every task of the previous one.
DASK_DIST_SCRIPT = f"""
import json, os, sys, time
import dask
from dask.distributed import Client, LocalCluster

def square(x):
    return x * x

def status_kb(pid, field):
    with open(f"/proc/{{pid}}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None

def saturation(dask_scheduler=None):
    return repr(dask_scheduler.WORKER_SATURATION)
{DASK_WAIT_RELEASED}
if __name__ == "__main__":
    repeat, idle_s = int(sys.argv[1]), float(sys.argv[2])
    out = {{"runs": {{"{N_THROUGHPUT}": [], "{N_START}": []}}}}
    with dask.config.set({{"distributed.scheduler.worker-saturation": "inf"}}):
        with LocalCluster(n_workers={DIST_WORKERS}, threads_per_worker=1, processes=True) as cluster, \\
                Client(cluster) as client:
            out["worker_saturation"] = client.run_on_scheduler(saturation)
            # Untimed warm-up on other inputs: worker processes up, function shipped and cached.
            client.gather(client.map(square, range({N_THROUGHPUT} + 1, {N_THROUGHPUT} + 101), key="warmup"))
            wait_released(client)
            for r in range(repeat):
                for n in ({N_THROUGHPUT}, {N_START}):
                    t0 = time.perf_counter()
                    results = client.gather(client.map(square, range(1, n + 1), key=f"square-{{n}}-{{r}}"))
                    elapsed = time.perf_counter() - t0
                    out["runs"][str(n)].append([sum(results), elapsed])
                    del results
                    wait_released(client)
            time.sleep(idle_s)
            worker_pids = client.run(os.getpid)
            nanny_pids = client.run(os.getpid, nanny=True)
            out["workers"] = [
                {{"address": a, "pid": pid, "rss_kb": status_kb(pid, "VmRSS"), "hwm_kb": status_kb(pid, "VmHWM")}}
                for a, pid in sorted(worker_pids.items())
            ]
            out["nanny_pids"] = sorted(set(nanny_pids.values()))
            me = os.getpid()
            out["main"] = {{"pid": me, "rss_kb": status_kb(me, "VmRSS"), "hwm_kb": status_kb(me, "VmHWM")}}
            try:
                import psutil
                out["other_children"] = [
                    {{"pid": c.pid, "cmdline": " ".join(c.cmdline())[:120], "rss_kb": c.memory_info().rss // 1024}}
                    for c in psutil.Process().children(recursive=True)
                    if c.pid not in worker_pids.values()
                ]
            except Exception as e:  # psutil is a dependency of distributed, but do not fail on it
                out["other_children"] = repr(e)
    print("RESULT " + json.dumps(out), flush=True)
"""

# Benchmarks 7 to 10, Dask side: one process, one default multi-process cluster (2 workers x 1 thread),
# warmed up; only submit to result is timed. sys.argv: repeat, then the groups to run ("data,tree,graph").
DASK_HEAVY_SCRIPT = f"""
import json, sys, time
import numpy as np
from dask.distributed import Client, LocalCluster, worker_client

CHUNK_LEN = {CHUNK_LEN}

def make_chunk(i):
    # The example's `chunk(i, len)`: element k is (i * len + k) / 2.
    return (np.arange(CHUNK_LEN, dtype=np.float64) + i * CHUNK_LEN) * 0.5

def sum_all(chunks):
    return float(sum(chunk.sum() for chunk in chunks))

def tree(depth, width):
    # The example's `tree`. worker_client secedes this task from its worker's thread while it waits
    # for its children (and rejoins after), so the tree does not deadlock on 1 thread per worker;
    # pure=False gives the `width` identical calls distinct keys, so each one really runs.
    if depth == 0:
        return 1
    with worker_client() as client:
        return sum(client.gather(client.map(tree, [depth - 1] * width, [width] * width, pure=False)))

def inc(x):
    return x + 1

def mean(a, b):
    return (a + b) // 2

def spin(us):
    # The example's `spin(micros)`: busy-wait `us` microseconds of wall time.
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass
    return us

def chain(client, n):
    # The example's `chain(n)`: n dependent inc calls from 0, each taking the previous one's future.
    # pure=False: the calls get distinct keys (nothing shared with an earlier repetition).
    x = client.submit(inc, 0, pure=False)
    for _ in range(n - 1):
        x = client.submit(inc, x, pure=False)
    return x.result()

def diamond(client, n):
    # The example's `diamond(n)`: top = inc(prev), left = inc(top), right = inc(top),
    # bottom = mean(left, right), n times in a row from inc(0).
    bottom = None
    for _ in range(n):
        top = client.submit(inc, 0 if bottom is None else bottom, pure=False)
        left = client.submit(inc, top, pure=False)
        right = client.submit(inc, top, pure=False)
        bottom = client.submit(mean, left, right, pure=False)
    return bottom.result()
{DASK_WAIT_RELEASED}
if __name__ == "__main__":
    repeat, groups = int(sys.argv[1]), sys.argv[2].split(",")
    out = {{"data": [], "tree": [], "chain": [], "diamond": [], "spin": []}}
    with LocalCluster(n_workers={DIST_WORKERS}, threads_per_worker=1) as cluster, Client(cluster) as client:
        # Untimed warm-up: worker processes up, numpy imported on them, functions shipped.
        if "data" in groups:
            client.submit(sum_all, client.map(make_chunk, range(2), key="warmup-chunk"), key="warmup-sum").result()
        if "tree" in groups:
            client.submit(tree, 1, 2, pure=False).result()
        if "graph" in groups:
            chain(client, 10)
            diamond(client, 3)
        if "spin" in groups:
            client.gather(client.map(spin, [10] * 4, pure=False))
        wait_released(client)
        for r in range(repeat):
            if "data" in groups:
                t0 = time.perf_counter()
                futures = client.map(make_chunk, range({CHUNKS}), key=f"chunk-{{r}}")
                total = client.submit(sum_all, futures, key=f"sum-{{r}}").result()
                elapsed = time.perf_counter() - t0
                out["data"].append([total, elapsed])
                del futures
                wait_released(client)
            if "tree" in groups:
                t0 = time.perf_counter()
                total = client.submit(tree, {TREE_DEPTH}, {TREE_WIDTH}, pure=False).result()
                elapsed = time.perf_counter() - t0
                out["tree"].append([total, elapsed])
                wait_released(client)
            if "graph" in groups:
                for name, function, n in (("chain", chain, {CHAIN_N}), ("diamond", diamond, {DIAMOND_N})):
                    t0 = time.perf_counter()
                    total = function(client, n)
                    elapsed = time.perf_counter() - t0
                    out[name].append([total, elapsed])
                    wait_released(client)
            if "spin" in groups:
                t0 = time.perf_counter()
                total = sum(client.gather(client.map(spin, [{SPIN_US}] * {SPIN_TASKS}, pure=False)))
                elapsed = time.perf_counter() - t0
                out["spin"].append([total, elapsed])
                wait_released(client)
    print("RESULT " + json.dumps(out), flush=True)
"""

# Benchmark 5, Dask side: a whole program, timed from process start to exit.
DASK_DIST_START_SCRIPT = f"""
import dask
from dask.distributed import Client, LocalCluster

def square(x):
    return x * x

if __name__ == "__main__":
    with dask.config.set({{"distributed.scheduler.worker-saturation": "inf"}}):
        with LocalCluster(n_workers={DIST_WORKERS}, threads_per_worker=1, processes=True) as cluster, \\
                Client(cluster) as client:
            print(sum(client.gather(client.map(square, range(1, {N_START} + 1)))), flush=True)
"""


class BenchError(Exception):
    pass


LEFTOVERS: list[str] = []  # commands whose child processes outlived them (killed; reported)


def kill_group(pgid: int, what: str, grace_s: float) -> None:
    """Waits up to grace_s for the process group pgid to empty, then SIGKILLs what is left."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    LEFTOVERS.append(what)
    log(f"  warning: {what}: child processes outlived it; killed them")


def run(cmd: list[str], what: str, timeout_s: float = TIMEOUT_S) -> tuple[float, str]:
    """Runs cmd to completion in its own session, killed after timeout_s; returns (wall seconds from
    spawn to exit, stdout).

    Whatever the command leaves behind in its process group (e.g. cluster processes) is killed
    afterwards, outside the timed span."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise BenchError(f"{what}: timed out after {timeout_s:g}s: {' '.join(cmd)}")
    finally:
        if proc.returncode is None:  # interrupted (e.g. Ctrl-C): do not leave the group running
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    elapsed = time.perf_counter() - t0
    kill_group(proc.pid, what, grace_s=3.0)
    if proc.returncode != 0:
        raise BenchError(
            f"{what}: exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{stdout[-2000:]}\n--- stderr ---\n{stderr[-4000:]}"
        )
    return elapsed, stdout


def check_printed(stdout: str, expected: int | float, what: str) -> None:
    """An int must be printed as such; a float as any number equal to it (`1e3`, `1000.0`)."""
    tokens = stdout.replace(",", " ").replace(":", " ").replace('"', " ").split()
    if isinstance(expected, float):
        found = any(parses_to(token, expected) for token in tokens)
    else:
        found = str(expected) in tokens
    if not found:
        raise BenchError(f"{what}: expected {expected!r} in the output, got: {stdout.strip()[:500]!r}")


def parses_to(token: str, number: float) -> bool:
    try:
        return float(token) == number
    except ValueError:
        return False


def task_cmd(
    args, function: str, task_args: list[str], workers: int | None = None, extra: tuple[str, ...] = ()
) -> list[str]:
    """`wasmdask run <example> --function FUNCTION [EXTRA] [--workers N] -- TASK_ARGS`."""
    cmd = [str(args.wasmdask), "run", str(args.component), "--function", function, *extra]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return cmd + ["--", *task_args]


def wasmdask_cmd(args, n: int, workers: int | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    return task_cmd(args, "sum-of-squares", [f"n={n}"], workers, extra)


def bench_cmd(args, cmd: list[str], expected: int | float, label: str, warm_up: bool = False) -> list[float]:
    """--repeat timed runs of cmd (after one untimed run if warm_up), each checked; their times."""
    if warm_up:
        t, out = run(cmd, f"{label} (warm-up)")
        check_printed(out, expected, label)
        log(f"  {label} warm-up: {t:.3f}s (not counted)")
    times = []
    for i in range(args.repeat):
        t, out = run(cmd, f"{label} (run {i + 1})")
        check_printed(out, expected, label)
        times.append(t)
        log(f"  {label} run {i + 1}: {t:.4f}s")
    return times


def bench_wasmdask(
    args, n: int, expected: int, workers: int | None, label: str, extra: tuple[str, ...] = ()
) -> list[float]:
    return bench_cmd(args, wasmdask_cmd(args, n, workers, extra), expected, f"wasmdask {label}")


def bench_dask_start(args, script: Path, label: str = "start-to-result") -> list[float]:
    return bench_cmd(args, [sys.executable, str(script)], EXPECTED_START, f"dask {label}", warm_up=True)


# ---- distributed section ([3]-[6]) ------------------------------------------------------------


def free_ports(k: int) -> list[int]:
    """k distinct free loopback ports (bound to port 0 together, then released)."""
    socks = []
    try:
        for _ in range(k):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def status_kb(pid: int, field: str) -> int | None:
    """A `kB` field (VmRSS, VmHWM, ...) of /proc/<pid>/status."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def mb(kb: int | None) -> float:
    """kB (KiB) from /proc to MB (10^6 bytes)."""
    return float("nan") if kb is None else kb * 1024 / 1e6


class WasmdaskCluster:
    """`wasmdask scheduler` + DIST_WORKERS x `wasmdask worker --nthreads 1` on free loopback ports.

    Each process runs in its own session; on exit all of them get SIGTERM, then SIGKILL."""

    def __init__(self, args, logdir: Path):
        self.args, self.logdir = args, logdir
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def __enter__(self) -> "WasmdaskCluster":
        port, dash = free_ports(2)
        self.address = f"tcp://127.0.0.1:{port}"
        self.state_url = f"http://127.0.0.1:{dash}/api/state"
        self.worker_names = [f"w{i}" for i in range(1, DIST_WORKERS + 1)]
        try:
            self._spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                        "--dashboard-address", f"127.0.0.1:{dash}")
            for name in self.worker_names:
                self._spawn(name, "worker", self.address, "--nthreads", "1", "--name", name)
            self._wait_for_workers(timeout_s=60.0)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, name: str, *argv: str) -> None:
        path = self.logdir / f"wasmdask-{name}.log"
        with open(path, "w") as f:
            self.procs[name] = subprocess.Popen(
                [str(self.args.wasmdask), *argv], stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.logs[name] = path

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = self.logs[name].read_text(errors="replace")[-3000:]
                raise BenchError(f"wasmdask {name} exited with code {proc.returncode}:\n{tail}")

    def state(self) -> dict:
        with urllib.request.urlopen(self.state_url, timeout=10) as r:
            return json.loads(r.read())

    def _wait_for_workers(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_alive()
            try:
                names = {w["name"] for w in self.state()["workers"]}
                if set(self.worker_names) <= names:
                    return
            except OSError:
                pass  # dashboard not up yet
            if time.monotonic() > deadline:
                raise BenchError(f"wasmdask cluster: {DIST_WORKERS} workers not registered after {timeout_s:.0f}s")
            time.sleep(0.05)

    def done_by_worker(self) -> dict[str, int]:
        return {w["name"]: w["done"] for w in self.state()["workers"]}

    def run_client(self, cmd: list[str], expected: int | float, tasks: int, what: str) -> tuple[float, dict[str, int]]:
        """Runs the client cmd (timed, result checked), then checks that the workers ran its `tasks`
        subtasks (not the client); returns its time and the tasks done per worker."""
        before = self.done_by_worker()
        t, out = run(cmd, what)
        check_printed(out, expected, what)
        deadline = time.monotonic() + 10.0
        while True:
            after = self.done_by_worker()
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in self.worker_names}
            if sum(delta.values()) >= tasks:
                return t, delta
            if time.monotonic() > deadline:
                raise BenchError(f"{what}: the workers report {sum(delta.values())} tasks done, expected {tasks}")
            time.sleep(0.02)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5.0
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the process if still alive, and anything it left behind
            except ProcessLookupError:
                pass
            proc.wait()


def bench_wasmdask_distributed(args, logdir: Path) -> dict:
    """[3], [4], [6] on a wasmdask scheduler + 2 worker processes that stay up across all runs."""
    runs: dict[int, list[float]] = {N_THROUGHPUT: [], N_START: []}
    split: dict[int, list[dict[str, int]]] = {N_THROUGHPUT: [], N_START: []}
    expected = {N_THROUGHPUT: EXPECTED_THROUGHPUT, N_START: EXPECTED_START}
    with WasmdaskCluster(args, logdir) as cluster:
        extra = ("--scheduler", cluster.address)
        log(f"  wasmdask cluster up: scheduler {cluster.address}, workers {', '.join(cluster.worker_names)}")

        def one(n: int, what: str) -> tuple[float, dict[str, int]]:
            return cluster.run_client(wasmdask_cmd(args, n, None, extra), expected[n], n, what)

        t, _ = one(N_START, "wasmdask distributed (warm-up)")
        log(f"  wasmdask client warm-up n={N_START} (fills the compiled cache): {t:.3f}s (not counted)")
        for i in range(args.repeat):
            for n in (N_THROUGHPUT, N_START):
                t, delta = one(n, f"wasmdask distributed n={n} (run {i + 1})")
                runs[n].append(t)
                split[n].append(delta)
                log(f"  wasmdask client `run --scheduler` n={n} run {i + 1}: {t:.4f}s (tasks per worker {delta})")
        time.sleep(IDLE_S)
        cluster._check_alive()
        workers = [
            {"name": name, "pid": cluster.procs[name].pid, "rss_kb": status_kb(cluster.procs[name].pid, "VmRSS"),
             "hwm_kb": status_kb(cluster.procs[name].pid, "VmHWM")}
            for name in cluster.worker_names
        ]
        sched_pid = cluster.procs["scheduler"].pid
        scheduler = {"pid": sched_pid, "rss_kb": status_kb(sched_pid, "VmRSS"), "hwm_kb": status_kb(sched_pid, "VmHWM")}
    for w in workers:
        log(f"  wasmdask worker {w['name']} idle VmRSS {mb(w['rss_kb']):.1f} MB (peak VmHWM {mb(w['hwm_kb']):.1f} MB)")
    log(f"  wasmdask scheduler idle VmRSS {mb(scheduler['rss_kb']):.1f} MB")
    return {"runs": {str(k): v for k, v in runs.items()}, "tasks_per_worker": {str(k): v for k, v in split.items()},
            "workers": workers, "scheduler": scheduler}


def bench_dask_distributed(args, script: Path) -> dict:
    """[3], [4], [6] in one Python child with one LocalCluster(processes=True) that stays up."""
    _, out = run([sys.executable, str(script), str(args.repeat), str(IDLE_S)], "dask distributed")
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise BenchError(f"dask distributed: no RESULT line in the output: {out.strip()[:500]!r}")
    data = json.loads(line[len("RESULT "):])
    expected = {N_THROUGHPUT: EXPECTED_THROUGHPUT, N_START: EXPECTED_START}
    for n, exp in expected.items():
        for i, (total, elapsed) in enumerate(data["runs"][str(n)]):
            if total != exp:
                raise BenchError(f"dask distributed n={n} run {i + 1}: expected {exp}, got {total}")
            log(f"  dask map+gather n={n} run {i + 1}: {elapsed:.3f}s")
    data["runs"] = {k: [e for _, e in v] for k, v in data["runs"].items()}
    log(f"  dask worker-saturation on the scheduler: {data['worker_saturation']}")
    for w in data["workers"]:
        log(f"  dask worker {w['address']} (pid {w['pid']}) idle VmRSS {mb(w['rss_kb']):.1f} MB "
            f"(peak VmHWM {mb(w['hwm_kb']):.1f} MB)")
    log(f"  dask nannies run in pid(s) {data['nanny_pids']} = the cluster's main process (pid {data['main']['pid']}, "
        f"also scheduler and client): VmRSS {mb(data['main']['rss_kb']):.1f} MB")
    if isinstance(data.get("other_children"), list):
        for c in data["other_children"]:
            log(f"  dask other child process {c['pid']} ({c['cmdline'][:60]}...): RSS {mb(c['rss_kb']):.1f} MB")
    return data


def bench_distributed(args, tmp: Path) -> dict:
    start_script = tmp / "dask_dist_start.py"
    start_script.write_text(DASK_DIST_START_SCRIPT)
    dist_script = tmp / "dask_dist.py"
    dist_script.write_text(DASK_DIST_SCRIPT)
    procs = ("--processes",)

    log(f"\n[5] nothing to first result, {DIST_WORKERS} worker processes x 1 thread, n={N_START}")
    t, out = run(wasmdask_cmd(args, N_START, DIST_WORKERS, procs), "wasmdask --processes warm-up")
    check_printed(out, EXPECTED_START, "wasmdask --processes warm-up")
    log(f"  wasmdask --processes warm-up: {t:.3f}s (not counted)")
    w5 = bench_wasmdask(args, N_START, EXPECTED_START, DIST_WORKERS, "run --processes", procs)
    d5 = bench_dask_start(args, start_script, "LocalCluster(processes=True) start-to-result")

    log(f"\n[3]/[4]/[6] {DIST_WORKERS} worker processes x 1 thread, cluster already up; "
        f"n={N_THROUGHPUT} and n={N_START}; idle RSS")
    w = bench_wasmdask_distributed(args, tmp)
    d = bench_dask_distributed(args, dist_script)
    return {"w5": w5, "d5": d5, "wasmdask": w, "dask": d}


# ---- data-heavy fan-out ([7]) and nested fan-out ([8]) -----------------------------------------


def bench_wasmdask_data(args, logdir: Path) -> dict:
    """[7], wasmdask side: the client process against a running scheduler + 2 workers (as Dask's
    cluster is already up), then whole `run --processes` processes (cluster start included)."""
    task_args = [f"count={CHUNKS}", f"len={CHUNK_LEN}"]
    runs, split = [], []
    with WasmdaskCluster(args, logdir) as cluster:
        cmd = task_cmd(args, "sum-chunks", task_args, extra=("--scheduler", cluster.address))
        log(f"  wasmdask cluster up: scheduler {cluster.address}, workers {', '.join(cluster.worker_names)}")
        t, _ = cluster.run_client(cmd, EXPECTED_CHUNKS, CHUNKS, "wasmdask data-heavy (warm-up)")
        log(f"  wasmdask client warm-up (fills the compiled cache): {t:.3f}s (not counted)")
        for i in range(args.repeat):
            t, delta = cluster.run_client(cmd, EXPECTED_CHUNKS, CHUNKS, f"wasmdask data-heavy (run {i + 1})")
            runs.append(t)
            split.append(delta)
            log(f"  wasmdask client `run --scheduler` run {i + 1}: {t:.4f}s (chunks per worker {delta})")
    processes_cmd = task_cmd(args, "sum-chunks", task_args, DIST_WORKERS, ("--processes",))
    processes = bench_cmd(args, processes_cmd, EXPECTED_CHUNKS, "wasmdask data-heavy run --processes")
    # Dask's shape: the chunks go by handle to one reducing call on a worker (`reduce-chunks`).
    on_worker_cmd = task_cmd(args, "reduce-chunks", task_args, DIST_WORKERS, ("--processes",))
    on_worker = bench_cmd(args, on_worker_cmd, EXPECTED_CHUNKS, "wasmdask reduce-chunks run --processes")
    return {"runs": runs, "chunks_per_worker": split, "processes_runs": processes, "on_worker_runs": on_worker}


def bench_embedded_and_processes(args, function: str, task_args: list[str], expected, label: str,
                                 warm_up: bool = True) -> dict:
    """The whole `run --workers 2` (embedded) and `run --processes --workers 2` processes of one export."""
    embedded_cmd = task_cmd(args, function, task_args, DIST_WORKERS)
    # The first untimed run fills the compiled-component cache, which every later run shares.
    embedded = bench_cmd(args, embedded_cmd, expected, f"wasmdask {label} embedded", warm_up=warm_up)
    processes_cmd = task_cmd(args, function, task_args, DIST_WORKERS, ("--processes",))
    processes = bench_cmd(args, processes_cmd, expected, f"wasmdask {label} run --processes")
    return {"embedded_runs": embedded, "processes_runs": processes}


def bench_wasmdask_tree(args) -> dict:
    """[8], wasmdask side: whole `run --workers 2` (embedded) and `run --processes --workers 2` processes."""
    return bench_embedded_and_processes(args, "tree", [f"depth={TREE_DEPTH}", f"width={TREE_WIDTH}"], EXPECTED_TREE,
                                        "tree")


def bench_wasmdask_graph(args) -> dict:
    """[9] and [10], wasmdask side: whole `run --workers 2` (embedded) and `run --processes --workers 2`
    processes of the example's `chain` and `diamond`."""
    out = {}
    graphs = (("chain", CHAIN_N, EXPECTED_CHAIN), ("diamond", DIAMOND_N, EXPECTED_DIAMOND))
    for i, (name, n, expected) in enumerate(graphs):
        out[name] = bench_embedded_and_processes(args, name, [f"n={n}"], expected, name, warm_up=i == 0)
    return out


def bench_wasmdask_spin(args) -> dict:
    """[11], wasmdask side: whole `run --workers 2` (embedded) and `run --processes --workers 2` processes of
    the example's `spin-many`."""
    return bench_embedded_and_processes(args, "spin-many", [f"count={SPIN_TASKS}", f"micros={SPIN_US}"],
                                        EXPECTED_SPIN, "spin")


# The Dask child's lists per group (the graph group yields two).
DASK_HEAVY_KEYS = {"data": ("data",), "tree": ("tree",), "graph": ("chain", "diamond"), "spin": ("spin",)}


def bench_dask_heavy(args, script: Path, groups: list[str]) -> dict:
    """[7], [8] and/or [9]-[10], Dask side: one Python child, one LocalCluster; returns the times per
    group ("chain" and "diamond" for the graph group)."""
    what = "dask " + "/".join(groups)
    timeout_s = TIMEOUT_S + (GRAPH_TIMEOUT_S * args.repeat if "graph" in groups else 0)
    _, out = run([sys.executable, str(script), str(args.repeat), ",".join(groups)], what, timeout_s)
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise BenchError(f"{what}: no RESULT line in the output: {out.strip()[:500]!r}")
    data = json.loads(line[len("RESULT "):])
    expected = {"data": EXPECTED_CHUNKS, "tree": EXPECTED_TREE, "chain": EXPECTED_CHAIN, "diamond": EXPECTED_DIAMOND,
                "spin": EXPECTED_SPIN}
    keys = [k for group in groups for k in DASK_HEAVY_KEYS[group]]
    for key in keys:
        if len(data[key]) != args.repeat:
            raise BenchError(f"dask {key}: {len(data[key])} runs reported, expected {args.repeat}")
        for i, (total, elapsed) in enumerate(data[key]):
            if total != expected[key]:
                raise BenchError(f"dask {key} run {i + 1}: expected {expected[key]!r}, got {total!r}")
            log(f"  dask {key} submit-to-result run {i + 1}: {elapsed:.3f}s")
    return {key: [e for _, e in data[key]] for key in keys}


def bench_heavy(args, tmp: Path, data: bool, tree: bool, graph: bool, spin: bool) -> dict:
    script = tmp / "dask_heavy.py"
    script.write_text(DASK_HEAVY_SCRIPT)
    out = {}
    if data:
        log(f"\n[7] data-heavy fan-out: {CHUNKS} chunk tasks x {CHUNK_LEN * 8 / 1e6:g} MB reduced by one task, "
            f"{DIST_WORKERS} worker processes x 1 thread")
        out["w7"] = bench_wasmdask_data(args, tmp)
    if tree:
        log(f"\n[8] nested fan-out: tree depth {TREE_DEPTH} x width {TREE_WIDTH} ({TREE_TASKS} tasks), "
            f"{DIST_WORKERS} workers")
        out["w8"] = bench_wasmdask_tree(args)
    if graph:
        log(f"\n[9]/[10] task graphs by handle: chain of {CHAIN_N:,} dependent inc calls; {DIAMOND_N:,} diamonds "
            f"({DIAMOND_TASKS:,} tasks); {DIST_WORKERS} workers")
        out["graph"] = bench_wasmdask_graph(args)
    if spin:
        log(f"\n[11] scheduling efficiency: {SPIN_TASKS:,} tasks of {SPIN_US / 1000:g} ms on {DIST_WORKERS} slots "
            f"(ideal {SPIN_IDEAL_S:g} s)")
        out["w11"] = bench_wasmdask_spin(args)
    groups = [g for g, on in (("data", data), ("tree", tree), ("graph", graph), ("spin", spin)) if on]
    log(f"\n[{'/'.join({'data': '7', 'tree': '8', 'graph': '9/10', 'spin': '11'}[g] for g in groups)}] dask: "
        f"LocalCluster(n_workers={DIST_WORKERS}, threads_per_worker=1) already up and warmed; submit to result timed")
    out["dask"] = bench_dask_heavy(args, script, groups)
    return out


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


def versions(args, need_numpy: bool) -> dict:
    probe = (
        "import dask, distributed\n"
        "try:\n    import numpy; numpy_v = numpy.__version__\nexcept ImportError:\n    numpy_v = 'missing'\n"
        "print(dask.__version__, distributed.__version__, numpy_v)"
    )
    try:
        dask_v, distributed_v, numpy_v = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
        ).stdout.split()
    except (subprocess.CalledProcessError, ValueError) as e:
        raise BenchError(
            f"dask/distributed do not import with {sys.executable} ({e}); "
            "run `bash scripts/bench-setup.sh` and use .venv/bin/python"
        )
    if need_numpy and numpy_v == "missing":
        raise BenchError(
            f"numpy does not import with {sys.executable} (Dask's side of [7] needs it); "
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
        "numpy": numpy_v,
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
    p.add_argument(
        "--distributed", action="store_true",
        help="also run [3]-[6]: wasmdask scheduler + worker processes vs Dask LocalCluster(processes=True)",
    )
    p.add_argument("--distributed-only", action="store_true", help="run only [3]-[6] (skips [1] and [2])")
    p.add_argument(
        "--data", action="store_true",
        help=f"also run [7]: {CHUNKS} tasks x {CHUNK_LEN * 8 / 1e6:g} MB reduced by one task (Dask side with numpy)",
    )
    p.add_argument(
        "--tree", action="store_true",
        help=f"also run [8]: nested fan-out, a tree of depth {TREE_DEPTH} and width {TREE_WIDTH} ({TREE_TASKS} tasks)",
    )
    p.add_argument(
        "--graph", action="store_true",
        help=f"also run [9] and [10]: a chain of {CHAIN_N:,} dependent calls and {DIAMOND_N:,} diamonds "
        f"({DIAMOND_TASKS:,} calls), each call taking earlier results by handle",
    )
    p.add_argument(
        "--spin", action="store_true",
        help=f"also run [11]: {SPIN_TASKS:,} tasks of {SPIN_US / 1000:g} ms each on {DIST_WORKERS} slots, efficiency "
        "(ideal time / measured time) on each side",
    )
    p.add_argument(
        "--only", metavar="GROUPS",
        help="run only these comma-separated groups: local ([1], [2]), distributed ([3]-[6]), data ([7]), tree ([8]), "
        "graph ([9], [10]), spin ([11]); e.g. --only data,tree",
    )
    args = p.parse_args()
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.only is not None:
        if args.distributed or args.distributed_only or args.data or args.tree or args.graph or args.spin:
            p.error("--only selects the groups by itself: drop --distributed, --distributed-only, --data, --tree, "
                    "--graph and --spin")
        groups = {g.strip() for g in args.only.split(",") if g.strip()}
        if not groups or groups - set(GROUPS):
            p.error(f"--only takes a comma-separated subset of {', '.join(GROUPS)}, not {args.only!r}")
    else:
        groups = {"distributed"} if args.distributed_only else {"local"}
        groups |= {
            g for g, on in (("distributed", args.distributed), ("data", args.data), ("tree", args.tree),
                            ("graph", args.graph), ("spin", args.spin)) if on
        }
    local, distributed, data_heavy, tree, graph, spin = (g in groups for g in GROUPS)
    for path, hint in ((args.wasmdask, "cargo build --release -p wasmdask"), (args.component, "bash scripts/setup.sh")):
        if not path.is_file():
            print(f"error: {path} not found (build it: {hint})", file=sys.stderr)
            return 2

    try:
        vers = versions(args, need_numpy=data_heavy)
        log(
            f"python {vers['python']}, dask {vers['dask']}, distributed {vers['distributed']}, "
            f"numpy {vers['numpy']}, {vers['wasmdask']}; {vers['cpus']} CPUs, {vers['platform']}"
        )
        with tempfile.TemporaryDirectory(prefix="wasmdask-vs-dask-") as tmp:
            if local:
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
            if distributed:
                dist = bench_distributed(args, Path(tmp))
            if data_heavy or tree or graph or spin:
                heavy = bench_heavy(args, Path(tmp), data_heavy, tree, graph, spin)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    def verdict(ratio: float, target: float) -> str:
        return f"{'meets' if ratio >= target else 'BELOW'} target >= {target:g}x"

    rows = [("", "wasmdask", "dask", "ratio")]
    lines = []
    misses = []
    data: dict = {"versions": vers, "repeat": args.repeat}
    if LEFTOVERS:
        data["leftover_processes_killed_after"] = LEFTOVERS

    if local:
        w1b, d1b, w2b, d2b = min(w1), min(d1), min(w2), min(d2)
        start_ratio = d1b / w1b
        w_tps, d_tps = N_THROUGHPUT / w2b, N_THROUGHPUT / d2b
        tp_ratio = w_tps / d_tps
        rows += [
            (f"[1] start to result, n={N_START} (s)", f"{w1b:.4f}", f"{d1b:.3f}", f"{start_ratio:.1f}x faster"),
            (f"[2] {N_THROUGHPUT:,} subtasks (s)", f"{w2b:.4f}", f"{d2b:.3f}", ""),
            (f"[2] {N_THROUGHPUT:,} subtasks (tasks/s)", f"{w_tps:,.0f}", f"{d_tps:,.0f}", f"{tp_ratio:.1f}x higher"),
        ]
        lines += [
            f"[1] dask / wasmdask start-to-result time: {start_ratio:.1f}x ({verdict(start_ratio, TARGET_START_RATIO)})",
            f"[2] wasmdask / dask tasks per second:     {tp_ratio:.1f}x ({verdict(tp_ratio, TARGET_THROUGHPUT_RATIO)})",
            "    [1] both whole processes, compiled cache warm; [2] wasmdask whole process (start included) "
            "vs dask map+gather only (cluster already up)",
        ]
        if start_ratio < TARGET_START_RATIO:
            misses.append("[1]")
        if tp_ratio < TARGET_THROUGHPUT_RATIO:
            misses.append("[2]")
        data["start_to_result"] = {
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
        }
        data["throughput"] = {
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
        }

    if distributed:
        wd, dd = dist["wasmdask"], dist["dask"]
        w3, d3 = min(wd["runs"][str(N_THROUGHPUT)]), min(dd["runs"][str(N_THROUGHPUT)])
        w4, d4 = min(wd["runs"][str(N_START)]), min(dd["runs"][str(N_START)])
        w5, d5 = min(dist["w5"]), min(dist["d5"])
        r3, r4, r5 = d3 / w3, d4 / w4, d5 / w5
        w_rss = max(mb(w["rss_kb"]) for w in wd["workers"])
        d_rss = max(mb(w["rss_kb"]) for w in dd["workers"])
        r6 = d_rss / w_rss
        rows += [
            (f"[3] {N_THROUGHPUT:,} tasks, 2 procs (s)", f"{w3:.4f}", f"{d3:.3f}", ""),
            (f"[3] {N_THROUGHPUT:,} tasks, 2 procs (tasks/s)", f"{N_THROUGHPUT / w3:,.0f}", f"{N_THROUGHPUT / d3:,.0f}",
             f"{r3:.1f}x higher"),
            (f"[4] {N_START:,}-task fan-out+reduce (s)", f"{w4:.4f}", f"{d4:.3f}", ""),
            (f"[4] {N_START:,}-task fan-out+reduce (tasks/s)", f"{N_START / w4:,.0f}", f"{N_START / d4:,.0f}",
             f"{r4:.1f}x higher"),
            (f"[5] nothing to result, 2 procs, n={N_START} (s)", f"{w5:.4f}", f"{d5:.3f}", f"{r5:.1f}x faster"),
            ("[6] idle worker VmRSS, largest (MB)", f"{w_rss:.1f}", f"{d_rss:.1f}", f"{r6:.1f}x smaller"),
            ("[6] scheduler / cluster main process (MB)", f"{mb(wd['scheduler']['rss_kb']):.1f}",
             f"{mb(dd['main']['rss_kb']):.1f}", ""),
        ]
        rss_ok = w_rss < TARGET_WORKER_RSS_MB
        w_rss_list = ", ".join(f"{mb(w['rss_kb']):.1f}" for w in wd["workers"])
        d_rss_list = ", ".join(f"{mb(w['rss_kb']):.1f}" for w in dd["workers"])
        lines += [
            f"[3] wasmdask / dask tasks per second, 10k map+gather: {r3:.1f}x ({verdict(r3, TARGET_DIST_THROUGHPUT_RATIO)})",
            f"[4] wasmdask / dask tasks per second, 1k fan-out:     {r4:.1f}x (no target)",
            f"[5] dask / wasmdask nothing-to-result time:           {r5:.1f}x ({verdict(r5, TARGET_DIST_START_RATIO)})",
            f"[6] wasmdask idle worker VmRSS {w_rss_list} MB "
            f"({'meets' if rss_ok else 'ABOVE'} target < {TARGET_WORKER_RSS_MB:g} MB); dask workers "
            f"{d_rss_list} MB, its nannies live in the "
            f"{mb(dd['main']['rss_kb']):.1f} MB main process (with the scheduler and the client)",
            "    [3]/[4] wasmdask: whole client process (start, component load, root task) against a running, warmed "
            "scheduler + 2 worker processes; dask: gather(map) only on a running, warmed LocalCluster(processes=True), "
            "worker-saturation inf; [5] both whole processes incl. cluster start and shutdown",
        ]
        if r3 < TARGET_DIST_THROUGHPUT_RATIO:
            misses.append("[3]")
        if r5 < TARGET_DIST_START_RATIO:
            misses.append("[5]")
        if not rss_ok:
            misses.append("[6]")
        data["distributed"] = {
            "workers": DIST_WORKERS,
            "threads_per_worker": 1,
            "map_gather_10k": {
                "tasks": N_THROUGHPUT, "expected": EXPECTED_THROUGHPUT, "wasmdask_s": w3, "dask_s": d3,
                "wasmdask_runs_s": wd["runs"][str(N_THROUGHPUT)], "dask_runs_s": dd["runs"][str(N_THROUGHPUT)],
                "wasmdask_tasks_per_s": N_THROUGHPUT / w3, "dask_tasks_per_s": N_THROUGHPUT / d3,
                "wasmdask_tasks_per_worker": wd["tasks_per_worker"][str(N_THROUGHPUT)],
                "ratio_wasmdask_over_dask": r3, "target_ratio": TARGET_DIST_THROUGHPUT_RATIO,
            },
            "fan_out_reduce_1k": {
                "tasks": N_START, "expected": EXPECTED_START, "wasmdask_s": w4, "dask_s": d4,
                "wasmdask_runs_s": wd["runs"][str(N_START)], "dask_runs_s": dd["runs"][str(N_START)],
                "wasmdask_tasks_per_s": N_START / w4, "dask_tasks_per_s": N_START / d4,
                "wasmdask_tasks_per_worker": wd["tasks_per_worker"][str(N_START)],
                "ratio_wasmdask_over_dask": r4,
            },
            "nothing_to_result": {
                "n": N_START, "expected": EXPECTED_START, "wasmdask_s": w5, "dask_s": d5,
                "wasmdask_runs_s": dist["w5"], "dask_runs_s": dist["d5"],
                "ratio_dask_over_wasmdask": r5, "target_ratio": TARGET_DIST_START_RATIO,
                "wasmdask_setup": "subprocess: wasmdask run --processes --workers 2 --function sum-of-squares -- n=1000",
                "dask_setup": "subprocess: LocalCluster(n_workers=2, threads_per_worker=1, processes=True), worker-saturation inf, "
                "map, gather, sum, print, shutdown",
            },
            "idle_rss": {
                "idle_s": IDLE_S, "unit": "kB from /proc/<pid>/status (VmRSS idle, VmHWM peak)",
                "wasmdask_workers": wd["workers"], "wasmdask_scheduler": wd["scheduler"],
                "dask_workers": dd["workers"], "dask_main_process_scheduler_nannies_client": dd["main"],
                "dask_nanny_pids": dd["nanny_pids"], "dask_other_children": dd.get("other_children"),
                "target_wasmdask_worker_mb": TARGET_WORKER_RSS_MB,
            },
            "dask_worker_saturation": dd["worker_saturation"],
            "wasmdask_setup": "wasmdask scheduler --host 127.0.0.1 + 2 x wasmdask worker --nthreads 1; "
            "client: wasmdask run --scheduler tcp://... --function sum-of-squares -- n=N (whole process timed)",
            "dask_setup": "one process: LocalCluster(n_workers=2, threads_per_worker=1, processes=True), worker-saturation inf, "
            "100 warm-up tasks; only client.gather(client.map(square, range(1, n + 1))) timed",
        }

    if data_heavy:
        w7d, dd7 = heavy["w7"], heavy["dask"]["data"]
        w7, w7p, d7 = min(w7d["runs"]), min(w7d["processes_runs"]), min(dd7)
        w7w = min(w7d["on_worker_runs"])
        r7, r7p, r7w = d7 / w7, d7 / w7p, d7 / w7w
        rows += [
            (f"[7] {CHUNKS} x {CHUNK_LEN * 8 / 1e6:g} MB fan-out+reduce, running cluster (s)", f"{w7:.4f}", f"{d7:.3f}",
             f"{r7:.1f}x faster"),
            (f"[7] same, MB/s produced and reduced", f"{CHUNK_MB / w7:,.0f}", f"{CHUNK_MB / d7:,.0f}", ""),
            ("[7] same, whole `run --processes` (s)", f"{w7p:.4f}", f"{d7:.3f}", f"{r7p:.1f}x faster"),
            ("[7] reduce on a worker (`reduce-chunks`), whole `run --processes` (s)", f"{w7w:.4f}", f"{d7:.3f}",
             f"{r7w:.1f}x faster"),
        ]
        lines += [
            f"[7] dask / wasmdask data-heavy fan-out time: {r7:.1f}x on a running cluster "
            f"({verdict(r7, TARGET_DATA_RATIO)}), {r7p:.1f}x as a whole `run --processes` "
            f"({verdict(r7p, TARGET_DATA_RATIO)}), {r7w:.1f}x with the reduce on a worker "
            f"({verdict(r7w, TARGET_DATA_RATIO)})",
            "    [7] wasmdask: whole client process `run --scheduler` (root task in the client, chunks on the 2 workers) "
            "or whole `run --processes` (cluster start and stop included); reduce on a worker: the example's "
            "`reduce-chunks`, the chunks passed by handle to one `sum-all(list<list<f64>>)` call, whole `run "
            "--processes`; dask: submit to result only on a running LocalCluster(n_workers=2, threads_per_worker=1), "
            "numpy chunks",
        ]
        if max(r7, r7p, r7w) < TARGET_DATA_RATIO:
            misses.append("[7]")
        data["data_heavy"] = {
            "chunks": CHUNKS, "chunk_len": CHUNK_LEN, "megabytes": CHUNK_MB, "expected": EXPECTED_CHUNKS,
            "wasmdask_s": w7, "wasmdask_processes_s": w7p, "wasmdask_on_worker_s": w7w, "dask_s": d7,
            "wasmdask_runs_s": w7d["runs"], "wasmdask_processes_runs_s": w7d["processes_runs"],
            "wasmdask_on_worker_runs_s": w7d["on_worker_runs"], "dask_runs_s": dd7,
            "ratio_dask_over_wasmdask_on_worker": r7w,
            "wasmdask_chunks_per_worker": w7d["chunks_per_worker"],
            "ratio_dask_over_wasmdask": r7, "ratio_dask_over_wasmdask_processes": r7p,
            "target_ratio": TARGET_DATA_RATIO,
            "wasmdask_setup": "wasmdask scheduler + 2 x wasmdask worker --nthreads 1, already up; client: wasmdask run "
            f"--scheduler tcp://... --function sum-chunks -- count={CHUNKS} len={CHUNK_LEN} (whole process timed); "
            f"and wasmdask run --processes --workers 2 --function sum-chunks -- count={CHUNKS} len={CHUNK_LEN} "
            "(whole process timed)",
            "dask_setup": "LocalCluster(n_workers=2, threads_per_worker=1), already up and warmed; only "
            f"client.submit(sum_all, client.map(make_chunk, range({CHUNKS}))).result() timed",
        }
    if tree:
        w8d, dd8 = heavy["w8"], heavy["dask"]["tree"]
        w8, w8p, d8 = min(w8d["embedded_runs"]), min(w8d["processes_runs"]), min(dd8)
        r8, r8p = d8 / w8, d8 / w8p
        rows += [
            (f"[8] tree {TREE_DEPTH}x{TREE_WIDTH} ({TREE_TASKS} tasks), embedded run (s)", f"{w8:.4f}", f"{d8:.3f}",
             f"{r8:.1f}x faster"),
            (f"[8] tree {TREE_DEPTH}x{TREE_WIDTH}, whole `run --processes` (s)", f"{w8p:.4f}", f"{d8:.3f}",
             f"{r8p:.1f}x faster"),
        ]
        lines += [
            f"[8] dask / wasmdask nested tree time: {r8:.1f}x embedded ({verdict(r8, TARGET_TREE_RATIO)}), "
            f"{r8p:.1f}x as a whole `run --processes` ({verdict(r8p, TARGET_TREE_RATIO)})",
            "    [8] wasmdask: whole `run --workers 2` / `run --processes --workers 2` process; dask: submit to result "
            "only on a running LocalCluster(n_workers=2, threads_per_worker=1), each task's children through "
            "worker_client (secede/rejoin)",
        ]
        if r8 < TARGET_TREE_RATIO or r8p < TARGET_TREE_RATIO:
            misses.append("[8]")
        data["tree"] = {
            "depth": TREE_DEPTH, "width": TREE_WIDTH, "tasks": TREE_TASKS, "expected": EXPECTED_TREE,
            "wasmdask_s": w8, "wasmdask_processes_s": w8p, "dask_s": d8,
            "wasmdask_runs_s": w8d["embedded_runs"], "wasmdask_processes_runs_s": w8d["processes_runs"],
            "dask_runs_s": dd8,
            "ratio_dask_over_wasmdask": r8, "ratio_dask_over_wasmdask_processes": r8p,
            "target_ratio": TARGET_TREE_RATIO,
            "wasmdask_setup": f"subprocess: wasmdask run --workers 2 --function tree -- depth={TREE_DEPTH} "
            f"width={TREE_WIDTH}; and the same with --processes",
            "dask_setup": "LocalCluster(n_workers=2, threads_per_worker=1), already up and warmed; only "
            f"client.submit(tree, {TREE_DEPTH}, {TREE_WIDTH}, pure=False).result() timed; tree recurses through "
            "worker_client with client.map(..., pure=False)",
        }

    if graph:
        wg, dg = heavy["graph"], heavy["dask"]
        data["graph"] = {"target_ratio": TARGET_GRAPH_RATIO}
        for row, name, n, tasks, expected, shape in (
            ("[9]", "chain", CHAIN_N, CHAIN_N, EXPECTED_CHAIN, f"chain of {CHAIN_N:,}"),
            ("[10]", "diamond", DIAMOND_N, DIAMOND_TASKS, EXPECTED_DIAMOND,
             f"{DIAMOND_N:,} diamonds ({DIAMOND_TASKS:,} tasks)"),
        ):
            we, wp, d = min(wg[name]["embedded_runs"]), min(wg[name]["processes_runs"]), min(dg[name])
            re, rp = d / we, d / wp
            rows += [
                (f"{row} {shape}, embedded run (s)", f"{we:.4f}", f"{d:.3f}", f"{re:.1f}x faster"),
                (f"{row} {name}, whole `run --processes` (s)", f"{wp:.4f}", f"{d:.3f}", f"{rp:.1f}x faster"),
            ]
            lines.append(
                f"{row} dask / wasmdask {name} time: {re:.1f}x embedded ({verdict(re, TARGET_GRAPH_RATIO)}), "
                f"{rp:.1f}x as a whole `run --processes` ({verdict(rp, TARGET_GRAPH_RATIO)})"
            )
            if re < TARGET_GRAPH_RATIO or rp < TARGET_GRAPH_RATIO:
                misses.append(row)
            data["graph"][name] = {
                "n": n, "tasks": tasks, "expected": expected,
                "wasmdask_s": we, "wasmdask_processes_s": wp, "dask_s": d,
                "wasmdask_runs_s": wg[name]["embedded_runs"], "wasmdask_processes_runs_s": wg[name]["processes_runs"],
                "dask_runs_s": dg[name],
                "ratio_dask_over_wasmdask": re, "ratio_dask_over_wasmdask_processes": rp,
                "target_ratio": TARGET_GRAPH_RATIO,
                "wasmdask_setup": f"subprocess: wasmdask run --workers 2 --function {name} -- n={n}; "
                "and the same with --processes",
                "dask_setup": "LocalCluster(n_workers=2, threads_per_worker=1), already up and warmed; only "
                f"{name}(client, {n}) timed: client.submit(..., pure=False) per call, each taking the earlier "
                "calls' futures, then .result() of the last",
            }
        lines.append(
            "    [9]/[10] wasmdask: whole `run --workers 2` / `run --processes --workers 2` process, the arguments "
            "passed by handle (submit_with); dask: submit to result only on a running "
            "LocalCluster(n_workers=2, threads_per_worker=1), futures as arguments"
        )

    if spin:
        w11d, dd11 = heavy["w11"], heavy["dask"]["spin"]
        w11, w11p, d11 = min(w11d["embedded_runs"]), min(w11d["processes_runs"]), min(dd11)
        e11, e11p, e11d = SPIN_IDEAL_S / w11, SPIN_IDEAL_S / w11p, SPIN_IDEAL_S / d11
        rows += [
            (f"[11] {SPIN_TASKS:,} x {SPIN_US / 1000:g} ms on {DIST_WORKERS} slots, embedded run (s)", f"{w11:.4f}",
             f"{d11:.3f}", f"{d11 / w11:.1f}x faster"),
            ("[11] same, efficiency (ideal / measured)", f"{e11:.2f}", f"{e11d:.2f}", ""),
            ("[11] same, whole `run --processes` (s)", f"{w11p:.4f}", f"{d11:.3f}", f"{d11 / w11p:.1f}x faster"),
            ("[11] same, efficiency (ideal / measured)", f"{e11p:.2f}", f"{e11d:.2f}", ""),
        ]
        meets = e11 >= TARGET_SPIN_EFFICIENCY
        lines += [
            f"[11] wasmdask efficiency with {SPIN_US / 1000:g} ms tasks: {e11:.2f} embedded "
            f"({'meets' if meets else 'BELOW'} target >= {TARGET_SPIN_EFFICIENCY:g}), {e11p:.2f} as a whole "
            f"`run --processes`; dask {e11d:.2f} (ideal {SPIN_IDEAL_S:g} s = {SPIN_TASKS:,} x {SPIN_US / 1000:g} ms / "
            f"{DIST_WORKERS} slots)",
            "    [11] wasmdask: whole `run --workers 2` / `run --processes --workers 2` process (start included); dask: "
            "gather(map) only on a running LocalCluster(n_workers=2, threads_per_worker=1)",
        ]
        if not meets:
            misses.append("[11]")
        data["spin"] = {
            "tasks": SPIN_TASKS, "task_us": SPIN_US, "slots": DIST_WORKERS, "ideal_s": SPIN_IDEAL_S,
            "expected": EXPECTED_SPIN, "wasmdask_s": w11, "wasmdask_processes_s": w11p, "dask_s": d11,
            "wasmdask_runs_s": w11d["embedded_runs"], "wasmdask_processes_runs_s": w11d["processes_runs"],
            "dask_runs_s": dd11, "wasmdask_efficiency": e11, "wasmdask_processes_efficiency": e11p,
            "dask_efficiency": e11d, "target_wasmdask_efficiency": TARGET_SPIN_EFFICIENCY,
            "wasmdask_setup": f"subprocess: wasmdask run --workers 2 --function spin-many -- count={SPIN_TASKS} "
            f"micros={SPIN_US}; and the same with --processes",
            "dask_setup": "LocalCluster(n_workers=2, threads_per_worker=1), already up and warmed; only "
            f"client.gather(client.map(spin, [{SPIN_US}] * {SPIN_TASKS}, pure=False)) timed",
        }

    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(
        f"\nwasmdask vs dask — python {vers['python']}, dask {vers['dask']}, distributed {vers['distributed']}, "
        f"{'numpy ' + vers['numpy'] + ', ' if data_heavy else ''}{vers['wasmdask']}; {vers['cpus']} CPUs; best of {args.repeat}"
    )
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for line in lines:
        print(line)
    if LEFTOVERS:
        print(f"warning: child processes outlived (and were killed after): {', '.join(LEFTOVERS)}")

    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        log(f"wrote {args.json}")

    if args.fail_below_target and misses:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
