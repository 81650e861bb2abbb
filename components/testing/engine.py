"""Recording mock engine: run a real Pulumi program offline and keep what it registers.

``run_stack`` runs a program file (a project's ``__main__.py``) or ``run_program`` any
program callable in-process under the Pulumi
SDK's mock runtime, with a monitor that records every registration the way the engine
would see it: type, name, parent, provider reference, protect, dependencies and the
inputs (camelCase keys, secrets wrapped, unknowns as the preview sentinel). No Pulumi
CLI, no cloud account, no network.

The mocks answer like a cloud would at preview time, deterministically: ids and ARNs
derive from the resource name (same config, same graph, byte for byte), and the few
outputs later resources read (EKS endpoint, OIDC issuer, GKE master auth, service
account emails) are filled in. An invoke the mocks do not know is an error, not ``{}``,
so a new data-source call cannot silently produce an empty graph.

Assets are hashed the way the engine hashes them when a resource registers: a file asset
gets ``hash`` = SHA-256 of the file's bytes, its relative ``path`` resolved against the
program's working directory (the engine's ``pwd``: the project directory, or the ``main``
directory when ``Pulumi.yaml`` sets one), a text asset the SHA-256 of its text; a file that
cannot be read fails the registration. So a changed file is a changed input, as in
``pulumi preview``.

The result's ``steps()`` have the shape of ``pulumi preview --json`` steps.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import json
import os
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2

import pulumi
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.settings import _load_monitor_feature_support
from pulumi.runtime.stack import Stack, wait_for_rpcs

from aiplat.errors import AiplatError

PROJECT = "aiplat"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
ACCOUNT_ID = "123456789012"
SECRET = "[secret]"
UNKNOWN = rpc.UNKNOWN
_SIG = rpc._special_sig_key
_ASSET_SIG = rpc._special_asset_sig


@dataclass
class Registration:
    """One resource as the engine saw it at registration."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str  # "<provider urn>::<id>" or ""
    protect: bool
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    struct: struct_pb2.Struct  # the inputs exactly as sent to the engine
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    _dict: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs as ``pulumi preview --json`` prints them."""
        return _plain(self._struct_dict())

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    def revealed_inputs(self) -> dict[str, Any]:
        """Inputs as ``pulumi preview --json --show-secrets`` prints them (secrets in plain)."""
        return _plain(self._struct_dict(), show_secrets=True)

    def _struct_dict(self) -> dict[str, Any]:
        """The struct as a dict, converted once (``_plain`` builds new containers from it, so
        callers never share it)."""
        if self._dict is None:
            self._dict = json_format.MessageToDict(self.struct)
        return self._dict

    def step(self, show_secrets: bool = False) -> dict[str, Any]:
        state = {
            "urn": self.urn,
            "custom": self.custom,
            "type": self.type,
            "inputs": self.revealed_inputs() if show_secrets else self.inputs,
            "parent": self.parent,
            "protect": self.protect,
            "dependencies": self.dependencies,
            "propertyDependencies": self.property_dependencies,
        }
        if self.provider:
            state["provider"] = self.provider
        return {"op": "create", "urn": self.urn, "provider": self.provider, "newState": state}


@dataclass
class Recording:
    stack: str
    resources: list[Registration]

    def ordered(self) -> list[Registration]:
        """Registrations in a deterministic order that a deployment could follow.

        The SDK registers resources concurrently, so arrival order varies from run to
        run. This is a topological order over parents, providers and dependencies, ties
        broken by URN: same config, same document, byte for byte.
        """
        urns = self.by_urn()
        needs: dict[str, set[str]] = {}
        for r in self.resources:
            before = {r.parent, r.provider.rsplit("::", 1)[0] if r.provider else "", *r.dependencies}
            needs[r.urn] = {u for u in before if u in urns and u != r.urn}
        users: dict[str, list[str]] = {u: [] for u in urns}
        for urn, deps in needs.items():
            for d in deps:
                users[d].append(urn)
        ready = [u for u, deps in needs.items() if not deps]
        heapq.heapify(ready)
        out = []
        while ready:
            urn = heapq.heappop(ready)
            out.append(urns[urn])
            for user in users[urn]:
                needs[user].discard(urn)
                if not needs[user]:
                    heapq.heappush(ready, user)
        if len(out) != len(urns):  # a cycle cannot come from a real program; keep everything anyway
            out += sorted((r for r in self.resources if r not in out), key=lambda r: r.urn)
        return out

    def steps(self, show_secrets: bool = False) -> list[dict[str, Any]]:
        """The preview's steps; ``show_secrets``: as ``pulumi preview --json --show-secrets``."""
        return [r.step(show_secrets) for r in self.ordered()]

    def preview_json(self) -> dict[str, Any]:
        """The document ``pulumi preview --json`` would print (the parts we can know)."""
        return {"steps": self.steps(), "changeSummary": {"create": len(self.resources)}}

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}

    def of_type(self, type_: str) -> list[Registration]:
        """Registrations of one type, by URN (arrival order varies from run to run)."""
        return sorted((r for r in self.resources if r.type == type_), key=lambda r: r.urn)

    def provider_of(self, reg: Registration) -> Registration | None:
        """The provider resource a registration uses (explicit, or inherited via parents)."""
        urns = self.by_urn()
        return urns.get(reg.provider.rsplit("::", 1)[0]) if reg.provider else None

    def region_of(self, reg: Registration) -> str | None:
        prov = reg if reg.is_provider else self.provider_of(reg)
        return prov.inputs.get("region") if prov else None


def _project_number(project: str) -> str:
    """A GCP project's number, derived from its id (the same in every invoke that returns it)."""
    return str(int(_h(project, 10), 16) % 10**12).zfill(12)


class _Mocks(pmocks.Mocks):
    """Deterministic stand-ins for what the clouds return."""

    def __init__(self, monitor: "RecordingMonitor"):
        self.monitor = monitor

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        default = self.monitor.default_provider_of(args.typ) if not args.provider else None
        region = self.monitor.provider_region(args.provider or default) or inputs.get("region") or "us-east-1"
        # A name that is itself unknown at preview (e.g. an ACM validation record's) is not an id.
        given = inputs.get("name")
        physical = given if isinstance(given, str) and given else f"{args.name}-{_h(args.name, 7)}"
        rid = _resource_id(args.typ, args.name, physical)
        outputs = {**inputs, **_computed(args.typ, args.name, physical, region, inputs, rid)}
        return rid, outputs

    def call(self, args: pmocks.MockCallArgs):
        if args.token == "gcp:organizations/getProject:getProject":
            project = args.args.get("projectId") or "project"
            return {"projectId": project, "number": _project_number(project), "name": project}
        if args.token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            # the Cloud Storage service agent of the project: service-<project number>@gs-project-accounts
            project = args.args.get("project") or "project"
            email = f"service-{_project_number(project)}@gs-project-accounts.iam.gserviceaccount.com"
            return {"emailAddress": email, "member": f"serviceAccount:{email}", "project": project,
                    "id": email}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/aiplat", "userId": "AIDAAIPLAT"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
        raise NotImplementedError(f"the aiplat mock engine has no answer for invoke {args.token!r}")


# Packages whose resources get the engine's default provider when they name none (the clouds
# and Kubernetes: what the policies place; other packages' providers carry nothing they read).
DEFAULT_PROVIDER_PACKAGES = ("aws", "gcp", "kubernetes")


class RecordingMonitor(pmocks.MockMonitor):
    """A MockMonitor that keeps every registration with its parent, provider and inputs."""

    def __init__(self, working_directory: str | Path | None = None, config: dict[str, Any] | None = None):
        super().__init__(_Mocks(self))
        self.config = dict(config or {})
        self._defaults: dict[str, str] = {}  # package -> the default provider's reference
        self.registrations: list[Registration] = []
        self._providers: dict[str, str] = {}  # provider ref -> region
        # Relative asset paths resolve against the program's working directory, as in the engine.
        self.working_directory = Path(working_directory or os.getcwd())
        # Registrations the engine would refuse (an unreadable asset): raised once the run settled,
        # not inside the SDK's registration machinery.
        self.errors: list[str] = []

    def provider_region(self, ref: str | None) -> str | None:
        return self._providers.get(ref or "")

    def default_provider_of(self, type_: str) -> str | None:
        return self._defaults.get(type_.split(":", 1)[0])

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the Pulumi engine gives a resource: its parent's full qualified type chain
        (``A$B$type``), the root stack left out. The SDK's MockMonitor keeps only the parent's
        last type and includes the stack, which is not what ``pulumi preview`` shows."""
        if parent:
            qualified = parent.split("::")[2]
            if qualified != ROOT_STACK_TYPE:
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([settings.get_stack(), settings.get_project(), type_, name])

    def RegisterResource(self, request):
        package = request.type.split(":", 1)[0]
        default = (self._default_provider(package) if request.custom and not request.provider and
                   package in DEFAULT_PROVIDER_PACKAGES else "")
        response = super().RegisterResource(request)
        struct = struct_pb2.Struct()
        struct.CopyFrom(request.object)
        try:
            for key, value in struct.fields.items():
                _hash_assets(value, key, self.working_directory)
        except _AssetError as exc:
            self.errors.append(f"{request.type} {request.name}: {exc}")
        reg = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            provider=request.provider,
            protect=bool(request.protect),
            dependencies=sorted(request.dependencies),  # a set to the engine; sorted for stable output
            property_dependencies={k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())},
            struct=struct,
            id=response.id,
        )
        if reg.is_provider:
            region = reg.inputs.get("region")
            if region:
                self._providers[f"{reg.urn}::{reg.id}"] = region
        elif default:
            reg.provider = default
        self.registrations.append(reg)
        return response

    def _default_provider(self, package: str) -> str:
        """The engine's default provider of ``package`` for a resource that names none: registered
        once, its inputs the stack config's ``<package>:`` keys (as strings, as the engine passes
        them), so a policy reads its region as it would under ``pulumi preview``."""
        if package not in self._defaults:
            inputs = {k.split(":", 1)[1]: v if isinstance(v, str) else json.dumps(v)
                      for k, v in sorted(self.config.items()) if k.startswith(f"{package}:")}
            struct = struct_pb2.Struct()
            struct.update(inputs)
            type_ = f"pulumi:providers:{package}"
            urn = self.make_urn("", type_, "default")
            rid = _h(urn, 32)
            self.registrations.append(Registration(urn=urn, type=type_, name="default", custom=True, parent="",
                                                   provider="", protect=False, dependencies=[],
                                                   property_dependencies={}, struct=struct, id=rid))
            self._defaults[package] = f"{urn}::{rid}"
            if inputs.get("region"):
                self._providers[self._defaults[package]] = inputs["region"]
        return self._defaults[package]


def run_program(
    program: Callable[[], Any],
    stack: str,
    config: dict[str, Any],
    project: str = PROJECT,
    secret_keys: list[str] | None = None,
    working_directory: str | Path | None = None,
) -> Recording:
    """Run a Pulumi program callable under the recording monitor; return what it registered.

    ``config`` maps namespaced keys (``aiplat:platform``) to values; structured values are
    passed as JSON like the Pulumi CLI does. ``secret_keys`` names the keys that are
    secrets (``pulumi config set --secret``), as the CLI tells the runtime. The runtime's
    global state is reset before and after, so runs do not leak into each other.
    ``working_directory`` is where relative asset paths resolve (the engine's ``pwd``);
    default the current directory.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = RecordingMonitor(working_directory, config)
    _reset(project, stack)
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}, list(secret_keys or [])
    )
    settings.configure(
        pmocks.MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=pmocks.MockEngine(None),
            project=project,
            stack=stack,
            dry_run=True,
            organization="organization",
            callbacks=None,
        )
    )
    try:
        loop.run_until_complete(_run_in_stack(program))
    finally:
        _reset(project, stack)
        pulumi.runtime.set_all_config({}, [])
        loop.close()
        asyncio.set_event_loop(None)
    if monitor.errors:
        raise RuntimeError("; ".join(monitor.errors))
    return Recording(stack, monitor.registrations)


def run_stack(stack: str, config: dict[str, Any], program_path: str | Path, project: str = PROJECT,
              secret_keys: list[str] | None = None) -> Recording:
    """Run a Pulumi program file for a stack, as ``pulumi preview`` would run it.

    Like the Python language host: the program's directory is the working directory and
    the first entry of ``sys.path`` (so it imports its own modules, e.g. a ``components``
    package of its own), and ``__name__`` is ``"__main__"``. Both are restored afterwards.
    ``project`` is the project's name (``Pulumi.yaml`` ``name``); it is part of every URN.
    """
    path = Path(program_path).resolve()

    def program() -> None:
        cwd, saved_path = os.getcwd(), list(sys.path)
        os.chdir(path.parent)
        sys.path.insert(0, str(path.parent))
        try:
            runpy.run_path(str(path), run_name="__main__")
        except pulumi.RunError as exc:
            # A program reports a library error to the language host as a RunError (its message,
            # no traceback); hand back the library error itself, with its problems.
            if isinstance(exc.__cause__, AiplatError):
                raise exc.__cause__ from None
            raise
        finally:
            os.chdir(cwd)
            sys.path[:] = saved_path

    return run_program(program, stack, config, project=project, secret_keys=secret_keys,
                       working_directory=path.parent)


async def _run_in_stack(program: Callable[[], Any]) -> None:
    """``pulumi.runtime.run_in_stack`` with a linear settle loop.

    The SDK's ``wait_for_rpcs`` re-waits on *every* pending output each time one
    completes (``asyncio.wait(..., FIRST_COMPLETED)`` in a loop), which is quadratic in
    the number of outputs: most of a large stack's offline run. Waiting for the same set
    with ``gather`` is linear and ends in the same state: no RPC and no output pending.
    """
    await _load_monitor_feature_support()
    root = Stack()
    error: BaseException | None = None
    try:
        program()
    except BaseException as exc:  # noqa: BLE001 - re-raised once outstanding work settled
        error = exc
    finally:
        root._finish()
    await _settle()
    if error is not None:
        raise error


async def _settle() -> None:
    rpcs = settings._get_rpc_manager()
    while True:
        await wait_for_rpcs(await_all_outstanding_tasks=False)
        with settings.SETTINGS.lock:
            pending = list(settings.SETTINGS.outputs)
            settings.SETTINGS.outputs.clear()
        if pending:
            await asyncio.gather(*pending)
        elif not rpcs.rpcs:
            return


def _reset(project: str, stack: str) -> None:
    settings.reset_options(project=project, stack=stack, preview=True)
    settings.SETTINGS.outputs.clear()


# -- deterministic cloud answers ----------------------------------------------------
def _h(value: str, n: int) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:n]


def _resource_id(type_: str, name: str, physical: str) -> str:
    if type_.startswith("pulumi:providers:"):
        return f"{_h(name, 8)}-{_h(name + 'p', 4)}-{_h(name + 'q', 4)}"
    prefixes = {
        "aws:ec2/vpc:Vpc": "vpc-",
        "aws:ec2/subnet:Subnet": "subnet-",
        "aws:ec2/internetGateway:InternetGateway": "igw-",
        "aws:ec2/natGateway:NatGateway": "nat-",
        "aws:ec2/eip:Eip": "eipalloc-",
        "aws:ec2/routeTable:RouteTable": "rtb-",
        "aws:ec2/securityGroup:SecurityGroup": "sg-",
        "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
        "aws:ec2/capacityReservation:CapacityReservation": "cr-",
        "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    }
    if type_ in prefixes:
        return prefixes[type_] + _h(name, 17)
    return physical


def _computed(type_: str, name: str, physical: str, region: str, inputs: dict, rid: str) -> dict[str, Any]:
    """Outputs a cloud computes that later resources in our programs read."""
    if type_.startswith("aws:"):
        service = type_.split(":")[1].split("/")[0]
        out: dict[str, Any] = {
            "arn": f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{type_.rsplit(':', 1)[-1].lower()}/{physical}",
            "name": physical,
        }
        if type_ == "aws:eks/cluster:Cluster":
            host = _h(physical, 32).upper()
            out.update(
                endpoint=f"https://{host}.gr7.{region}.eks.amazonaws.com",
                certificateAuthority={"data": base64.b64encode(f"ca-{physical}".encode()).decode()},
                identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{host}"}]}],
                vpcConfig={**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": "sg-" + _h(physical, 17)},
                arn=f"arn:aws:eks:{region}:{ACCOUNT_ID}:cluster/{physical}",
            )
        elif type_ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            url = str(inputs.get("url", "")).removeprefix("https://")
            out["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url}"
        elif type_ == "aws:iam/role:Role":
            out["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}"
        elif type_ == "aws:kms/key:Key":
            kid = f"{_h(name, 8)}-{_h(name, 12)[8:12]}-{_h(name + 'k', 4)}-{_h(name + 'l', 4)}-{_h(name + 'm', 12)}"
            out.update(keyId=kid, arn=f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{kid}")
        elif type_ == "aws:s3/bucket:Bucket" or type_ == "aws:s3/bucketV2:BucketV2":
            bucket = inputs.get("bucket") or physical
            out.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}", region=region)
        return out
    if type_.startswith("gcp:"):
        project = inputs.get("project", "project")
        out = {"name": physical, "selfLink": f"https://www.googleapis.com/compute/v1/projects/{project}/{physical}"}
        if type_ == "gcp:container/cluster:Cluster":
            ip = int(_h(physical, 6), 16)
            out.update(
                endpoint=f"34.{ip % 250}.{(ip >> 8) % 250}.{(ip >> 16) % 250}",
                masterAuth={"clusterCaCertificate": base64.b64encode(f"ca-{physical}".encode()).decode()},
                id=f"projects/{project}/locations/{inputs.get('location')}/clusters/{physical}",
            )
        elif type_ == "gcp:serviceaccount/account:Account":
            out["email"] = f"{inputs.get('accountId')}@{project}.iam.gserviceaccount.com"
        elif type_ == "gcp:projects/serviceIdentity:ServiceIdentity":
            from aiplat.catalog.gcp_apis import agent_email

            email = agent_email(_project_number(project), str(inputs.get("service", "")))
            if email:  # the primary agent's email, as generateServiceIdentity returns it
                out.update(email=email, member=f"serviceAccount:{email}")
        return out
    return {}


class _AssetError(Exception):
    pass


def _hash_assets(value: struct_pb2.Value, key: str, working_directory: Path) -> None:
    """Add the engine's ``hash`` to every asset inside ``value`` (module docstring)."""
    kind = value.WhichOneof("kind")
    if kind == "list_value":
        for item in value.list_value.values:
            _hash_assets(item, key, working_directory)
        return
    if kind != "struct_value":
        return
    fields = value.struct_value.fields
    if _SIG in fields and fields[_SIG].string_value == _ASSET_SIG:
        if "hash" in fields:
            return
        if "path" in fields:
            path = Path(fields["path"].string_value)
            try:
                data = (path if path.is_absolute() else working_directory / path).read_bytes()
            except OSError as exc:
                raise _AssetError(f"failed to compute asset hash for {key!r}: failed to open asset file "
                                  f"{str(path)!r}: {exc.strerror}") from None
            fields["hash"].string_value = hashlib.sha256(data).hexdigest()
        elif "text" in fields:
            fields["hash"].string_value = hashlib.sha256(fields["text"].string_value.encode()).hexdigest()
        return
    for k, v in fields.items():
        _hash_assets(v, key, working_directory)


def _plain(value: Any, show_secrets: bool = False) -> Any:
    """Struct-as-dict -> preview JSON: secrets shown as '[secret]' (or their value with
    ``show_secrets``), integral floats as ints."""
    if isinstance(value, dict):
        if value.get(_SIG) == rpc._special_secret_sig:
            return _plain(value.get("value"), show_secrets) if show_secrets else SECRET
        return {k: _plain(v, show_secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, show_secrets) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
