"""`WasmTask` for Flyte 2: one export of a WebAssembly component as a flyte-sdk task of type `dask`.

Remotely it is what `wasmdask serialize` writes: `custom` is flyteplugins-dask's own DaskJob
(the same `flyteidl2.plugins.DaskJob` message as v1's, same JSON keys), the container runs
`wasmdask execute` with the placeholders the backend fills, and the token comes from a Secret
through a pod template. Locally it runs through `wasmdask execute` on an embedded cluster: the
task's inputs become the `flyteidl2.task.Inputs` a Flyte 2 backend would hand the runner pod
(wire-compatible with v1's LiteralMap: `literals = 1` of name/literal pairs), and its
outputs.pb is read back as `flyteidl2.task.Outputs`.
"""

import asyncio
import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from flyte import PodTemplate
from flyte._task import TaskTemplate
from flyte.errors import RuntimeSystemError, RuntimeUserError
from flyte.models import NativeInterface, SerializationContext
from flyteplugins.dask import Dask
from flyteplugins.dask.task import DaskTask

import wasmdask_plugin_common as common
# BIN_ENV, KEEP_ENV, UnmappableType and WasmdaskNotFound stay names of this module, as before.
from wasmdask_plugin_common import BIN_ENV, KEEP_ENV, UnmappableType, WasmdaskNotFound, find_binary  # noqa: F401
from wasmdask_plugin_common import python_types as _common_python_types

#: The Secret key every pod reads WASMDASK_TOKEN from, as `wasmdask serialize --token-secret`.
DEFAULT_TOKEN_SECRET = "wasmdask-token/token"
_EMPTY = inspect.Parameter.empty


class WasmTaskError(RuntimeUserError):
    """The task failed by its own doing (error.pb's `USER:...` code, the guest's message)."""


class WasmSystemError(RuntimeSystemError):
    """The platform failed, not the task (storage, a changed component, a lost worker)."""


def _python_types() -> Dict[str, type]:
    """The host's Flyte type → flyte-sdk's Python type (as flytekitplugins.wasmdask.types)."""
    from flyte.io import DataFrame, Dir, File

    return _common_python_types(File, Dir, DataFrame)


def python_type(wit: str, flyte: str) -> Tuple[type, bool]:
    """The Python type of a parameter or result, and whether it is an `option`. A structured
    dataset is `Annotated[DataFrame, {column: type}, "parquet"]`: flyte-sdk then types it as the
    host does (format `parquet`, the columns of its `columns` record), not as any format."""
    types = _python_types()
    return common.python_type(wit, flyte, lambda: types, "flyteplugins.wasmdask", dataframe=_dataframe_type)


def _dataframe_type(columns: List[Tuple[str, type]]) -> Any:
    from typing import Annotated

    from flyte.io import DataFrame

    if columns:
        return Annotated[DataFrame, dict(columns), common.DATASET_FORMAT]
    return Annotated[DataFrame, common.DATASET_FORMAT]


def _declaring_dir() -> Path:
    """The directory of the file that declares the task (the first caller outside flyte-sdk,
    dataclasses and this plugin), so relative component paths follow the workflow file."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        path = frame.f_code.co_filename
        if (
            not module.startswith(("flyte.", "flyteplugins.wasmdask", "dataclasses"))
            and not path.startswith("<")
            and os.path.isfile(path)
        ):
            return Path(path).resolve().parent
        frame = frame.f_back
    return Path.cwd()


def _token_pod_template(token_secret: str) -> PodTemplate:
    """A pod template whose primary container reads WASMDASK_TOKEN from the Secret, as
    `wasmdask serialize --token-secret` writes it."""
    return common.token_pod_template(PodTemplate, token_secret)


def _comparable_interface(variables: Any) -> Dict[str, Any]:
    """{name: literal type} of a TypedInterface side in JSON form, v1 (a map) or v2 (a list of
    key/value entries), without what flyte-sdk's type engine writes differently and the backend
    does not type-check: descriptions (it writes none) and `annotation`s (it marks a dict's
    STRUCT `serialization-format: msgpack`, metadata for cache keys)."""
    if isinstance(variables, list):
        variables = {entry["key"]: entry["value"] for entry in variables}
    return {name: _without_metadata(var.get("type") or {}) for name, var in (variables or {}).items()}


def _without_metadata(literal_type: Any) -> Any:
    if isinstance(literal_type, list):
        return [_without_metadata(v) for v in literal_type]
    if not isinstance(literal_type, dict):
        return literal_type
    return {k: _without_metadata(v) for k, v in literal_type.items() if k != "annotation"}


@dataclass(kw_only=True)
class WasmTask(TaskTemplate):
    """An export of a WebAssembly component as a Flyte 2 Dask task.

    Args:
        name: the Flyte task name.
        component: the component (.wasm): a path (a relative one is relative to the file that
            declares the task) or a `file://` URI; it is inspected for the task's types.
        function: the export to run (its WIT name, e.g. `sum-of-squares`).
        plugin_config: flyteplugins-dask's `Dask(scheduler=…, workers=…)`; `Dask()` if omitted.
        resources: the runner container's `flyte.Resources`.
        image: the wasmdask host image (scripts/build-image.py).
        component_uri: where the runner fetches the component [default: the absolute path].
        token_secret: `NAME[/KEY]` of the Secret every pod reads WASMDASK_TOKEN from, or None
            for no pod template.
        wasmdask_bin: the `wasmdask` binary [default: $WASMDASK_BIN, PATH, the repo's build].
    """

    component: Union[str, os.PathLike]
    function: str
    interface: NativeInterface = None  # type: ignore[assignment]  # from the component
    plugin_config: Dask = field(default_factory=Dask)
    task_type: str = "dask"
    image: Any = None
    component_uri: Optional[str] = None
    token_secret: Optional[str] = DEFAULT_TOKEN_SECRET
    wasmdask_bin: Optional[str] = None

    def __post_init__(self):
        where = f"WasmTask {self.name} (`{self.function}`)"
        self._wasmdask = find_binary(self.wasmdask_bin)
        text = os.fspath(self.component)
        if "://" in text and not text.startswith("file://"):
            raise ValueError(f"{where}: flyteplugins.wasmdask reads a local component; pass component_uri= for {text}")
        local = (_declaring_dir() / text.removeprefix("file://")).resolve()
        if not local.is_file():
            raise FileNotFoundError(f"{where}: the component {local} does not exist (build it, or pass a URI)")
        # `replace()` (task.override) passes the resolved absolute path back in.
        self.component = str(local)
        try:
            description = common.inspect(self._wasmdask, local)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        signature = next((t for t in description["tasks"] if t["name"] == self.function), None)
        if signature is None:
            names = ", ".join(t["name"] for t in description["tasks"])
            raise ValueError(f"{where}: {local} has no export `{self.function}`; its tasks are: {names}")
        self.interface = self._native_interface(signature)
        self._check_interface(signature)
        self.component_uri = self.component_uri or str(local)
        self._component_ref = f"{self.component_uri}@{description['digest']}"
        self._local_ref = f"{local}@{description['digest']}"
        if self.pod_template is None and self.token_secret:
            self.pod_template = _token_pod_template(self.token_secret)
        if self.image is None:
            self.image = "auto"
        super().__post_init__()
        # A call from a sync parent task blocks; an async parent awaits `.aio(...)`.
        self._call_as_synchronous = True

    def _native_interface(self, signature: dict) -> NativeInterface:
        params, output = common.signature_types(signature, f"WasmTask {self.name} (`{self.function}`)", python_type)
        inputs: Dict[str, Tuple[type, Any]] = {
            var: (py, NativeInterface.has_default if is_option else _EMPTY) for var, py, is_option in params
        }
        outputs: Dict[str, type] = {} if output is None else {"o0": output}
        defaults = None
        if any(v[1] is NativeInterface.has_default for v in inputs.values()):
            from flyteidl2.core import literals_pb2

            # An option left out is None: the union literal flyte-sdk writes for it.
            defaults = {k: _none_literal(literals_pb2) for k, v in inputs.items() if v[1] is NativeInterface.has_default}
        return NativeInterface.from_types(inputs, outputs, default_inputs=defaults)

    def _check_interface(self, signature: dict) -> None:
        """flyte-sdk serializes the interface from the Python types with its own type engine;
        each literal type must be the host's (an option is flyte-sdk's Optional, the union
        with NONE the host writes, as in flytekit), or the task fails here, naming the type."""
        from flyte._internal.runtime.types_serde import transform_native_to_typed_interface
        from google.protobuf.json_format import MessageToDict

        ours = MessageToDict(transform_native_to_typed_interface(self.interface))
        host = signature["interface"]
        wit = {p["name"].replace("-", "_"): p["wit"] for p in signature["params"]}
        if signature.get("output"):
            wit["o0"] = signature["output"]["wit"]
        for side in ("inputs", "outputs"):
            mine = _comparable_interface(ours.get(side, {}).get("variables"))
            theirs = _comparable_interface(host.get(side, {}).get("variables"))
            for name, literal_type in theirs.items():
                got = mine.get(name)
                if got != literal_type:
                    raise TypeError(
                        f"WasmTask {self.name} (`{self.function}`): `{name}`: flyte-sdk types `{wit.get(name)}` "
                        f"as {json.dumps(got)}, the host as {json.dumps(literal_type)}"
                    )

    # -- serialization: what `wasmdask serialize` writes -------------------------------------

    def custom_config(self, sctx: SerializationContext) -> Dict[str, Any]:
        # flyteplugins-dask's own DaskJob, so `custom` is what a Python Dask task would send.
        return DaskTask.custom_config(self, sctx)

    def container_args(self, sctx: SerializationContext) -> List[str]:
        """`wasmdask execute` with the placeholders the backend fills (no Python entrypoint:
        the image has no Python)."""
        return common.runner_args(sctx.input_path, sctx.output_path, self._component_ref, self.function)

    @property
    def component_ref(self) -> str:
        return self._component_ref

    # -- local execution -------------------------------------------------------------------

    async def execute(self, *args, **kwargs) -> Any:
        """Python values → the Inputs Flyte 2 would write → `wasmdask execute` → Outputs →
        Python values."""
        from flyte._context import internal_ctx
        from flyte._internal.runtime import convert

        inputs = await convert.convert_from_native_to_inputs(self.native_interface, *args, **kwargs)
        ctx = internal_ctx()
        tctx = ctx.data.task_context if ctx.data else None
        raw = tctx.raw_data_path.path if tctx and tctx.raw_data_path else None
        outputs = await asyncio.to_thread(self._run, inputs.proto_inputs.SerializeToString(), raw)
        if not self.native_interface.outputs:
            return None
        return await convert.convert_outputs_to_native(self.native_interface, convert.Outputs(proto_outputs=outputs))

    def forward(self, *args, **kwargs) -> Any:
        """A call outside a run (a plain Python call): runs the task and returns its value."""
        coro = self.execute(*args, **kwargs)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        return coro

    def _run(self, inputs_pb: bytes, raw_output_prefix: Optional[str]):
        from flyteidl2.core import execution_pb2
        from flyteidl2.task import common_pb2

        done = common.execute(
            self._wasmdask, self._local_ref, self.function, inputs_pb, raw_output_prefix, create_local_raw_prefix=True
        )
        if done.error_pb is not None:
            doc = execution_pb2.ErrorDocument()
            doc.ParseFromString(done.error_pb)
            code, message = doc.error.code, doc.error.message
            if code.startswith("USER:"):
                raise WasmTaskError(code, message)
            raise WasmSystemError(code, message)
        if done.returncode != 0 or done.outputs_pb is None:
            raise WasmSystemError("wasmdask", f"wasmdask execute failed (exit {done.returncode}); its output is above")
        outputs = common_pb2.Outputs()
        outputs.ParseFromString(done.outputs_pb)
        return outputs


def _none_literal(literals_pb2):
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))

