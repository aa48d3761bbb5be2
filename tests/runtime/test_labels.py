"""runtime.labels: the seven classes, their names, and the model's label strings."""

from __future__ import annotations

import pytest

from runtime.labels import CLASSES, MALIGNANT, NAMES, UnknownLabel, code_for, is_malignant
from tests.conftest import REAL_ID2LABEL


def test_classes_are_the_seven_ham10000_codes_in_fixed_order() -> None:
    assert CLASSES == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")


def test_every_class_has_a_plain_language_name() -> None:
    assert set(NAMES) == set(CLASSES)
    assert NAMES["mel"] == "Melanoma"
    assert all(name and name[0].isupper() for name in NAMES.values())


def test_melanoma_bcc_and_akiec_are_the_malignant_ones() -> None:
    assert {code for code in CLASSES if is_malignant(code)} == {"mel", "bcc", "akiec"}
    assert {"mel", "bcc", "akiec"} == MALIGNANT


def test_is_malignant_refuses_an_unknown_code() -> None:
    with pytest.raises(UnknownLabel):
        is_malignant("melanoma?")


def test_the_real_models_labels_map_to_the_right_codes() -> None:
    mapped = {index: code_for(label) for index, label in REAL_ID2LABEL.items()}
    assert mapped == {0: "bkl", 1: "bcc", 2: "akiec", 3: "vasc", 4: "nv", 5: "mel", 6: "df"}


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("melanocytic_Nevi", "nv"),
        ("MELANOCYTIC_NEVI", "nv"),
        (" melanoma ", "mel"),
        ("BKL", "bkl"),
        ("vasc", "vasc"),
    ],
)
def test_labels_and_codes_match_ignoring_case_and_spaces(label: str, code: str) -> None:
    assert code_for(label) == code


@pytest.mark.parametrize("label", ["", "nevus", "melanoma_in_situ", "LABEL_0"])
def test_an_unknown_label_fails_loudly(label: str) -> None:
    with pytest.raises(UnknownLabel, match="unknown class label"):
        code_for(label)
