"""model-approval judges what runs, not only what is annotated, and takes the class from the stack.

Every case goes through the SDK analyzer (``offline.evaluate``) over preview-shaped steps: an
inference server in any pod template, a serving custom resource, a SageMaker endpoint; each must
declare its models and the declaration must agree with what it loads.
"""

from __future__ import annotations

import json

import pytest

from aiplat.policies import model_approval, offline
from aiplat.policies._judge import Coverage
from tests.policy_steps import CANARY, STABLE, approved_catalog, eu_config, good_aws_eu, models_annotation, write_config

TRITON = "nvcr.io/nvidia/tritonserver:25.01-py3"
REPO = "s3://fixture-models-euc1/llm/v3"
DECLARED = {**STABLE, "repository": REPO}


def evaluate(g, tmp_path, **model_approval_config):
    (tmp_path / "approved.yaml").write_text(approved_catalog())
    cfg = eu_config(tmp_path, tmp_path / "approved.yaml", model_approval=model_approval_config)
    report = offline.evaluate(g.steps, "fixture", cfg)
    return [(v.name, v.message) for v in report.by_policy("model-approval")]


def k8s(g):
    return g.state("triton")["provider"]


def pod(containers, annotations=None, init=None):
    spec = {"containers": containers}
    if init:
        spec["initContainers"] = init
    return {"metadata": {"annotations": annotations or {}}, "spec": spec}


def triton(*args, image=TRITON):
    return {"name": "triton", "image": image, "command": ["tritonserver"], "args": list(args)}


def declared(*entries):
    return {"aiplat.io/models": models_annotation(*entries)}


WORKLOADS = {
    "kubernetes:core/v1:Pod": lambda t: t["spec"] | {"_meta": t["metadata"]},
    "kubernetes:apps/v1:Deployment": lambda t: {"template": t},
    "kubernetes:apps/v1:StatefulSet": lambda t: {"template": t, "serviceName": "s"},
    "kubernetes:apps/v1:DaemonSet": lambda t: {"template": t},
    "kubernetes:apps/v1:ReplicaSet": lambda t: {"template": t},
    "kubernetes:batch/v1:Job": lambda t: {"template": t},
    "kubernetes:batch/v1:CronJob": lambda t: {"schedule": "@daily", "jobTemplate": {"spec": {"template": t}}},
}


def add_workload(g, type_, name, template):
    spec = WORKLOADS[type_](template)
    meta = {"name": name, **({"annotations": spec.pop("_meta")["annotations"]} if "_meta" in spec else {})}
    g.add(type_, name, {"metadata": meta, "spec": spec}, k8s(g))


@pytest.mark.parametrize("type_", sorted(WORKLOADS))
def test_an_undeclared_server_in_any_workload_kind_is_refused(tmp_path, type_):
    g = good_aws_eu()
    add_workload(g, type_, "raw", pod([triton(f"--model-repository={REPO}")]))
    [(name, message)] = evaluate(g, tmp_path)
    assert name == "raw"
    assert message.startswith(f"{type_} raw: container ")
    assert "(triton, image nvcr.io/nvidia/tritonserver:25.01-py3) runs an inference server but declares no models" \
        in message


@pytest.mark.parametrize("type_", sorted(WORKLOADS))
def test_a_declared_server_that_agrees_passes_in_any_workload_kind(tmp_path, type_):
    g = good_aws_eu()
    add_workload(g, type_, "raw", pod([triton(f"--model-repository={REPO}", "--model-control-mode=explicit",
                                              "--load-model=llm")], declared(DECLARED)))
    assert evaluate(g, tmp_path) == []


def test_init_containers_and_mirrored_images_and_shell_strings_are_read(tmp_path):
    g = good_aws_eu()
    mirror = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/mirror/tritonserver:25.01"
    add_workload(g, "kubernetes:apps/v1:Deployment", "raw", pod(
        [{"name": "app", "image": "busybox", "command": ["sleep", "1"]}],
        init=[{"name": "warm", "image": mirror, "command": ["sh", "-c", f"tritonserver --model-repository={REPO}"]}]))
    [(_, message)] = evaluate(g, tmp_path)
    assert f"container spec.template.spec.initContainers[0] (triton, image {mirror}) runs an inference server " \
           "but declares no models" in message


@pytest.mark.parametrize("container, expect", [
    # Triton: a --load-model the declaration does not name
    (triton(f"--model-repository={REPO}", "--model-control-mode=explicit", "--load-model=llm", "--load-model=evil"),
     "loads model 'evil', which its declaration (llm) does not name"),
    # Triton without explicit mode loads everything in an undeclared repository
    (triton("--model-repository=s3://fixture-models-euc1/other"),
     "loads from repository 's3://fixture-models-euc1/other', which its declaration does not name"),
    # vLLM: the positional model of `vllm serve`
    ({"name": "v", "image": "vllm/vllm-openai:v0.8.4", "command": ["vllm", "serve", "meta-llama/Llama-3.1-8B"]},
     "(vllm, image vllm/vllm-openai:v0.8.4) loads model 'meta-llama/Llama-3.1-8B'"),
    # vLLM without a model serves its default
    ({"name": "v", "image": "vllm/vllm-openai:v0.8.4", "args": ["--port", "8000"]},
     "cannot judge what it loads: names no model in its args or env (--model), so vllm serves its built-in default"),
    # TGI: MODEL_ID from the environment, and from a secret
    ({"name": "t", "image": "ghcr.io/huggingface/text-generation-inference:3.0",
      "env": [{"name": "MODEL_ID", "value": "bigscience/bloom"}]}, "loads model 'bigscience/bloom'"),
    ({"name": "t", "image": "ghcr.io/huggingface/text-generation-inference:3.0",
      "env": [{"name": "MODEL_ID", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
     "env MODEL_ID is not a literal value"),
    # TorchServe: the names of --models
    ({"name": "ts", "image": "pytorch/torchserve:0.12.0", "command": ["torchserve", "--start", "--models",
                                                                       "llm=llm.mar,squeezenet=s.mar"]},
     "loads model 'squeezenet'"),
    # $(VAR) from the container's env is expanded; from a secret it cannot be read
    ({**triton("--model-repository=$(REPO)"), "env": [{"name": "REPO", "value": "s3://elsewhere/x"}]},
     "loads from repository 's3://elsewhere/x'"),
    ({**triton("--model-repository=$(REPO)"), "env": [{"name": "REPO", "valueFrom": {"configMapKeyRef": {}}}]},
     "reads $REPO, which is not a literal value in the container's env"),
])
def test_a_declaration_that_disagrees_with_what_the_server_loads_is_refused(tmp_path, container, expect):
    g = good_aws_eu()
    add_workload(g, "kubernetes:apps/v1:Deployment", "raw", pod([container], declared(DECLARED)))
    messages = [m for n, m in evaluate(g, tmp_path) if n == "raw"]
    assert any(expect in m for m in messages), messages


def test_a_chart_that_runs_a_server_cannot_be_judged(tmp_path):
    g = good_aws_eu()
    g.add("kubernetes:helm.sh/v3:Release", "vllm-stack", {"chart": "vllm-stack", "values": {
        "servingEngineSpec": {"modelSpec": [{"repository": "vllm/vllm-openai", "modelURL": "meta-llama/x"}]}}}, k8s(g))
    g.add("kubernetes:helm.sh/v3:Release", "tgi", {"chart": "oci://ghcr.io/acme/charts/text-generation-inference",
                                                   "values": {}}, k8s(g))
    verdicts = evaluate(g, tmp_path)
    assert sorted(n for n, _ in verdicts) == ["tgi", "vllm-stack", "vllm-stack"]
    assert any("cannot judge: values.servingEngineSpec.modelSpec[0].repository = 'vllm/vllm-openai' runs vllm" in m
               for _, m in verdicts)
    assert "cannot judge: chart text-generation-inference installs an inference server" in dict(verdicts)["tgi"]


def test_kserve_inference_services_declare_what_their_storage_uri_loads(tmp_path):
    g = good_aws_eu()
    isvc = {"predictor": {"model": {"modelFormat": {"name": "triton"}, "storageUri": REPO}}}
    g.add("kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc", {"metadata": {"name": "isvc"},
                                                                           "spec": isvc}, k8s(g))
    g.add("kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc-other", {
        "metadata": {"name": "isvc-other", "annotations": declared(DECLARED)},
        "spec": {"predictor": {"model": {"storageUri": "s3://fixture-models-euc1/other"}}}}, k8s(g))
    g.add("kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc-ok", {
        "metadata": {"name": "isvc-ok", "annotations": declared(DECLARED)}, "spec": isvc}, k8s(g))
    # a runtime template names no model itself: its InferenceServices do
    g.add("kubernetes:serving.kserve.io/v1alpha1:ServingRuntime", "runtime", {"metadata": {"name": "triton"},
          "spec": {"containers": [{"name": "kserve-container", "image": TRITON, "args": ["tritonserver"]}]}}, k8s(g))
    verdicts = evaluate(g, tmp_path)
    assert sorted(n for n, _ in verdicts) == ["isvc", "isvc-other"]
    assert "is a InferenceService (it serves models) but declares no models" in dict(verdicts)["isvc"]
    assert "spec.predictor.model.storageUri loads 's3://fixture-models-euc1/other', which its declaration does not " \
           "name" in dict(verdicts)["isvc-other"]


def test_an_unknown_kind_of_a_serving_api_cannot_be_judged_unless_allowed(tmp_path):
    g = good_aws_eu()
    g.add("kubernetes:serving.kserve.io/v1alpha1:FutureServingThing", "future", {"spec": {}}, k8s(g))
    [(name, message)] = evaluate(g, tmp_path)
    assert name == "future" and "cannot judge: a kind of a model-serving operator's API" in message
    assert "allow the type on purpose in model-approval.allowedTypes" in message
    assert evaluate(g, tmp_path, allowedTypes=["kubernetes:serving.kserve.io/v1alpha1:FutureServingThing"]) == []


def sagemaker(g, *, tags=None, url="s3://fixture-models-euc1/llm/v3/model.tar.gz", package=None):
    p = g.state("models")["provider"]
    container = {"image": "763104351884.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-tritonserver:24.09-py3"}
    if url:
        container["modelDataUrl"] = url
    if package:
        container["modelPackageName"] = package
    g.add("aws:sagemaker/model:Model", "sm-model", {"name": "sm-llm", "primaryContainer": container,
                                                    "tags": tags or {}}, p)
    return p


SM_TAGS = {"aiplat-model": "llm", "aiplat-version": "3", "aiplat-digest": STABLE["digest"]}


def publish(g, p, entry=STABLE):
    g.add("aws:s3/bucketObjectv2:BucketObjectv2", "llm-tarball", {
        "bucket": "fixture-models-euc1", "key": "llm/v3/model.tar.gz",
        "metadata": {"aiplat-model": entry["name"], "aiplat-version": entry["version"],
                     "aiplat-digest": entry["digest"]}}, p)


def test_sagemaker_model_declared_by_tags_and_loading_a_published_object_passes(tmp_path):
    g = good_aws_eu()
    publish(g, sagemaker(g, tags=SM_TAGS))
    assert evaluate(g, tmp_path) == []


def test_sagemaker_model_undeclared_or_loading_other_bytes_is_refused(tmp_path):
    g = good_aws_eu()
    sagemaker(g, url="s3://somewhere-else/model.tar.gz")
    messages = [m for n, m in evaluate(g, tmp_path) if n == "sm-model"]
    assert any("serves a SageMaker model but declares no model; tag it aiplat-model" in m for m in messages)
    assert any("primaryContainer.modelDataUrl = s3://somewhere-else/model.tar.gz is not a model object published "
               "by this stack" in m for m in messages)
    g = good_aws_eu()
    publish(g, sagemaker(g, tags=SM_TAGS), entry=CANARY)
    [(name, message)] = evaluate(g, tmp_path)
    assert "loads object llm-tarball, published as llm version 4, which disagrees with its declaration" in message


def test_sagemaker_model_package_must_be_the_one_the_version_was_approved_from(tmp_path):
    g = good_aws_eu()
    sagemaker(g, tags=SM_TAGS, url=None, package="arn:aws:sagemaker:eu-central-1:123:model-package/llm/9")
    [(name, message)] = evaluate(g, tmp_path)
    assert "modelPackageName arn:aws:sagemaker:eu-central-1:123:model-package/llm/9 is not the package llm version 3 " \
           "was approved from (no SageMaker source)" in message


def test_sagemaker_endpoints_serve_only_models_of_the_stack(tmp_path):
    g = good_aws_eu()
    p = g.state("models")["provider"]
    g.add("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "sm-config", {
        "productionVariants": [{"variantName": "a", "modelName": "from-the-console"}]}, p)
    g.add("aws:sagemaker/endpoint:Endpoint", "sm-endpoint", {"endpointConfigName": "not-in-this-stack"}, p)
    verdicts = dict(evaluate(g, tmp_path))
    assert "productionVariants[0] serves model from-the-console, which is not a SageMaker Model of this stack" \
        in verdicts["sm-config"]
    assert "endpointConfigName not-in-this-stack is not an EndpointConfiguration of this stack" \
        in verdicts["sm-endpoint"]


# ---- the class comes from the stack ----------------------------------------------------------------


def relabel(g, classification):
    for step in g.steps:
        tags = step["newState"]["inputs"].get("defaultTags", {}).get("tags")
        if isinstance(tags, dict):
            if classification is None:
                tags.pop("data-classification", None)
            else:
                tags["data-classification"] = classification
    return g


def config_without_class(tmp_path, **model_approval_config):
    """The fixtures' config (every other policy's keys as they are) without model-approval's class."""
    (tmp_path / "approved.yaml").write_text(approved_catalog(canary_classes=("public", "internal")))
    doc = json.loads(eu_config(tmp_path, tmp_path / "approved.yaml").read_text())
    doc["model-approval"].pop("dataClassification")
    doc["model-approval"].update(model_approval_config)
    return write_config(tmp_path, doc, "class.json")


def model_verdicts(g, cfg):
    return [(v.name, v.message) for v in offline.evaluate(g.steps, "fixture", cfg).by_policy("model-approval")]


def test_the_class_is_the_stacks_own_and_the_config_can_only_raise_it(tmp_path):
    # internal stack, no class in config: the canary (cleared for public/internal) passes
    assert model_verdicts(relabel(good_aws_eu(), "internal"), config_without_class(tmp_path)) == []
    # a restricted stack with a config that says internal: the stack wins
    [(name, message)] = model_verdicts(relabel(good_aws_eu(), "restricted"),
                                       config_without_class(tmp_path, dataClassification="internal"))
    assert name == "triton-canary" and "not for this stack's 'restricted'" in message
    # an internal stack with a config that says confidential: raised
    [(name, message)] = model_verdicts(relabel(good_aws_eu(), "internal"),
                                       config_without_class(tmp_path, dataClassification="confidential"))
    assert "not for this stack's 'confidential'" in message


def test_a_single_resource_labelled_higher_raises_the_stack(tmp_path):
    g = relabel(good_aws_eu(), "internal")
    g.inputs("models")["tags"] = {"data-classification": "restricted"}
    [(name, message)] = model_verdicts(g, config_without_class(tmp_path))
    assert name == "triton-canary" and "not for this stack's 'restricted'" in message


def test_a_stack_without_class_cannot_be_judged(tmp_path):
    verdicts = model_verdicts(relabel(good_aws_eu(), None), config_without_class(tmp_path,
                                                                                  dataClassification="restricted"))
    assert sorted(n for n, _ in verdicts) == ["triton", "triton-canary"]
    assert all("cannot judge: the stack declares no data-classification tag or label" in m for _, m in verdicts)


def test_a_label_that_is_not_a_class_is_named(tmp_path):
    g = relabel(good_aws_eu(), "internal")
    g.inputs("models")["tags"] = {"data-classification": "top-secret"}
    verdicts = model_verdicts(g, config_without_class(tmp_path))
    assert ("models", "models: data-classification='top-secret' is not one of public, internal, confidential, "
                      "restricted; model-approval cannot judge against a classification it cannot read") in verdicts


@pytest.mark.parametrize("type_, kind", [
    ("kubernetes:apps/v1:Deployment", "judged"),
    ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "judged"),
    ("kubernetes:serving.kserve.io/v1beta1:InferenceService", "judged"),
    ("kubernetes:serving.kserve.io/v1alpha1:LocalModelCache", "cannot-judge"),
    ("aws:sagemaker/model:Model", "judged"),
    ("aws:ecs/taskDefinition:TaskDefinition", "judged"),
    ("gcp:cloudrunv2/service:Service", "judged"),
    ("gcp:vertex/aiEndpointWithModelGardenDeployment:AiEndpointWithModelGardenDeployment", "cannot-judge"),
    ("aws:bedrock/provisionedModelThroughput:ProvisionedModelThroughput", "cannot-judge"),
    ("gcp:vertex/aiEndpoint:AiEndpoint", "cannot-judge"),
    ("aws:s3/bucketV2:BucketV2", "not-applicable"),
    ("pulumi:providers:aws", "not-applicable"),
    ("acme:index:Unknown", "cannot-judge"),
])
def test_coverage_is_decided_from_the_schema_and_the_server_catalog(type_, kind):
    c = model_approval.coverage(type_)
    assert isinstance(c, Coverage) and c.kind == kind, (type_, c)


def test_server_catalog_has_source_and_date_and_validates():
    cat = model_approval.server_catalog()
    assert cat.source and cat.date
    assert cat.server_of("registry.example/x/tritonserver@sha256:" + "0" * 64, []) == "triton"
    assert cat.server_of("python:3.12", ["python", "-m", "vllm.entrypoints.openai.api_server"]) == "vllm"
    assert cat.server_of("python:3.12", ["python", "app.py"]) is None
    with pytest.raises(Exception):
        model_approval.ServerCatalog.model_validate({"source": "x", "date": "2026-01-01", "servers": {}})
