"""`WasmTask`: one export of a WebAssembly component as a flytekit task of type `dask`.

Remotely it is exactly what `wasmdask serialize` writes (the job runner is `wasmdask execute`,
the cluster is flytekitplugins-dask's DaskJob, the token comes from a Secret through a pod
template), so `pyflyte register` / `pyflyte package` ship it with the rest of a project.
Locally it runs through `wasmdask execute` on an embedded cluster, from and to the same
literals Flyte would hand the runner pod."""

import os
import sys
import typing
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from flytekit import Resources
from flytekit.configuration import SerializationSettings
from flytekit.core.base_task import PythonTask
from flytekit.core.context_manager import FlyteContext, FlyteContextManager
from flytekit.core.interface import Interface
from flytekit.core.pod_template import PodTemplate
from flytekit.core.python_auto_container import get_registerable_container_image
from flytekit.core.resources import ResourceSpec
from flytekit.core.utils import _get_container_definition, _serialize_pod_spec
from flytekit.exceptions.system import FlyteSystemException
from flytekit.exceptions.user import FlyteRecoverableException, FlyteUserException
from flytekit.models import task as task_models
from flytekit.models.interface import TypedInterface
from flytekit.models.literals import LiteralMap
from flytekitplugins.dask import Dask
from flytekitplugins.dask.task import DaskTask
from google.protobuf import json_format
from wasmdask_plugin_common import PRIMARY as _PRIMARY
from wasmdask_plugin_common import runner_args, signature_types, token_pod_template

from . import host
from .types import python_type

#: The Secret key every pod reads WASMDASK_TOKEN from, as `wasmdask serialize --token-secret`.
DEFAULT_TOKEN_SECRET = "wasmdask-token/token"


class _RunnerError:
    """An error.pb as a flytekit exception: flytekit's `CODE: error=MESSAGE` form, with the
    runner's code (`USER:guest-error`, `USER:timeout`, `SYSTEM:storage`, ...) and the guest's
    message."""

    def __init__(self, failure: "host.WasmTaskFailed"):
        super().__init__(failure.message)
        self._ERROR_CODE = failure.code
        self.code = failure.code


class WasmTaskError(_RunnerError, FlyteUserException):
    """The task failed by its own doing: a guest error, a trap, bad input, a limit."""


class WasmTaskRecoverableError(_RunnerError, FlyteRecoverableException):
    """A failure of the task that Flyte would retry (a timeout); also a FlyteUserException."""


class WasmSystemError(_RunnerError, FlyteSystemException):
    """The platform failed, not the task (storage, a changed component, a lost worker)."""


class WasmTask(PythonTask[Dask]):
    """An export of a WebAssembly component as a Flyte Dask task.

    Args:
        name: the Flyte task name.
        component: the component (.wasm): a path (a relative one is relative to the file that
            declares the task, so `pyflyte run` and `pyflyte register` work from anywhere) or a
            URI flytekit can read (`s3://…`, `gs://…`, `https://…`, `file://…`).
        function: the export to run (its WIT name, e.g. `sum-of-squares`).
        task_config: flytekitplugins-dask's `Dask(scheduler=…, workers=…)`; `Dask()` if omitted.
        requests, limits: the task container's resources, as for `@task`.
        image: the wasmdask host image (scripts/build-image.py) [default: the image `pyflyte`
            serializes with, which is right only if the project's image is the wasmdask one].
        component_uri: where the runner fetches the component [default: `component` if it is a
            URI, else its absolute path]; upload the same bytes there (the digest is checked).
        token_secret: `NAME[/KEY]` of the Secret every pod reads WASMDASK_TOKEN from, or None
            for no pod template (then the scheduler needs a token from elsewhere).
        wasmdask_bin: the `wasmdask` binary [default: $WASMDASK_BIN, PATH, the repo's build].
    """

    _TASK_TYPE = "dask"

    def __init__(
        self,
        name: str,
        component: Union[str, os.PathLike],
        function: str,
        task_config: Optional[Dask] = None,
        requests: Optional[Resources] = None,
        limits: Optional[Resources] = None,
        image: Optional[str] = None,
        component_uri: Optional[str] = None,
        token_secret: Optional[str] = DEFAULT_TOKEN_SECRET,
        wasmdask_bin: Optional[str] = None,
        **kwargs,
    ):
        self._wasmdask = host.find_binary(wasmdask_bin)
        where = f"WasmTask {name} (`{function}`)"
        local, uri = _locate(component, _declaring_dir(), where)
        try:
            description = host.inspect(self._wasmdask, local)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        signature = _export(description, function, local, where)
        self._function = function
        self._component_ref = f"{component_uri or uri}@{description['digest']}"
        # A local run reads the file it inspected, wherever the cluster's copy lives.
        self._local_ref = f"{local}@{description['digest']}"
        python_interface = _python_interface(signature, name)
        super().__init__(
            task_type=self._TASK_TYPE,
            name=name,
            task_config=task_config or Dask(),
            interface=python_interface,
            **kwargs,
        )
        self._interface = _typed_interface(signature["interface"])
        self._image = image
        self._resources = ResourceSpec(requests=requests or Resources(), limits=limits or Resources())
        self.pod_template = _token_pod_template(token_secret) if token_secret else None

    @property
    def function(self) -> str:
        return self._function

    @property
    def component_ref(self) -> str:
        """`<uri>@sha256:<hex>`, the component reference of the runner's args."""
        return self._component_ref

    # -- serialization: what `wasmdask serialize` writes -------------------------------------

    def get_custom(self, settings: SerializationSettings) -> Dict[str, Any]:
        # flytekitplugins-dask's own DaskJob, so `custom` is what a Python Dask task would send.
        return DaskTask.get_custom(self, settings)

    def get_default_command(self, settings: SerializationSettings) -> List[str]:
        """`wasmdask execute` with the placeholders flytepropeller fills (no pyflyte-execute:
        the image has no Python)."""
        return runner_args("{{.input}}", "{{.outputPrefix}}", self._component_ref, self._function)

    def set_command_fn(self, get_command_fn=None) -> None:
        """Fast registration swaps a pod task's command for `pyflyte-fast-execute`; the runner
        is not Python, so the command stays `wasmdask execute`."""

    def reset_command_fn(self) -> None:
        """See `set_command_fn`."""

    def _container(self, settings: SerializationSettings) -> task_models.Container:
        env = {**(settings.env or {}), **(self.environment or {})}
        return _get_container_definition(
            image=get_registerable_container_image(self._image, settings.image_config),
            resource_spec=self._resources,
            command=[],
            args=self.get_default_command(settings),
            environment=env,
        )

    def get_container(self, settings: SerializationSettings) -> Optional[task_models.Container]:
        return None if self.pod_template else self._container(settings)

    def get_k8s_pod(self, settings: SerializationSettings) -> Optional[task_models.K8sPod]:
        if self.pod_template is None:
            return None
        return task_models.K8sPod(
            pod_spec=_serialize_pod_spec(self.pod_template, self._container(settings), settings),
            metadata=task_models.K8sObjectMetadata(),
        )

    def get_config(self, settings: SerializationSettings) -> Optional[Dict[str, str]]:
        return {"primary_container_name": _PRIMARY} if self.pod_template else {}

    # -- local execution: the runner's contract, on this machine ----------------------------

    def dispatch_execute(self, ctx: FlyteContext, input_literal_map: LiteralMap) -> LiteralMap:
        """Literals in, literals out, through `wasmdask execute`: the values a Python task
        hands over reach the guest exactly as on a cluster, with no Python round trip."""
        try:
            return host.execute(
                self._wasmdask,
                self._local_ref,
                self._function,
                input_literal_map,
                raw_output_prefix=ctx.file_access.raw_output_prefix,
            )
        except host.WasmTaskFailed as failure:
            if not failure.user:
                raise WasmSystemError(failure) from None
            if failure.recoverable:
                raise WasmTaskRecoverableError(failure) from None
            raise WasmTaskError(failure) from None

    def execute(self, **kwargs) -> Any:
        """Runs the task on Python values (what `dispatch_execute` does with literals)."""
        from flytekit.core.type_engine import TypeEngine

        ctx = FlyteContextManager.current_context()
        inputs = TypeEngine.dict_to_literal_map(ctx, kwargs, self.python_interface.inputs)
        outputs = self.dispatch_execute(ctx, inputs)
        if not self.python_interface.outputs:
            return None
        return TypeEngine.to_python_value(ctx, outputs.literals["o0"], self.python_interface.outputs["o0"])


def _declaring_dir() -> Path:
    """The directory of the file that declares the task (the first caller outside flytekit and
    this plugin): relative component paths are relative to the workflow file, not to wherever
    pyflyte was started."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        path = frame.f_code.co_filename
        if not module.startswith(("flytekit.", "flytekitplugins.wasmdask")) and os.path.isfile(path):
            return Path(path).resolve().parent
        frame = frame.f_back
    return Path.cwd()


def _locate(component: Union[str, os.PathLike], base: Path, where: str) -> typing.Tuple[Path, str]:
    """The local file to inspect, and the URI the runner fetches (before the digest)."""
    text = os.fspath(component)
    if "://" not in text or text.startswith("file://"):
        path = (base / text.removeprefix("file://")).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{where}: the component {path} does not exist (build it, or pass a URI)")
        return path, text if "://" in text else str(path)
    ctx = FlyteContextManager.current_context()
    local = Path(ctx.file_access.get_random_local_path(os.path.basename(text)))
    ctx.file_access.get_data(text, str(local))
    return local, text


def _export(description: dict, function: str, path: Path, where: str) -> dict:
    for task in description["tasks"]:
        if task["name"] == function:
            return task
    names = ", ".join(t["name"] for t in description["tasks"])
    raise ValueError(f"{where}: {path} has no export `{function}`; its tasks are: {names}")


def _python_interface(signature: dict, name: str) -> Interface:
    """The flytekit Interface of the export; options are Optional with a default of None."""
    inputs: Dict[str, Any] = {}
    params, output = signature_types(signature, f"WasmTask {name} (`{signature['name']}`)", python_type)
    for var, py, is_option in params:
        inputs[var] = (py, None) if is_option else py
    outputs = {} if output is None else {"o0": output}
    return Interface(inputs=inputs, outputs=outputs)


def _typed_interface(host_interface: dict) -> TypedInterface:
    """The host's literal types: what serialize writes and execute reads (an option is the
    union flytekit types an `Optional` as, so flytekit writes and reads its literals)."""
    from flyteidl.core import interface_pb2

    return TypedInterface.from_flyte_idl(json_format.ParseDict(host_interface, interface_pb2.TypedInterface()))


def _token_pod_template(token_secret: str) -> PodTemplate:
    """flytekit's PodTemplate whose primary container reads WASMDASK_TOKEN from the Secret, as
    `wasmdask serialize --token-secret` writes it."""
    return token_pod_template(PodTemplate, token_secret)
