"""flytekitplugins-wasmdask: WebAssembly component exports as Flyte Dask tasks.

`WasmTask(name=..., component=..., function=..., task_config=Dask(...))` types itself from the
component (`wasmdask inspect --json`), serializes as `wasmdask serialize` does and runs locally
through `wasmdask execute`. `Dask`, `Scheduler` and `WorkerGroup` are flytekitplugins-dask's own,
re-exported so a workflow file needs one import.
"""

from flytekitplugins.dask import Dask, Scheduler, WorkerGroup

from .host import WasmdaskNotFound, WasmTaskFailed
from .task import DEFAULT_TOKEN_SECRET, WasmSystemError, WasmTask, WasmTaskError, WasmTaskRecoverableError
from .types import PYTHON_TYPES, UnmappableType

__all__ = [
    "DEFAULT_TOKEN_SECRET",
    "Dask",
    "PYTHON_TYPES",
    "Scheduler",
    "UnmappableType",
    "WasmSystemError",
    "WasmTask",
    "WasmTaskError",
    "WasmTaskFailed",
    "WasmTaskRecoverableError",
    "WasmdaskNotFound",
    "WorkerGroup",
]
