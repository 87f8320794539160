"""Python types for a task's WIT types, as `wasmdask inspect --json` reports them.

The Flyte literal types are the host's own (the `interface` of each task, exactly what
`wasmdask serialize` writes and `wasmdask execute` reads); the Python type only tells flytekit
how to turn a Python value into that literal and back. So the mapping goes by the host's Flyte
type, and looks at the WIT text only where Flyte's type says less than Python needs (an
`option`, and which structures read back as a dict).

| Flyte type (inspect's `flyte`) | WIT                              | Python                  |
|--------------------------------|----------------------------------|-------------------------|
| BOOLEAN                        | bool                             | bool                    |
| INTEGER                        | s8..s64, u8..u64                 | int                     |
| FLOAT                          | f32, f64                         | float                   |
| STRING                         | char, string                     | str                     |
| collection(T)                  | list<T>                          | list[T]                 |
| STRUCT                         | record { .. }                    | dict (kebab-case keys)  |
| DATETIME, DURATION             | wasmdask:task/data datetime, duration | datetime, timedelta |
| BLOB(single), BLOB(multipart)  | wasmdask:task/data file, directory | FlyteFile, FlyteDirectory |
| STRUCTURED_DATASET(..)         | wasmdask:task/data structured-dataset | StructuredDataset  |
| (a parameter or result)        | option<T>                        | Optional[T]             |

A new Flyte type of the host is one line in `PYTHON_TYPES`. Other structures (tuples,
variants, enums, flags, maps) are STRUCTs whose value is not a JSON object, which flytekit
cannot read as a dict or dataclass; declaring such a task fails with the type named."""

import datetime
import typing

from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile
from flytekit.types.structured import StructuredDataset

#: The host's Flyte type (the text before any `(`, or all of it) → the Python type.
PYTHON_TYPES: typing.Dict[str, type] = {
    "BOOLEAN": bool,
    "INTEGER": int,
    "FLOAT": float,
    "STRING": str,
    "DATETIME": datetime.datetime,
    "DURATION": datetime.timedelta,
    "BLOB(single)": FlyteFile,
    "BLOB(multipart)": FlyteDirectory,
    "STRUCTURED_DATASET": StructuredDataset,
}


class UnmappableType(TypeError):
    """A WIT type with no Python type that round-trips through its Flyte literal."""


def python_type(wit: str, flyte: str) -> typing.Tuple[type, bool]:
    """The Python type of a parameter or result, and whether it is an `option` (which makes it
    `Optional` and lets a caller leave it out)."""
    if wit.startswith("option<"):
        return typing.Optional[_python_type(_inner(wit, "option"), flyte)], True
    return _python_type(wit, flyte), False


def _python_type(wit: str, flyte: str) -> type:
    if flyte.startswith("collection(") and wit.startswith("list<"):
        element = _inner(wit, "list")
        if element.startswith("option<"):
            # flytekit writes an Optional element as a union literal, which the host's
            # collection(T) does not hold.
            raise UnmappableType(f"`{wit}`: a list of options has no Flyte collection type")
        return typing.List[_python_type(element, flyte[len("collection(") : -1])]  # type: ignore[misc]
    if flyte == "STRUCT":
        if wit.startswith("record {"):
            return dict
        raise UnmappableType(
            f"`{wit}` is a Flyte STRUCT that Python cannot read back (only records map, to dict); "
            "wrap it in a record"
        )
    found = PYTHON_TYPES.get(flyte) or PYTHON_TYPES.get(flyte.split("(", 1)[0])
    if found is None:
        raise UnmappableType(f"`{wit}` (Flyte {flyte}) has no Python type in flytekitplugins-wasmdask")
    return found


def _inner(wit: str, generic: str) -> str:
    """`T` of `generic<T>`."""
    return wit[len(generic) + 1 : -1]
