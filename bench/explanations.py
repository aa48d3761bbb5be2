"""An explanation's time against one classification of the same image, in the same run.

An explanation classifies the model input again with each of its regions masked (50 images for
the default grid) in one batch; a classification is one image. The ratio is what a clinician
waits for an explanation, in classifications; the serverless row is the cost model's estimate
(``runtime.costs.explanation_cost``), not a measurement.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import SAMPLES, Table, median_seconds
from bench.models import random_vit
from runtime.batching import explanation_images
from runtime.classifiers import TransformersClassifier
from runtime.costs import explanation_cost
from runtime.explaining import explain
from runtime.images import prepare
from runtime.keys import LOCAL_OWNER, KeyLayout
from runtime.pipeline import process_upload
from runtime.stores import LocalStore


def run(directory: Path, shape: str, repeats: int) -> Table:
    """Median seconds of one classification and of one explanation (stored, as the app asks
    for it) with the random ViT of ``shape``, on this machine."""
    layout = KeyLayout()
    classifier = TransformersClassifier(str(random_vit(directory / f"vit-explain-{shape}", shape)))
    classifier.load()
    upload = sorted((SAMPLES / "mel").glob("*.jpg"))[0].read_bytes()
    model_input = prepare(upload).jpeg
    singles = max(5, repeats)
    # Half the single classifications before the explanations and half after: a machine whose
    # speed drifts within minutes then drifts under both, and the ratio keeps its meaning.
    before = median_seconds(lambda: classifier.classify(model_input), repeats=singles)

    store = LocalStore(directory / f"store-explain-{shape}")

    def fresh_result() -> str:
        made = layout.new_upload(LOCAL_OWNER, "JPEG")
        store.put(made.key, upload, "image/jpeg")
        process_upload(made.key, store=store, classifier=classifier, layout=layout)
        return made.id

    ids = [fresh_result() for _ in range(repeats + 1)]  # one more for the unmeasured warm-up
    pending = iter(ids)

    def explain_next() -> None:
        explain(store, layout, classifier, LOCAL_OWNER, next(pending))

    explanation = median_seconds(explain_next, repeats=repeats)
    after = median_seconds(lambda: classifier.classify(model_input), repeats=singles, warmup=0)
    single = (before + after) / 2
    images = explanation_images()
    serverless = explanation_cost()
    return Table(
        f"Explanation against one classification (random ViT, {shape} shape)",
        ["where", "one classification", "one explanation", "ratio", "per masked image", "cost"],
        [
            [
                "local, measured",
                f"{single * 1000:.0f} ms",
                f"{explanation:.2f} s",
                f"{explanation / single:.1f}x",
                f"{explanation / images * 1000:.0f} ms",
                "this machine",
            ],
            [
                "serverless, estimated",
                "1 s (cost model)",
                f"{serverless.seconds:.1f} s",
                f"{serverless.seconds:.0f}x",
                f"{serverless.seconds / images * 1000:.0f} ms",
                f"${serverless.dollars:.4f} ({serverless.requests} requests)",
            ],
        ],
    )
