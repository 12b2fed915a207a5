"""What the patient report shows of ECV: the haematocrit, its source, the ECV range, and the patient's notes as text."""

import re

import pytest

from myomap.report.analysis import patient_entry
from myomap.report.html import write_patient_report


def _ecv_row(segment, ecv_percent, flag="normal"):
    return {"patient": "patient-01", "region": "segment" if segment else "global", "segment": segment, "ecv_percent": ecv_percent,
            "hematocrit": 0.441397, "hematocrit_source": "synthetic", "reference_low": 17.0, "reference_high": 33.0,
            "reference_flag": flag}  # fmt: skip


def _summary_row(text, map_type):
    (row,) = re.findall(rf"<tr><td>{map_type}</td>.*?</tr>", text)
    return re.findall(r"<td[^>]*>(.*?)</td>", row)


@pytest.fixture
def page(tmp_path):
    evil = "patient-01: note <script>alert('x')</script> & <b>more</b>"
    notes = ["patient-01: ECV uses a SYNTHETIC haematocrit 0.44 from native blood T1 at 3 T (not a blood test)", evil]
    entry = patient_entry("patient-01", [], [], [_ecv_row(None, 24.98), _ecv_row(1, 35.2, "high")], notes=notes)
    return write_patient_report(tmp_path / "report.html", entry).read_text(encoding="utf-8")


def test_the_ecv_row_shows_the_hematocrit_to_two_decimals_its_source_and_the_range(page):
    header = re.findall(r"<th>(.*?)</th>", page.split("<h2>Summary</h2>")[1].split("</thead>")[0])
    cells = dict(zip(header, _summary_row(page, "ECV")))
    assert cells["hematocrit"] == "0.44" and cells["hematocrit source"] == "synthetic"
    assert (cells["reference low"], cells["reference high"], cells["reference flag"]) == ("17.0", "33.0", "normal")
    assert cells["ECV (pct)"] == "25.0"


def test_the_patients_notes_are_shown_as_escaped_text_without_the_patient_prefix(page):
    notes = page.split('<ul class="notes">')[1].split("</ul>")[0]
    assert "<li>ECV uses a SYNTHETIC haematocrit 0.44 from native blood T1 at 3 T (not a blood test)</li>" in notes
    assert "<li>note &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;more&lt;/b&gt;</li>" in notes
    assert "<script" not in page and "<b>" not in page
