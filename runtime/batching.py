"""How an explanation's batch of images fits the endpoint's limits, in standard-library Python.

The classifier splits batches by these numbers and the stack sizes the function's timeout by
them, so both read them here (the infrastructure program cannot import Pillow or botocore).
"""

from __future__ import annotations

import math
from typing import Final

MAX_REQUEST_BYTES: Final = 4_000_000
"""The largest request body sent to the endpoint. A serverless endpoint takes at most 4 MB per
request and per answer
(https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html), the tighter
of SageMaker's limits (a real-time endpoint takes 6 MB); 4,000,000 stays below 4 MiB and 4 MB
alike."""
MAX_IMAGES_PER_REQUEST: Final = 25
"""The most images in one request, from the model's 60 s limit for an answer (the same page):
ViT-Base takes about 0.4 s per image on two CPU cores, and a serverless endpoint's CPU share is
not published, so 25 images (an explanation's 50 in two requests) leave about six times that
margin."""
DEFAULT_GRID: Final = 7
"""Regions per side of an explanation: 7 x 7 squares of 32 pixels, 49 masked images and the
original (50)."""


def explanation_images(grid: int = DEFAULT_GRID) -> int:
    """Images one explanation classifies: the input again and one masked copy per region."""
    return grid * grid + 1


def explanation_requests(grid: int = DEFAULT_GRID, max_images: int = MAX_IMAGES_PER_REQUEST) -> int:
    """Endpoint requests one explanation takes (if the payload limit is not the tighter one,
    which for 224x224 JPEGs of ~15 KB it never is: 25 of them are ~0.5 MB)."""
    return math.ceil(explanation_images(grid) / max_images)
