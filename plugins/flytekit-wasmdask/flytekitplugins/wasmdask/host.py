"""The `wasmdask` binary, as the plugin uses it: `inspect --json` to type a task and `execute` to
run it locally. Everything the plugin knows about a component comes from the host, so Python
never re-implements the WIT reading or the Flyte literal conversion that the job runner does."""

from typing import Optional

from flytekit.models.core import errors as error_models
from flytekit.models.literals import LiteralMap

import wasmdask_plugin_common as common
from wasmdask_plugin_common import BIN_ENV, KEEP_ENV, WasmdaskNotFound, find_binary, inspect

__all__ = ["BIN_ENV", "KEEP_ENV", "WasmTaskFailed", "WasmdaskNotFound", "execute", "find_binary", "inspect"]


class WasmTaskFailed(Exception):
    """What `wasmdask execute` wrote to error.pb: the code (`USER:guest-error`, ...), whether
    Flyte may retry, and the message, which carries the guest's own words."""

    def __init__(self, code: str, message: str, recoverable: bool, user: bool):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.recoverable = recoverable
        self.user = user


def execute(
    binary: str,
    component_ref: str,
    function: str,
    inputs: LiteralMap,
    raw_output_prefix: Optional[str] = None,
) -> LiteralMap:
    """Runs the task as Flyte's job runner would: inputs.pb in, outputs.pb or error.pb out, on an
    embedded cluster (no DASK_SCHEDULER_ADDRESS), so a local run exercises the same code path
    as the DaskJob's runner pod."""
    from flyteidl.core import errors_pb2, literals_pb2

    done = common.execute(
        binary, component_ref, function, inputs.to_flyte_idl().SerializeToString(), raw_output_prefix
    )
    if done.error_pb is not None:
        doc = errors_pb2.ErrorDocument()
        doc.ParseFromString(done.error_pb)
        error = error_models.ContainerError.from_flyte_idl(doc.error)
        raise WasmTaskFailed(
            code=error.code,
            message=error.message,
            recoverable=error.kind == error_models.ContainerError.Kind.RECOVERABLE,
            user=error.code.startswith("USER:"),
        )
    if done.returncode != 0 or done.outputs_pb is None:
        raise RuntimeError(f"wasmdask execute failed (exit {done.returncode}); its output is above")
    pb = literals_pb2.LiteralMap()
    pb.ParseFromString(done.outputs_pb)
    return LiteralMap.from_flyte_idl(pb)
