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
  compare-template CONFIG_JSON TASK_JSON SPEC.pb
                                  the TaskTemplate flytekit serializes for
                                  @task(task_config=Dask(CONFIG), requests=…, limits=…,
                                  pod_template=…) vs wasmdask's: type, custom, config and the
                                  container or k8s_pod target, the primary container's args
                                  left out (pyflyte-execute vs wasmdask execute). TASK =
                                  {"image", "requests", "limits", "token_secret": [NAME, KEY]
                                  or null}; the pod template flytekit gets is a primary
                                  container with WASMDASK_TOKEN from that Secret key. Prints
                                  {"equal": bool, "flytekit": …, "wasmdask": …,
                                  "template": MessageToDict(wasmdask's template)}
  s3 ENDPOINT put BUCKET KEY FILE | get BUCKET KEY FILE | mkbucket BUCKET
"""

import copy
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
    """The task function for compare-template (flytekit wants it at module level)."""
    return n


def _token_pod_template(name, key):
    from flytekit import PodTemplate
    from kubernetes.client import V1Container, V1EnvVar, V1EnvVarSource, V1PodSpec, V1SecretKeySelector

    token = V1EnvVar(
        name="WASMDASK_TOKEN",
        value_from=V1EnvVarSource(secret_key_ref=V1SecretKeySelector(name=name, key=key)),
    )
    return PodTemplate(pod_spec=V1PodSpec(containers=[V1Container(name="primary", env=[token])]))


def _compared(template):
    """The parts both serializers must agree on, without the primary container's args."""
    parts = {k: template[k] for k in ("type", "custom", "config", "container", "k8sPod") if k in template}
    if "container" in parts:
        parts["container"].pop("args", None)
    if "k8sPod" in parts:
        primary = template["config"]["primary_container_name"]
        for container in parts["k8sPod"]["podSpec"]["containers"]:
            if container["name"] == primary:
                container.pop("args", None)
    return parts


def compare_template(config_json, task_json, spec_pb):
    from collections import OrderedDict

    from flyteidl.admin import task_pb2
    from flytekit import task
    from flytekit.configuration import ImageConfig, SerializationSettings
    from flytekit.tools.translator import get_serializable
    from flytekitplugins.dask import Dask, Scheduler, WorkerGroup
    from google.protobuf.json_format import MessageToDict

    with open(config_json) as f:
        config = json.load(f)
    options = json.loads(task_json)
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
    secret = options.get("token_secret")
    t = task(
        task_config=dask,
        requests=_resources(options.get("requests")),
        limits=_resources(options.get("limits")),
        pod_template=_token_pod_template(*secret) if secret else None,
    )(identity)
    settings = SerializationSettings(image_config=ImageConfig.auto(img_name=options["image"]))
    theirs = _compared(MessageToDict(get_serializable(OrderedDict(), settings, t).template.to_flyte_idl()))

    spec = task_pb2.TaskSpec()
    with open(spec_pb, "rb") as f:
        spec.ParseFromString(f.read())
    template = MessageToDict(spec.template)
    ours = _compared(copy.deepcopy(template))
    print(json.dumps({"equal": theirs == ours, "flytekit": theirs, "wasmdask": ours, "template": template}))


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
        "compare-template": compare_template,
        "s3": s3,
    }[command](*args)


if __name__ == "__main__":
    main(sys.argv)
