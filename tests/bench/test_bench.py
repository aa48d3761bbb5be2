"""The benchmarks run once on tiny inputs, so they cannot rot. No timing is asserted here."""

from __future__ import annotations

import math
from pathlib import Path

from bench import explanations, history, pipeline, preprocessing


def test_preprocessing_benchmark_runs_and_keeps_fidelity(tmp_path: Path) -> None:
    results, table = preprocessing.run(tmp_path, quick=True)
    assert [r.case for r in results] == [row[0] for row in table.rows]
    assert len(results) == 3
    for result in results:
        assert result.original_s > 0
        assert result.ours_s > 0
        assert result.psnr_db >= 35 or math.isinf(result.psnr_db)  # a sanity floor, not a goal


def test_pipeline_benchmarks_run(tmp_path: Path) -> None:
    table = pipeline.overhead(tmp_path, ("tiny",), images=2)
    assert len(table.rows) == 1
    burst = pipeline.burst(tmp_path, "tiny", uploads=6, workers=2, runs=3)
    assert [row[0] for row in burst.rows] == ["1", "2", "3", "median"]
    for *_, written, distinct in burst.rows:
        assert (written, distinct) == ("6", "6")  # none lost, none twice
    ratios = sorted(int(row[3].rstrip("%")) for row in burst.rows[:3])
    assert int(burst.rows[3][3].rstrip("%")) == ratios[1]  # the median run's ratio


def test_history_benchmark_runs(tmp_path: Path) -> None:
    table = history.run(tmp_path, (5, 60))
    assert [row[0] for row in table.rows] == ["5", "60"]
    # One listing, then a record and a thumbnail per entry on the page (at most 50 entries),
    # however many there are: what the History page really does.
    assert [row[3] for row in table.rows] == ["11", "101"]


def test_explanation_benchmark_runs_against_one_classification(tmp_path: Path) -> None:
    table = explanations.run(tmp_path, "tiny", repeats=1)
    assert [row[0] for row in table.rows] == ["local, measured", "serverless, estimated"]
    assert table.rows[0][3].endswith("x")
    assert "2 requests" in table.rows[1][5]
