"""Flyte data in Python (see wit/world.wit): inputs are read as files, the shards are summed by
subtasks, and outputs are written under /outputs with the guest SDK's helpers."""

import os

import wasmdask_guest as wd
import wit_world
from componentize_py_types import Err


def _sum_lines(text: str) -> int:
    return sum(int(line) for line in text.splitlines() if line.strip())


class WitWorld(wit_world.WitWorld):
    def line_sum(self, shard) -> int:
        with open(shard.path) as f:
            return _sum_lines(f.read())

    def report(self, notes, shards, at):
        with open(notes.path) as f:
            title = f.readline().strip()
        names = wd.file_names(shards)
        try:
            sums = wd.map_gather("line-sum", [(wd.file_by_uri(shards, name),) for name in names], int)
        except wd.TaskFailed as failure:
            raise Err(str(failure))
        lines = [title, wd.to_datetime(at).isoformat()]
        lines += [f"{name},{total}" for name, total in zip(names, sums)]
        return wd.output_file("report.txt", "\n".join(lines) + "\n", format="txt")

    def scaled(self, shards, factor: int):
        out = wd.output_directory("scaled")
        for name in wd.file_names(shards):
            with open(os.path.join(shards.dir_path, name)) as f:
                numbers = [int(line) for line in f.read().splitlines() if line.strip()]
            with open(os.path.join(out.dir_path, name), "w") as f:
                f.write("".join(f"{n * factor}\n" for n in numbers))
        return out
