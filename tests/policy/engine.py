"""The policy pack as the Pulumi engine runs it, on what the program registers under mocks.

The Pulumi CLI cannot run here, so these helpers stand in for it: a mock monitor records each
resource registration as the SDK sends it (inputs with the SDK's unknown sentinel, property
dependencies), and the pack's own analyzer (the gRPC servicer ``pulumi_policy`` serves to the
engine) is called with the requests the engine would build: ``Analyze`` per resource on its
inputs, ``AnalyzeStack`` once on every resource's outputs. On a first preview nothing exists,
so ``FirstPreviewMocks`` returns no outputs: every ARN, id and generated name is unknown.
"""

from __future__ import annotations

import runpy
from dataclasses import dataclass
from typing import Any

import pulumi
from google.protobuf import struct_pb2  # type: ignore[import-untyped]  # no stubs installed
from pulumi.runtime import proto, rpc
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer  # what the engine talks to

from policy.pack import POLICIES
from tests.conftest import REPO, RecordingMocks, project_config_defaults

PACK = "dermascan"


@dataclass(frozen=True)
class Registration:
    """One RegisterResource call: what the engine learns of a resource, and what it returned."""

    type: str
    name: str
    urn: str
    parent: str
    inputs: struct_pb2.Struct
    outputs: struct_pb2.Struct
    property_dependencies: dict[str, list[str]]


@dataclass(frozen=True)
class Diagnostic:
    """One line the pack reports: a violation (mandatory) or an advisory."""

    policy: str
    message: str
    mandatory: bool
    urn: str


class RecordingMonitor(MockMonitor):
    """The mock monitor, keeping every registration request and the URN it answered."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802  # the gRPC method's name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                inputs=request.object,
                outputs=response.object,
                property_dependencies={
                    prop: list(deps.urns) for prop, deps in request.propertyDependencies.items()
                },
            )
        )
        return response


class FirstPreviewMocks(RecordingMocks):
    """A first preview: the provider knows no output yet, so the SDK marks them all unknown."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        super().new_resource(args)  # records the inputs
        return "", {}


def register(config: dict[str, str], *, preview: bool) -> list[Registration]:
    """Runs ``__main__.py`` under mocks and returns what it registered, in order.

    Args:
        config: Stack settings on top of Pulumi.yaml's defaults.
        preview: A first preview (nothing known) rather than an update (mocks invent outputs).

    Returns:
        Every resource registration, component and provider resources included.
    """
    settings = {**project_config_defaults(), **config}
    region = settings.get("aws:region", "eu-west-1")
    mocks = FirstPreviewMocks(region) if preview else RecordingMocks(region)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks, project="dermascan", stack="test", preview=preview, monitor=monitor
    )
    pulumi.runtime.set_all_config(settings)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")

    program()
    return monitor.registrations


def analyze(registrations: list[Registration], *, preview: bool) -> list[Diagnostic]:
    """The pack's diagnostics for these registrations, as the engine would collect them.

    Args:
        registrations: What the program registered (``register``).
        preview: Whether this is a preview: the stack policies then see the inputs (a new
            resource's outputs are its inputs plus unknowns); on an update, the final outputs.

    Returns:
        Every violation and advisory line, resource policies first.
    """
    analyzer = _PolicyAnalyzerServicer(PACK, "0.0.1", POLICIES, EnforcementLevel.MANDATORY)
    # The servicer is untyped (pulumi_policy's gRPC layer): its responses are AnalyzeResponse.
    responses: list[Any] = [
        analyzer.Analyze(  # type: ignore[no-untyped-call]
            proto.AnalyzeRequest(type=r.type, properties=r.inputs, urn=r.urn, name=r.name), None
        )
        for r in registrations
    ]
    stack = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=r.type,
                properties=r.inputs if preview else r.outputs,
                urn=r.urn,
                name=r.name,
                parent=r.parent,
                propertyDependencies={
                    prop: proto.AnalyzerPropertyDependencies(urns=urns)
                    for prop, urns in r.property_dependencies.items()
                },
            )
            for r in registrations
        ]
    )
    responses.append(analyzer.AnalyzeStack(stack, None))  # type: ignore[no-untyped-call]
    return [
        Diagnostic(
            policy=d.policyName,
            message=d.message.split("\n", 1)[-1],  # the policy's description comes first
            mandatory=d.enforcementLevel == proto.MANDATORY,
            urn=d.urn,
        )
        for response in responses
        for d in response.diagnostics
    ]


UNKNOWN = rpc.UNKNOWN
"""How the SDK and the engine send a value that is unknown during preview."""


def registration(
    type_token: str,
    name: str,
    props: dict[str, Any],
    depends_on: dict[str, list[Registration]] | None = None,
) -> Registration:
    """A hand-built resource, registered as the program would (inputs and outputs alike).

    Args:
        type_token: The resource type (``aws:s3/bucket:Bucket``).
        name: Its logical name.
        props: Its properties with camelCase wire names; ``UNKNOWN`` where preview cannot know.
        depends_on: Property name -> the resources its value was built from.

    Returns:
        The registration ``analyze`` takes.
    """
    struct = struct_pb2.Struct()
    struct.update(props)
    return Registration(
        type=type_token,
        name=name,
        urn=f"urn:pulumi:test::dermascan::{type_token}::{name}",
        parent="",
        inputs=struct,
        outputs=struct,
        property_dependencies={
            prop: [d.urn for d in deps] for prop, deps in (depends_on or {}).items()
        },
    )
