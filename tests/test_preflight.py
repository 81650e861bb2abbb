"""aiplat preflight against moto's EC2 (real offering data per zone).

moto 5.2.5 emulates Service Quotas only for the ``vpc`` service (EC2 quota codes raise
NoSuchResource and cannot be set), so the quota *values* come from botocore's Stubber on a
real service-quotas client: it also asserts the exact calls (service code, quota code, order).
Everything else -- EC2 offerings, the stack file, the CLI dispatcher -- is real.
"""

from __future__ import annotations

import json

import pytest
import yaml

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")
from botocore.stub import Stubber  # noqa: E402

from aiplat import cli  # noqa: E402
from aiplat.tools import preflight  # noqa: E402
from tests._project import AWS_DEPLOYER, GCP_DEPLOYER  # noqa: E402

pytestmark = pytest.mark.peer

G_OD, G_SPOT, P_OD = "L-DB2E81BA", "L-3819A6DF", "L-417A185B"


def stack(regions, cloud="aws", **extra):
    return {
        "config": {
            "aiplat:platform": {
                "cloud": cloud,
                "environment": "prod",
                "tags": {"owner": "ml-platform", "team": "inference", "cost_center": "cc-4410"},
                "data_classification": "internal",
                "residency": "us" if cloud == "aws" else "global",
                "regions": regions,
                "deployer": AWS_DEPLOYER if cloud == "aws" else GCP_DEPLOYER,
                **extra,
            }
        }
    }


US_EAST_1 = {
    "name": "us-east-1",
    "cidr": "10.30.0.0/16",
    "zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
    "gpu_pools": [
        {"name": "l40s", "instance_type": "g6e.xlarge", "reserved_nodes": 2, "max_nodes": 6},
        {"name": "a10g", "instance_type": "g5.2xlarge", "max_nodes": 4, "spot_max_nodes": 8,
         "zones": ["us-east-1a", "us-east-1b"]},
        {"name": "h100", "instance_type": "p5.48xlarge", "reserved_nodes": 1, "max_nodes": 2, "zones": ["us-east-1a"]},
    ],
}
# At full scale: G on-demand 6*4 + 4*8 = 56 vCPUs, G spot 8*8 = 64, P on-demand 2*192 = 384.


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        yield


class Quotas:
    """Per region, the quota answers in call order: value, None (no applied value -> default), or an error code."""

    def __init__(self, answers: dict[str, list[tuple[str, object]]]):
        self.stubbers = {}
        self.clients = {}
        for region, calls in answers.items():
            client = boto3.client("service-quotas", region_name=region)
            st = Stubber(client)
            params = lambda code: {"ServiceCode": "ec2", "QuotaCode": code}  # noqa: E731
            for code, value in calls:
                if isinstance(value, str):
                    st.add_client_error("get_service_quota", value, "not allowed", 400, expected_params=params(code))
                elif value is None:
                    st.add_client_error("get_service_quota", "NoSuchResourceException", "no applied quota", 400,
                                        expected_params=params(code))
                    st.add_response("get_aws_default_service_quota",
                                    {"Quota": {"QuotaCode": code, "ServiceCode": "ec2", "Value": 64.0}}, params(code))
                else:
                    st.add_response("get_service_quota",
                                    {"Quota": {"QuotaCode": code, "ServiceCode": "ec2", "Value": float(value)}},
                                    params(code))
            st.activate()
            self.stubbers[region], self.clients[region] = st, client

    def factory(self, service, region):
        if service == "service-quotas":
            return self.clients[region]
        return boto3.client(service, region_name=region)

    def all_called(self):
        for st in self.stubbers.values():
            st.assert_no_pending_responses()


@pytest.fixture
def aiplat(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["aiplat.cli.preflight"])

    def run(doc, quotas: Quotas | None, *extra):
        path = tmp_path / "Pulumi.test.yaml"
        path.write_text(yaml.safe_dump(doc))
        if quotas is not None:
            monkeypatch.setattr(preflight, "boto_clients", quotas.factory)
        code = cli.main(["preflight", "test", "--stack-file", str(path), *extra])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_registered_in_cli():
    assert "aiplat.cli.preflight" in cli.COMMAND_MODULES


def test_passing_stack(aiplat):
    q = Quotas({"us-east-1": [(G_OD, 64), (G_SPOT, 64), (P_OD, 384)]})
    code, out, err = aiplat(stack([US_EAST_1]), q, "--json", "-")
    assert (code, err) == (0, "")
    q.all_called()
    doc = json.loads(out)
    assert doc["ok"] is True and doc["cloud"] == "aws" and doc["stack"] == "test"
    assert [(o["pool"], o["zones"], o["missing_zones"], o["ok"]) for o in doc["offerings"]] == [
        ("l40s", ["us-east-1a", "us-east-1b", "us-east-1c"], [], True),  # zones default to the region's
        ("a10g", ["us-east-1a", "us-east-1b"], [], True),
        ("h100", ["us-east-1a"], [], True),
    ]
    assert [(c["quota_code"], c["market"], c["pools"], c["needed_vcpus"], c["quota_vcpus"], c["ok"])
            for c in doc["quotas"]] == [
        (G_OD, "on-demand", ["l40s", "a10g"], 56, 64.0, True),
        (G_SPOT, "spot", ["a10g"], 64, 64.0, True),
        (P_OD, "on-demand", ["h100"], 384, 384.0, True),
    ]


def test_passing_stack_table(aiplat):
    q = Quotas({"us-east-1": [(G_OD, 64), (G_SPOT, 64), (P_OD, 384)]})
    code, out, _ = aiplat(stack([US_EAST_1]), q)
    assert code == 0
    assert "GPU instance offerings (test)" in out and "EC2 vCPU quotas at full scale (test)" in out
    assert "L-417A185B Running On-Demand P instances" in out
    assert out.rstrip().endswith("preflight: ok")


def test_missing_offering_in_zone(aiplat):
    # EC2 offers g5.2xlarge in us-east-1a/b/c/d/f but not us-east-1e (moto's recorded offerings).
    region = {**US_EAST_1, "zones": ["us-east-1a", "us-east-1b", "us-east-1e"],
              "gpu_pools": [{"name": "a10g", "instance_type": "g5.2xlarge", "max_nodes": 4}]}
    q = Quotas({"us-east-1": [(G_OD, 64)]})
    code, out, err = aiplat(stack([region]), q)
    assert (code, err) == (1, "")
    assert "not offered in us-east-1e" in out
    assert (
        "  - regions[0].gpu_pools[0]: g5.2xlarge not offered in us-east-1e: "
        "set regions[0].gpu_pools[0].zones to [us-east-1a, us-east-1b]"
    ) in out
    assert "preflight: 1 shortfall" in out


def test_type_offered_in_no_configured_zone(aiplat, tmp_path):
    # p4d.24xlarge is offered only in eu-west-1c there.
    region = {"name": "eu-west-1", "cidr": "10.40.0.0/16", "zones": ["eu-west-1a", "eu-west-1b"],
              "gpu_pools": [{"name": "a100", "instance_type": "p4d.24xlarge", "max_nodes": 1}]}
    q = Quotas({"eu-west-1": [(P_OD, 96)]})
    code, out, _ = aiplat(stack([region], residency="eu"), q, "--json", str(tmp_path / "r.json"))
    assert code == 1
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["offerings"][0]["missing_zones"] == ["eu-west-1a", "eu-west-1b"]
    assert doc["offerings"][0]["advice"] == (
        "p4d.24xlarge not offered in eu-west-1a, eu-west-1b: choose another type or region for regions[0].gpu_pools[0]"
    )
    assert doc["quotas"][0]["ok"] is True


def test_insufficient_quota(aiplat):
    q = Quotas({"us-east-1": [(G_OD, 64), (G_SPOT, 32), (P_OD, 192)]})
    code, out, err = aiplat(stack([US_EAST_1]), q, "--json", "-")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert doc["ok"] is False
    assert all(o["ok"] for o in doc["offerings"])
    assert [(c["quota_code"], c["ok"], c["advice"]) for c in doc["quotas"]] == [
        (G_OD, True, ""),
        (G_SPOT, False, "short by 32 vCPUs: request L-3819A6DF (All G and VT Spot Instance Requests) >= 64 "
                        "in us-east-1, or lower max_nodes"),
        (P_OD, False, "short by 192 vCPUs: request L-417A185B (Running On-Demand P instances) >= 384 "
                      "in us-east-1, or lower max_nodes"),
    ]


def test_default_quota_when_account_has_no_applied_value(aiplat):
    region = {**US_EAST_1, "gpu_pools": [{"name": "l4", "instance_type": "g6.4xlarge", "max_nodes": 5}]}
    q = Quotas({"us-east-1": [(G_OD, None)]})  # default answer: 64 vCPUs; 5 * 16 = 80 needed
    code, out, _ = aiplat(stack([region]), q, "--json", "-")
    q.all_called()
    assert code == 1
    c = json.loads(out)["quotas"][0]
    assert (c["quota_source"], c["quota_vcpus"], c["needed_vcpus"], c["ok"]) == ("aws-default", 64.0, 80, False)


def test_every_region_checked_with_its_own_clients(aiplat):
    eu = {"name": "us-west-2", "cidr": "10.31.0.0/16", "zones": ["us-west-2a", "us-west-2b"],
          "gpu_pools": [{"name": "l4", "instance_type": "g6.xlarge", "max_nodes": 3}]}
    plain = {"name": "us-east-2", "cidr": "10.32.0.0/16", "zones": ["us-east-2a", "us-east-2b"]}
    q = Quotas({"us-east-1": [(G_OD, 64), (G_SPOT, 64), (P_OD, 384)], "us-west-2": [(G_OD, 8)]})
    code, out, _ = aiplat(stack([US_EAST_1, eu, plain]), q, "--json", "-")
    q.all_called()
    doc = json.loads(out)
    assert code == 1
    assert [(c["region"], c["quota_code"], c["needed_vcpus"], c["ok"]) for c in doc["quotas"]] == [
        ("us-east-1", G_OD, 56, True), ("us-east-1", G_SPOT, 64, True), ("us-east-1", P_OD, 384, True),
        ("us-west-2", G_OD, 12, False),
    ]
    assert {o["region"] for o in doc["offerings"]} == {"us-east-1", "us-west-2"}


def test_no_gpu_pools_nothing_to_check(aiplat):
    region = {k: v for k, v in US_EAST_1.items() if k != "gpu_pools"}
    code, out, _ = aiplat(stack([region]), Quotas({}))
    assert code == 0
    assert out.strip() == "preflight test: no GPU pools, nothing to check"


def test_aws_error_is_exit_2_without_traceback(aiplat):
    q = Quotas({"us-east-1": [(G_OD, "AccessDeniedException")]})
    region = {**US_EAST_1, "gpu_pools": [{"name": "l4", "instance_type": "g6.xlarge", "max_nodes": 1}]}
    code, out, err = aiplat(stack([region]), q)
    assert (code, out) == (2, "")
    assert err == (
        "aiplat preflight: us-east-1: service-quotas:GetServiceQuota L-DB2E81BA failed: "
        "AccessDeniedException: not allowed\n"
    )


def test_gcp_stack_not_supported_exit_2(aiplat):
    region = {"name": "us-central1", "cidr": "10.50.0.0/16", "zones": ["us-central1-a"],
              "gpu_pools": [{"name": "l4", "instance_type": "g2-standard-8", "max_nodes": 2}]}
    code, out, err = aiplat(stack([region], cloud="gcp", gcp_project="aiplat-prod-1"), None)
    assert (code, out) == (2, "")
    assert err == (
        "aiplat preflight: preflight supports AWS stacks only; 'test' is a GCP stack "
        "(GCP GPU quota checks are not implemented yet)\n"
    )


def test_bad_stack_is_config_error_exit_2(aiplat):
    region = {**US_EAST_1, "gpu_pools": [{"name": "l4", "instance_type": "g6.xlarge", "reserved_nodes": 3,
                                          "max_nodes": 2}]}
    code, _, err = aiplat(stack([region]), None)
    assert code == 2
    assert "regions[0].gpu_pools[0]" in err and "reserved_nodes 3 exceeds max_nodes 2" in err


def test_check_region_without_a_stack():
    """The function preflight is built on takes (region, pools) and plain boto3 clients."""
    pools = [preflight.PoolSpec("a", "g6e.12xlarge", max_nodes=2, zones=("us-east-2a", "us-east-2b"), path="p[0]"),
             preflight.PoolSpec("b", "g6e.xlarge", max_nodes=3, spot_max_nodes=1, zones=("us-east-2c",), path="p[1]")]
    q = Quotas({"us-east-2": [(G_OD, 200), (G_SPOT, 0)]})
    offerings, quotas = preflight.check_region("us-east-2", pools, boto3.client("ec2", region_name="us-east-2"),
                                               q.clients["us-east-2"])
    q.all_called()
    assert [o.ok for o in offerings] == [True, True]
    assert [(c.market, c.needed_vcpus, c.ok) for c in quotas] == [("on-demand", 2 * 48 + 3 * 4, True),
                                                                  ("spot", 4, False)]


def test_quota_class():
    assert preflight.quota_class("g6e.xlarge") == "G"
    assert preflight.quota_class("p5.48xlarge") == "P"
    with pytest.raises(ValueError, match="no vCPU quota known for 'inf2.xlarge'"):
        preflight.quota_class("inf2.xlarge")
