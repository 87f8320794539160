"""The Flyte 2 (flyte-sdk) twin of wasm_plugin_files.py, run by tests/it/flyte_plugin.rs with
`python wasm_plugin_files_v2.py N` (flyte.run in local mode): Python tasks write a
`flyte.io.File` and a `flyte.io.Dir` of shards, the files test guest ($WASMDASK_FILES_WASM)
sums the file's lines (`line-sum`) and fans out over the shards (`shard-sums`, a CSV File
out), and a Python task downloads that file and reports its lines with the file's sum.

It prints the report, then one line of JSON: the literal types flyte-sdk gives a dataset
parameter (`filter-table`'s, checked against the host's when it is declared) and a dataset with
columns, from the plugin's Python types."""

import json
import os
import sys
import tempfile
from pathlib import Path

import flyte
from flyte.io import Dir, File
from flyteplugins.wasmdask import WasmTask

FILES = os.environ["WASMDASK_FILES_WASM"]

line_sum = WasmTask(name="files.line_sum", component=FILES, function="line-sum")
shard_sums = WasmTask(name="files.shard_sums", component=FILES, function="shard-sums")
# A structured dataset in and out: declaring it checks flyte-sdk's type is the host's (parquet).
filter_table = WasmTask(name="files.filter_table", component=FILES, function="filter-table")
wasm = flyte.TaskEnvironment.from_task("files_wasm", line_sum, shard_sums, filter_table)
env = flyte.TaskEnvironment(name="files", depends_on=[wasm])


def _lines(first: int, count: int) -> str:
    return "".join(f"{v}\n" for v in range(first, first + count))


@env.task
async def write_numbers(n: int) -> File:
    """1..n, one per line."""
    path = Path(tempfile.mkdtemp()) / "numbers.txt"
    path.write_text(_lines(1, n))
    return await File.from_local(str(path))


@env.task
async def write_shards(n: int) -> Dir:
    """`n` shards; shard i holds 10*i+1 ..= 10*i+3."""
    root = Path(tempfile.mkdtemp()) / "shards"
    root.mkdir()
    for i in range(n):
        (root / f"shard-{i:02}.txt").write_text(_lines(10 * i + 1, 3))
    return await Dir.from_local(str(root))


@env.task
async def report(sums: File, total: int) -> str:
    """The wasm task's CSV, downloaded as a file, and the line sum."""
    local = await sums.download()
    rows = Path(local).read_text().splitlines()
    return f"sums: {';'.join(rows)}; total: {total}"


@env.task
async def wf(n: int) -> str:
    sums = await shard_sums.aio(shards=await write_shards(n))
    total = await line_sum.aio(shard=await write_numbers(n))
    return await report(sums, total)


if __name__ == "__main__":
    flyte.init()
    run = flyte.with_runcontext(mode="local").run(wf, n=int(sys.argv[1]))
    print(run.outputs()[0])

    from flyte._internal.runtime.types_serde import transform_native_to_typed_interface
    from flyte.types import TypeEngine
    from flyteplugins.wasmdask.task import python_type
    from google.protobuf.json_format import MessageToDict

    interface = MessageToDict(transform_native_to_typed_interface(filter_table.interface))
    columns, _ = python_type(
        "record { dataset-path: string, uri: string, format: string, columns: option<row> }",
        "STRUCTURED_DATASET(parquet: region STRING, amount FLOAT, units INTEGER)",
    )
    print(json.dumps({"filter_table": interface, "columns": MessageToDict(TypeEngine.to_literal_type(columns))}))
