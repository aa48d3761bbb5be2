"""Live accuracy (`dermascan evaluate --confirmed`): the seeded store's metrics and Wilson
intervals equal the values worked out by hand here; the command prints and writes them, from
a data directory and from S3.

The cases (tests/confirmed_cases.py), truth -> the model's top class (its score):
    1 mel -> mel (0.90)      2 mel -> nv (0.60), first recorded as nv, corrected to mel
    3 nv  -> nv  (0.80)      4 nv  -> nv (0.70)
    5 bcc -> mel (0.50)      6 bkl -> bkl (0.95)
    7 nv  -> bkl (0.40)      8 other -> nv (0.80): left out of every metric
    9 never confirmed        10 its only outcome is unreadable: left out, reported
So 8 confirmed results, 7 cases the metrics rest on.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import boto3
import pytest

from runtime.cli import EXIT_OK, EXIT_USAGE, main
from runtime.confirmed import confirmed_results
from runtime.live_accuracy import MIN_CONFIRMED, Estimate, evaluate_confirmed
from runtime.stores import LocalStore, S3Store
from runtime.triage import TriageRule
from tests.confirmed_cases import LAYOUT, seed

Z = 1.959963984540054  # the 97.5th percentile of the standard normal


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    """(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), clipped to [0, 1]."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def check(estimate: Estimate, k: int, n: int) -> None:
    assert (estimate.successes, estimate.trials) == (k, n)
    assert estimate.value == pytest.approx(k / n)
    low, high = wilson_by_hand(k, n)
    assert estimate.interval.low == pytest.approx(low, abs=1e-12)
    assert estimate.interval.high == pytest.approx(high, abs=1e-12)


def test_the_seeded_store_reproduces_the_hand_computed_metrics_and_wilson_intervals(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path)
    seed(store)
    report = evaluate_confirmed(confirmed_results(store, LAYOUT, "local"))

    assert (report.confirmed, report.excluded_other, report.n) == (8, 1, 7)
    assert report.too_few
    assert f"rest on 7 confirmed cases, under the minimum of {MIN_CONFIRMED}" in (
        report.warning() or ""
    )
    # Right: cases 1, 3, 4, 6, so 4 of 7. By the formula: p = .5714, z²/n = .5488,
    # centre = (.5714 + .2744) / 1.5488 = .5461, half = 1.96·sqrt(.03499 + .01960) / 1.5488
    # = .2957: [.250, .842].
    check(report.accuracy, 4, 7)
    assert (report.accuracy.interval.low, report.accuracy.interval.high) == pytest.approx(
        (0.2504, 0.8418), abs=5e-4
    )
    mel, nv, bkl, bcc = (report.per_class[c] for c in ("mel", "nv", "bkl", "bcc"))
    # mel: truth {1, 2}, called mel {1, 5}: precision 1/2, recall 1/2; of the 5 others only
    # case 5 is called mel: specificity 4/5. F1 = 2·1 / (2 + 2) = 0.5.
    check(mel.precision, 1, 2)
    check(mel.recall, 1, 2)
    check(mel.specificity, 4, 5)
    assert mel.f1.value == pytest.approx(0.5)
    # nv: truth {3, 4, 7}, called nv {2, 3, 4}: 2/3 and 2/3; of 4 others case 2 is called nv.
    check(nv.precision, 2, 3)
    check(nv.recall, 2, 3)
    check(nv.specificity, 3, 4)
    # bkl: truth {6}, called bkl {6, 7}: precision 1/2, recall 1/1, specificity 5/6.
    check(bkl.precision, 1, 2)
    check(bkl.recall, 1, 1)
    check(bkl.specificity, 5, 6)
    # bcc: never called: precision undefined (0 of 0), recall 0/1, F1 0.
    assert math.isnan(bcc.precision.value)
    assert math.isnan(bcc.precision.interval.low)
    check(bcc.recall, 0, 1)
    assert bcc.f1.value == 0.0
    assert report.per_class["vasc"].support == 0
    # Balanced accuracy: recalls (1/2 + 2/3 + 1 + 0) / 4 = 13/24; macro F1 over the classes
    # that occur: (1/2 + 2/3 + 2/3 + 0) / 4 = 11/24.
    assert report.balanced_accuracy.value == pytest.approx(13 / 24)
    assert report.macro_f1.value == pytest.approx(11 / 24)
    # Melanoma: 1 of 2 found; 4 of the 5 others not called mel.
    check(report.melanoma_sensitivity, 1, 2)
    check(report.melanoma_specificity, 4, 5)
    # Malignant (mel, bcc, akiec): cases 1, 2, 5; called malignant 1 and 5: 2 of 3. The four
    # benign cases are all called benign: 4 of 4.
    check(report.malignant_sensitivity, 2, 3)
    check(report.malignant_specificity, 4, 4)
    # One case per bin, |confidence - right|: .4 + .5 + .6 + .3 + .2 + .1 + .05 = 2.15, over 7.
    assert report.expected_calibration_error.value == pytest.approx(2.15 / 7)


def test_the_referral_table_is_the_hand_computed_triage_with_wilson_intervals(
    tmp_path: Path,
) -> None:
    """Flagged (refer or uncertain) = the malignant total (3 x the rest share, or the top
    score plus 2 x the rest share when the top class is malignant) reaches the threshold, or
    the top class is under 60 %. Malignant totals by case: 1 .933, 2 .200, 3 .100, 4 .150,
    5 .667, 6 .025, 7 .300 (and its top, .40, is not clear)."""
    store = LocalStore(tmp_path)
    seed(store)
    report = evaluate_confirmed(confirmed_results(store, LAYOUT, "local"))
    rows = {round(row.counts.threshold, 2): row for row in report.referral_table}
    # At 25 %: flagged 1, 5 (malignant: TP), 7 (benign: FP); case 2 (malignant) is missed.
    configured = report.referral
    assert configured.counts.threshold == 0.25
    check(configured.sensitivity, 2, 3)
    check(configured.specificity, 3, 4)
    check(configured.flagged, 3, 7)
    # At 5 %: every case but 6 is flagged: all 3 malignant, and 3 of 4 benign (1 of 4 kept).
    check(rows[0.05].sensitivity, 3, 3)
    check(rows[0.05].specificity, 1, 4)
    # At 50 %: 1 and 5 by their totals, 7 as uncertain: as at 25 %.
    check(rows[0.5].sensitivity, 2, 3)
    check(rows[0.5].specificity, 3, 4)


def test_bootstrap_intervals_are_reproducible_and_hold_the_estimate(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    seed(store)
    pairs = confirmed_results(store, LAYOUT, "local")
    first, again = evaluate_confirmed(pairs), evaluate_confirmed(pairs)
    for name in ("balanced_accuracy", "macro_f1", "expected_calibration_error"):
        one, two = getattr(first, name), getattr(again, name)
        assert one.interval == two.interval, name  # seeded: the same cases, the same interval
        assert 0 <= one.interval.low <= one.value <= one.interval.high <= 1, name
        assert one.interval.high - one.interval.low > 0.1, name  # 7 cases: wide, as it must be
    assert first.per_class["nv"].f1.interval == again.per_class["nv"].f1.interval


def test_other_is_counted_and_left_out_and_a_different_rule_changes_the_referrals(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path)
    seed(store)
    pairs = confirmed_results(store, LAYOUT, "local")
    assert sum(1 for _, o in pairs if o.diagnosis == "other") == 1
    strict = evaluate_confirmed(pairs, TriageRule(refer_threshold=0.95))
    # At 95 % no total is high enough; only cases 5 (top .50) and 7 (top .40) are flagged, as
    # uncertain: 1 of 3 malignant, and 3 of 4 benign kept.
    check(strict.referral.sensitivity, 1, 3)
    check(strict.referral.specificity, 3, 4)
    assert not evaluate_confirmed(pairs, minimum=7).too_few


def run_confirmed(tmp_path: Path, *extra: str) -> tuple[int, dict[str, object]]:
    out = tmp_path / "out"
    code = main(["evaluate", "--confirmed", "--out", str(out), *extra])
    document = json.loads((out / "evaluation.json").read_text()) if out.exists() else {}
    return code, document


def test_the_command_prints_and_writes_the_same_numbers_from_a_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    seed(LocalStore(data))
    monkeypatch.setenv("DERMASCAN_DATA_DIR", str(data))

    code, document = run_confirmed(tmp_path)

    assert code == EXIT_OK
    printed = capsys.readouterr()
    assert printed.out.startswith("WARNING: Too few confirmed cases for reliable figures")
    low, high = wilson_by_hand(4, 7)
    assert f"accuracy                    0.571 (95% CI {low:.3f}-{high:.3f}; 4 of 7)" in printed.out
    assert "left out (confirmed as other, outside the seven classes): 1" in printed.out
    assert "left out outcomes/local/" in printed.err  # the unreadable outcome, named
    assert (document["confirmed"], document["n"], document["excluded_other"]) == (8, 7, 1)
    accuracy = document["accuracy"]
    assert isinstance(accuracy, dict)
    assert accuracy["interval"] == pytest.approx(list(wilson_by_hand(4, 7)))
    assert (tmp_path / "out" / "confusion.png").read_bytes().startswith(b"\x89PNG")


def test_the_command_reads_another_owner_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    seed(LocalStore(data), owner="clinic-a")
    monkeypatch.setenv("DERMASCAN_DATA_DIR", str(data))
    code, document = run_confirmed(tmp_path)
    assert (code, document["confirmed"]) == (1, 0)  # the default owner has none: exit 1
    code, document = run_confirmed(tmp_path, "--owner", "clinic-a")
    assert (code, document["confirmed"]) == (EXIT_OK, 8)
    assert main(["evaluate", "--confirmed", "--owner", "Not/An/Owner"]) == EXIT_USAGE
    assert main(["evaluate", "--owner", "clinic-a"]) == EXIT_USAGE  # --owner needs --confirmed


def test_the_command_reads_the_stacks_bucket_on_s3(
    tmp_path: Path, mocked_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(
        Bucket="clinic-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    seed(S3Store(client, "clinic-bucket"), owner="shared")
    monkeypatch.delenv("DERMASCAN_BUCKET", raising=False)

    code, document = run_confirmed(tmp_path, "--backend", "aws", "--bucket", "clinic-bucket")

    assert code == EXIT_OK
    assert (document["backend"], document["owner"]) == ("aws", "shared")
    assert (document["confirmed"], document["n"]) == (8, 7)
    malignant = document["malignant_vs_benign"]
    assert isinstance(malignant, dict)
    assert malignant["sensitivity"]["interval"] == pytest.approx(list(wilson_by_hand(2, 3)))
