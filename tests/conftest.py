"""Fixtures shared by every test: bundled samples, a tiny model with the real labels, fake AWS."""

from __future__ import annotations

import csv
import dataclasses
import runpy
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.mocks import MockMonitor

from bench.models import REAL_ID2LABEL, random_vit

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "ham10000"

__all__ = ["REAL_ID2LABEL"]  # the real model's labels, for the tests that check mapping


@pytest.fixture(scope="session")
def sample_paths() -> dict[str, Path]:
    """The bundled HAM10000 samples by their true class code."""
    with (SAMPLES / "labels.csv").open(newline="") as file:
        return {row["label"]: SAMPLES / row["file"] for row in csv.DictReader(file)}


@pytest.fixture(scope="session")
def sample_jpeg(sample_paths: dict[str, Path]) -> bytes:
    """A real 600x450 dermatoscopic JPEG (a melanoma)."""
    return sample_paths["mel"].read_bytes()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random ViT with the real model's labels and preprocessing, saved like the real one.

    It loads through the same code path as the Hub model (``transformers.pipeline``), in
    milliseconds and offline.
    """
    return random_vit(tmp_path_factory.mktemp("tiny-vit"), "tiny")


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so no test can reach a real AWS account."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def mocked_aws(aws_credentials: None) -> Iterator[None]:
    """Every boto3 call inside the test goes to moto's in-process AWS."""
    from moto import mock_aws

    with mock_aws():
        yield


# --- Pulumi: one recording Mocks for every infrastructure test ---------------------------------


@dataclass(frozen=True)
class Recorded:
    """A resource the program registered: its inputs as Pulumi sent them (camelCase), what the
    mocks answered (its id and outputs, with physical names), and what the engine was told
    about it (its URN, the URNs it depends on, whether it is retained on delete)."""

    type: str
    name: str
    inputs: dict[str, Any]
    provider: str
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    urn: str = ""
    dependencies: tuple[str, ...] = ()
    retain_on_delete: bool | None = None

    def depends_on(self, other: Recorded) -> bool:
        """Whether the engine creates ``other`` before this resource."""
        return other.urn in self.dependencies


def autoname(logical: str) -> str:
    """A physical name as Pulumi's autonaming makes it: the logical name, a dash, 7 random hex
    digits. Random on every run, so a test can only know it by reading the resource."""
    return f"{logical}-{secrets.token_hex(4)[:7]}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource and answers like AWS behind Pulumi's autonaming would.

    Physical names are the explicit input when there is one (``name``, ``bucket``,
    ``layerName``...), a random completion of a ``namePrefix``, or else the logical name plus a
    random suffix; ARNs, URLs and ids are built from those physical names in AWS's formats. A
    value a test expects must therefore come from the resource it belongs to: a hard-coded
    logical name never matches.
    """

    account = "123456789012"

    def __init__(self, region: str) -> None:
        self.region = region
        self.resources: list[Recorded] = []
        self.exports: dict[str, Any] = {}
        """What the program exported (``pulumi.export``), resolved."""
        self._provider_regions: dict[str, str] = {}
        self._lock = threading.Lock()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id, outputs = "", dict[str, Any]()  # a component: nothing in the cloud
        if args.custom or args.typ.startswith("pulumi:providers:"):
            resource_id, outputs = self._answer(args)
        with self._lock:
            self.resources.append(
                Recorded(
                    args.typ,
                    args.name,
                    dict(args.inputs),
                    args.provider or "",
                    resource_id,
                    dict(outputs),
                )
            )
        return resource_id, outputs

    def _answer(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        typ = args.typ
        if typ.startswith("pulumi:providers:"):
            self._provider_regions[args.name] = inputs.get("region", self.region)
            return f"{args.name}-{uuid.uuid4()}", inputs
        # A provider reference is "<urn>::<id>", and the URN ends with the provider's name.
        provider_name = (args.provider or "").rsplit("::", 1)[0].rsplit("::", 1)[-1]
        region = self._provider_regions.get(provider_name, self.region)
        account = self.account

        def physical(explicit: str = "name", prefix: str = "namePrefix") -> str:
            if inputs.get(explicit):
                return str(inputs[explicit])
            if inputs.get(prefix):
                return f"{inputs[prefix]}{secrets.token_hex(13)}"
            return autoname(args.name)

        out = dict(inputs)
        if typ == "aws:s3/bucket:Bucket":
            bucket = physical("bucket", "bucketPrefix")
            out |= {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "region": region}
            return bucket, out
        if typ.startswith("aws:s3/bucket") and "bucket" in inputs:
            return str(inputs["bucket"]), out  # a bucket's companion is known by its bucket
        if typ == "aws:sqs/queue:Queue":
            name = physical()
            url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
            out |= {"name": name, "arn": f"arn:aws:sqs:{region}:{account}:{name}", "url": url}
            return url, out
        if typ in (
            "aws:sqs/queuePolicy:QueuePolicy",
            "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
        ):
            return str(inputs["queueUrl"]), out
        if typ == "aws:kms/key:Key":
            key_id = str(uuid.uuid4())
            return key_id, out | {
                "keyId": key_id,
                "arn": f"arn:aws:kms:{region}:{account}:key/{key_id}",
            }
        if typ == "aws:kms/alias:Alias":
            name = physical()
            return name, out | {"name": name, "arn": f"arn:aws:kms:{region}:{account}:{name}"}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            name = physical()
            arn = f"arn:aws:logs:{region}:{account}:log-group:{name}"
            return name, out | {"name": name, "arn": arn}
        if typ == "aws:iam/role:Role":
            name = physical()
            return name, out | {"name": name, "arn": f"arn:aws:iam::{account}:role/{name}"}
        if typ == "aws:iam/rolePolicy:RolePolicy":
            name = physical()
            return f"{inputs.get('role')}:{name}", out | {"name": name}
        if typ == "aws:iam/policy:Policy":
            name = physical()
            arn = f"arn:aws:iam::{account}:policy/{name}"
            return arn, out | {"name": name, "arn": arn, "policyId": uuid.uuid4().hex.upper()}
        if typ == "aws:lambda/function:Function":
            name = physical()
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
            return name, out | {"name": name, "arn": arn, "qualifiedArn": f"{arn}:$LATEST"}
        if typ == "aws:lambda/layerVersion:LayerVersion":
            layer = f"arn:aws:lambda:{region}:{account}:layer:{inputs['layerName']}"
            return f"{layer}:1", out | {"layerArn": layer, "arn": f"{layer}:1", "version": "1"}
        if typ == "aws:lambda/eventSourceMapping:EventSourceMapping":
            uid = str(uuid.uuid4())
            arn = f"arn:aws:lambda:{region}:{account}:event-source-mapping:{uid}"
            return uid, out | {"uuid": uid, "arn": arn}
        if typ.startswith("aws:sagemaker/"):
            name = physical()
            kind = {
                "aws:sagemaker/model:Model": "model",
                "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "endpoint-config",
                "aws:sagemaker/endpoint:Endpoint": "endpoint",
            }[typ]
            # SageMaker lower-cases names in its ARNs.
            arn = f"arn:aws:sagemaker:{region}:{account}:{kind}/{name.lower()}"
            return name, out | {"name": name, "arn": arn}
        if typ == "aws:appautoscaling/target:Target":
            target = f"scalable-target/{uuid.uuid4().hex}"
            arn = f"arn:aws:application-autoscaling:{region}:{account}:{target}"
            return str(inputs["resourceId"]), out | {"arn": arn}
        if typ == "aws:appautoscaling/policy:Policy":
            name = physical()
            scaled = f"resource/sagemaker/{inputs.get('resourceId')}"
            arn = (
                f"arn:aws:autoscaling:{region}:{account}:scalingPolicy:{uuid.uuid4()}:"
                f"{scaled}:policyName/{name}"
            )
            return arn, out | {"name": name, "arn": arn}
        if typ == "aws:sns/topic:Topic":
            name = physical()
            arn = f"arn:aws:sns:{region}:{account}:{name}"
            return arn, out | {"name": name, "arn": arn}
        if typ == "aws:sns/topicPolicy:TopicPolicy":
            return str(inputs["arn"]), out
        if typ == "aws:sns/topicSubscription:TopicSubscription":
            arn = f"{inputs['topic']}:{uuid.uuid4()}"
            return arn, out | {"arn": arn}
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            name = physical()
            return name, out | {
                "name": name,
                "arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
            }
        if typ == "aws:cloudwatch/dashboard:Dashboard":
            name = physical("dashboardName")
            arn = f"arn:aws:cloudwatch::{account}:dashboard/{name}"
            return name, out | {"dashboardName": name, "dashboardArn": arn}
        if typ == "aws:budgets/budget:Budget":
            name = physical()
            return f"{account}:{name}", out | {
                "name": name,
                "arn": f"arn:aws:budgets::{account}:budget/{name}",
            }
        service = typ.split(":")[1].split("/")[0]
        name = physical()
        return name, out | {"name": name, "arn": f"arn:aws:{service}:{region}:{account}:{name}"}

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # A dict and a list of failures: never (dict, None), which Pulumi rejects.
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            identity = {"accountId": self.account, "userId": "ci", "id": self.account}
            return identity | {"arn": f"arn:aws:iam::{self.account}:user/ci"}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        return {}, []

    def annotate(self, typ: str, name: str, **engine: Any) -> None:
        """Add what the engine learnt of a resource (URN, dependencies, options) to its record."""
        with self._lock:
            for i, recorded in enumerate(self.resources):
                if (recorded.type, recorded.name) == (typ, name) and not recorded.urn:
                    self.resources[i] = dataclasses.replace(recorded, **engine)
                    return

    def of_type(self, type_token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(found) == 1, (
            f"expected one {type_token} {name or ''}, found {[r.name for r in found]}"
        )
        return found[0]

    def by_urn(self, urn: str) -> Recorded:
        (found,) = [r for r in self.resources if r.urn == urn]
        return found


class RecordingMonitor(MockMonitor):
    """The mock monitor, telling the mocks what each registration asked of the engine: its
    URN, its dependencies and its ``retainOnDelete`` option (which ``MockResourceArgs`` lacks)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802  # the gRPC method's name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.recording.annotate(
                request.type,
                request.name,
                urn=response.urn,
                dependencies=tuple(request.dependencies),
                retain_on_delete=request.retainOnDelete
                if request.HasField("retainOnDelete")
                else None,
            )
        return response


def install(mocks: RecordingMocks, *, preview: bool = False) -> None:
    """Make ``mocks`` (with its recording monitor) the Pulumi runtime of this test."""
    pulumi.runtime.set_mocks(
        mocks, project="dermascan", stack="test", preview=preview, monitor=RecordingMonitor(mocks)
    )


def project_config_defaults() -> dict[str, str]:
    """The defaults Pulumi.yaml declares, as the Pulumi CLI would apply them."""
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    return {
        f"dermascan:{key}": str(spec["default"]).lower()
        if isinstance(spec["default"], bool)
        else str(spec["default"])
        for key, spec in declared.items()
        if "default" in spec
    }


def run_stack(config: dict[str, str], *, preview: bool = False) -> RecordingMocks:
    """Run __main__.py under Pulumi's mocks with Pulumi.yaml's defaults plus ``config``."""
    settings = {**project_config_defaults(), **config}
    mocks = RecordingMocks(settings.get("aws:region", "eu-west-1"))
    install(mocks, preview=preview)
    pulumi.runtime.set_all_config(settings)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[None]:
        exported: dict[str, Any] = {}
        export = pulumi.export

        def recording(name: str, value: Any) -> None:
            exported[name] = value
            export(name, value)

        pulumi.export = recording  # the mocks' engine never reports a stack's outputs
        try:
            runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
        finally:
            pulumi.export = export
        # Returned, so the test harness waits for the exports to resolve before it ends.
        return pulumi.Output.all(**exported).apply(mocks.exports.update)

    program()
    return mocks


STACK_CONFIG = {"aws:region": "eu-west-1", "dermascan:costCenter": "dermatology"}
