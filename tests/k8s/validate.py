"""Validates `wasmdask render` output against the real schemas.

- DaskJob / DaskCluster: the CRD OpenAPI schemas shipped in the dask-kubernetes wheel
  (dask_kubernetes/operator/deployment/helm/dask-kubernetes-operator/crds/*.yaml), made strict:
  an object schema with `properties` rejects other keys, because the API server would silently
  prune them (e.g. PodSpec fields newer than the CRD's Kubernetes 1.21 one).
- Pods, Services, and every PodSpec / ServiceSpec embedded in a custom resource:
  kubernetes-validate in strict mode for Kubernetes KUBERNETES_VERSION.

Usage: validate.py FILE...   (YAML or JSON; a `v1 List` is checked item by item)
Prints one JSON line: {"checked": ["DaskJob/name", "Pod/name", ...]}; exits 1 with the first
error otherwise.
"""

import copy
import functools
import json
import os
import sys

import dask_kubernetes
import jsonschema
import kubernetes_validate
import yaml

# kubernetes-validate reads and parses its schema files on every call (the definitions file
# is megabytes): keep them, or a 40-worker List takes minutes.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents
)

KUBERNETES_VERSION = "1.33"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CRDS = os.path.join(
    os.path.dirname(dask_kubernetes.__file__),
    "operator/deployment/helm/dask-kubernetes-operator/crds",
)


def strict(schema):
    """The schema with `additionalProperties: false` wherever the API server would prune."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.lru_cache(maxsize=None)
def crd_validator(kind):
    """An OpenAPI v3 schema is JSON Schema draft 4 plus annotations, which jsonschema ignores.
    The schema itself is not re-checked against the metaschema: that takes seconds."""
    with open(os.path.join(CRDS, kind.lower() + ".yaml")) as f:
        crd = yaml.load(f, Loader=LOADER)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    # Every object has these, whether or not its CRD lists them.
    for key, type_ in (("apiVersion", "string"), ("kind", "string"), ("metadata", "object")):
        schema["properties"].setdefault(key, {"type": type_})
    return jsonschema.Draft4Validator(schema)


def check_core(obj, where):
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        fail(f"{where}: kubernetes-validate {KUBERNETES_VERSION}: {e.message} at {list(e.path)}")


def as_pod(spec, name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def as_service(spec, name):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def check_cluster_spec(spec, where):
    check_core(as_pod(spec["scheduler"]["spec"], "scheduler"), f"{where}.scheduler.spec")
    check_core(as_service(spec["scheduler"]["service"], "scheduler"), f"{where}.scheduler.service")
    check_core(as_pod(spec["worker"]["spec"], "worker"), f"{where}.worker.spec")


def check(obj, checked):
    kind = obj.get("kind")
    where = f"{kind}/{obj.get('metadata', {}).get('name')}"
    if kind == "List":
        for item in obj["items"]:
            check(item, checked)
        return
    if kind in ("DaskJob", "DaskCluster"):
        if obj.get("apiVersion") != "kubernetes.dask.org/v1":
            fail(f"{where}: apiVersion {obj.get('apiVersion')!r}")
        try:
            crd_validator(kind).validate(obj)
        except jsonschema.ValidationError as e:
            fail(f"{where}: CRD schema: {e.message} at {list(e.absolute_path)}")
        if kind == "DaskJob":
            check_core(as_pod(obj["spec"]["job"]["spec"], "runner"), f"{where}.job.spec")
            check_cluster_spec(obj["spec"]["cluster"]["spec"], f"{where}.cluster.spec")
        else:
            check_cluster_spec(obj["spec"], where)
    elif kind in ("Pod", "Service"):
        check_core(obj, where)
    else:
        fail(f"{where}: unexpected kind")
    checked.append(where)


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def main(paths):
    checked = []
    for path in paths:
        with open(path) as f:
            for document in yaml.load_all(f, Loader=LOADER):
                check(document, checked)
    print(json.dumps({"checked": checked}))


if __name__ == "__main__":
    main(sys.argv[1:])
