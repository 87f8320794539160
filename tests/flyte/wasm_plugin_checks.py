"""What tests/flyte/wasm_plugin.py (flytekit) and wasm_plugin_v2.py (flyte-sdk) share; it
imports neither SDK, so the Flyte 2 side still never imports flytekit."""

def task_args(case, example):
    """The WasmTask arguments of a compare-serialize case that both plugins spell alike: a
    task of the example component unless the case names another (`component`, `task_name`,
    `component_uri`)."""
    return {
        "name": case.get("task_name") or f"example.{case['function'].replace('-', '_')}",
        "component": case.get("component") or example,
        "function": case["function"],
        "component_uri": case.get("component_uri") or "s3://bucket/example.wasm",
        "token_secret": case["token_secret"],
    }


def spec_template(path):
    """The TaskTemplate of the TaskSpec `wasmdask serialize` wrote to `path`, as MessageToDict."""
    from flyteidl.admin import task_pb2
    from google.protobuf.json_format import MessageToDict

    spec = task_pb2.TaskSpec()
    with open(path, "rb") as f:
        spec.ParseFromString(f.read())
    return MessageToDict(spec.template)


def raised(fn, with_code=False):
    """What `fn()` returned, or the exception it raised (its type, MRO, message and, with
    `with_code`, its `code`)."""
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001 - the test reports whatever was raised
        mro = [c.__name__ for c in type(e).__mro__]
        if with_code:
            return {"type": type(e).__name__, "mro": mro, "code": getattr(e, "code", None), "message": str(e)}
        return {"type": type(e).__name__, "mro": mro, "message": str(e)}
    return {"value": value}


def declaration_errors(wasm_task, example, types, with_code=False):
    """The declarations that must fail: a missing component, an unknown function, an
    unmappable type."""
    return {
        "missing": raised(
            lambda: wasm_task(name="t.missing", component="/nonexistent/tasks.wasm", function="square"), with_code
        ),
        "unknown": raised(lambda: wasm_task(name="t.unknown", component=example, function="no-such-export"), with_code),
        "unmappable": raised(lambda: wasm_task(name="t.tuple", component=types, function="echo-tuple"), with_code),
    }


def main(argv, compare_serialize, errors):
    """Runs the command `argv[1]` with the rest as its arguments."""
    {"compare-serialize": compare_serialize, "errors": errors}[argv[1]](*argv[2:])


__all__ = ["declaration_errors", "main", "raised", "spec_template", "task_args"]
