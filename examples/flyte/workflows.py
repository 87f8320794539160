"""A Flyte workflow that mixes Python tasks with tasks of a WebAssembly component.

Run it locally (the wasm tasks run through the `wasmdask` binary on an embedded cluster):
    pyflyte run examples/flyte/workflows.py wf --n 1000
Register it with the rest of a project (the wasm tasks become Flyte `dask` tasks whose runner,
scheduler and workers run IMAGE; the Python tasks run the image given to pyflyte):
    aws s3 cp target/guests/wasm32-wasip2/release/wasmdask_example.wasm s3://my-bucket/tasks/
    COMPONENT_URI=s3://my-bucket/tasks/wasmdask_example.wasm \
        pyflyte register --image ghcr.io/me/flyte-app:1 examples/flyte/workflows.py
"""

import os

from flytekit import Resources, task, workflow
from flytekitplugins.wasmdask import Dask, WasmTask, WorkerGroup

# The Rust example component (examples/rust), built by scripts/setup.sh; a relative path is
# relative to this file. It is read when this module is imported (for the tasks' types).
COMPONENT = "../../target/guests/wasm32-wasip2/release/wasmdask_example.wasm"
# Where the runner pods fetch it (the same bytes: the digest is checked); unset, the path above,
# which only a local run can read.
COMPONENT_URI = os.environ.get("COMPONENT_URI")
# The wasmdask host image (scripts/build-image.py).
IMAGE = "ghcr.io/me/wasmdask:0.1"

# func(n: u32) -> result<u64, string>: fans out n `square` calls over the Dask workers.
sum_of_squares = WasmTask(
    name="example.sum_of_squares",
    component=COMPONENT,
    component_uri=COMPONENT_URI,
    function="sum-of-squares",
    task_config=Dask(workers=WorkerGroup(number_of_workers=2, limits=Resources(cpu="2", mem="1Gi"))),
    limits=Resources(cpu="1", mem="512Mi"),
    image=IMAGE,
)

# func(samples: list<f64>, label: option<string>) -> stats (a record: a dict in Python).
summarize = WasmTask(
    name="example.summarize",
    component=COMPONENT,
    component_uri=COMPONENT_URI,
    function="summarize",
    image=IMAGE,
)


@task
def check_n(n: int) -> int:
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    return n


@task
def around_the_mean(n: int, total: int) -> list[float]:
    mean = total / n
    return [mean - 1.0, mean, mean + 1.0]


@task
def report(n: int, total: int, stats: dict) -> str:
    return f"1²+…+{n}² = {total}; mean square {stats['mean']} over {stats['count']} samples ({stats['label']})"


@workflow
def wf(n: int = 1000) -> str:
    checked = check_n(n=n)
    total = sum_of_squares(n=checked)
    stats = summarize(samples=around_the_mean(n=checked, total=total))
    return report(n=checked, total=total, stats=stats)
