"""Python types for a task's WIT types, as `wasmdask inspect --json` reports them.

The Flyte literal types are the host's own (the `interface` of each task, exactly what
`wasmdask serialize` writes and `wasmdask execute` reads); the Python type only tells flytekit
how to turn a Python value into that literal and back. So the mapping goes by the host's Flyte
type, and looks at the WIT text only where Flyte's type says less than Python needs (an
`option`'s payload, and which structures read back as a dict).

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
| union(T, NONE)                 | option<T>                        | Optional[T]             |

A new Flyte type of the host is one line in `PYTHON_TYPES`. Other structures (tuples,
variants, enums, flags, maps) are STRUCTs whose value is not a JSON object, which flytekit
cannot read as a dict or dataclass; declaring such a task fails with the type named."""

import typing

from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile
from flytekit.types.structured import StructuredDataset
from wasmdask_plugin_common import UnmappableType
from wasmdask_plugin_common import python_type as _common_python_type
from wasmdask_plugin_common import python_types

__all__ = ["PYTHON_TYPES", "UnmappableType", "python_type"]

#: The host's Flyte type (the text before any `(`, or all of it) → the Python type.
PYTHON_TYPES: typing.Dict[str, type] = python_types(FlyteFile, FlyteDirectory, StructuredDataset)


def python_type(wit: str, flyte: str) -> typing.Tuple[type, bool]:
    """The Python type of a parameter or result, and whether it is an `option` (which makes it
    `Optional` and lets a caller leave it out)."""
    return _common_python_type(wit, flyte, lambda: PYTHON_TYPES, "flytekitplugins-wasmdask")
