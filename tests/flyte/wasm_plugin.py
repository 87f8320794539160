"""The flytekit side of the plugin tests (tests/it/flyte_plugin.rs), run with the repo's .venv.

Each command does many checks in one process (flytekit is slow to import) and prints one line
of JSON; the Rust test decides what is right.

  compare-serialize EXAMPLE_WASM CASES_JSON
      CASES = [{"name", "dask": <Dask config as in tests/it/flyte.rs>, "requests", "limits",
      "token_secret": "NAME/KEY" or null, "function", "spec": <wasmdask serialize's .pb>}].
      Serializes WasmTask(...) with flytekit's get_serializable and compares the TaskTemplate
      with wasmdask serialize's; prints [{"name", "equal", "plugin", "wasmdask", "engine"}] (the
      two templates as MessageToDict, and flytekit's TypeEngine's literal type of each of the
      task's Python types) for the test to compare field by field.
  errors EXAMPLE_WASM TYPES_WASM FAULTS_WASM
      Declares tasks that must fail (a missing component, an unknown function, an unmappable
      type), runs a task whose guest fails, direct calls with an option given and left out,
      and an option result (Some and None); prints what each raised.
"""

import json
import sys
from collections import OrderedDict

from wasm_plugin_checks import declaration_errors, main, raised, spec_template, task_args


def _resources(d):
    from flytekit import Resources

    return None if d is None else Resources(**d)


def _dask(config):
    from flytekitplugins.dask import Dask, Scheduler, WorkerGroup

    s, w = config.get("scheduler", {}), config.get("workers", {})
    extra = {"number_of_workers": w["number_of_workers"]} if "number_of_workers" in w else {}
    return Dask(
        scheduler=Scheduler(image=s.get("image"), requests=_resources(s.get("requests")), limits=_resources(s.get("limits"))),
        workers=WorkerGroup(
            image=w.get("image"), requests=_resources(w.get("requests")), limits=_resources(w.get("limits")), **extra
        ),
    )


def _comparable(template):
    """Without what only names the serializer: the runtime metadata (flytekit vs wasmdask),
    and TaskMetadata's pod metadata, which flytekit writes empty and wasmdask leaves unset
    (the same message to the backend)."""
    metadata = template.get("metadata", {})
    metadata.pop("runtime", None)
    if metadata.get("metadata") == {}:
        del metadata["metadata"]
    return template


def _engine(t):
    """{"inputs"/"outputs": {name: literal type}}: what flytekit's own TypeEngine types each
    Python type of the task's interface as, without `annotation`s (flytekit marks a dict's
    STRUCT `serialization-format: msgpack`, cache-key metadata the backend does not check)."""
    from flytekit.core.type_engine import TypeEngine
    from google.protobuf.json_format import MessageToDict

    def plain(d):
        if isinstance(d, dict):
            return {k: plain(v) for k, v in d.items() if k != "annotation"}
        return [plain(v) for v in d] if isinstance(d, list) else d

    return {
        side: {
            name: plain(MessageToDict(TypeEngine.to_literal_type(py).to_flyte_idl()))
            for name, py in getattr(t.python_interface, side).items()
        }
        for side in ("inputs", "outputs")
    }


def compare_serialize(example, cases_json):
    from flytekit.configuration import ImageConfig, SerializationSettings
    from flytekit.tools.translator import get_serializable
    from flytekitplugins.wasmdask import WasmTask
    from google.protobuf.json_format import MessageToDict

    results = []
    for case in json.loads(cases_json):
        t = WasmTask(
            **task_args(case, example),
            task_config=_dask(case["dask"]),
            requests=_resources(case.get("requests")),
            limits=_resources(case.get("limits")),
        )
        settings = SerializationSettings(
            image_config=ImageConfig.auto(img_name="ghcr.io/example/app:v1"),
            project="{{ registration.project }}",
            domain="{{ registration.domain }}",
            version="{{ registration.version }}",
        )
        ours = MessageToDict(get_serializable(OrderedDict(), settings, t).template.to_flyte_idl())
        ours, theirs = _comparable(ours), _comparable(spec_template(case["spec"]))
        results.append(
            {"name": case["name"], "equal": ours == theirs, "plugin": ours, "wasmdask": theirs, "engine": _engine(t)}
        )
    print(json.dumps(results))


def errors(example, types, faults):
    from flytekitplugins.wasmdask import WasmTask

    out = declaration_errors(WasmTask, example, types)
    fail = WasmTask(name="t.fail", component=faults, function="fail")
    out["failed"] = raised(lambda: fail(message="the model diverged"))
    summarize = WasmTask(name="t.summarize", component=example, function="summarize")
    out["option_given"] = raised(lambda: summarize(samples=[1.0, 3.0], label="weights"))
    out["option_none"] = raised(lambda: summarize(samples=[2.0]))
    # An option result, as flytekit reads it back: Some and None.
    echo = WasmTask(name="t.echo_option", component=types, function="echo-option")
    out["option_result"] = raised(lambda: [echo(x=7), echo(x=None), echo()])
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv, compare_serialize, errors)
