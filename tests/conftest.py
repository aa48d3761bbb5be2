"""Fixtures shared by every test: bundled samples, a tiny model with the real labels, fake AWS."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "ham10000"

# The real model's id2label (Anwarkh1/Skin_Cancer-Image_Classification), including its
# capital N: the tiny model must speak exactly like the real one.
REAL_ID2LABEL = {
    0: "benign_keratosis-like_lesions",
    1: "basal_cell_carcinoma",
    2: "actinic_keratoses",
    3: "vascular_lesions",
    4: "melanocytic_Nevi",
    5: "melanoma",
    6: "dermatofibroma",
}


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
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    directory = tmp_path_factory.mktemp("tiny-vit")
    config = ViTConfig(
        image_size=224,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=REAL_ID2LABEL,
        label2id={label: index for index, label in REAL_ID2LABEL.items()},
    )
    torch.manual_seed(0)
    ViTForImageClassification(config).save_pretrained(directory)
    ViTImageProcessor(
        size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    ).save_pretrained(directory)
    return directory


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
