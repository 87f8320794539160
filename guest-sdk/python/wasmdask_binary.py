"""The binary value encoding of wasmdask in plain Python: WIT type text in, bytes out and back.

``wasmdask build`` stages this module next to the task with ``wasmdask_guest`` (which uses it for
``value``, ``take`` and ``gather_binary``); it imports nothing of componentize-py, so it also runs
under plain CPython (see ``test_wasmdask_binary.py``)::

    >>> encode("u64", 300)
    b'\\xac\\x02'
    >>> decode("list<f64>", b"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\xf8\\x3f")
    [1.5]

The encoding is the postcard wire format of the Rust type that mirrors the WIT type (see the top
of ``wit/wasmdask.wit``). A type is given as WIT text; the values are Python's:

==========================  ==============================================================
WIT type                    Python value
==========================  ==============================================================
bool                        ``bool``
u8..u64, s8..s64            ``int`` (range-checked)
f32, f64                    ``float`` (an ``int`` is accepted); non-finite values as they are
char                        a one-character ``str``
string                      ``str``
list<u8>                    ``bytes`` (``bytearray``, ``memoryview`` or a list of ints too)
list<T>                     ``list`` (any iterable when encoding)
list<T, N>                  ``list`` of exactly N elements (``bytes`` for ``list<u8, N>``)
option<T>                   ``None`` or the value
tuple<A, B, ..>             ``tuple`` (a list is accepted)
result<T, E>                ``{"ok": value}`` or ``{"err": value}``; ``result<_, E>``,
                            ``result<T>`` and ``result`` have ``None`` for a missing payload
==========================  ==============================================================

Records, variants, enums and flags need their definitions, which WIT type text does not carry:
spell a record as the ``tuple`` of its fields in WIT order (the encoding is the same). An
``option<option<T>>`` cannot tell ``some(none)`` from ``none`` in Python and encodes ``None`` as
``none``.
"""

import functools
import struct
from typing import Any, Tuple, Union

__all__ = ["EncodeError", "DecodeError", "parse", "encode", "decode"]


class EncodeError(ValueError):
    """A value does not fit the WIT type it is encoded as, or the type text is not understood."""


class DecodeError(ValueError):
    """Bytes are not a valid encoding of the WIT type they are decoded as."""


# A parsed type: a tuple whose first element names the kind.
#   ("bool",) ("u8",) .. ("s64",) ("f32",) ("f64",) ("char",) ("string",)
#   ("list", T) ("array", T, n) ("option", T) ("tuple", (T, ..)) ("result", T | None, E | None)
Type = Tuple[Any, ...]

# Unsigned and signed integers: (bits, signed).
_INTEGERS = {
    "u8": (8, False),
    "u16": (16, False),
    "u32": (32, False),
    "u64": (64, False),
    "s8": (8, True),
    "s16": (16, True),
    "s32": (32, True),
    "s64": (64, True),
}
_PRIMITIVES = set(_INTEGERS) | {"bool", "f32", "f64", "char", "string"}


# ---------------------------------------------------------------------------------------------
# WIT type text


@functools.lru_cache(maxsize=256)
def parse(text: str) -> Type:
    """Parses WIT type text such as ``list<tuple<string, option<f64>>>`` (cached per text)."""
    if not isinstance(text, str):
        raise EncodeError(f"a WIT type is text such as 'list<u64>', not {type(text).__name__}")
    parser = _Parser(text)
    parsed = parser.type()
    parser.end()
    return parsed


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> EncodeError:
        return EncodeError(f"cannot read the WIT type {self.text!r}: {what} at offset {self.pos}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def name(self) -> str:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] in "-_"
        ):
            self.pos += 1
        if start == self.pos:
            raise self.fail("expected a type")
        return self.text[start : self.pos]

    def peek(self, char: str) -> bool:
        self.skip_space()
        return self.text.startswith(char, self.pos)

    def expect(self, char: str) -> None:
        if not self.peek(char):
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def end(self) -> None:
        self.skip_space()
        if self.pos != len(self.text):
            raise self.fail("unexpected text after the type")

    def type(self) -> Type:
        name = self.name()
        if name in _PRIMITIVES:
            return (name,)
        if name == "list":
            self.expect("<")
            element = self.type()
            if self.peek(","):
                self.pos += 1
                length = self.name()
                if not length.isdigit():
                    raise self.fail("expected the length of a fixed-size list")
                self.expect(">")
                return ("array", element, int(length))
            self.expect(">")
            return ("list", element)
        if name == "option":
            self.expect("<")
            inner = self.type()
            self.expect(">")
            return ("option", inner)
        if name == "tuple":
            self.expect("<")
            elements = [self.type()]
            while self.peek(","):
                self.pos += 1
                elements.append(self.type())
            self.expect(">")
            return ("tuple", tuple(elements))
        if name == "result":
            if not self.peek("<"):
                return ("result", None, None)
            self.pos += 1
            ok = self.optional_type()
            err = None
            if self.peek(","):
                self.pos += 1
                err = self.type()
            self.expect(">")
            return ("result", ok, err)
        raise self.fail(
            f"unknown type {name!r} (records, variants, enums and flags need their definitions: "
            f"spell a record as the tuple of its fields in WIT order)"
        )

    def optional_type(self):
        """The ok type of ``result<_, E>``: ``_`` is none."""
        self.skip_space()
        if self.text.startswith("_", self.pos):
            self.pos += 1
            return None
        return self.type()


def _show(wit_type: Type) -> str:
    """A parsed type as WIT text again, for messages."""
    kind = wit_type[0]
    if kind == "list":
        return f"list<{_show(wit_type[1])}>"
    if kind == "array":
        return f"list<{_show(wit_type[1])}, {wit_type[2]}>"
    if kind == "option":
        return f"option<{_show(wit_type[1])}>"
    if kind == "tuple":
        return f"tuple<{', '.join(_show(element) for element in wit_type[1])}>"
    if kind == "result":
        ok, err = wit_type[1], wit_type[2]
        if ok is None and err is None:
            return "result"
        if err is None:
            return f"result<{_show(ok)}>"
        return f"result<{'_' if ok is None else _show(ok)}, {_show(err)}>"
    return kind


# ---------------------------------------------------------------------------------------------
# Encoding


def encode(wit_type: Union[str, Type], value: Any) -> bytes:
    """The binary encoding of ``value`` as the WIT type ``wit_type`` (text, or from :func:`parse`).

    Raises :class:`EncodeError` when the value does not fit the type (an int out of range, a
    string for a number, ...), naming where in the value.
    """
    parsed = parse(wit_type) if isinstance(wit_type, str) else wit_type
    out = bytearray()
    _encode(parsed, value, out, "the value")
    return bytes(out)


def _varint(n: int, out: bytearray) -> None:
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _mismatch(wit_type: Type, value: Any, where: str, why: str = "") -> EncodeError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return EncodeError(
        f"{where} ({shown}) is not a {_show(wit_type)}{': ' + why if why else ''}"
    )


def _encode(wit_type: Type, value: Any, out: bytearray, where: str) -> None:
    kind = wit_type[0]
    if kind in _INTEGERS:
        bits, signed = _INTEGERS[kind]
        if not isinstance(value, int) or isinstance(value, bool):
            raise _mismatch(wit_type, value, where, f"expected an int, not {type(value).__name__}")
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not low <= value <= high:
            raise _mismatch(wit_type, value, where, f"out of range {low}..={high}")
        if bits == 8:
            out.append(value & 0xFF)
        elif signed:
            _varint(((value << 1) ^ (value >> (bits - 1))) & ((1 << bits) - 1), out)
        else:
            _varint(value, out)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise _mismatch(wit_type, value, where, f"expected a bool, not {type(value).__name__}")
        out.append(1 if value else 0)
    elif kind in ("f32", "f64"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _mismatch(wit_type, value, where, f"expected a float, not {type(value).__name__}")
        try:
            out += struct.pack("<f" if kind == "f32" else "<d", float(value))
        except OverflowError:
            raise _mismatch(wit_type, value, where, "too large") from None
    elif kind == "char":
        if not isinstance(value, str) or len(value) != 1:
            raise _mismatch(wit_type, value, where, "expected a one-character str")
        _encode_text(value, out, wit_type, where)
    elif kind == "string":
        if not isinstance(value, str):
            raise _mismatch(wit_type, value, where, f"expected a str, not {type(value).__name__}")
        _encode_text(value, out, wit_type, where)
    elif kind in ("list", "array"):
        element = wit_type[1]
        if isinstance(value, (str, dict)):
            raise _mismatch(wit_type, value, where, f"expected a list, not {type(value).__name__}")
        if element == ("u8",) and isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            if kind == "list":
                _varint(len(data), out)
            elif len(data) != wit_type[2]:
                raise _mismatch(wit_type, value, where, f"{len(data)} bytes, not {wit_type[2]}")
            out += data
            return
        try:
            items = list(value)
        except TypeError:
            raise _mismatch(wit_type, value, where, "expected a list") from None
        if kind == "list":
            _varint(len(items), out)
        elif len(items) != wit_type[2]:
            raise _mismatch(wit_type, value, where, f"{len(items)} elements, not {wit_type[2]}")
        for index, item in enumerate(items):
            _encode(element, item, out, f"{where}[{index}]")
    elif kind == "option":
        if value is None:
            out.append(0)
        else:
            out.append(1)
            _encode(wit_type[1], value, out, where)
    elif kind == "tuple":
        elements = wit_type[1]
        if not isinstance(value, (tuple, list)) or len(value) != len(elements):
            raise _mismatch(
                wit_type, value, where, f"expected a tuple of {len(elements)} elements"
            )
        for index, (element, item) in enumerate(zip(elements, value)):
            _encode(element, item, out, f"{where}[{index}]")
    elif kind == "result":
        if not isinstance(value, dict) or len(value) != 1 or not ({"ok", "err"} & set(value)):
            raise _mismatch(wit_type, value, where, 'expected {"ok": value} or {"err": value}')
        case = "ok" if "ok" in value else "err"
        payload_type = wit_type[1] if case == "ok" else wit_type[2]
        out.append(0 if case == "ok" else 1)
        if payload_type is None:
            if value[case] is not None:
                raise _mismatch(wit_type, value, where, f"its {case} case has no payload: None")
        else:
            _encode(payload_type, value[case], out, f"{where}[{case!r}]")
    else:  # pragma: no cover - parse() makes no other kinds
        raise EncodeError(f"cannot encode the WIT type {_show(wit_type)}")


def _encode_text(text: str, out: bytearray, wit_type: Type, where: str) -> None:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise _mismatch(wit_type, text, where, "a lone surrogate is not Unicode text") from None
    _varint(len(data), out)
    out += data


# ---------------------------------------------------------------------------------------------
# Decoding


def decode(wit_type: Union[str, Type], data: Union[bytes, bytearray, memoryview]) -> Any:
    """The value of the WIT type ``wit_type`` encoded in all of ``data``.

    Raises :class:`DecodeError` when the bytes are not such a value or some are left over.
    """
    parsed = parse(wit_type) if isinstance(wit_type, str) else wit_type
    reader = _Reader(bytes(data), parsed)
    value = reader.value(parsed)
    if reader.pos != len(reader.data):
        raise DecodeError(
            f"{len(reader.data) - reader.pos} of the {len(reader.data)} bytes are left over after "
            f"a {_show(parsed)}: the bytes are of another type"
        )
    return value


class _Reader:
    def __init__(self, data: bytes, whole: Type):
        self.data = data
        self.pos = 0
        self.whole = whole

    def fail(self, what: str) -> DecodeError:
        return DecodeError(
            f"the bytes are not a {_show(self.whole)}: {what} at byte {self.pos} of "
            f"{len(self.data)}"
        )

    def take(self, count: int) -> bytes:
        if count > len(self.data) - self.pos:
            raise self.fail(f"{count} more bytes needed, the data ends")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def varint(self, bits: int) -> int:
        """An unsigned LEB128 varint of at most ``bits`` bits (postcard's limit per type)."""
        value = 0
        shift = 0
        start = self.pos
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift >= bits:
                # ceil(bits / 7) bytes at most: 3 for a u16, 5 for a u32, 10 for a u64.
                self.pos = start
                raise self.fail(f"a varint longer than a u{bits}")
        if value >> bits:
            self.pos = start
            raise self.fail(f"a varint larger than a u{bits}")
        return value

    def length(self) -> int:
        count = self.varint(64)
        # Every element takes at least one byte except zero-sized ones, which WIT does not have
        # in lists of its own types; refuse lengths that could not fit the rest of the data.
        if count > len(self.data) - self.pos:
            raise self.fail(f"a length of {count} with {len(self.data) - self.pos} bytes left")
        return count

    def value(self, wit_type: Type) -> Any:
        kind = wit_type[0]
        if kind in _INTEGERS:
            bits, signed = _INTEGERS[kind]
            if bits == 8:
                byte = self.byte()
                return byte - 256 if signed and byte > 127 else byte
            raw = self.varint(bits)
            return (raw >> 1) ^ -(raw & 1) if signed else raw
        if kind == "bool":
            byte = self.byte()
            if byte > 1:
                self.pos -= 1
                raise self.fail(f"a bool byte of {byte}")
            return byte == 1
        if kind == "f32":
            return struct.unpack("<f", self.take(4))[0]
        if kind == "f64":
            return struct.unpack("<d", self.take(8))[0]
        if kind in ("char", "string"):
            start = self.pos
            raw = self.take(self.length())
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.pos = start
                raise self.fail("text that is not UTF-8") from None
            if kind == "char" and len(text) != 1:
                self.pos = start
                raise self.fail(f"a char of {len(text)} characters")
            return text
        if kind in ("list", "array"):
            element = wit_type[1]
            count = self.length() if kind == "list" else wit_type[2]
            if element == ("u8",):
                return self.take(count)
            return [self.value(element) for _ in range(count)]
        if kind == "option":
            tag = self.byte()
            if tag == 0:
                return None
            if tag != 1:
                self.pos -= 1
                raise self.fail(f"an option tag of {tag}")
            return self.value(wit_type[1])
        if kind == "tuple":
            return tuple(self.value(element) for element in wit_type[1])
        if kind == "result":
            tag = self.varint(32)
            if tag > 1:
                raise self.fail(f"a result tag of {tag}")
            case = "ok" if tag == 0 else "err"
            payload_type = wit_type[1] if tag == 0 else wit_type[2]
            return {case: None if payload_type is None else self.value(payload_type)}
        raise self.fail(f"the unsupported WIT type {_show(wit_type)}")  # pragma: no cover
