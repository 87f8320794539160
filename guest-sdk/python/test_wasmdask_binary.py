"""Tests of wasmdask_binary against the bytes Rust's postcard writes for the same values.

Plain CPython, no componentize-py: run from the repository root with

    .venv/bin/python -m unittest guest-sdk/python/test_wasmdask_binary.py

(``python3 -m pytest guest-sdk/python`` runs them too). ``cargo test`` runs them through
``tests/it/polyglot.rs``. The expected bytes were printed by ``postcard::to_allocvec`` (1.2) of the
Rust type that mirrors each WIT type.
"""

import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wasmdask_binary import DecodeError, EncodeError, decode, encode, parse  # noqa: E402

# (WIT type, Python value, postcard bytes of the mirroring Rust value)
POSTCARD = [
    ("u64", 300, [0xAC, 0x02]),
    ("s32", -1, [0x01]),
    ("u64", (1 << 64) - 1, [255] * 9 + [1]),
    ("s64", -(1 << 63), [255] * 9 + [1]),
    ("s64", (1 << 63) - 1, [254] + [255] * 8 + [1]),
    ("s16", -300, [215, 4]),
    ("u16", 65535, [255, 255, 3]),
    ("u32", (1 << 32) - 1, [255, 255, 255, 255, 15]),
    ("u8", 255, [255]),
    ("s8", -128, [128]),
    ("bool", True, [1]),
    ("bool", False, [0]),
    ("f32", 1.5, [0, 0, 192, 63]),
    ("f64", -0.0, [0, 0, 0, 0, 0, 0, 0, 128]),
    ("f64", -math.inf, [0, 0, 0, 0, 0, 0, 240, 255]),
    ("char", "é", [2, 195, 169]),
    ("char", "€", [3, 226, 130, 172]),
    ("char", "😀", [4, 240, 159, 152, 128]),
    ("string", "a", [1, 0x61]),
    ("string", "héllo", [6, 104, 195, 169, 108, 108, 111]),
    ("list<u8>", b"\x01\x02\x03", [3, 1, 2, 3]),
    ("list<f64>", [1.5], [1, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]),
    ("list<string>", ["a", "bc"], [2, 1, 97, 2, 98, 99]),
    ("option<u32>", 300, [1, 172, 2]),
    ("option<u32>", None, [0]),
    ("tuple<string, option<f64>, u64>", ("x", 2.5, 7), [1, 120, 1, 0, 0, 0, 0, 0, 0, 4, 64, 7]),
    ("result<u64, string>", {"ok": 5}, [0, 5]),
    ("result<u64, string>", {"err": "no"}, [1, 2, 110, 111]),
    ("result<_, string>", {"err": "e"}, [1, 1, 101]),
    ("result<_, string>", {"ok": None}, [0]),
    ("list<u8, 3>", b"\x09\x08\x07", [9, 8, 7]),
    ("list<u16, 2>", [300, 1], [172, 2, 1]),
    ("list<tuple<u32, bool>>", [(1, True), (200, False)], [2, 1, 1, 200, 1, 0]),
    ("list<list<s64>>", [[-2], []], [2, 1, 3, 0]),
    ("list<u8>", bytes(200), [200, 1] + [0] * 200),
]


class Postcard(unittest.TestCase):
    def test_encodes_as_postcard(self):
        for wit_type, value, expected in POSTCARD:
            with self.subTest(wit_type=wit_type, value=value):
                self.assertEqual(list(encode(wit_type, value)), expected)

    def test_decodes_postcard(self):
        for wit_type, value, expected in POSTCARD:
            with self.subTest(wit_type=wit_type, value=value):
                decoded = decode(wit_type, bytes(expected))
                self.assertEqual(decoded, value)
                # -0.0 == 0.0: the sign must survive too.
                if isinstance(value, float):
                    self.assertEqual(math.copysign(1, decoded), math.copysign(1, value))

    def test_nan_crosses_with_its_bits(self):
        data = encode("f64", math.nan)
        self.assertEqual(list(data), [0, 0, 0, 0, 0, 0, 248, 127])
        self.assertTrue(math.isnan(decode("f64", data)))

    def test_list_u8_decodes_to_bytes_and_encodes_from_a_list_of_ints(self):
        self.assertEqual(decode("list<u8>", b"\x02\x07\x08"), b"\x07\x08")
        self.assertEqual(encode("list<u8>", [7, 8]), b"\x02\x07\x08")
        self.assertEqual(encode("list<u8>", bytearray(b"\x07")), b"\x01\x07")

    def test_records_are_tuples_of_their_fields(self):
        # The example's `bucket` record: lower: f64, upper: f64, count: u32.
        bucket = "tuple<f64, f64, u32>"
        self.assertEqual(decode(bucket, encode(bucket, (0.0, 1.0, 3))), (0.0, 1.0, 3))


class TypeText(unittest.TestCase):
    def test_spacing_and_nesting(self):
        self.assertEqual(
            parse(" list < tuple<string,option< f64 >> > "),
            ("list", ("tuple", (("string",), ("option", ("f64",))))),
        )
        self.assertEqual(parse("result"), ("result", None, None))
        self.assertEqual(parse("result<u8>"), ("result", ("u8",), None))
        self.assertEqual(parse("list<u8, 4>"), ("array", ("u8",), 4))

    def test_unknown_and_malformed_types_are_named(self):
        for text, words in [
            ("stats", "unknown type 'stats'"),
            ("list<u8", "expected '>'"),
            ("u64 u64", "unexpected text"),
            ("", "expected a type"),
            ("list<u8, n>", "length"),
        ]:
            with self.subTest(text=text):
                with self.assertRaises(EncodeError) as raised:
                    parse(text)
                self.assertIn(words, str(raised.exception))


class Mismatches(unittest.TestCase):
    def test_values_that_do_not_fit_are_refused(self):
        for wit_type, value, words in [
            ("u8", 256, "out of range 0..=255"),
            ("u64", -1, "out of range"),
            ("s8", 128, "out of range -128..=127"),
            ("u32", 1.0, "expected an int, not float"),
            ("u32", True, "expected an int, not bool"),
            ("bool", 1, "expected a bool"),
            ("f64", "1.5", "expected a float"),
            ("f32", 1e39, "too large"),
            ("char", "ab", "one-character"),
            ("string", b"a", "expected a str"),
            ("list<u64>", "abc", "expected a list"),
            ("list<u8, 2>", b"abc", "3 bytes, not 2"),
            ("tuple<u8, u8>", (1,), "tuple of 2"),
            ("result<u8, string>", 1, '{"ok": value}'),
            ("result<_, string>", {"ok": 1}, "no payload"),
            ("string", "\ud800", "surrogate"),
        ]:
            with self.subTest(wit_type=wit_type, value=value):
                with self.assertRaises(EncodeError) as raised:
                    encode(wit_type, value)
                self.assertIn(words, str(raised.exception))

    def test_nested_mismatches_say_where(self):
        with self.assertRaises(EncodeError) as raised:
            encode("list<tuple<string, u8>>", [("a", 1), ("b", 300)])
        self.assertIn("the value[1][1] (300) is not a u8", str(raised.exception))

    def test_bad_bytes_are_refused(self):
        for wit_type, data, words in [
            ("u64", b"\xac", "the data ends"),
            ("u64", b"\x01\x02", "1 of the 2 bytes are left over"),
            ("u16", b"\xff\xff\x04", "larger than a u16"),
            ("u64", b"\xff" * 10 + b"\x01", "longer than a u64"),
            ("bool", b"\x02", "a bool byte of 2"),
            ("option<u8>", b"\x02", "an option tag of 2"),
            ("result<u8, u8>", b"\x02\x00", "a result tag of 2"),
            ("string", b"\x01\xff", "not UTF-8"),
            ("char", b"\x02ab", "a char of 2 characters"),
            ("list<u64>", b"\x05\x01", "a length of 5"),
        ]:
            with self.subTest(wit_type=wit_type, data=data):
                with self.assertRaises(DecodeError) as raised:
                    decode(wit_type, data)
                self.assertIn(words, str(raised.exception))


if __name__ == "__main__":
    unittest.main()
