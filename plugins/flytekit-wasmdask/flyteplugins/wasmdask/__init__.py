"""flyteplugins.wasmdask: WebAssembly component exports as Flyte 2 (flyte-sdk) Dask tasks.

The Flyte 2 side of flytekitplugins-wasmdask; it imports flyte-sdk and flyteplugins-dask only,
never flytekit. `WasmTask(name=..., component=..., function=..., plugin_config=Dask(...))` types
itself from the component (`wasmdask inspect --json`), serializes as `wasmdask serialize` does
(type `dask`, flyteplugins-dask's DaskJob as `custom`, `wasmdask execute` args, the token pod
template) and runs locally through `wasmdask execute`. Put it in an environment with
`flyte.TaskEnvironment.from_task(...)`, as flyte-sdk's own non-function tasks.
"""

from flyteplugins.dask import Dask, Scheduler, WorkerGroup

from .task import DEFAULT_TOKEN_SECRET, UnmappableType, WasmTask, WasmTaskError, WasmdaskNotFound

__all__ = [
    "DEFAULT_TOKEN_SECRET",
    "Dask",
    "Scheduler",
    "UnmappableType",
    "WasmTask",
    "WasmTaskError",
    "WasmdaskNotFound",
    "WorkerGroup",
]
