"""A Python guest whose exceptions escape: the host must report them with their message."""

import wasmdask_guest as wd
import wit_world


class WitWorld(wit_world.WitWorld):
    def fail(self, message: str) -> int:
        raise ValueError(message)

    def fail_child(self, message: str) -> str:
        try:
            wd.gather([wd.submit("fail", (message,))])
        except wd.TaskFailed as failure:
            return f"{failure.kind}: {failure.message}"
        return "the child did not fail"
