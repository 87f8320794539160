"""The Flyte 2 (flyte-sdk) side of the plugin tests (tests/it/flyte_plugin.rs), run with .venv.

Imports flyte-sdk, flyteplugins-dask and `flyteplugins.wasmdask` only; each command checks that
flytekit was never imported. Prints one line of JSON; the Rust test decides what is right.

  compare-serialize EXAMPLE_WASM CASES_JSON
      CASES = [{"name", "dask": <Dask config as in tests/it/flyte.rs, v1 field names; a worker
      "accelerator" ("T4:1") is flyte-sdk's gpu= device>,
      "requests", "limits", "token_secret", "function", "spec": <wasmdask serialize's .pb>}].
      Serializes flyteplugins.wasmdask.WasmTask with flyte-sdk's own translate_task_to_wire and
      prints [{"name", "plugin": <its TaskTemplate>, "wasmdask": <serialize's>}] as MessageToDict.
  errors EXAMPLE_WASM TYPES_WASM FAULTS_WASM
      Declarations that must fail, a failing guest, options given and left out, and an option
      result (Some and None), run under flyte.run (local mode).
"""

import json
import sys
import typing

from wasm_plugin_checks import declaration_errors, main, raised, spec_template, task_args


def _resources(requests, limits, accelerator=None):
    """v1's requests/limits of one role as flyte-sdk's one Resources: a cpu or memory value is a
    request, a (request, limit) tuple both; gpu (a count, or the `accelerator` device such as
    "T4:1") and disk (v1's ephemeral_storage) are requests only."""
    import flyte

    requests, limits = requests or {}, limits or {}
    if not requests and not limits:
        return None
    kw = {}
    for v1, v2 in (("cpu", "cpu"), ("mem", "memory")):
        if v1 in limits:
            kw[v2] = (requests[v1], limits[v1])
        elif v1 in requests:
            kw[v2] = requests[v1]
    assert "gpu" not in limits and "ephemeral_storage" not in limits, "no Flyte 2 spelling"
    if "gpu" in requests:
        kw["gpu"] = accelerator or int(requests["gpu"])
    if "ephemeral_storage" in requests:
        kw["disk"] = requests["ephemeral_storage"]
    return flyte.Resources(**kw)


def _dask(config):
    from flyteplugins.dask import Dask, Scheduler, WorkerGroup

    s, w = config.get("scheduler", {}), config.get("workers", {})
    extra = {"number_of_workers": w["number_of_workers"]} if "number_of_workers" in w else {}
    workers = _resources(w.get("requests"), w.get("limits"), w.get("accelerator"))
    return Dask(
        scheduler=Scheduler(image=s.get("image"), resources=_resources(s.get("requests"), s.get("limits"))),
        workers=WorkerGroup(image=w.get("image"), resources=workers, **extra),
    )


def compare_serialize(example, cases_json):
    import flyte
    from flyte._internal.runtime.task_serde import translate_task_to_wire
    from flyte.models import SerializationContext
    from flyteplugins.wasmdask import WasmTask
    from google.protobuf.json_format import MessageToDict

    results = []
    for case in json.loads(cases_json):
        t = WasmTask(
            **task_args(case, example),
            plugin_config=_dask(case["dask"]),
            resources=_resources(case.get("requests"), case.get("limits")),
            image="ghcr.io/example/app:v1",
        )
        flyte.TaskEnvironment.from_task(f"env_{len(results)}", t)
        sctx = SerializationContext(
            version="{{ registration.version }}", project="{{ registration.project }}", domain="{{ registration.domain }}"
        )
        ours = MessageToDict(translate_task_to_wire(t, sctx).task_template)
        results.append({"name": case["name"], "plugin": ours, "wasmdask": spec_template(case["spec"])})
    assert "flytekit" not in sys.modules, "flyteplugins.wasmdask imported flytekit"
    print(json.dumps(results))


def errors(example, types, faults):
    import flyte
    from flyteplugins.wasmdask import WasmTask

    out = declaration_errors(WasmTask, example, types, with_code=True)
    fail = WasmTask(name="t.fail", component=faults, function="fail")
    summarize = WasmTask(name="t.summarize", component=example, function="summarize")
    echo = WasmTask(name="t.echo_option", component=types, function="echo-option")
    wasm = flyte.TaskEnvironment.from_task("wasm", fail, summarize, echo)
    env = flyte.TaskEnvironment(name="errors", depends_on=[wasm])

    @env.task
    def failing() -> None:
        fail(message="the model diverged")

    @env.task
    def summaries() -> list[dict]:
        return [summarize(samples=[1.0, 3.0], label="weights"), summarize(samples=[2.0])]

    @env.task
    def echoes() -> list[typing.Optional[int]]:
        return [echo(x=7), echo(x=None), echo()]

    flyte.init()
    local = flyte.with_runcontext(mode="local")
    out["failed"] = raised(lambda: local.run(failing).outputs(), with_code=True)
    out["options"] = raised(lambda: local.run(summaries).outputs()[0], with_code=True)
    out["option_result"] = raised(lambda: local.run(echoes).outputs()[0], with_code=True)
    assert "flytekit" not in sys.modules, "flyteplugins.wasmdask imported flytekit"
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv, compare_serialize, errors)
