"""Write wasmdask tasks in Python: typed cluster fan-out, futures as arguments, and logging.

``wasmdask build`` stages this module (and ``wasmdask_binary``, its codec of the binary encoding)
next to the task, so a task imports it as is::

    import wasmdask_guest as wd

    squares = wd.map_gather("square", [(x,) for x in range(1, n + 1)], int)

The host's ``cluster`` interface takes values as JSON text or in a binary encoding (both at the
top of ``wit/wasmdask.wit``). ``submit``, ``map``, ``gather`` and ``map_gather`` use JSON: this
module encodes Python values into that text and decodes results back:

- the arguments of one call are a tuple or list (positional) or a dict (keyed by parameter name);
- ints are exact at any size, non-finite floats travel as ``"NaN"``, ``"inf"``, ``"-inf"``;
- a result decodes to plain JSON values (records are dicts keyed by their WIT, kebab-case, field
  names; ``option`` is ``None`` or the value), then goes through the ``decode`` callable of the
  call, if one was given (``int``, a dataclass factory, ...);
- a callee returning ``result<T, E>`` answers ``{"ok": value}``, which is unwrapped to ``value``;
  its ``err`` arrives as a :class:`TaskFailed` of kind ``guest-error``.

Typed binary and futures as arguments (0.1.2)
---------------------------------------------

The binary encoding (``wasmdask_binary``, staged with this module) is driven by a WIT type
written as text, e.g. ``"u64"`` or ``"list<tuple<string, option<f64>>>"``: :func:`value` encodes
one argument, :func:`take` and :func:`gather_binary` decode results. :func:`submit_with` and
:func:`map_with` take, per parameter in order, a :func:`value` or a :class:`Call` whose result is
passed by handle (or a list of Calls, for a ``list<T>`` parameter): the value goes from the
worker that made it to the worker of the next call and never enters this task, as with Dask's
``client.submit(f, future)``::

    inner = wd.submit_with("square", [wd.value("u64", x)])
    outer = wd.submit_with("square", [inner])
    wd.release([inner])  # outer still gets it; nothing else here needs it
    result = wd.take(outer, "u64")

``take`` decodes the ``ok`` value of a callee returning ``result<T, E>``, so its type is ``T``.
Values are Python's: ``bytes`` for ``list<u8>``, tuples for ``tuple`` (and for records, written as
the tuple of their fields in WIT order), ``None`` for an absent ``option``. A handle is the same
whichever way its call was submitted or is taken; it is used up by ``take`` or ``gather``, and
handles this task still holds when it ends are released with it.

Flyte data (0.1.3)
------------------

A task world that uses ``wasmdask:task/data`` (``use wasmdask:task/data@0.1.3.{file,
directory, datetime};``) gets the records as dataclasses in ``wit_world.imports.data``. Files
and directories are read with ``open``/``os.listdir`` at their ``path``/``dir_path``; these
helpers cover the rest: :func:`to_datetime`/:func:`from_datetime` and
:func:`to_timedelta`/:func:`from_timedelta` convert to Python's types (which hold microseconds:
nanoseconds below that are dropped), :func:`file_names` lists a directory, :func:`file_by_uri`
names one of its files for a subtask (which fetches only that file), and
:func:`output_file`/:func:`output_directory`/:func:`output_dataset` make outputs under
``/outputs``. Records passed to :func:`submit`/:func:`map` are encoded by field name.
"""

import datetime as _dt
import json
import math
import os
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Callable, Iterable, List, Optional, Union

import wasmdask_binary as _binary
from componentize_py_types import Err
from wit_world.imports import cluster as _cluster
from wit_world.imports import log as _log

__all__ = [
    "Call",
    "Value",
    "TaskFailed",
    "submit",
    "map",
    "gather",
    "map_gather",
    "value",
    "submit_with",
    "map_with",
    "release",
    "take",
    "gather_binary",
    "log",
    "OUTPUTS",
    "to_datetime",
    "from_datetime",
    "to_timedelta",
    "from_timedelta",
    "file_names",
    "file_by_uri",
    "output_file",
    "output_directory",
    "output_dataset",
]

Args = Union[tuple, list, dict]


class TaskFailed(Exception):
    """A cluster call failed: ``kind`` is the WIT ``error-kind`` name, e.g. ``guest-error``."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass
class Call:
    """The handle of one submitted call; gather or take it once, pass it to
    :func:`submit_with` as often as needed."""

    id: int
    function: str
    decode: Optional[Callable[[Any], Any]] = None


@dataclass(frozen=True)
class Value:
    """One argument of :func:`submit_with` / :func:`map_with` in the binary encoding; make it with
    :func:`value`."""

    wit_type: str
    data: bytes


def submit(function: str, args: Args, decode: Optional[Callable[[Any], Any]] = None) -> Call:
    """Submits one call of the export ``function`` and returns its handle at once.

    Raises :class:`TaskFailed` right away when the call can never succeed (an unknown export,
    arguments of the wrong shape).
    """
    try:
        call_id = _cluster.submit(function, _encode_args(function, args))
    except Err as error:
        raise _failed(error.value) from None
    return Call(call_id, function, decode)


def map(  # noqa: A001 - the WIT name, mirrored on purpose
    function: str, args: Iterable[Args], decode: Optional[Callable[[Any], Any]] = None
) -> List[Call]:
    """Submits one call of ``function`` per element of ``args``, in one host round trip."""
    encoded = [_encode_args(function, one) for one in args]
    try:
        ids = _cluster.map(function, encoded)
    except Err as error:
        raise _failed(error.value) from None
    return [Call(call_id, function, decode) for call_id in ids]


def gather(calls: Iterable[Call], return_exceptions: bool = False) -> list:
    """Waits for ``calls`` and returns their results in the same order.

    The first failed call raises its :class:`TaskFailed` (after every call has finished); with
    ``return_exceptions=True`` failures are returned in place instead, as ``asyncio.gather`` does.
    """
    calls = list(calls)
    if not calls:
        return []
    outcomes = _cluster.gather([call.id for call in calls])
    results = []
    for call, outcome in zip(calls, outcomes):
        if isinstance(outcome, Err):
            result = _failed(outcome.value)
        else:
            result = _decode(call, outcome.value)
        if isinstance(result, TaskFailed) and not return_exceptions:
            raise result
        results.append(result)
    return results


def map_gather(
    function: str, args: Iterable[Args], decode: Optional[Callable[[Any], Any]] = None
) -> list:
    """:func:`map` then :func:`gather`: the results in input order, or the first failure."""
    return gather(map(function, args, decode))


def value(wit_type: str, v: Any) -> Value:
    """``v`` as one argument of :func:`submit_with` / :func:`map_with`, in the binary encoding of
    the WIT type ``wit_type`` (the parameter's type, as text: ``"u64"``, ``"list<f64>"``, ...).

    Raises :class:`TaskFailed` (``bad-input``) when ``v`` does not fit the type.
    """
    try:
        return Value(wit_type, _binary.encode(wit_type, v))
    except _binary.EncodeError as error:
        message = f"cannot encode an argument as `{wit_type}`: {error}"
        raise TaskFailed("bad-input", message) from None


ArgLike = Union[Call, Value, List[Call]]


def submit_with(
    function: str, args: Iterable[ArgLike], decode: Optional[Callable[[Any], Any]] = None
) -> Call:
    """Submits one call of ``function`` whose arguments, one per parameter in order, are
    :func:`value` results or earlier :class:`Call` handles, whose results are passed by handle
    without entering this task; a list of Calls is one ``list<T>`` argument made of their
    results (Dask's ``client.submit(f, [futures])``). The call runs once those results exist; if
    one of them failed, it fails too without running, with the same kind.

    Raises :class:`TaskFailed` at once for a handle this task no longer holds (taken, released)
    or whose result type is not the parameter's type.
    """
    encoded = _wit_args(function, args)
    try:
        call_id = _cluster.submit_args(function, encoded)
    except Err as error:
        raise _failed(error.value) from None
    return Call(call_id, function, decode)


def map_with(
    function: str,
    args: Iterable[Iterable[ArgLike]],
    decode: Optional[Callable[[Any], Any]] = None,
) -> List[Call]:
    """:func:`submit_with` for each element of ``args``, in order, in one host round trip."""
    encoded = [_wit_args(function, one) for one in args]
    try:
        ids = _cluster.map_args(function, encoded)
    except Err as error:
        raise _failed(error.value) from None
    return [Call(call_id, function, decode) for call_id in ids]


def release(calls: Iterable[Call]) -> None:
    """This task no longer needs the results of ``calls`` (not taken, not gathered): the cluster
    drops each once no handle and no waiting call refers to it. Calls already submitted with it
    as an argument still get it. Handles left when the task ends are released with it."""
    ids = [call.id for call in calls]
    if ids:
        _cluster.release(ids)


def take(call: Call, wit_type: Optional[str]) -> Any:
    """The result of ``call`` in the binary encoding, decoded as the WIT type ``wit_type`` (the
    ``T`` of a callee returning ``result<T, E>``), then passed through the call's ``decode``, if
    any; with ``wit_type=None``, the encoded bytes. Waits for the call if needed and uses the
    handle up.

    Raises :class:`TaskFailed` when the call failed (its ``err`` is kind ``guest-error``) or the
    result does not decode as ``wit_type`` (``bad-input``).
    """
    try:
        data = _cluster.take(call.id)
    except Err as error:
        raise _failed(error.value) from None
    if wit_type is None:
        return data
    try:
        result = _binary.decode(wit_type, data)
    except _binary.DecodeError as error:
        raise TaskFailed(
            "bad-input", f"the result of `{call.function}` does not decode as `{wit_type}`: {error}"
        ) from None
    if call.decode is None:
        return result
    try:
        return call.decode(result)
    except (TypeError, ValueError, KeyError) as error:
        raise TaskFailed(
            "bad-input",
            f"the result of `{call.function}` does not decode with {call.decode!r}: {error}",
        ) from None


def gather_binary(
    calls: Iterable[Call], wit_type: Optional[str], return_exceptions: bool = False
) -> list:
    """Waits for all of ``calls``, then takes their results one at a time with :func:`take`, so
    only one encoded result is in this task's memory next to the decoded ones.

    The first failure raises its :class:`TaskFailed` after the remaining handles are released;
    with ``return_exceptions=True`` failures are returned in place instead.
    """
    calls = list(calls)
    if not calls:
        return []
    _cluster.wait([call.id for call in calls])
    results = []
    for index, call in enumerate(calls):
        try:
            results.append(take(call, wit_type))
        except TaskFailed as failure:
            if not return_exceptions:
                release(calls[index + 1 :])
                raise
            results.append(failure)
    return results


class log:  # noqa: N801 - a namespace, used as `log.info(...)`
    """Structured logs kept with the execution (``wasmdask run --verbose`` shows them)."""

    @staticmethod
    def trace(message: str) -> None:
        _log.log(_log.Level.TRACE, message)

    @staticmethod
    def debug(message: str) -> None:
        _log.log(_log.Level.DEBUG, message)

    @staticmethod
    def info(message: str) -> None:
        _log.log(_log.Level.INFO, message)

    @staticmethod
    def warn(message: str) -> None:
        _log.log(_log.Level.WARN, message)

    @staticmethod
    def error(message: str) -> None:
        _log.log(_log.Level.ERROR, message)


OUTPUTS = "/outputs"
"""The directory a task writes its outputs under (fresh and empty for each execution)."""

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _data():
    """The generated ``wasmdask:task/data`` records (present when the task's world uses them)."""
    try:
        from wit_world.imports import data
    except ImportError:
        raise TaskFailed(
            "bad-input",
            "the task's world does not use wasmdask:task/data: add "
            "`use wasmdask:task/data@0.1.3.{file, directory, structured-dataset, datetime, "
            "duration};` to it",
        ) from None
    return data


def to_datetime(value) -> _dt.datetime:
    """A ``datetime`` record as an aware ``datetime.datetime`` in UTC."""
    return _EPOCH + _dt.timedelta(seconds=value.unix_seconds, microseconds=value.nanos // 1000)


def from_datetime(value: _dt.datetime):
    """An aware ``datetime.datetime`` (a naive one is taken as UTC) as a ``datetime`` record."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    since = value - _EPOCH
    seconds = since.days * 86400 + since.seconds
    return _data().Datetime(unix_seconds=seconds, nanos=since.microseconds * 1000)


def to_timedelta(value) -> _dt.timedelta:
    """A ``duration`` record as a ``datetime.timedelta``."""
    return _dt.timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)


def from_timedelta(value: _dt.timedelta):
    """A ``datetime.timedelta`` as a ``duration`` record (seconds and nanos of the same sign)."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    seconds = abs(micros) // 1_000_000 * (1 if micros >= 0 else -1)  # towards zero, as protobuf's
    return _data().Duration(seconds=seconds, nanos=(micros - seconds * 1_000_000) * 1000)


def file_names(directory) -> List[str]:
    """The names of the entries of a ``directory`` (or ``structured-dataset``), sorted."""
    path = getattr(directory, "dir_path", None) or directory.dataset_path
    return sorted(os.listdir(path))


def file_by_uri(directory, name: str):
    """The file ``name`` of ``directory`` known by its URI, to pass to a subtask: only the
    sandbox that runs it fetches that one file."""
    return _data().File(path="", uri=f"{directory.uri.rstrip('/')}/{name}", format="")


def _make_dirs(path: str) -> None:
    """Creates ``path`` and the directories above it up to :data:`OUTPUTS`. Not
    ``os.makedirs``: it looks at every ancestor, and the sandbox shows no ``/``."""
    current = OUTPUTS
    for part in os.path.relpath(path, OUTPUTS).split(os.sep):
        if part in ("", "."):
            continue
        current = os.path.join(current, part)
        try:
            os.mkdir(current)
        except FileExistsError:
            pass


def _output_path(name: str) -> str:
    path = os.path.join(OUTPUTS, name)
    _make_dirs(os.path.dirname(path))
    return path


def output_file(name: str, contents: Union[str, bytes], format: str = ""):  # noqa: A002
    """Writes ``contents`` to ``/outputs/<name>`` and returns it as an output ``file``."""
    path = _output_path(name)
    with open(path, "wb" if isinstance(contents, bytes) else "w") as f:
        f.write(contents)
    return _data().File(path=path, uri="", format=format)


def output_directory(name: str, format: str = ""):  # noqa: A002
    """Creates the directory ``/outputs/<name>`` and returns it as an output ``directory``;
    write its files into ``dir_path`` before returning it."""
    path = _output_path(name)
    _make_dirs(path)
    return _data().Directory(dir_path=path, uri="", format=format)


def output_dataset(name: str):
    """Creates the directory ``/outputs/<name>`` and returns it as a parquet
    ``structured-dataset``; write its parquet files there before returning it."""
    path = _output_path(name)
    _make_dirs(path)
    return _data().StructuredDataset(dataset_path=path, uri="", format="parquet")


def _failed(error) -> TaskFailed:
    """The WIT ``task-error`` as an exception; the enum's name is spelled as in WIT."""
    return TaskFailed(error.kind.name.lower().replace("_", "-"), error.message)


def _wit_args(function: str, args: Iterable[ArgLike]) -> list:
    """The WIT ``arg`` variants of one call of :func:`submit_with` / :func:`map_with`."""
    if isinstance(args, (str, bytes, Call, Value)):
        raise TaskFailed(
            "bad-input",
            f"the arguments of `{function}` must be a list with one wd.value(...) or Call per "
            f"parameter, not a single {type(args).__name__}",
        )
    encoded = []
    for index, arg in enumerate(args):
        if isinstance(arg, Call):
            encoded.append(_cluster.Arg_Call(arg.id))
        elif isinstance(arg, Value):
            encoded.append(_cluster.Arg_Value(arg.data))
        elif isinstance(arg, (list, tuple)) and all(isinstance(call, Call) for call in arg):
            encoded.append(_cluster.Arg_Calls([call.id for call in arg]))
        else:
            raise TaskFailed(
                "bad-input",
                f"argument {index} of `{function}` is of type {type(arg).__name__}: pass "
                f"wd.value(\"<WIT type>\", v) for a value, a Call for an earlier result, or a "
                f"list of Calls for a list<T> of earlier results",
            )
    return encoded


def _encode_args(function: str, args: Args) -> str:
    if not isinstance(args, (tuple, list, dict)):
        raise TaskFailed(
            "bad-input",
            f"the arguments of `{function}` must be a tuple or list (positional: `(x,)` for one "
            f"argument) or a dict keyed by parameter name, not {type(args).__name__}",
        )
    return json.dumps(_jsonable(args), allow_nan=False)


def _jsonable(value):
    """Replaces non-finite floats by the encoding's strings; tuples become arrays; records
    (dataclasses) become objects keyed by their WIT field names."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name.replace("_", "-"): _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def _decode(call: Call, text: str):
    try:
        value = json.loads(text)
    except ValueError as error:
        return TaskFailed("bad-input", f"the result of `{call.function}` is not JSON ({error})")
    if isinstance(value, dict) and len(value) == 1 and "ok" in value:
        value = value["ok"]
    if call.decode is None:
        return value
    try:
        return call.decode(value)
    except (TypeError, ValueError, KeyError) as error:
        return TaskFailed(
            "bad-input",
            f"the result of `{call.function}` does not decode with {call.decode!r}: {error}",
        )
