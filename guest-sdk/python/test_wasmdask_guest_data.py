"""Tests of wasmdask_guest's Flyte data helpers (datetime/timedelta conversions, directory
listing, files by URI, outputs) in plain CPython.

componentize-py generates ``wit_world`` and ``componentize_py_types`` only inside a build, so
this test puts stand-ins for them (the ``data`` records as the dataclasses componentize-py
generates) in ``sys.modules`` before importing the helper. Run from the repository root with

    .venv/bin/python -m unittest guest-sdk/python/test_wasmdask_guest_data.py

``cargo test`` runs it through ``tests/it/polyglot.rs``.
"""

import datetime
import json
import os
import sys
import tempfile
import types
import unittest
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Datetime:
    unix_seconds: int
    nanos: int


@dataclass
class Duration:
    seconds: int
    nanos: int


@dataclass
class File:
    path: str
    uri: str
    format: str


@dataclass
class Directory:
    dir_path: str
    uri: str
    format: str


@dataclass
class StructuredDataset:
    dataset_path: str
    uri: str
    format: str


def _stand_ins():
    data = types.ModuleType("wit_world.imports.data")
    for record in (Datetime, Duration, File, Directory, StructuredDataset):
        setattr(data, record.__name__, record)
    imports = types.ModuleType("wit_world.imports")
    imports.data = data
    imports.cluster = types.ModuleType("wit_world.imports.cluster")
    imports.log = types.ModuleType("wit_world.imports.log")
    world = types.ModuleType("wit_world")
    world.imports = imports
    runtime = types.ModuleType("componentize_py_types")
    runtime.Err = type("Err", (Exception,), {})
    sys.modules.update(
        {
            "wit_world": world,
            "wit_world.imports": imports,
            "wit_world.imports.data": data,
            "wit_world.imports.cluster": imports.cluster,
            "wit_world.imports.log": imports.log,
            "componentize_py_types": runtime,
        }
    )


_stand_ins()
import wasmdask_guest as wd  # noqa: E402

UTC = datetime.timezone.utc


class Datetimes(unittest.TestCase):
    def test_both_sides_of_the_epoch(self):
        cases = [
            (Datetime(1714566600, 123456000), datetime.datetime(2024, 5, 1, 12, 30, 0, 123456, UTC)),
            (Datetime(-1, 999999000), datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, UTC)),
            (Datetime(0, 0), datetime.datetime(1970, 1, 1, tzinfo=UTC)),
        ]
        for record, value in cases:
            self.assertEqual(wd.to_datetime(record), value)
            self.assertEqual(wd.from_datetime(value), record)

    def test_other_zones_and_naive_values(self):
        plus_two = datetime.timezone(datetime.timedelta(hours=2))
        self.assertEqual(
            wd.from_datetime(datetime.datetime(1970, 1, 1, 2, 0, 1, tzinfo=plus_two)), Datetime(1, 0)
        )
        self.assertEqual(wd.from_datetime(datetime.datetime(1970, 1, 1, 0, 0, 1)), Datetime(1, 0))

    def test_nanoseconds_below_a_microsecond_are_dropped(self):
        self.assertEqual(wd.to_datetime(Datetime(0, 1999)).microsecond, 1)


class Durations(unittest.TestCase):
    def test_seconds_and_nanos_share_a_sign(self):
        cases = [
            (Duration(90, 500000000), datetime.timedelta(seconds=90.5)),
            (Duration(0, -1000), datetime.timedelta(microseconds=-1)),
            (Duration(-2, -500000000), datetime.timedelta(seconds=-2.5)),
            (Duration(90061, 1000), datetime.timedelta(days=1, seconds=3661, microseconds=1)),
        ]
        for record, value in cases:
            self.assertEqual(wd.to_timedelta(record), value)
            self.assertEqual(wd.from_timedelta(value), record)


class Files(unittest.TestCase):
    def test_directories_list_sorted_and_name_files_by_uri(self):
        with tempfile.TemporaryDirectory() as path:
            for name in ["b.txt", "a.txt"]:
                open(os.path.join(path, name), "w").close()
            shards = Directory(dir_path=path, uri="s3://b/shards/", format="")
            self.assertEqual(wd.file_names(shards), ["a.txt", "b.txt"])
            self.assertEqual(wd.file_by_uri(shards, "a.txt"), File("", "s3://b/shards/a.txt", ""))

    def test_outputs_are_written_under_the_output_directory(self):
        with tempfile.TemporaryDirectory() as outputs:
            wd.OUTPUTS = outputs
            try:
                written = wd.output_file("deep/report.txt", "hi\n", format="txt")
                self.assertEqual(written, File(os.path.join(outputs, "deep/report.txt"), "", "txt"))
                with open(written.path) as f:
                    self.assertEqual(f.read(), "hi\n")
                folder = wd.output_directory("copy")
                self.assertTrue(os.path.isdir(folder.dir_path))
                table = wd.output_dataset("table")
                self.assertEqual(table.format, "parquet")
                self.assertEqual(wd.file_names(table), [])
            finally:
                wd.OUTPUTS = "/outputs"

    def test_records_are_sent_by_their_wit_field_names(self):
        self.assertEqual(
            json.loads(wd._encode_args("line-sum", (File("", "s3://b/a", ""),))),
            [{"path": "", "uri": "s3://b/a", "format": ""}],
        )
        self.assertEqual(
            json.loads(wd._encode_args("later", [Datetime(1, 2)])),
            [{"unix-seconds": 1, "nanos": 2}],
        )


if __name__ == "__main__":
    unittest.main()
