"""What an unmodified Flyte backend and dask-kubernetes operator start for a serialized task.

Usage: flyte_backend.py SPEC.pb NAME NAMESPACE INPUTS OUTPUT_PREFIX

Reads the TaskSpec with flyteidl and builds the DaskJob as flyteplugins' Dask plugin does
(contract §3, v1.16: `BuildResource`), then expands it with the operator's own builders from
`dask_kubernetes.operator.controller`, and turns each Deployment into the Pod its ReplicaSet
would start. Prints one JSON line: {"daskjob": DaskJob, "list": a `v1 List` of the scheduler
Service and the Pods}. The DaskJob is checked against the CRD and Kubernetes schemas
(validate.py) before it is expanded, as the API server would refuse it.

The Flyte side, step by step (flytek8s `ToK8sPodSpec`, then dask.go):
- `BuildRawPod`: a `k8s_pod` target's pod spec, the primary container named by
  `config["primary_container_name"]` (a task without it is a BadTaskSpecification), the
  target's labels and annotations. (A `container` target is refused here: the tests always
  serialize with a pod template.)
- `ApplyFlytePodConfiguration`: `{{.input}}` and the other placeholders rendered in command and
  args, Flyte's execution variables appended to env, requests filled from limits and `gpu`
  named `nvidia.com/gpu`, restart policy `Never` unless set. Left out: platform default
  resources and clamps, tolerations, service account, the platform's default pod template.
- dask.go: the primary container copied into the worker (`dask-worker`), scheduler
  (`scheduler`) and runner (`job-runner`) pods with their args, ports, resources and restart
  policies; everything else in the pod spec, such as env from a Secret, stays as it is.
"""

import copy
import json
import math
import os
import sys
import uuid

from flyteidl.admin import task_pb2
from google.protobuf.json_format import MessageToDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import validate  # noqa: E402  (this directory's CRD/Kubernetes schema check)

PRIMARY_CONTAINER_KEY = "primary_container_name"
GPU_RESOURCE = "nvidia.com/gpu"
RESOURCE_NAMES = {
    "CPU": "cpu",
    "MEMORY": "memory",
    "GPU": GPU_RESOURCE,
    "EPHEMERAL_STORAGE": "ephemeral-storage",
}


def bad_task(message):
    validate.fail(f"BadTaskSpecification: {message}")


def build_raw_pod(template):
    """flytek8s BuildRawPod: (pod spec, labels, annotations, primary container name)."""
    target = template.WhichOneof("target")
    if target != "k8s_pod":
        # The backend would make a one-container pod: one with no token, which the tests
        # never serialize.
        bad_task(f"expected a k8s_pod target, got {target!r}")
    if not template.k8s_pod.HasField("pod_spec"):
        bad_task("a K8sPod target needs a pod spec")
    pod_spec = MessageToDict(template.k8s_pod.pod_spec)
    if PRIMARY_CONTAINER_KEY not in template.config:
        bad_task(f"config missing [{PRIMARY_CONTAINER_KEY}] key in [{dict(template.config)}]")
    metadata = template.k8s_pod.metadata
    return pod_spec, dict(metadata.labels), dict(metadata.annotations), template.config[PRIMARY_CONTAINER_KEY]


def k8s_resources(resources):
    """flytek8s ToK8sResourceRequirements: a DaskJob role's flyteidl entries → a Kubernetes map."""
    out = {}
    for kind in ("requests", "limits"):
        entries = {RESOURCE_NAMES[e["name"]]: e["value"] for e in resources.get(kind, [])}
        if entries:
            out[kind] = entries
    return out


def apply_resource_overrides(resources):
    """The parts of ApplyResourceOverrides a task without platform limits sees."""
    resources = copy.deepcopy(resources or {})
    for kind in ("requests", "limits"):
        if "gpu" in resources.get(kind, {}):
            resources[kind][GPU_RESOURCE] = resources[kind].pop("gpu")
    limits = resources.get("limits", {})
    requests = resources.setdefault("requests", {})
    for name, value in limits.items():
        requests.setdefault(name, value)
    return {k: v for k, v in resources.items() if v}


def render(text, values):
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def to_k8s_pod_spec(template, name, inputs, output_prefix):
    pod_spec, labels, annotations, primary_name = build_raw_pod(template)
    values = {
        "{{.input}}": inputs,
        "{{.inputPrefix}}": os.path.dirname(inputs),
        "{{.outputPrefix}}": output_prefix,
        "{{.rawOutputDataPrefix}}": os.path.join(output_prefix, "raw"),
        "{{.checkpointOutputPrefix}}": os.path.join(output_prefix, "_flytecheckpoints"),
        "{{.prevCheckpointPrefix}}": '""',
    }
    task_id = template.id
    flyte_env = [
        {"name": "FLYTE_INTERNAL_EXECUTION_ID", "value": name},
        {"name": "FLYTE_INTERNAL_EXECUTION_PROJECT", "value": task_id.project},
        {"name": "FLYTE_INTERNAL_EXECUTION_DOMAIN", "value": task_id.domain},
        {"name": "FLYTE_INTERNAL_TASK_NAME", "value": task_id.name},
        {"name": "FLYTE_INTERNAL_TASK_VERSION", "value": task_id.version},
        {"name": "FLYTE_ATTEMPT_NUMBER", "value": "0"},
    ]
    primary = None
    for container in pod_spec.get("containers", []):
        container["command"] = [render(a, values) for a in container.get("command", [])]
        container["args"] = [render(a, values) for a in container.get("args", [])]
        container["env"] = container.get("env", []) + flyte_env
        if container["name"] == primary_name:
            container["resources"] = apply_resource_overrides(container.get("resources"))
            primary = container
    if primary is None:
        bad_task(f"primary container [{primary_name}] not defined")
    pod_spec.setdefault("restartPolicy", "Never")
    return pod_spec, labels, annotations, primary_name


def role_pod(pod_spec, primary_name, rename):
    """A deep copy of the pod spec and its primary container, renamed as dask.go does."""
    spec = copy.deepcopy(pod_spec)
    (container,) = [c for c in spec["containers"] if c["name"] == primary_name]
    container["name"] = rename
    return spec, container


def custom_resources(role, fallback):
    """The role's own resources when the DaskJob has any, else the primary container's."""
    own = k8s_resources(role.get("resources", {}))
    return apply_resource_overrides(own) if own else fallback


def cpu_count(quantity):
    """resource.Quantity.Value() of a CPU quantity: whole cores, rounded up."""
    if quantity.endswith("m"):
        return math.ceil(int(quantity[:-1]) / 1000)
    return math.ceil(float(quantity))


def worker_spec(workers, pod_spec, primary_name):
    spec, container = role_pod(pod_spec, primary_name, "dask-worker")
    if workers.get("image"):
        container["image"] = workers["image"]
    container["resources"] = custom_resources(workers, container.get("resources", {}))
    args = ["dask-worker", "--name", "$(DASK_WORKER_NAME)"]
    limits = container["resources"].get("limits")
    if limits is not None:
        # Go's limits.Cpu()/Memory() are zero quantities when unset, never nil.
        args += ["--nthreads", str(cpu_count(limits.get("cpu", "0")))]
        args += ["--memory-limit", limits.get("memory", "0")]
    container["args"] = args
    spec["restartPolicy"] = "Always"
    return {"replicas": int(workers.get("numberOfWorkers", 0)), "spec": spec}


def scheduler_spec(scheduler, name, pod_spec, primary_name):
    spec, container = role_pod(pod_spec, primary_name, "scheduler")
    if scheduler.get("image"):
        container["image"] = scheduler["image"]
    container["resources"] = custom_resources(scheduler, container.get("resources", {}))
    container["args"] = ["dask-scheduler"]
    ports = [("tcp-comm", 8786), ("dashboard", 8787)]
    container["ports"] = [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports]
    spec["restartPolicy"] = "Always"
    service = {
        "type": "NodePort",
        "selector": {"dask.org/cluster-name": name, "dask.org/component": "scheduler"},
        "ports": [{"name": n, "protocol": "TCP", "port": p, "targetPort": n} for n, p in ports],
    }
    return {"spec": spec, "service": service}


def build_daskjob(spec_pb, name, namespace, inputs, output_prefix):
    spec = task_pb2.TaskSpec()
    with open(spec_pb, "rb") as f:
        spec.ParseFromString(f.read())
    template = spec.template
    if template.type != "dask":
        bad_task(f"task type {template.type!r}")
    custom = MessageToDict(template.custom)
    pod_spec, labels, annotations, primary_name = to_k8s_pod_spec(template, name, inputs, output_prefix)
    # Without interruptible settings the interruptible and non-interruptible pod specs agree.
    job_spec, _ = role_pod(pod_spec, primary_name, "job-runner")
    job_spec["restartPolicy"] = "Never"
    metadata = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskJob",
        "metadata": metadata,
        "spec": {
            "job": {"spec": job_spec},
            "cluster": {
                "spec": {
                    "worker": worker_spec(custom.get("workers", {}), pod_spec, primary_name),
                    "scheduler": scheduler_spec(custom.get("scheduler", {}), name, pod_spec, primary_name),
                }
            },
        },
    }


def as_pod(deployment):
    """The Pod a Deployment's ReplicaSet starts: the template (the name gets a suffix there)."""
    template = deployment["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": template["metadata"], "spec": template["spec"]}


def operator_objects(job, namespace):
    """daskjob_create_components → daskcluster_create → daskworkergroup_replica_update."""
    from dask_kubernetes.operator.controller import (
        build_cluster_spec,
        build_job_pod_spec,
        build_scheduler_deployment_spec,
        build_scheduler_service_spec,
        build_worker_deployment_spec,
    )

    name = job["metadata"]["name"]
    labels = job["metadata"].get("labels", {})
    annotations = job["metadata"].get("annotations", {})
    cluster_spec = job["spec"]["cluster"]["spec"]
    cluster = build_cluster_spec(name, cluster_spec["worker"], cluster_spec["scheduler"], annotations, labels)
    scheduler = cluster["spec"]["scheduler"]
    worker = cluster["spec"]["worker"]
    items = [
        build_scheduler_service_spec(name, scheduler["service"], annotations, labels),
        as_pod(build_scheduler_deployment_spec(name, scheduler["spec"], annotations, labels)),
    ]
    for _ in range(worker["replicas"]):
        deployment = build_worker_deployment_spec(
            worker_group_name=f"{name}-default",
            namespace=namespace,
            cluster_name=name,
            uuid=uuid.uuid4().hex[:10],
            pod_spec=worker["spec"],
            annotations=annotations,
            labels=labels,
        )
        items.append(as_pod(deployment))
    items.append(
        build_job_pod_spec(
            job_name=name,
            cluster_name=name,
            namespace=namespace,
            spec=job["spec"]["job"]["spec"],
            annotations=annotations,
            labels=labels,
        )
    )
    for item in items:
        item["metadata"]["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "List", "items": items}


def main(spec_pb, name, namespace, inputs, output_prefix):
    job = build_daskjob(spec_pb, name, namespace, inputs, output_prefix)
    validate.check(job, [])
    print(json.dumps({"daskjob": job, "list": operator_objects(job, namespace)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
