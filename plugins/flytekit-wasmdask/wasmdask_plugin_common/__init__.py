"""What flytekitplugins.wasmdask (flytekit, Flyte 1) and flyteplugins.wasmdask (flyte-sdk,
Flyte 2) share, importing neither SDK: finding the `wasmdask` binary, `wasmdask inspect --json`
(cached), running `wasmdask execute` on inputs.pb bytes, the pod template that reads the token
from a Secret, and the WIT/Flyte type → Python type mapping, given each SDK's own classes."""

import contextlib
import datetime
import functools
import json
import os
import shutil
import subprocess
import tempfile
import typing
from pathlib import Path
from typing import Any, Callable, List, Mapping, NamedTuple, Optional, Tuple

#: The environment variable that names the binary, ahead of PATH.
BIN_ENV = "WASMDASK_BIN"
#: A directory where local executions keep their inputs.pb and outputs, one subdirectory each,
#: so a node can be re-run by hand (`wasmdask execute --inputs <dir>/inputs.pb ...`).
KEEP_ENV = "WASMDASK_LOCAL_RUNS"
#: The name of the runner's container in the token pod template.
PRIMARY = "primary"


class WasmdaskNotFound(RuntimeError):
    """No `wasmdask` binary: the task cannot be typed or run."""


class UnmappableType(TypeError):
    """A WIT type with no Python type that round-trips through its Flyte literal."""


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
    # <repo>/plugins/flytekit-wasmdask/wasmdask_plugin_common/__init__.py
    repo_build = Path(__file__).resolve().parents[3] / "target" / "release" / "wasmdask"
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


def runner_args(inputs: str, output_prefix: str, component_ref: str, function: str) -> List[str]:
    """The runner pod's `wasmdask execute` args, with the backend's placeholders for the raw
    output and checkpoint prefixes (no Python entrypoint: the image has no Python)."""
    return [
        "wasmdask",
        "execute",
        "--inputs",
        inputs,
        "--output-prefix",
        output_prefix,
        "--raw-output-data-prefix",
        "{{.rawOutputDataPrefix}}",
        "--checkpoint-path",
        "{{.checkpointOutputPrefix}}",
        "--prev-checkpoint",
        "{{.prevCheckpointPrefix}}",
        "--",
        component_ref,
        function,
    ]


class Execution(NamedTuple):
    """What `wasmdask execute` left: its exit code, and the bytes of outputs.pb and error.pb
    (None where it wrote none). The caller parses them with its SDK's messages."""

    returncode: int
    outputs_pb: Optional[bytes]
    error_pb: Optional[bytes]


def execute(
    binary: str,
    component_ref: str,
    function: str,
    inputs_pb: bytes,
    raw_output_prefix: Optional[str] = None,
    create_local_raw_prefix: bool = False,
) -> Execution:
    """Runs the task as Flyte's job runner would: inputs.pb in, outputs.pb or error.pb out, on an
    embedded cluster (no DASK_SCHEDULER_ADDRESS), so a local run exercises the same code path
    as the DaskJob's runner pod. `create_local_raw_prefix` creates a local (non-URI)
    `raw_output_prefix` first."""
    keep = os.environ.get(KEEP_ENV)
    if keep:
        os.makedirs(keep, exist_ok=True)
    with contextlib.nullcontext(tempfile.mkdtemp(prefix=f"{function}-", dir=keep)) if keep else (
        tempfile.TemporaryDirectory(prefix="wasmdask-")
    ) as tmp:
        inputs_path, out = os.path.join(tmp, "inputs.pb"), os.path.join(tmp, "out")
        with open(inputs_path, "wb") as f:
            f.write(inputs_pb)
        args = [binary, "execute", "--inputs", inputs_path, "--output-prefix", out]
        if create_local_raw_prefix and raw_output_prefix and "://" not in raw_output_prefix:
            os.makedirs(raw_output_prefix, exist_ok=True)
        if raw_output_prefix:
            args += ["--raw-output-data-prefix", raw_output_prefix]
        env = {k: v for k, v in os.environ.items() if k not in ("DASK_SCHEDULER_ADDRESS", "FLYTE_FAIL_ON_ERROR")}
        # The guest's output and log lines reach this terminal, as they reach the runner pod's log.
        done = subprocess.run(args + ["--", component_ref, function], env=env)
        return Execution(
            done.returncode,
            _read(os.path.join(out, "outputs.pb")),
            _read(os.path.join(out, "error.pb")),
        )


def _read(path: str) -> Optional[bytes]:
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def token_pod_template(pod_template_cls: Callable[..., Any], token_secret: str) -> Any:
    """The SDK's PodTemplate (`pod_template_cls`) whose primary container reads WASMDASK_TOKEN
    from the Secret, as `wasmdask serialize --token-secret` writes it."""
    from kubernetes.client import V1Container, V1EnvVar, V1EnvVarSource, V1PodSpec, V1SecretKeySelector

    name, _, key = token_secret.partition("/")
    token = V1EnvVar(
        name="WASMDASK_TOKEN",
        value_from=V1EnvVarSource(secret_key_ref=V1SecretKeySelector(name=name, key=key or "token")),
    )
    return pod_template_cls(
        pod_spec=V1PodSpec(containers=[V1Container(name=PRIMARY, env=[token])]),
        primary_container_name=PRIMARY,
    )


def python_types(file: type, directory: type, dataframe: type) -> typing.Dict[str, type]:
    """The host's Flyte type (the text before any `(`, or all of it) → the Python type, with the
    SDK's own file, directory and structured-dataset classes."""
    return {
        "BOOLEAN": bool,
        "INTEGER": int,
        "FLOAT": float,
        "STRING": str,
        "DATETIME": datetime.datetime,
        "DURATION": datetime.timedelta,
        "BLOB(single)": file,
        "BLOB(multipart)": directory,
        "STRUCTURED_DATASET": dataframe,
    }


#: The format of the structured datasets the host reads and writes.
DATASET_FORMAT = "parquet"

#: A structured-dataset type of the SDK for its (column name, Python type)s (none: any columns).
DataframeType = Callable[[List[Tuple[str, type]]], Any]


def python_type(
    wit: str,
    flyte: str,
    types: Callable[[], Mapping[str, type]],
    package: str,
    dataframe: Optional[DataframeType] = None,
) -> Tuple[type, bool]:
    """The Python type of a parameter or result, and whether it is an `option` (which makes it
    `Optional` and lets a caller leave it out). `types()` is the SDK's `python_types(...)`;
    `package` names the plugin in the error for a type it lacks; `dataframe`, if given, makes
    the type of a structured dataset from its columns (else it is `types()`'s)."""
    return _python_type(wit, flyte, types, package, dataframe), wit.startswith("option<")


def _python_type(
    wit: str, flyte: str, types: Callable[[], Mapping[str, type]], package: str, dataframe: Optional[DataframeType]
) -> type:
    if wit.startswith("option<"):
        # `union(T, NONE)`, the host's type of every option (of an option, too: Optional[Optional[T]]
        # is Optional[T], and the host writes the same union).
        payload = _union_payload(flyte)
        return typing.Optional[_python_type(_inner(wit, "option"), payload, types, package, dataframe)]  # type: ignore[return-value]
    if flyte.startswith("collection(") and wit.startswith("list<"):
        element = _python_type(_inner(wit, "list"), flyte[len("collection(") : -1], types, package, dataframe)
        return typing.List[element]  # type: ignore[misc, valid-type]
    if flyte.startswith("STRUCTURED_DATASET(") and dataframe is not None:
        return dataframe(_dataset_columns(flyte, types))
    if flyte == "STRUCT":
        if wit.startswith("record {"):
            return dict
        raise UnmappableType(
            f"`{wit}` is a Flyte STRUCT that Python cannot read back (only records map, to dict); "
            "wrap it in a record"
        )
    mapping = types()
    found = mapping.get(flyte) or mapping.get(flyte.split("(", 1)[0])
    if found is None:
        raise UnmappableType(f"`{wit}` (Flyte {flyte}) has no Python type in {package}")
    return found


def signature_types(
    signature: dict, where: str, python_type: Callable[[str, str], Tuple[type, bool]]
) -> Tuple[List[Tuple[str, type, bool]], Optional[type]]:
    """The Python types of an export of `wasmdask inspect --json` by the SDK's `python_type`:
    (snake_case name, type, whether an option) of each parameter, and the result's type (the
    `ok` type of a `result<T, E>`) or None. An unmappable type is a TypeError prefixed `where`."""
    params = []
    for param in signature["params"]:
        try:
            py, is_option = python_type(param["wit"], param["flyte"])
        except UnmappableType as e:
            raise TypeError(f"{where}: parameter `{param['name']}`: {e}") from None
        params.append((param["name"].replace("-", "_"), py, is_option))
    output = None
    if signature.get("output"):
        try:
            output = python_type(signature["output"]["wit"], signature["output"]["flyte"])[0]
        except UnmappableType as e:
            raise TypeError(f"{where}: result: {e}") from None
    return params, output


def _union_payload(flyte: str) -> str:
    """`T` of the host's `union(T, NONE)` (the type itself if it is no union)."""
    return flyte[len("union(") : -len(", NONE)")] if flyte.startswith("union(") else flyte


def _dataset_columns(flyte: str, types: Callable[[], Mapping[str, type]]) -> List[Tuple[str, type]]:
    """The (name, Python type) columns of `STRUCTURED_DATASET(parquet: a INTEGER, b FLOAT)`."""
    inside = flyte[len("STRUCTURED_DATASET(") : -1]
    _, _, columns = inside.partition(": ")
    out = []
    depth, start = 0, 0
    for i, c in enumerate(columns + ","):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if c == "," and depth == 0:
            name, _, column_type = columns[start:i].strip().partition(" ")
            if name:
                out.append((name, _column_type(column_type, types)))
            start = i + 1
    return out


def _column_type(flyte: str, types: Callable[[], Mapping[str, type]]) -> type:
    """The Python type of a dataset column's Flyte type."""
    if flyte.startswith("union("):
        return typing.Optional[_column_type(_union_payload(flyte), types)]  # type: ignore[return-value]
    if flyte.startswith("collection("):
        return typing.List[_column_type(flyte[len("collection(") : -1], types)]  # type: ignore[misc]
    if flyte == "STRUCT":
        return dict
    found = types().get(flyte)
    if found is None:
        raise UnmappableType(f"a dataset column of Flyte type {flyte} has no Python type")
    return found


def _inner(wit: str, generic: str) -> str:
    """`T` of `generic<T>`."""
    return wit[len(generic) + 1 : -1]
