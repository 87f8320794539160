"""A Python guest whose exceptions escape: the host must report them with their message.

`poke` probes isolation: state a call leaves at module level must not reach the next call."""

import wasmdask_guest as wd
import wit_world


# Marks `poke` leaves: a counter and a block of memory, both reachable after the call returns.
_marks = {"count": 0, "block": None}


class WitWorld(wit_world.WitWorld):
    def fail(self, message: str) -> int:
        raise ValueError(message)

    def fail_child(self, message: str) -> str:
        try:
            wd.gather([wd.submit("fail", (message,))])
        except wd.TaskFailed as failure:
            return f"{failure.kind}: {failure.message}"
        return "the child did not fail"

    def poke(self, times: int) -> int:
        seen = 0
        for _ in range(times):
            block = _marks["block"]
            seen = _marks["count"] + (0 if block is None else block[-1])
            _marks["count"] += 1
            _marks["block"] = bytearray(b"\x07" * (1 << 20))
        return seen
