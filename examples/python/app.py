"""Example wasmdask tasks in Python: the same tasks, with the same results, as examples/rust.

The signatures are in wit/world.wit (shared with the Rust example); `wasmdask build
examples/python` compiles this module with componentize-py into a component.
"""

import math

import wasmdask_guest as wd
import wit_world
from componentize_py_types import Err

U64 = (1 << 64) - 1


class WitWorld(wit_world.WitWorld):
    def hash_rounds(self, seed: int, rounds: int) -> int:
        """`rounds` chained splitmix64 mixing steps from `seed` (see examples/rust/src/kernel.rs)."""
        state = seed
        for _ in range(rounds):
            state = _mix((state + 0x9E3779B97F4A7C15) & U64)
        return state

    def square(self, x: int) -> int:
        return (x * x) & U64

    def sum_of_squares(self, n: int) -> int:
        wd.log.info(f"squaring 1..={n} on the cluster")
        try:
            squares = wd.map_gather("square", [(x,) for x in range(1, n + 1)], int)
        except wd.TaskFailed as failure:
            raise Err(str(failure))
        total = sum(squares)
        if total > U64:
            raise Err(f"the sum of squares of 1..={n} overflows u64")
        return total

    def square_twice(self, x: int) -> int:
        try:
            # Arguments in the binary encoding: `value` encodes x as square's parameter type.
            inner = wd.submit_with("square", [wd.value("u64", x)])
            # The inner call's handle as the argument: its result goes to the outer call where
            # it lies, without entering this task.
            outer = wd.submit_with("square", [inner])
            wd.release([inner])  # the outer call still gets it; nothing here needs it any more
            # The result in the binary encoding too: a u64 varint, decoded by its WIT type.
            return wd.take(outer, "u64")
        except wd.TaskFailed as failure:
            raise Err(str(failure))

    def summarize(self, samples: list[float], label: str | None) -> wit_world.Stats:
        bounds = _min_max(samples)
        return wit_world.Stats(
            count=len(samples),
            mean=_sum(samples) / len(samples) if samples else None,
            min=bounds[0] if bounds else None,
            max=bounds[1] if bounds else None,
            label="unnamed" if label is None else label,
        )

    def histogram(self, samples: list[float], buckets: int) -> list[wit_world.Bucket]:
        if buckets == 0:
            raise Err("buckets must be at least 1")
        for x in samples:
            if not math.isfinite(x):
                raise Err(f"samples must be finite numbers, found {_show(x)}")
        bounds = _min_max(samples)
        if bounds is None:
            raise Err("cannot build a histogram of no samples")
        low, high = bounds
        width = (high - low) / buckets

        def bound(i: int) -> float:
            # The last bound is exactly `high`, whatever the rounding of `low + width * buckets`.
            return high if i == buckets else low + width * i

        counts = [0] * buckets
        for x in samples:
            # When all samples are equal, width is 0 and they all go to the first bucket.
            index = int((x - low) / width) if width > 0 else 0
            counts[min(index, buckets - 1)] += 1
        return [wit_world.Bucket(bound(i), bound(i + 1), counts[i]) for i in range(buckets)]


def _mix(z: int) -> int:
    """splitmix64's output function, on Python's unbounded ints masked to 64 bits."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
    return z ^ (z >> 31)


def _sum(samples: list[float]) -> float:
    """Left-to-right sum as Rust's `Iterator::sum` adds: Python's `sum` of floats compensates
    rounding (since 3.12), which would make the mean differ in the last bits."""
    total = -0.0
    for x in samples:
        total += x
    return total


def _min_max(samples: list[float]) -> tuple[float, float] | None:
    """The smallest and largest sample, ignoring NaN; None when there is none."""
    numbers = [x for x in samples if not math.isnan(x)]
    if not numbers:
        return None
    return min(numbers), max(numbers)


def _show(x: float) -> str:
    """A non-finite float spelled as Rust prints it, so messages match across languages."""
    return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")
