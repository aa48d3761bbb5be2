"""Random ViTs with the real model's labels and preprocessing, saved like the real one.

``tiny`` makes tests fast; ``base`` has ViT-Base's shape (what the real model costs to run);
``small`` is in between, for benchmarks that need many inferences.
"""

from __future__ import annotations

from pathlib import Path

REAL_ID2LABEL = {
    0: "benign_keratosis-like_lesions",
    1: "basal_cell_carcinoma",
    2: "actinic_keratoses",
    3: "vascular_lesions",
    4: "melanocytic_Nevi",
    5: "melanoma",
    6: "dermatofibroma",
}
# hidden size, layers, attention heads, MLP size
SHAPES = {
    "tiny": (32, 2, 2, 64),
    "small": (384, 12, 6, 1536),
    "base": (768, 12, 12, 3072),
}


def random_vit(directory: Path, shape: str = "tiny", seed: int = 0) -> Path:
    """Save a randomly initialised ViT image classifier of ``shape`` into ``directory``."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    hidden, layers, heads, mlp = SHAPES[shape]
    config = ViTConfig(
        image_size=224,
        patch_size=16,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=mlp,
        id2label=REAL_ID2LABEL,
        label2id={label: index for index, label in REAL_ID2LABEL.items()},
    )
    torch.manual_seed(seed)
    ViTForImageClassification(config).save_pretrained(directory)
    ViTImageProcessor(
        size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    ).save_pretrained(directory)
    return directory
