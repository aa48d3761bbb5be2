"""The seven HAM10000 diagnostic classes: codes, plain-language names, and the model's labels."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

CLASSES: Final = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
"""The class codes, in the one fixed order every score table uses."""

NAMES: Final = MappingProxyType(
    {
        "akiec": "Actinic keratosis / intraepithelial carcinoma",
        "bcc": "Basal cell carcinoma",
        "bkl": "Benign keratosis-like lesion",
        "df": "Dermatofibroma",
        "mel": "Melanoma",
        "nv": "Melanocytic nevus (mole)",
        "vasc": "Vascular lesion",
    }
)
"""Plain-language name of each class code."""

MALIGNANT: Final = frozenset({"akiec", "bcc", "mel"})
"""Codes of the malignant or pre-malignant classes: these are the ones a clinician must not miss."""

# The labels of the fine-tuned ViT (Anwarkh1/Skin_Cancer-Image_Classification, its config's
# id2label), lower-cased: the model writes `melanocytic_Nevi`, and other fine-tunes differ in case.
_MODEL_LABELS: Final = MappingProxyType(
    {
        "actinic_keratoses": "akiec",
        "basal_cell_carcinoma": "bcc",
        "benign_keratosis-like_lesions": "bkl",
        "dermatofibroma": "df",
        "melanoma": "mel",
        "melanocytic_nevi": "nv",
        "vascular_lesions": "vasc",
    }
)


class UnknownLabel(ValueError):
    """A label string that is neither a class code nor a label of the model we know."""


def code_for(label: str) -> str:
    """Map a model label or a class code to its class code, ignoring case and outer spaces.

    Args:
        label: what a model or a labels file says, e.g. ``melanocytic_Nevi``, ``MEL`` or ``nv``.

    Returns:
        The class code, one of ``CLASSES``.

    Raises:
        UnknownLabel: for any other string. A model with other labels must fail loudly rather
            than have its scores filed under the wrong class.
    """
    key = label.strip().lower()
    if key in CLASSES:
        return key
    try:
        return _MODEL_LABELS[key]
    except KeyError:
        known = ", ".join(sorted({*CLASSES, *_MODEL_LABELS}))
        raise UnknownLabel(f"unknown class label {label!r}; expected one of: {known}") from None


def is_malignant(code: str) -> bool:
    """Whether a class code is one of the malignant classes (mel, bcc, akiec)."""
    if code not in CLASSES:
        raise UnknownLabel(f"unknown class code {code!r}; expected one of: {', '.join(CLASSES)}")
    return code in MALIGNANT
