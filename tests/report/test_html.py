import base64
import dataclasses
import math
import re
import shutil
import subprocess
from datetime import datetime

import cv2
import numpy as np
import pytest

import myomap
from myomap.report.html import (
    PatientEntry,
    SliceEntry,
    write_patient_report,
    write_run_summary,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WHEN = datetime(2024, 5, 6, 7, 8)


def _overlay() -> bytes:
    image = np.zeros((48, 48, 3), np.uint8)
    cv2.circle(image, (24, 24), 16, (0, 0, 255), 1)
    cv2.circle(image, (24, 24), 9, (0, 255, 0), 1)
    return cv2.imencode(".png", image)[1].tobytes()


def _patient(label="patient-01") -> PatientEntry:
    ok = SliceEntry(
        "T1 mid",
        "T1",
        "mid",
        _overlay(),
        False,
        (),
        0.93,
        {"global_median_ms": 1012.34, "septal_median_ms": np.float32(1003.0)},
    )
    flagged = SliceEntry(
        "T2 apical",
        "T2",
        "apical",
        _overlay(),
        True,
        ("low confidence <0.5",),
        0.41,
        {"global_median_ms": 55.55},
    )
    failed = SliceEntry("T2 basal", "T2", "basal", b"", False, (), 0.0, {}, error="no myocardium found")
    return PatientEntry(
        label=label,
        slices=(ok, flagged, failed),
        segments={
            "T2": {n: 50.0 + n for n in range(1, 17)},
            "T1": {n: 1000.0 + n for n in range(1, 17)},
        },
        summary=(
            {
                "map_type": "T1",
                "region": "global",
                "eroded": False,
                "median_ms": 1030.0,
                "n_pixels": 400,
            },
            {
                "map_type": "T1",
                "region": "global",
                "eroded": True,
                "median_ms": 1012.34,
                "n_pixels": 310,
            },
            {
                "map_type": "T2",
                "region": "global",
                "eroded": True,
                "median_ms": np.float64(55.55),
                "n_pixels": np.int64(120),
            },
        ),
        notes=("reference point: RV insertion from contours",),
    )


def _images(text, mime="image/png"):
    return [base64.b64decode(m) for m in re.findall(rf'src="data:{mime};base64,([A-Za-z0-9+/=]+)"', text)]


def test_patient_report_content(tmp_path):
    path = write_patient_report(
        tmp_path / "sub" / "report.html",
        _patient(),
        settings={"model": "unet-r50", "erosion_margin_px": 1},
        created=WHEN,
    )
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "sub" / "report.html"
    assert "patient-01" in text and "2024-05-06" in text
    assert "1012.3" in text and "55.5" in text and "1003.0" in text and ">120<" in text
    assert "2 of 3 slices flagged for review" in text
    assert text.count('class="badge review"') == 2 and text.count('class="badge ok"') == 1
    assert "low confidence &lt;0.5" in text and "no myocardium found" in text
    assert "unet-r50" in text and "erosion_margin_px" in text
    assert myomap.__version__ in text and "checked by a human" in text
    overlays, bullseyes = _images(text), _images(text, "image/svg\\+xml")
    assert len(overlays) == 2  # the failed slice has none
    assert all(png.startswith(PNG_SIGNATURE) for png in overlays)
    assert len(bullseyes) == 2 and all(svg.lstrip().startswith(b"<?xml") and b"segment-1" in svg for svg in bullseyes)
    assert text.index("T1 bullseye") < text.index("T2 bullseye")
    assert "http://" not in text and "https://" not in text and "<script" not in text.lower()


def test_text_is_escaped_and_output_deterministic(tmp_path):
    evil = '<script>alert("x")</script>'
    patient = _patient(label=evil)
    first = write_patient_report(tmp_path / "a.html", patient, title=evil, settings={evil: evil}, created=WHEN).read_bytes()
    assert b"<script" not in first and b"&lt;script&gt;" in first
    assert (
        first
        == write_patient_report(
            tmp_path / "b.html",
            patient,
            title=evil,
            settings={evil: evil},
            created=WHEN,
        ).read_bytes()
    )


def test_all_slices_fine(tmp_path):
    patient = _patient()
    patient = PatientEntry("p", patient.slices[:1], {}, ())
    text = write_patient_report(tmp_path / "r.html", patient, created=WHEN).read_text(encoding="utf-8")
    assert "All 1 slices passed" in text and 'class="badge review"' not in text and "No segment values" in text


def test_a_slice_without_test_time_augmentation_states_no_confidence(tmp_path):
    (ok, *_) = _patient().slices
    patient = PatientEntry("p", (dataclasses.replace(ok, confidence=math.nan),), {}, ())
    text = write_patient_report(tmp_path / "r.html", patient, created=WHEN).read_text(encoding="utf-8")
    assert "confidence" not in text and "T1 · mid" in text  # it said "confidence nan"


def test_global_median_prefers_the_eroded_row():
    patient = _patient()
    assert patient.global_median_ms("T1") == 1012.34 and patient.global_median_ms("T2") == 55.55
    assert np.isnan(PatientEntry("p", (), {}, ()).global_median_ms("T1"))


def test_run_summary(tmp_path):
    patients = [
        (_patient(), "patient-01/report.html"),
        (PatientEntry("<b>", (), {}, ()), "x/report.html"),
    ]
    path = write_run_summary(
        tmp_path / "index.html",
        patients,
        errors=["a.dcm: not a T1 map <bad>"],
        created=WHEN,
    )
    text = path.read_text(encoding="utf-8")
    assert 'href="patient-01/report.html"' in text and "patient-01" in text
    assert "1012.3" in text and "55.5" in text and "&lt;b&gt;" in text
    assert "a.dcm: not a T1 map &lt;bad&gt;" in text and "Errors (1)" in text
    assert "2 of 3 slices flagged for review" in text
    assert "http://" not in text and "https://" not in text


CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium, chromium-browser or google-chrome executable on PATH",
)
def test_report_renders_in_headless_chromium(tmp_path):
    report = write_patient_report(
        tmp_path / "report.html",
        _patient(),
        settings={"model": "unet-r50"},
        created=WHEN,
    )
    shot = tmp_path / "shot.png"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    command += [f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri()]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1600, 1200)
    assert image.std() > 20
