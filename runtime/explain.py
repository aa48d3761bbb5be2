"""Where the model looked: an occlusion map of the model's input, computed through any classifier.

The prepared 224x224 image is classified again with one square region after another painted
neutral grey; a region whose masking lowers the explained score the most is one the model
relied on. Model-agnostic: it needs only ``classify_many``, so the local model and the
SageMaker endpoint give the same map for the same input. It is not a segmentation and not a
diagnosis: it shows what changed the model's score, not where the lesion or the cancer is.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from PIL import Image, ImageDraw

from runtime.batching import DEFAULT_GRID
from runtime.images import JPEG_QUALITY, MODEL_INPUT_SIZE
from runtime.labels import CLASSES, MALIGNANT

MASK_GREY: Final = (128, 128, 128)
"""The model normalises pixels with mean 0.5: mid-grey is its "no information" input."""
MALIGNANT_TARGET: Final = "malignant"
EXPLANATION_VERSION: Final = 1

Scores = Mapping[str, float]
ClassifyMany = Callable[[Sequence[bytes]], list[dict[str, float]]]


class ExplanationError(ValueError):
    """The explanation cannot be made or read: the message says why."""


@dataclass(frozen=True)
class OcclusionMap:
    """How much masking each region lowered the explained score.

    ``drops[row][col]`` is the explained score of the whole image minus that score with the
    region at (row, col) masked: positive where the region supported the score.
    """

    target: str
    """``malignant`` (the malignant total) or a class code."""
    grid: int
    baseline: float
    """The explained score of the unmasked image (encoded as the masked ones are)."""
    drops: tuple[tuple[float, ...], ...]
    version: int = EXPLANATION_VERSION

    def __post_init__(self) -> None:
        if self.target != MALIGNANT_TARGET and self.target not in CLASSES:
            raise ExplanationError(f"cannot explain {self.target!r}: not a class or 'malignant'")
        if not 2 <= self.grid <= 32 or MODEL_INPUT_SIZE % self.grid:
            raise ExplanationError(f"the grid must divide {MODEL_INPUT_SIZE}, got {self.grid}")
        if len(self.drops) != self.grid or any(len(row) != self.grid for row in self.drops):
            raise ExplanationError(f"drops must be {self.grid} x {self.grid}")
        if not all(math.isfinite(v) for row in self.drops for v in row):
            raise ExplanationError("drops must be finite numbers")

    def hottest(self, count: int = 1) -> list[tuple[int, int]]:
        """The ``count`` regions whose masking lowered the score most, as (row, col)."""
        cells = [(r, c) for r in range(self.grid) for c in range(self.grid)]
        return sorted(cells, key=lambda rc: self.drops[rc[0]][rc[1]], reverse=True)[:count]

    def to_json(self) -> str:
        """The map and its parameters, stored beside the record."""
        return json.dumps(
            {
                "version": self.version,
                "target": self.target,
                "grid": self.grid,
                "mask": "grey-128",
                "baseline": self.baseline,
                "drops": [list(row) for row in self.drops],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> OcclusionMap:
        """Read a stored map.

        Raises:
            ExplanationError: the text is not a map this version of dermascan reads.
        """
        try:
            data: Any = json.loads(text)
            if data.get("version") != EXPLANATION_VERSION:
                raise ExplanationError(f"explanation version {data.get('version')!r} is unknown")
            return cls(
                target=str(data["target"]),
                grid=int(data["grid"]),
                baseline=float(data["baseline"]),
                drops=tuple(tuple(float(v) for v in row) for row in data["drops"]),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            if isinstance(exc, ExplanationError):
                raise
            raise ExplanationError(f"unreadable explanation: {exc}") from exc


def explained_score(scores: Scores, target: str) -> float:
    """The score an explanation is about: the malignant total, or one class's score."""
    if target == MALIGNANT_TARGET:
        return math.fsum(scores[code] for code in MALIGNANT)
    return float(scores[target])


def masked_inputs(jpeg: bytes, grid: int = DEFAULT_GRID) -> list[bytes]:
    """The model input encoded again unmasked, then with each region masked in turn (row by
    row), all as JPEGs like the input: ``grid**2 + 1`` images. The unmasked one goes through
    the same encoding, so the mask is the only difference between it and the others.

    Raises:
        ExplanationError: ``jpeg`` is not a model input (a 224x224 JPEG).
    """
    with Image.open(io.BytesIO(jpeg), formats=["JPEG"]) as opened:
        image = opened.convert("RGB")
    if image.size != (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE):
        raise ExplanationError(f"expected a {MODEL_INPUT_SIZE}x{MODEL_INPUT_SIZE} model input")
    side = MODEL_INPUT_SIZE // grid
    boxes = [
        (col * side, row * side, (col + 1) * side - 1, (row + 1) * side - 1)
        for row in range(grid)
        for col in range(grid)
    ]
    encoded = []
    for box in [None, *boxes]:
        copy = image.copy()
        if box is not None:
            ImageDraw.Draw(copy).rectangle(box, fill=MASK_GREY)
        out = io.BytesIO()
        copy.save(out, format="JPEG", quality=JPEG_QUALITY)
        encoded.append(out.getvalue())
    return encoded


def occlusion_map(
    jpeg: bytes,
    classify_many: ClassifyMany,
    *,
    target: str = MALIGNANT_TARGET,
    grid: int = DEFAULT_GRID,
) -> OcclusionMap:
    """Classify the input and its masked copies as one batch, and map the score drops.

    Args:
        jpeg: the model input (the record's thumbnail: the prepared 224x224 JPEG).
        classify_many: the classifier's batch call; called once, with ``grid**2 + 1`` images
            (``masked_inputs``).
        target: ``malignant`` or a class code.
        grid: regions per side.

    Raises:
        ExplanationError: a bad input or target.
        ClassifierError: the classifier failed (nothing is stored then).
    """
    if target != MALIGNANT_TARGET and target not in CLASSES:
        raise ExplanationError(f"cannot explain {target!r}: not a class or 'malignant'")
    batch = masked_inputs(jpeg, grid)
    answers = classify_many(batch)
    if len(answers) != len(batch):
        raise ExplanationError(f"the classifier answered {len(answers)} of {len(batch)} images")
    baseline = explained_score(answers[0], target)
    values = [baseline - explained_score(a, target) for a in answers[1:]]
    drops = tuple(tuple(values[r * grid : (r + 1) * grid]) for r in range(grid))
    return OcclusionMap(target=target, grid=grid, baseline=baseline, drops=drops)


def heatmap_png(occlusion: OcclusionMap) -> bytes:
    """The map as a 224x224 RGBA PNG to lay over the model input: red where masking lowered
    the score, more opaque the more it did; regions that raised or kept it stay clear."""
    side = MODEL_INPUT_SIZE // occlusion.grid
    strongest = max((v for row in occlusion.drops for v in row), default=0.0)
    heat = Image.new("RGBA", (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(heat)
    for r, row in enumerate(occlusion.drops):
        for c, drop in enumerate(row):
            if drop <= 0 or strongest <= 0:
                continue
            alpha = round(255 * drop / strongest)
            box = (c * side, r * side, (c + 1) * side - 1, (r + 1) * side - 1)
            draw.rectangle(box, fill=(220, 20, 60, alpha))
    out = io.BytesIO()
    heat.save(out, format="PNG")
    return out.getvalue()


def overlay(model_input: bytes, heat_png: bytes, opacity: float) -> bytes:
    """The model input with the heat map laid over it at ``opacity`` (0 to 1), as a PNG."""
    if not 0 <= opacity <= 1:
        raise ExplanationError(f"opacity must be between 0 and 1, got {opacity}")
    with Image.open(io.BytesIO(model_input), formats=["JPEG"]) as opened:
        base = opened.convert("RGBA")
    with Image.open(io.BytesIO(heat_png), formats=["PNG"]) as opened:
        heat = opened.convert("RGBA")
    alpha = heat.getchannel("A").point(lambda a: round(a * opacity))
    heat.putalpha(alpha)
    base.alpha_composite(heat)
    out = io.BytesIO()
    base.convert("RGB").save(out, format="PNG")
    return out.getvalue()
