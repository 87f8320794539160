"""The real flytekit/flyteidl side of wasmdask's Flyte tests (run with the repo's .venv).

Every file wasmdask reads is written here by flytekit's own type engine, and every file it
writes is read back here by flytekit / flyteidl, so the tests check wire compatibility with
the packages a Flyte user runs, not with our own reading of the protos.

Commands (all print one line of JSON on stdout):
  write-inputs OUT.pb SPEC_JSON   SPEC = {"name": ["int"|"float"|"str"|"bool"|"list[int]"|
                                  "list[float]"|"dict"|"optional[str]", value], ...}
  read-outputs PREFIX TYPE        decode PREFIX/outputs.pb; `o0` as the python TYPE; prints
                                  {"o0": value} (or {} for an empty map)
  read-error PREFIX               PREFIX/error.pb as MessageToDict
  compare-custom CONFIG_JSON SPEC.pb
                                  flytekit's DaskTask.get_custom for CONFIG vs the custom of
                                  wasmdask's TaskSpec; prints {"equal": bool, "flytekit": …,
                                  "wasmdask": …, "template": MessageToDict(template)}
  s3 ENDPOINT put BUCKET KEY FILE | get BUCKET KEY FILE | mkbucket BUCKET
"""

import json
import os
import sys
import typing

PY_TYPES = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list[int]": typing.List[int],
    "list[float]": typing.List[float],
    "dict": dict,
    "optional[str]": typing.Optional[str],
}


def _ctx():
    from flytekit.core.context_manager import FlyteContextManager

    return FlyteContextManager.current_context()


def write_inputs(out, spec):
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import LiteralMap

    ctx = _ctx()
    literals = {}
    for name, (type_name, value) in json.loads(spec).items():
        py_type = PY_TYPES[type_name]
        lt = TypeEngine.to_literal_type(py_type)
        literals[name] = TypeEngine.to_literal(ctx, value, py_type, lt)
    with open(out, "wb") as f:
        f.write(LiteralMap(literals=literals).to_flyte_idl().SerializeToString())
    print(json.dumps({"written": out}))


def read_outputs(prefix, type_name):
    from flyteidl.core import literals_pb2
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import LiteralMap

    pb = literals_pb2.LiteralMap()
    with open(os.path.join(prefix, "outputs.pb"), "rb") as f:
        pb.ParseFromString(f.read())
    lm = LiteralMap.from_flyte_idl(pb)
    out = {}
    for name, lit in lm.literals.items():
        out[name] = TypeEngine.to_python_value(_ctx(), lit, PY_TYPES[type_name])
    print(json.dumps(out))


def read_error(prefix):
    from flyteidl.core import errors_pb2
    from google.protobuf.json_format import MessageToDict

    doc = errors_pb2.ErrorDocument()
    with open(os.path.join(prefix, "error.pb"), "rb") as f:
        doc.ParseFromString(f.read())
    print(json.dumps(MessageToDict(doc)))


def _resources(d):
    from flytekit import Resources

    return None if d is None else Resources(**d)


def identity(n: int) -> int:
    """The task function for compare-custom (flytekit wants it at module level)."""
    return n


def compare_custom(config_json, spec_pb):
    from flyteidl.admin import task_pb2
    from flytekit import task
    from flytekit.configuration import ImageConfig, SerializationSettings
    from flytekitplugins.dask import Dask, Scheduler, WorkerGroup
    from google.protobuf.json_format import MessageToDict

    with open(config_json) as f:
        config = json.load(f)
    s = config.get("scheduler", {})
    w = config.get("workers", {})
    worker_kwargs = {}
    if "number_of_workers" in w:
        worker_kwargs["number_of_workers"] = w["number_of_workers"]
    dask = Dask(
        scheduler=Scheduler(
            image=s.get("image"), requests=_resources(s.get("requests")), limits=_resources(s.get("limits"))
        ),
        workers=WorkerGroup(
            image=w.get("image"),
            requests=_resources(w.get("requests")),
            limits=_resources(w.get("limits")),
            **worker_kwargs,
        ),
    )

    t = task(task_config=dask)(identity)
    settings = SerializationSettings(image_config=ImageConfig.auto_default_image())
    theirs = t.get_custom(settings)

    spec = task_pb2.TaskSpec()
    with open(spec_pb, "rb") as f:
        spec.ParseFromString(f.read())
    ours = MessageToDict(spec.template.custom)
    template = MessageToDict(spec.template)
    print(
        json.dumps(
            {
                "equal": theirs == ours,
                "flytekit": theirs,
                "wasmdask": ours,
                "flytekit_task_type": t.task_type,
                "template": template,
            }
        )
    )


def s3(endpoint, op, bucket, key=None, path=None):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    if op == "mkbucket":
        client.create_bucket(Bucket=bucket)
    elif op == "put":
        with open(path, "rb") as f:
            client.put_object(Bucket=bucket, Key=key, Body=f.read())
    elif op == "get":
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        with open(path, "wb") as f:
            f.write(body)
    elif op == "list":
        objects = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        print(json.dumps(sorted(o["Key"] for o in objects)))
        return
    print(json.dumps({"ok": op}))


def main(argv):
    command, args = argv[1], argv[2:]
    {
        "write-inputs": write_inputs,
        "read-outputs": read_outputs,
        "read-error": read_error,
        "compare-custom": compare_custom,
        "s3": s3,
    }[command](*args)


if __name__ == "__main__":
    main(sys.argv)
