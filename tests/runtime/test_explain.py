"""runtime.explain: the occlusion map is right, not just present, and renders as an overlay."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from runtime.explain import (
    ExplanationError,
    OcclusionMap,
    heatmap_png,
    masked_inputs,
    occlusion_map,
    overlay,
)
from runtime.images import prepare
from tests.fakes import QuadrantClassifier, quadrant_scores, two_lesions


@pytest.fixture(scope="module")
def model_input(sample_paths: dict[str, Path]) -> bytes:
    """The prepared melanoma sample: a dark lesion on lighter skin, 224x224."""
    return prepare(sample_paths["mel"].read_bytes()).jpeg


def test_each_masked_input_greys_one_region_and_keeps_the_rest(model_input: bytes) -> None:
    masked = masked_inputs(model_input, grid=7)
    assert len(masked) == 50  # the input encoded again, then 49 masked copies
    with Image.open(io.BytesIO(masked[1 + 8])) as image:  # row 1, column 1: pixels 32-63
        pixels = image.convert("RGB")
        grey = pixels.getpixel((47, 47))
        assert isinstance(grey, tuple)
        assert all(abs(v - 128) <= 3 for v in grey)
        with Image.open(io.BytesIO(model_input)) as original:
            assert pixels.getpixel((200, 200)) == original.convert("RGB").getpixel((200, 200))


def test_the_hottest_regions_lie_where_the_model_looks() -> None:
    model_input = two_lesions()
    classifier = QuadrantClassifier()
    occlusion = occlusion_map(model_input, classifier.classify_many, grid=7)
    assert classifier.batches == [50]  # one batch: the input and its 49 masked copies
    whole = quadrant_scores(model_input)
    malignant = whole["akiec"] + whole["bcc"] + whole["mel"]
    assert occlusion.baseline == pytest.approx(malignant, abs=1e-3)  # encoded once more
    # The quadrant is pixels 0-111: regions 0-3 in each direction touch it, the others not.
    mattered = [(r, c) for r in range(7) for c in range(7) if abs(occlusion.drops[r][c]) > 1e-9]
    assert mattered
    assert all(r <= 3 and c <= 3 for r, c in mattered), mattered
    outside = [occlusion.drops[r][c] for r in range(7) for c in range(7) if r >= 4 or c >= 4]
    assert outside == pytest.approx([0.0] * len(outside), abs=1e-9)
    # The lesion in the quadrant is what the score rests on: rows 1-3, columns 0-1 (a map
    # with rows and columns swapped would put it in rows 0-1, columns 1-3).
    for row, col in occlusion.hottest(2):
        assert 1 <= row <= 3, (row, col)
        assert col <= 1, (row, col)
    assert occlusion.drops[2][0] > 0.01


def test_a_class_can_be_explained_instead_of_the_malignant_total(model_input: bytes) -> None:
    classifier = QuadrantClassifier()
    nevus = occlusion_map(model_input, classifier.classify_many, target="nv", grid=7)
    melanoma = occlusion_map(model_input, classifier.classify_many, target="mel", grid=7)
    # nv takes what melanoma loses: the two maps are opposite in sign.
    assert nevus.drops[0][0] == pytest.approx(-melanoma.drops[0][0] / 6)
    with pytest.raises(ExplanationError, match="not a class"):
        occlusion_map(model_input, classifier.classify_many, target="cancer")


def test_a_map_survives_its_stored_form(model_input: bytes) -> None:
    occlusion = occlusion_map(model_input, QuadrantClassifier().classify_many, grid=4)
    assert OcclusionMap.from_json(occlusion.to_json()) == occlusion
    with pytest.raises(ExplanationError):
        OcclusionMap.from_json(b'{"version": 99}')
    with pytest.raises(ExplanationError):
        OcclusionMap.from_json(b"not json")


def test_the_heat_map_is_opaque_where_masking_mattered_and_clear_elsewhere(
    model_input: bytes,
) -> None:
    occlusion = occlusion_map(model_input, QuadrantClassifier().classify_many, grid=7)
    row, col = occlusion.hottest(1)[0]
    with Image.open(io.BytesIO(heatmap_png(occlusion))) as heat:
        alpha = heat.getchannel("A")
        assert alpha.getpixel((col * 32 + 16, row * 32 + 16)) == 255
        assert alpha.getpixel((6 * 32 + 16, 6 * 32 + 16)) == 0
    shown = overlay(model_input, heatmap_png(occlusion), 0.0)
    with Image.open(io.BytesIO(shown)) as plain, Image.open(io.BytesIO(model_input)) as original:
        assert plain.getpixel((10, 10)) == original.convert("RGB").getpixel((10, 10))
    with pytest.raises(ExplanationError, match="opacity"):
        overlay(model_input, heatmap_png(occlusion), 1.5)
