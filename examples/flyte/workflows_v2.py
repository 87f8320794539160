"""The same pipeline for Flyte 2 (flyte-sdk): Python tasks and a WebAssembly component's task.

Run it locally (the wasm task runs through the `wasmdask` binary on an embedded cluster):
    python examples/flyte/workflows_v2.py 1000
Deploy it (the wasm task is a Flyte `dask` task whose runner, scheduler and workers run IMAGE):
    COMPONENT_URI=s3://my-bucket/tasks/wasmdask_example.wasm flyte deploy examples/flyte/workflows_v2.py env
"""

import os
import sys

import flyte
from flyteplugins.wasmdask import Dask, WasmTask, WorkerGroup

# The Rust example component (examples/rust), built by scripts/setup.sh; relative to this file.
COMPONENT = "../../target/guests/wasm32-wasip2/release/wasmdask_example.wasm"
# The wasmdask host image (scripts/build-image.py).
IMAGE = "ghcr.io/me/wasmdask:0.1"

# func(n: u32) -> result<u64, string>: fans out n `square` calls over the Dask workers.
sum_of_squares = WasmTask(
    name="example.sum_of_squares",
    component=COMPONENT,
    component_uri=os.environ.get("COMPONENT_URI"),
    function="sum-of-squares",
    plugin_config=Dask(workers=WorkerGroup(number_of_workers=2, resources=flyte.Resources(cpu=2, memory="1Gi"))),
    resources=flyte.Resources(cpu=1, memory="512Mi"),
    image=IMAGE,
)
wasm_env = flyte.TaskEnvironment.from_task("wasm", sum_of_squares)
env = flyte.TaskEnvironment(name="example_v2", depends_on=[wasm_env])


@env.task
def check_n(n: int) -> int:
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    return n


@env.task
def report(n: int, total: int) -> str:
    return f"1²+…+{n}² = {total}; mean square {total / n}"


@env.task
def main(n: int = 1000) -> str:
    checked = check_n(n=n)
    total = sum_of_squares(n=checked)
    return report(n=checked, total=total)


if __name__ == "__main__":
    flyte.init()
    run = flyte.with_runcontext(mode="local").run(main, n=int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
    print(run.outputs()[0] if isinstance(run.outputs(), tuple) else run.outputs())
