"""Config holes: stack fields that used to accept anything, each now an error with its key path.

``cluster.system_nodes`` (type from the cloud's catalog, no GPU type, offered in every stack
region, a bounded pool), ``tags.extra`` (never the platform's own keys, keys and values valid as
GCP labels, within the tag limits) and optional lists whose absence means "all" (``[]`` is an
error, not "every zone"). Every problem at once; through the CLI, exit 2 without a traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io

import pytest

from aiplat import cli as aiplat_cli
from aiplat.config import PlatformConfig
from aiplat.config.cluster import SYSTEM_NODES_MAX
from aiplat.config.tags import MAX_EXTRA_TAGS, RESERVED_TAG_KEYS
from aiplat.errors import ConfigError
from aiplat.project import platform_section
from tests._project import stack_file_path
from tests.test_config_errors import write_stack


def raw_of(stack: str) -> dict:
    return copy.deepcopy(platform_section(stack_file_path(stack)))


def refused(raw: dict) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as exc:
        PlatformConfig.from_raw(raw)
    out: dict[str, list[str]] = {}
    for p in exc.value.problems:
        out.setdefault(p.path, []).append(p.message)
    return out


def system_nodes(raw: dict, **values) -> dict:
    raw["cluster"].setdefault("system_nodes", {}).update(values)
    return raw


def test_system_node_type_comes_from_the_clouds_catalog():
    assert refused(system_nodes(raw_of("gcp-prod"), instance_type="m6i.large")) == {
        "cluster.system_nodes.instance_type": [
            "'m6i.large' is not a GCP type of the instance catalog (components/catalog/machines.yaml: e2-standard-16, "
            "e2-standard-2, e2-standard-4, e2-standard-8, n2-highmem-16, n2-highmem-4, n2-highmem-8, n2-standard-16, "
            "n2-standard-4, n2-standard-8)"]}
    assert list(refused(system_nodes(raw_of("dev"), instance_type="m6i.lage"))) == ["cluster.system_nodes.instance_type"]
    gpu = refused(system_nodes(raw_of("dev"), instance_type="p5.48xlarge"))["cluster.system_nodes.instance_type"]
    assert gpu == ["'p5.48xlarge' is a GPU type (8 x NVIDIA H100 80GB); the system nodes run only the add-ons: use a "
                   "general-purpose type (m6i.2xlarge, m6i.4xlarge, m6i.large, m6i.xlarge, m7i.2xlarge, m7i.4xlarge, "
                   "m7i.large, m7i.xlarge, r6i.2xlarge, r6i.4xlarge, r6i.large, r6i.xlarge, r7i.2xlarge, r7i.4xlarge, "
                   "r7i.large, r7i.xlarge)"]
    # a known type the stack's region does not offer (the default type included)
    raw = raw_of("dev")
    raw["regions"][0].update(name="us-west-1", zones=["us-west-1a", "us-west-1b"])
    raw["regions"][0]["gpu_pools"] = []
    raw["residency"] = "us"
    assert refused(raw).get("cluster.system_nodes.instance_type") == [
        "m6i.large is not offered in regions[0] us-west-1 (instance catalog)"]


def test_the_system_pool_is_bounded():
    assert SYSTEM_NODES_MAX == 20
    found = refused(system_nodes(raw_of("prod"), min_nodes=30, max_nodes=300))
    assert sorted(found) == ["cluster.system_nodes.max_nodes", "cluster.system_nodes.min_nodes"]
    assert found["cluster.system_nodes.max_nodes"][0].startswith("300 nodes; the system pool runs only the add-ons")
    assert found["cluster.system_nodes.max_nodes"][0].endswith(f"at most {SYSTEM_NODES_MAX}")
    PlatformConfig.from_raw(system_nodes(raw_of("prod"), max_nodes=SYSTEM_NODES_MAX))  # the bound itself is fine


@pytest.mark.parametrize("key", [*RESERVED_TAG_KEYS, "cost_center", "Owner", "data_classification"])
def test_extra_tags_never_replace_the_platforms_own(key):
    raw = raw_of("dev")
    raw["tags"]["extra"] = {key: "someone-else"}
    found = refused(raw)
    assert list(found) == [f"tags.extra.{key}"]
    assert found[f"tags.extra.{key}"][0].startswith(f"{key!r} is set by the platform")


def test_extra_tags_are_valid_gcp_labels_and_within_the_limits():
    raw = raw_of("gcp-prod")
    raw["tags"]["extra"] = {"service": "Assistant Inference", "Project": "x", "ok": "y" * 64, "fine": "a-b_c"}
    assert refused(raw) == {
        "tags.extra.Project": ["key 'Project' must start with a lowercase letter and hold only lowercase letters, "
                               "digits, '-' or '_' (max 63), usable as a GCP label key"],
        "tags.extra.ok": [f"value {'y' * 64!r} must be lowercase letters, digits, '-' or '_' (max 63), usable as a GCP "
                          "label"],
        "tags.extra.service": ["value 'Assistant Inference' must be lowercase letters, digits, '-' or '_' (max 63), "
                               "usable as a GCP label"],
    }
    raw["tags"]["extra"] = {f"k{i}": "v" for i in range(MAX_EXTRA_TAGS + 1)}
    assert refused(raw) == {"tags.extra": [f"{MAX_EXTRA_TAGS + 1} extra tags; AWS keeps 50 per resource and the "
                                           f"platform sets 7: at most {MAX_EXTRA_TAGS}"]}


def test_an_empty_list_is_not_all():
    raw = raw_of("prod")
    raw["regions"][0]["gpu_pools"][0]["zones"] = []
    raw["serving"]["endpoints"][0]["regions"] = []
    raw["vector_store"]["regions"] = []
    assert refused(raw) == {
        "regions[0].gpu_pools[0].zones": ["an empty list is not 'all'; omit zones for every zone of the region, "
                                          "or list them"],
        "serving.endpoints[0].regions": ["an empty list is not 'all'; omit regions for every stack region, or list them"],
        "vector_store.regions": ["empty; omit it for every stack region, or set enabled: false"],
    }
    raw = raw_of("prod")
    raw["regions"][0]["zones"] = []
    assert "regions[0].zones" in refused(raw)


def test_every_hole_at_once_through_the_cli_exit_2_no_traceback(tmp_path):
    raw = system_nodes(raw_of("gcp-prod"), instance_type="m6i.large", max_nodes=50)
    raw["tags"]["extra"] = {"owner": "Someone", "cost-center": "cc-1"}
    raw["regions"][0]["gpu_pools"][0]["zones"] = []
    path = write_stack(tmp_path / "Pulumi.gcp-prod.yaml", "gcp-prod", raw)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = aiplat_cli.main(["check", "gcp-prod", "--stack-file", str(path)])
    assert code == 2
    text = err.getvalue() + out.getvalue()
    assert "Traceback" not in text
    for key in ("cluster.system_nodes.instance_type", "cluster.system_nodes.max_nodes", "tags.extra.owner",
                "tags.extra.cost-center", "regions[0].gpu_pools[0].zones"):
        assert key in text, (key, text)
