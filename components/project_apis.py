"""ProjectApis: a fresh GCP project's APIs and service agents, before anything uses them.

A new project has almost no API enabled (``aiplat.catalog.gcp_apis``: of what the platform
uses only Logging, Monitoring, Storage and Service Management are on by default), and the
service agents that KMS grants name do not exist until their API creates them. ``ProjectApis``
(type ``aiplat:project_apis:ProjectApis``, one per stack and project) owns:

- a ``gcp.projects.Service`` per API the stack's resources need, derived from the catalog as
  resources register (``transformation``), never from a hand list: every ``gcp:`` resource in
  the project waits (``depends_on``) for the Services of the APIs ``aiplat.catalog.gcp_apis``
  names for its type; a type the catalog does not know is left alone and reported by the
  deploy analysis (``aiplat check``: rule ``gcp-api-enabled``). ``disable_on_destroy=False``:
  the stack does not own the project; other workloads (and other stacks) use the same APIs, and
  disabling e.g. compute.googleapis.com on ``pulumi destroy`` would break them (pulumi_gcp 10.2.0:
  it "should generally only be true in configurations that manage the organizations.Project
  resource itself"). Service Usage itself (the bootstrap API) cannot be enabled through itself:
  it is on in every new project and is a prerequisite of the deployer.
- the service agents that grants name, created before the grants (a grant to an agent that
  does not exist yet fails): a ``gcp.projects.ServiceIdentity`` for an API's primary agent
  (the Kubernetes Engine Service Agent), plus the role Google grants it when the API creates it
  (an agent created on request gets none); the Cloud Storage agent through the storage API's
  lookup (``gcp.storage.get_project_service_account``; a ServiceIdentity cannot create it),
  whose email then is the grant's member; the Compute Engine agent is created by enabling
  compute.googleapis.com, so its grants wait for that Service. The ServiceIdentity resource is
  in the standard provider: pulumi-gcp is built from terraform-provider-google-beta.

``transformation`` is a legacy (SDK-side) resource transformation: it runs in the program, so
it behaves the same under ``pulumi up`` and under the recording engine of ``aiplat check``.
``AiPlatform`` installs it for everything below itself on GCP; a program composing the
components itself passes ``ResourceOptions(transformations=[apis.transformation])``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from aiplat._base import AiplatComponent
from aiplat.catalog import gcp_apis as catalog


@dataclass(frozen=True)
class ProjectApisArgs:
    project: str
    """The GCP project id the stack's resources live in. Required."""


class ProjectApis(AiplatComponent):
    """The project's enabled APIs and service agents. Type ``aiplat:project_apis:ProjectApis``.

    ``services`` (API -> its ``gcp.projects.Service``), ``identities`` (API -> its
    ``gcp.projects.ServiceIdentity``): what was needed so far (they grow as resources register).
    """

    def __init__(self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiplat:project_apis:ProjectApis", name, None, opts)
        self._name, self._in = name, args
        self.project = args.project
        self.services: dict[str, gcp.projects.Service] = {}
        self.identities: dict[str, gcp.projects.ServiceIdentity] = {}
        self._agent_ready: dict[str, list[pulumi.Resource]] = {}
        self._storage_agent: pulumi.Output[str] | None = None

    def finish(self) -> None:
        """Register the outputs once the stack's resources are declared."""
        self.register_outputs({"services": sorted(self.services)})

    # -- what a resource waits for ---------------------------------------------------------------
    def service(self, api: str) -> gcp.projects.Service:
        """The Service enabling ``api`` in the project (created on first use)."""
        if api not in self.services:
            self.services[api] = gcp.projects.Service(
                f"{self._name}-{api.removesuffix('.googleapis.com')}",
                project=self.project,
                service=api,
                disable_on_destroy=False,  # module docstring: the project is not the stack's
                opts=self._opts(),
            )
        return self.services[api]

    def agent(self, api: str, created_by: str) -> list[pulumi.Resource]:
        """What a grant naming ``api``'s service agent must wait for (the agent exists after it)."""
        if api in self._agent_ready:
            return list(self._agent_ready[api])
        ready: list[pulumi.Resource] = [self.service(api)]
        if created_by == "identity":
            identity = gcp.projects.ServiceIdentity(
                f"{self._name}-{api.removesuffix('.googleapis.com')}-agent",
                project=self.project, service=api, opts=self._opts(depends_on=[self.service(api)]))
            self.identities[api] = identity
            ready.append(identity)
            self._agent_ready[api] = list(ready)  # the role grant below names this agent too
            role = next((a.role for _, a in _agents() if a.api == api), None)
            if role:
                project = gcp.organizations.get_project(project_id=self.project)
                ready.append(gcp.projects.IAMMember(
                    f"{self._name}-{api.removesuffix('.googleapis.com')}-agent-role",
                    project=self.project, role=role,
                    member=f"serviceAccount:{catalog.agent_email(project.number, api)}",
                    opts=self._opts(depends_on=[identity, *(self.service(a) for a in
                                                            catalog.to_enable(_PROJECT_IAM_TYPE) or ())])))
        self._agent_ready[api] = ready
        return list(ready)

    def storage_agent_member(self) -> pulumi.Output[str]:
        """``serviceAccount:<the Cloud Storage agent>``, from the lookup that creates it."""
        if self._storage_agent is None:
            account = gcp.storage.get_project_service_account_output(
                project=self.project,
                opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[self.service("storage.googleapis.com")]))
            self._storage_agent = account.email_address.apply(lambda e: f"serviceAccount:{e}")
        return self._storage_agent

    # -- the transformation -----------------------------------------------------------------------
    def transformation(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        """Every ``gcp:`` resource of the project waits for its APIs and for the agents it grants to."""
        t = args.type_
        if not t.startswith("gcp:") or t == catalog.SERVICE_TYPE or args.resource is self:
            return None
        if args.opts.parent is self:
            return None  # our own children name their prerequisites themselves
        project = args.props.get("project")
        if isinstance(project, str) and project != self.project:
            return None  # another project's APIs are not this stack's to enable
        apis = catalog.to_enable(t)
        if apis is None:
            return None  # unknown type: the deploy analysis reports it (fail closed)
        needs: list[pulumi.Resource] = [self.service(a) for a in apis]
        if t == catalog.IDENTITY_TYPE and isinstance(args.props.get("service"), str):
            needs.append(self.service(args.props["service"]))
        props = args.props
        member = props.get("member")
        found = catalog.agent_of(member) if isinstance(member, str) else None
        if found is not None:
            _, agent = found
            needs += self.agent(agent.api, agent.created_by)
            if agent.created_by == "lookup":
                props = {**props, "member": self.storage_agent_member()}
        if not needs:
            return None
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=needs))
        return pulumi.ResourceTransformationResult(props, opts)


_PROJECT_IAM_TYPE = "gcp:projects/iAMMember:IAMMember"


def _agents():
    return catalog._data().agents.items()
