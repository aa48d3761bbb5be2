"""A printable report of one result: a self-contained HTML page the browser prints (or saves as
PDF), with the image, the triage, the seven scores, the case reference and note, the provenance and
the disclaimer.

No Streamlit here: the report is built from the record alone, every value escaped as HTML.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime
from typing import Final

from runtime.labels import MALIGNANT, NAMES
from runtime.records import Prediction
from runtime.triage import TriageRule, triage

DISCLAIMER: Final = (
    "Decision support, not a diagnosis. These scores say how much the image resembles each "
    "lesion class the model learnt from dermatoscopic images. dermascan has not been "
    "clinically validated. Any lesion that worries you, bleeds, itches or changes needs a "
    "clinician."
)

_STYLE: Final = """
body { font-family: system-ui, sans-serif; color: #111; margin: 2rem; max-width: 48rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.25rem; }
.level { font-size: 1.25rem; font-weight: 700; margin: 1rem 0 0.25rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #999; padding: 0.3rem 0.5rem; text-align: left; }
td.score { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 14rem; border: 1px solid #999; }
.disclaimer { border: 2px solid #111; padding: 0.75rem; font-weight: 600; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; } }
"""


def report_html(
    prediction: Prediction,
    rule: TriageRule,
    *,
    picture: bytes | None,
    created: datetime,
) -> str:
    """The report page.

    Args:
        prediction: the record to report.
        rule: the triage rule the result is shown with.
        picture: the image to print (a JPEG, PNG or WebP), or None.
        created: when the record was made, in the reader's time zone.
    """
    e = html.escape
    rows: list[str] = []
    lines: list[str] = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>dermascan report {e(prediction.id)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>dermascan: skin-lesion triage support</h1>",
        f'<p class="disclaimer">{e(DISCLAIMER)}</p>',
    ]
    if picture:
        kind = _image_type(picture)
        data = base64.b64encode(picture).decode("ascii")
        lines.append(
            f'<p><img src="data:{kind};base64,{data}" alt="The lesion image classified"></p>'
        )
    if prediction.status == "ok":
        result = triage(prediction.scores, rule)
        lines += [
            f'<p class="level">Triage: {e(result.level.title)}; malignant classes '
            f"{result.malignant_total:.0%}</p>",
            f"<p>{e(result.level.advice)}</p>",
            "<ul>" + "".join(f"<li>{e(reason)}</li>" for reason in result.reasons) + "</ul>",
            "<h2>The seven scores</h2>",
            "<table><thead><tr><th>Class</th><th>Malignant</th><th>Score</th></tr></thead><tbody>",
        ]
        for code, score in prediction.ranked():
            rows.append(
                f"<tr><td>{e(NAMES[code])} ({code})</td>"
                f"<td>{'yes' if code in MALIGNANT else 'no'}</td>"
                f'<td class="score">{score:.1%}</td></tr>'
            )
        lines += [*rows, "</tbody></table>"]
    else:
        reason = prediction.error.message if prediction.error else "No reason was recorded."
        lines.append(f'<p class="level">Not classified: {e(reason)}</p>')
    model = prediction.model
    details = [
        ("Result id", prediction.id),
        ("Reference", prediction.reference or "none given"),
        ("Note", prediction.note or "none given"),
        ("Time", created.strftime("%Y-%m-%d %H:%M %Z")),
        ("Model", model.id),
        ("Model revision", model.revision or "a local copy (no Hub revision)"),
        ("Run by", model.backend + (f" endpoint {model.endpoint}" if model.endpoint else "")),
        ("Triage thresholds", _thresholds(rule)),
        ("Record schema version", str(prediction.schema_version)),
    ]
    lines += ["<h2>Provenance</h2>", "<table><tbody>"]
    lines += [f"<tr><th>{e(name)}</th><td>{e(value)}</td></tr>" for name, value in details]
    lines += ["</tbody></table>", f'<p class="disclaimer">{e(DISCLAIMER)}</p>', "</body></html>"]
    return "\n".join(lines)


def _thresholds(rule: TriageRule) -> str:
    return (
        f"refer at a malignant total of {rule.refer_threshold:.0%}; a top class is clear at "
        f"{rule.uncertain_top:.0%} and {rule.uncertain_margin * 100:.0f} points ahead"
    )


def _image_type(picture: bytes) -> str:
    if picture.startswith(b"\x89PNG"):
        return "image/png"
    if picture[:4] == b"RIFF" and picture[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"
