"""Classifiers: the deployed SageMaker endpoint, or the same model run locally by transformers."""

from __future__ import annotations

import base64
import io
import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from runtime.batching import MAX_IMAGES_PER_REQUEST, MAX_REQUEST_BYTES
from runtime.labels import CLASSES, UnknownLabel, code_for
from runtime.records import SCORE_SUM_TOLERANCE, ModelInfo

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

DEFAULT_MODEL_ID: Final = "Anwarkh1/Skin_Cancer-Image_Classification"
# Pinned: the model repository has re-uploaded its config and weights several times, and an
# unpinned model can change the meaning of every score without a deploy.
DEFAULT_MODEL_REVISION: Final = "e37ebda4a662db26d9221c78f6c72b1cb8736ce0"

Scores = dict[str, float]
LoadState = Literal["not loaded", "loading", "ready", "failed"]


class ClassifierError(Exception):
    """The classifier failed in a way that says nothing about the image (config, bad answer).

    The pipeline lets it propagate: the message is retried and, failing that, dead-lettered
    with an alarm, rather than telling the user their image was bad. Its text may carry raw
    AWS error text (account ids, log URLs, resource names): it belongs in logs, never in a
    record or on a page.
    """


class TransientError(ClassifierError):
    """A failure worth retrying: throttling, a 5xx, a model still loading, a timeout."""


class ModelUnavailable(ClassifierError):
    """The local model could not be loaded."""


class Classifier(Protocol):
    """Anything that scores a prepared 224x224 JPEG over the seven classes."""

    @property
    def model(self) -> ModelInfo:
        """Which model this is, for the prediction record."""
        ...

    def classify(self, jpeg: bytes) -> Scores:
        """Scores for all seven class codes, summing to 1.

        Raises:
            TransientError: retry later.
            ClassifierError: anything else; never the image's fault, since the pipeline only
                ever sends a valid 224x224 JPEG.
        """
        ...


@runtime_checkable
class BatchClassifier(Classifier, Protocol):
    """A classifier that also scores many images in one call (an explanation's masked batch)."""

    def classify_many(self, jpegs: Sequence[bytes]) -> list[Scores]:
        """Scores for each image, in order (see ``Classifier.classify`` for the errors)."""
        ...


class _OneByOne:
    """A classifier without a batch call, given one: each image classified in turn."""

    def __init__(self, classifier: Classifier) -> None:
        self._classifier = classifier

    @property
    def model(self) -> ModelInfo:
        return self._classifier.model

    def classify(self, jpeg: bytes) -> Scores:
        return self._classifier.classify(jpeg)

    def classify_many(self, jpegs: Sequence[bytes]) -> list[Scores]:
        return [self._classifier.classify(jpeg) for jpeg in jpegs]


def as_batch(classifier: Classifier) -> BatchClassifier:
    """``classifier`` itself if it has a batch call, else one that classifies image by image."""
    return classifier if isinstance(classifier, BatchClassifier) else _OneByOne(classifier)


def scores_from_labels(answer: object) -> Scores:
    """Map an image-classification answer ``[{"label", "score"}, ...]`` to all seven codes.

    Raises:
        ClassifierError: unless the answer holds each of the seven classes exactly once, with a
            finite score in [0, 1], the seven summing to 1. Five labels is the container's
            default top-k: two classes would silently vanish, so that is an error, not a
            result. Scores that do not sum to 1 come from a model that is not a softmax
            classifier (a sigmoid, multi-label head): they are no probabilities over the seven
            classes, and nobody could read them as such.
    """
    if not isinstance(answer, list):
        raise ClassifierError(f"expected a list of label scores, got {type(answer).__name__}")
    scores: Scores = {}
    for item in answer:
        if not isinstance(item, Mapping) or not isinstance(item.get("label"), str):
            raise ClassifierError(f"malformed label score: {item!r}")
        score = item.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise ClassifierError(f"malformed score in {item!r}")
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise ClassifierError(f"score out of [0, 1] in {item!r}")
        try:
            code = code_for(item["label"])
        except UnknownLabel as exc:
            raise ClassifierError(f"the model answered a label we do not know: {exc}") from exc
        if code in scores:
            raise ClassifierError(f"the model answered {code} twice")
        scores[code] = float(score)
    if len(scores) != len(CLASSES):
        missing = ", ".join(code for code in CLASSES if code not in scores)
        raise ClassifierError(
            f"the model answered {len(scores)} of {len(CLASSES)} classes (missing {missing}); "
            f"was top_k={len(CLASSES)} sent?"
        )
    total = math.fsum(scores.values())
    if abs(total - 1.0) > SCORE_SUM_TOLERANCE:
        raise ClassifierError(
            f"the model's {len(CLASSES)} scores sum to {total:.4f}, not 1: it is not a softmax "
            "classifier over the seven classes (a sigmoid or multi-label head?), so its scores "
            "are no probabilities; deploy the single-label HAM10000 model"
        )
    return {code: scores[code] for code in CLASSES}


def sagemaker_request_body(jpeg: bytes) -> bytes:
    """The JSON request for the Hugging Face inference container.

    A raw ``image/jpeg`` body cannot carry parameters, and the container's default is the top
    5 labels; the pipeline's image loader accepts a base64 string, so JSON carries both.
    """
    parameters = {"top_k": len(CLASSES)}
    payload = {"inputs": base64.b64encode(jpeg).decode("ascii"), "parameters": parameters}
    return json.dumps(payload).encode("ascii")


def sagemaker_batch_body(jpegs: Sequence[bytes]) -> bytes:
    """The JSON request for several images at once.

    The container passes ``inputs`` and ``parameters`` to the transformers pipeline as
    ``pipeline(inputs, **parameters)``, and the image-classification pipeline takes a list of
    images (base64 strings among them) and answers one list of label scores per image, in
    order (sagemaker-huggingface-inference-toolkit ``handler_service.predict``;
    https://huggingface.co/docs/transformers/main_classes/pipelines#transformers.ImageClassificationPipeline).
    """
    parameters = {"top_k": len(CLASSES)}
    inputs = [base64.b64encode(jpeg).decode("ascii") for jpeg in jpegs]
    return json.dumps({"inputs": inputs, "parameters": parameters}).encode("ascii")


def request_chunks(
    jpegs: Sequence[bytes],
    *,
    max_bytes: int = MAX_REQUEST_BYTES,
    max_images: int = MAX_IMAGES_PER_REQUEST,
) -> list[list[bytes]]:
    """Split images into as few batch requests as the limits allow, keeping their order.

    Raises:
        ClassifierError: one image alone would make a request over ``max_bytes``.
    """
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}")
    overhead = len(sagemaker_batch_body([]))
    chunks: list[list[bytes]] = []
    size = overhead
    for jpeg in jpegs:
        # base64 of n bytes is 4 * ceil(n / 3) characters; quotes and ", " add 4 at most.
        item = 4 * -(-len(jpeg) // 3) + 4
        if overhead + item > max_bytes:
            raise ClassifierError(
                f"an image of {len(jpeg)} bytes makes a request over {max_bytes} bytes"
            )
        if not chunks or len(chunks[-1]) >= max_images or size + item > max_bytes:
            chunks.append([])
            size = overhead
        chunks[-1].append(jpeg)
        size += item
    return chunks


CONNECT_TIMEOUT_SECONDS: Final = 3.0
"""Connecting to the regional endpoint takes milliseconds; a connect that takes seconds is an
outage, better retried than waited for."""


def sagemaker_client_config(max_attempts: int = 4, read_timeout: float = 60.0) -> Config:
    """botocore settings for the endpoint client: adaptive retries with a bounded budget.

    Adaptive mode retries throttling and 500/502/503/504 with backoff and slows the client down
    when throttled. ``read_timeout`` defaults to SageMaker's own 60 s limit for a model's
    answer. One attempt takes at most ``CONNECT_TIMEOUT_SECONDS + read_timeout``; the Lambda
    handler starts no attempt that could outlive its invocation (``runtime.deadlines``).
    """
    return Config(
        retries={"mode": "adaptive", "total_max_attempts": max_attempts},
        read_timeout=read_timeout,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
    )


# Error codes of sagemaker-runtime that mean "try again later".
_TRANSIENT_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalDependencyException",
        "ModelNotReadyException",
    }
)


class SageMakerClassifier:
    """Classifies through a SageMaker endpoint serving the Hugging Face inference container."""

    def __init__(
        self,
        client: SageMakerRuntimeClient,
        endpoint_name: str,
        *,
        model_id: str = DEFAULT_MODEL_ID,
        model_revision: str | None = DEFAULT_MODEL_REVISION,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        max_images_per_request: int = MAX_IMAGES_PER_REQUEST,
    ) -> None:
        """Args:
        client: a ``sagemaker-runtime`` client, ideally with ``sagemaker_client_config()``.
        endpoint_name: the endpoint to invoke.
        model_id, model_revision: what the endpoint was deployed with, for the records.
        max_request_bytes, max_images_per_request: how ``classify_many`` splits a batch.
        """
        self._client = client
        self._endpoint = endpoint_name
        self._max_request_bytes = max_request_bytes
        self._max_images = max_images_per_request
        self._model = ModelInfo(
            id=model_id, revision=model_revision, backend="sagemaker", endpoint=endpoint_name
        )

    @property
    def model(self) -> ModelInfo:
        return self._model

    def classify(self, jpeg: bytes) -> Scores:
        return scores_from_labels(self._invoke(sagemaker_request_body(jpeg)))

    def classify_many(self, jpegs: Sequence[bytes]) -> list[Scores]:
        """Scores for several images, in order, in as few requests as the endpoint's payload
        and time limits allow (``request_chunks``).

        Raises:
            TransientError: retry later (nothing of the batch is returned).
            ClassifierError: an answer is malformed, incomplete, or answers a different number
                of images than were sent.
        """
        scores: list[Scores] = []
        for chunk in request_chunks(
            jpegs, max_bytes=self._max_request_bytes, max_images=self._max_images
        ):
            answer = self._invoke(sagemaker_batch_body(chunk))
            if not isinstance(answer, list) or len(answer) != len(chunk):
                count = len(answer) if isinstance(answer, list) else type(answer).__name__
                raise ClassifierError(
                    f"endpoint {self._endpoint} answered {count} for a batch of {len(chunk)} images"
                )
            scores.extend(scores_from_labels(item) for item in answer)
        return scores

    def _invoke(self, request: bytes) -> object:
        try:
            response = self._client.invoke_endpoint(
                EndpointName=self._endpoint,
                ContentType="application/json",
                Accept="application/json",
                Body=request,
            )
            body = response["Body"].read()
        except ClientError as exc:
            raise _classify_client_error(exc) from exc
        except (
            ReadTimeoutError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ConnectionClosedError,
        ) as exc:
            raise TransientError(f"endpoint {self._endpoint} did not answer: {exc}") from exc
        try:
            answer: object = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ClassifierError(f"endpoint {self._endpoint} answered non-JSON: {exc}") from exc
        return answer


def _classify_client_error(exc: ClientError) -> ClassifierError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    message = f"{code}: {error.get('Message', '')}"
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        return TransientError(message)
    if code == "ModelError":
        # 424: the container itself answered with an error; its own status tells which. A 5xx
        # is the container failing (a worker died, out of memory): retry. A 4xx says it refused
        # the request, but the pipeline only sends a valid 224x224 JPEG, so that is a deployment
        # fault (a wrong parameter, a wrong model), not the image's: it is retried like any
        # ClassifierError and, still failing, dead-lettered with its alarm.
        original = int(exc.response.get("OriginalStatusCode", 0) or 0)  # type: ignore[call-overload]
        if 400 <= original < 500:
            return ClassifierError(f"the container refused a valid request ({message})")
        return TransientError(message)
    # Validation, access and "endpoint not found" errors: the deployment is wrong, not the image.
    return ClassifierError(message)


class TransformersClassifier:
    """Runs the model on this machine with ``transformers``, as the SageMaker container does.

    transformers and torch are imported on first use, so ``runtime`` imports without them.
    The model loads once per instance, on the first ``classify``, and is shared by threads.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL_ID,
        revision: str | None = DEFAULT_MODEL_REVISION,
        threads: int | None = None,
    ) -> None:
        """Args:
        model: a Hub model id, or the path of a directory holding a saved model.
        revision: the Hub revision to pin; ignored for a local directory.
        threads: torch's threads per inference (a process-wide setting); None leaves torch's
            default of one per core. With several workers, cores / workers each avoids
            oversubscription: torch's parallel sections wait for their slowest thread.
        """
        self._threads = threads
        self._source = model
        self._local = _is_local_dir(model)
        self._revision = None if self._local else revision
        self._pipeline: Any = None
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._load_error: ModelUnavailable | None = None
        self._model = ModelInfo(id=model, revision=self._revision, backend="transformers")

    @property
    def model(self) -> ModelInfo:
        return self._model

    def load(self) -> None:
        """Load the model now rather than on the first ``classify``.

        Raises:
            ModelUnavailable: with what to do about it.
        """
        self._get_pipeline()

    def start_loading(self) -> None:
        """Load the model in a background thread (at app start), so the first classification
        does not wait for it unseen. Calling it again does nothing."""
        with self._lock:
            if self._loader is not None or self._pipeline is not None:
                return
            self._loader = threading.Thread(
                target=self._load_in_background, name="dermascan-model-load", daemon=True
            )
            self._loader.start()

    @property
    def load_state(self) -> LoadState:
        """Where loading stands: not started, under way, done, or failed (see ``load_error``)."""
        if self._pipeline is not None:
            return "ready"
        if self._load_error is not None:
            return "failed"
        return "loading" if self._loader is not None else "not loaded"

    @property
    def load_error(self) -> ModelUnavailable | None:
        """Why the background load failed, if it did."""
        return self._load_error

    @property
    def needs_download(self) -> bool:
        """Whether loading will download the model (a Hub model not yet in the local cache)."""
        if self._local:
            return False
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return True
        cached = try_to_load_from_cache(self._source, "config.json", revision=self._revision)
        return not isinstance(cached, str)

    def _load_in_background(self) -> None:
        try:
            self._get_pipeline()
        except ModelUnavailable as exc:  # kept for load_state; classify raises it again
            self._load_error = exc

    def classify(self, jpeg: bytes) -> Scores:
        return self.classify_many([jpeg])[0]

    def classify_many(self, jpegs: Iterable[bytes], batch_size: int = 8) -> list[Scores]:
        """Scores for several images, run through the model in batches."""
        from PIL import Image

        images = [Image.open(io.BytesIO(jpeg), formats=["JPEG"]).convert("RGB") for jpeg in jpegs]
        if not images:
            return []
        classify = self._get_pipeline()
        answers = classify(images, top_k=len(CLASSES), batch_size=batch_size)
        return [scores_from_labels(answer) for answer in answers]

    def _get_pipeline(self) -> Any:
        with self._lock:
            if self._pipeline is None:
                self._pipeline = self._build_pipeline()
            return self._pipeline

    def _build_pipeline(self) -> Any:
        try:
            from transformers import pipeline
        except ImportError as exc:
            raise ModelUnavailable(
                "Local inference needs transformers and torch: "
                "make install (or pip install -r requirements-torch.txt -r requirements-local.txt)"
            ) from exc
        if self._threads is not None:
            import torch

            torch.set_num_threads(self._threads)
        try:
            return pipeline(
                "image-classification",
                model=self._source,
                revision=self._revision,
                device="cpu",
            )
        except (OSError, ValueError) as exc:
            if self._local:
                advice = (
                    "That directory does not hold a saved image-classification model "
                    "(config.json, weights, preprocessor_config.json). Point DERMASCAN_MODEL "
                    "at a directory written by save_pretrained, or unset it to download "
                    f"{DEFAULT_MODEL_ID}."
                )
            else:
                advice = (
                    f"Downloading it (revision {self._revision}) failed. Check the network "
                    "connection to huggingface.co, or download the model once and set "
                    "DERMASCAN_MODEL to its local directory."
                )
            raise ModelUnavailable(
                f"Could not load the model {self._source!r}: {exc}\n{advice}"
            ) from exc


def _is_local_dir(model: str) -> bool:
    return Path(model).expanduser().is_dir()
