"""`make bench`: every benchmark, printed as Markdown tables with the machine they ran on.

``python -m bench --quick`` runs each once on tiny inputs (what `make test` does, so the
benchmarks cannot rot); the full run takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import explanations, history, pipeline, preprocessing
from bench.common import REPO, Table, machine


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="tiny inputs, to check they run")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench.md")
    quick = parser.parse_args().quick
    out = parser.parse_args().out
    tables: list[Table] = []
    with tempfile.TemporaryDirectory(prefix="dermascan-bench-") as scratch:
        work = Path(scratch)
        tables.append(preprocessing.run(work, quick)[1])
        print(tables[-1].markdown(), "\n", flush=True)
        shapes = ("tiny",) if quick else ("tiny", "base")
        tables.append(pipeline.overhead(work, shapes, images=3 if quick else 20))
        print(tables[-1].markdown(), "\n", flush=True)
        tables.append(
            pipeline.burst(
                work, "tiny" if quick else "small", uploads=20 if quick else 500, workers=2
            )
        )
        print(tables[-1].markdown(), "\n", flush=True)
        tables.append(explanations.run(work, "tiny" if quick else "base", 1 if quick else 3))
        print(tables[-1].markdown(), "\n", flush=True)
        tables.append(history.run(work, (10, 100) if quick else (100, 10_000, 100_000)))
        print(tables[-1].markdown(), "\n", flush=True)
    report = f"Measured on {machine()}.\n\n" + "\n\n".join(t.markdown() for t in tables) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"Measured on {machine()}. Written to {out}.")


if __name__ == "__main__":
    main()
