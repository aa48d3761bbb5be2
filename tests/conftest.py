"""Fixtures shared by every test: bundled samples, a tiny model with the real labels, fake AWS."""

from __future__ import annotations

import csv
import runpy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

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
    """A resource the program registered, with its inputs as Pulumi sent them (camelCase)."""

    type: str
    name: str
    inputs: dict[str, Any]
    provider: str


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource and invents the outputs AWS would (ARNs, names, URLs)."""

    account = "123456789012"

    def __init__(self, region: str) -> None:
        self.region = region
        self.resources: list[Recorded] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs), args.provider or ""))
        outputs = dict(args.inputs)
        name = args.name
        service = args.typ.split(":")[1].split("/")[0]
        if args.typ == "aws:s3/bucket:Bucket":
            outputs |= {"bucket": f"{name}-bucket", "arn": f"arn:aws:s3:::{name}-bucket"}
        elif args.typ == "aws:sqs/queue:Queue":
            outputs |= {
                "name": name,
                "arn": f"arn:aws:sqs:{self.region}:{self.account}:{name}",
                "url": f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}",
            }
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            group = f"/aws/lambda/dermascan-{name}"
            outputs |= {
                "name": group,
                "arn": f"arn:aws:logs:{self.region}:{self.account}:log-group:{group}",
            }
        elif args.typ == "aws:kms/key:Key":
            outputs |= {
                "keyId": f"{name}-id",
                "arn": f"arn:aws:kms:{self.region}:{self.account}:key/{name}",
            }
        else:
            outputs.setdefault("name", name)
            outputs.setdefault("arn", f"arn:aws:{service}:{self.region}:{self.account}:{name}")
        return f"{name}-id", outputs

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

    def of_type(self, type_token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(found) == 1, (
            f"expected one {type_token} {name or ''}, found {[r.name for r in found]}"
        )
        return found[0]


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
    pulumi.runtime.set_mocks(mocks, project="dermascan", stack="test", preview=preview)
    pulumi.runtime.set_all_config(settings)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")

    program()
    return mocks


STACK_CONFIG = {"aws:region": "eu-west-1", "dermascan:costCenter": "dermatology"}
