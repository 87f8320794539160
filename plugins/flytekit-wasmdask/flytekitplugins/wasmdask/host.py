"""The `wasmdask` binary, as the plugin uses it: `inspect --json` to type a task and `execute` to
run it locally. Everything the plugin knows about a component comes from the host, so Python
never re-implements the WIT reading or the Flyte literal conversion that the job runner does."""

import contextlib
import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

from flytekit.models.core import errors as error_models
from flytekit.models.literals import LiteralMap

#: The environment variable that names the binary, ahead of PATH.
BIN_ENV = "WASMDASK_BIN"
#: A directory where local executions keep their inputs.pb and outputs, one subdirectory each,
#: so a node can be re-run by hand (`wasmdask execute --inputs <dir>/inputs.pb ...`).
KEEP_ENV = "WASMDASK_LOCAL_RUNS"


class WasmdaskNotFound(RuntimeError):
    """No `wasmdask` binary: the task cannot be typed or run."""


def find_binary(explicit: Optional[str] = None) -> str:
    """The binary: `explicit`, then $WASMDASK_BIN, then `wasmdask` on PATH, then this
    repository's `target/release/wasmdask` (for an editable install next to a cargo build)."""
    if explicit:
        return str(explicit)
    if os.environ.get(BIN_ENV):
        return os.environ[BIN_ENV]
    on_path = shutil.which("wasmdask")
    if on_path:
        return on_path
    repo_build = Path(__file__).resolve().parents[4] / "target" / "release" / "wasmdask"
    if repo_build.is_file():
        return str(repo_build)
    raise WasmdaskNotFound(
        f"cannot find the wasmdask binary: pass wasmdask_bin=..., set ${BIN_ENV}, put it on PATH "
        "or build it (`cargo build --release -p wasmdask`)"
    )


def inspect(binary: str, component: Path) -> dict:
    """`wasmdask inspect --json`, cached per file version so that many tasks of one component
    (or a module imported twice) start the host once."""
    stat = component.stat()
    return _inspect(binary, str(component), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _inspect(binary: str, component: str, _mtime: int, _size: int) -> dict:
    done = subprocess.run([binary, "inspect", "--json", component], capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(f"wasmdask inspect {component} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


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

    keep = os.environ.get(KEEP_ENV)
    if keep:
        os.makedirs(keep, exist_ok=True)
    with contextlib.nullcontext(tempfile.mkdtemp(prefix=f"{function}-", dir=keep)) if keep else (
        tempfile.TemporaryDirectory(prefix="wasmdask-")
    ) as tmp:
        inputs_pb = os.path.join(tmp, "inputs.pb")
        out = os.path.join(tmp, "out")
        with open(inputs_pb, "wb") as f:
            f.write(inputs.to_flyte_idl().SerializeToString())
        args = [binary, "execute", "--inputs", inputs_pb, "--output-prefix", out]
        if raw_output_prefix:
            args += ["--raw-output-data-prefix", raw_output_prefix]
        env = {k: v for k, v in os.environ.items() if k not in ("DASK_SCHEDULER_ADDRESS", "FLYTE_FAIL_ON_ERROR")}
        # The guest's output and log lines reach this terminal, as they reach the runner pod's log.
        done = subprocess.run(args + ["--", component_ref, function], env=env)
        outputs_pb, error_pb = os.path.join(out, "outputs.pb"), os.path.join(out, "error.pb")
        if os.path.exists(error_pb):
            doc = errors_pb2.ErrorDocument()
            with open(error_pb, "rb") as f:
                doc.ParseFromString(f.read())
            error = error_models.ContainerError.from_flyte_idl(doc.error)
            raise WasmTaskFailed(
                code=error.code,
                message=error.message,
                recoverable=error.kind == error_models.ContainerError.Kind.RECOVERABLE,
                user=error.code.startswith("USER:"),
            )
        if done.returncode != 0 or not os.path.exists(outputs_pb):
            raise RuntimeError(f"wasmdask execute failed (exit {done.returncode}); its output is above")
        pb = literals_pb2.LiteralMap()
        with open(outputs_pb, "rb") as f:
            pb.ParseFromString(f.read())
        return LiteralMap.from_flyte_idl(pb)
