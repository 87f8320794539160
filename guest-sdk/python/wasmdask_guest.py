"""Write wasmdask tasks in Python: typed cluster fan-out and logging.

``wasmdask build`` stages this module next to the task, so a task imports it as is::

    import wasmdask_guest as wd

    squares = wd.map_gather("square", [(x,) for x in range(1, n + 1)], int)

The host's ``cluster`` interface speaks JSON text (the value encoding at the top of
``wit/wasmdask.wit``); this module encodes Python values into that text and decodes results back:

- the arguments of one call are a tuple or list (positional) or a dict (keyed by parameter name);
- ints are exact at any size, non-finite floats travel as ``"NaN"``, ``"inf"``, ``"-inf"``;
- a result decodes to plain JSON values (records are dicts keyed by their WIT, kebab-case, field
  names; ``option`` is ``None`` or the value), then goes through the ``decode`` callable of the
  call, if one was given (``int``, a dataclass factory, ...);
- a callee returning ``result<T, E>`` answers ``{"ok": value}``, which is unwrapped to ``value``;
  its ``err`` arrives as a :class:`TaskFailed` of kind ``guest-error``.
"""

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Optional, Union

from componentize_py_types import Err
from wit_world.imports import cluster as _cluster
from wit_world.imports import log as _log

__all__ = [
    "Call",
    "TaskFailed",
    "submit",
    "map",
    "gather",
    "map_gather",
    "log",
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
    """The handle of one submitted call; gather it once."""

    id: int
    function: str
    decode: Optional[Callable[[Any], Any]] = None


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


def _failed(error) -> TaskFailed:
    """The WIT ``task-error`` as an exception; the enum's name is spelled as in WIT."""
    return TaskFailed(error.kind.name.lower().replace("_", "-"), error.message)


def _encode_args(function: str, args: Args) -> str:
    if not isinstance(args, (tuple, list, dict)):
        raise TaskFailed(
            "bad-input",
            f"the arguments of `{function}` must be a tuple or list (positional: `(x,)` for one "
            f"argument) or a dict keyed by parameter name, not {type(args).__name__}",
        )
    return json.dumps(_jsonable(args), allow_nan=False)


def _jsonable(value):
    """Replaces non-finite floats by the encoding's strings; tuples become arrays."""
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
