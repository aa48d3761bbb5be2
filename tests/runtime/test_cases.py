"""runtime.cases: a clinic's reference and note, optional and validated, never in a key."""

from __future__ import annotations

import pytest

from runtime.cases import CaseDetails, InvalidCase, check_note, check_reference, reference_digest


@pytest.mark.parametrize("reference", ["P-1042/L2", "a", "LESION_07.3", "x" * 40])
def test_a_clinics_own_codes_are_kept(reference: str) -> None:
    assert check_reference(f"  {reference} ") == reference


@pytest.mark.parametrize(
    "reference",
    ["", " ", "-leading", "with space", "x" * 41, "<b>", "[a](b)", "Müller", "P1\nP2"],
)
def test_anything_else_is_refused_with_what_is_allowed(reference: str) -> None:
    with pytest.raises(InvalidCase, match="1 to 40 letters, digits"):
        check_reference(reference)


def test_the_digest_ignores_case_and_shows_nothing_of_the_code() -> None:
    assert reference_digest("P-1042") == reference_digest("p-1042")
    assert reference_digest("P-1042") != reference_digest("P-1043")
    assert len(reference_digest("P-1042")) == 32
    assert "1042" not in reference_digest("P-1042")


def test_a_note_keeps_its_words_and_loses_control_characters() -> None:
    assert check_note("  left forearm,\x00 4 mm\tirregular\nborder ") == (
        "left forearm,  4 mm irregular\nborder"
    )
    with pytest.raises(InvalidCase, match="at most 500 characters; this one has 501"):
        check_note("x" * 501)


def test_empty_form_fields_mean_nothing_was_given() -> None:
    assert CaseDetails.given("", "  ").empty
    case = CaseDetails.given(" P-7 ", " a note ")
    assert (case.reference, case.note) == ("P-7", "a note")
    assert CaseDetails.from_json(case.to_json()) == case
    with pytest.raises(InvalidCase):
        CaseDetails.from_json(b'{"reference": "P 7", "note": null}')
    with pytest.raises(InvalidCase):
        CaseDetails.from_json(b"[1]")
