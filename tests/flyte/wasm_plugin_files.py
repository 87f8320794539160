"""A flytekit workflow that passes Flyte data through wasm tasks (tests/it/flyte_plugin.rs runs
it with `pyflyte run`): Python tasks write a FlyteFile and a FlyteDirectory of shards, the
files test guest ($WASMDASK_FILES_WASM, tests/guests/programs/files) sums the file's lines
(`line-sum`) and fans out over the shards (`shard-sums`, which returns a CSV FlyteFile), and a
Python task opens that file and reports its lines with the file's sum."""

import os
from pathlib import Path

from flytekit import current_context, task, workflow
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile
from flytekitplugins.wasmdask import WasmTask

FILES = os.environ["WASMDASK_FILES_WASM"]

line_sum = WasmTask(name="files.line_sum", component=FILES, function="line-sum")
shard_sums = WasmTask(name="files.shard_sums", component=FILES, function="shard-sums")


def _lines(first: int, count: int) -> str:
    return "".join(f"{v}\n" for v in range(first, first + count))


@task
def write_numbers(n: int) -> FlyteFile:
    """1..n, one per line."""
    path = Path(current_context().working_directory) / "numbers.txt"
    path.write_text(_lines(1, n))
    return FlyteFile(str(path))


@task
def write_shards(n: int) -> FlyteDirectory:
    """`n` shards; shard i holds 10*i+1 ..= 10*i+3."""
    root = Path(current_context().working_directory) / "shards"
    root.mkdir()
    for i in range(n):
        (root / f"shard-{i:02}.txt").write_text(_lines(10 * i + 1, 3))
    return FlyteDirectory(str(root))


@task
def report(sums: FlyteFile, total: int) -> str:
    """The wasm task's CSV, opened as a file, and the line sum."""
    with open(sums) as f:
        rows = f.read().splitlines()
    return f"sums: {';'.join(rows)}; total: {total}"


@workflow
def wf(n: int = 3) -> str:
    return report(sums=shard_sums(shards=write_shards(n=n)), total=line_sum(shard=write_numbers(n=n)))
