import shutil

import numpy as np
import pydicom

from myomap.io.dicom import read_image
from myomap.mapping.pipeline import background_mask, fit_paths
from myomap.mapping.register import register_translation


def test_fits_every_series_and_matches_the_scanner_map(cohort, tmp_path):
    # Without noise-floor removal this is the phantom scanner's own fit.
    report = fit_paths([cohort / "sub-001" / "T1_mid", cohort / "sub-001" / "T2_mid"], tmp_path / "out", noise_correction=False)
    assert not report.errors
    assert {o.model for o in report.outcomes} == {"molli", "t2"}
    for outcome in report.outcomes:
        kind = "T1" if outcome.model == "molli" else "T2"
        ours, meta = read_image(outcome.folder / "map.dcm")
        scanner, scanner_meta = read_image(cohort / "sub-001" / f"{kind}_mid" / "map.dcm")
        assert meta.spacing_mm == scanner_meta.spacing_mm
        myo = np.load(cohort / "sub-001" / f"{kind}_mid" / "truth.npz")["myocardium_fraction"] == 1
        np.testing.assert_allclose(np.median(ours[myo]), np.median(scanner[myo]), rtol=2e-3)
        r2, _ = read_image(outcome.folder / "r2.dcm")
        assert np.median(r2[myo]) > 0.95
        assert (outcome.folder / "preview.png").is_file() and (outcome.folder / "fit.npz").is_file()
    assert (tmp_path / "out" / "fits.csv").read_text().count("\n") == 3


def test_noise_floor_removal_is_opt_in_changes_values_only_a_little_and_records_sigma(cohort, tmp_path):
    plain = fit_paths([cohort / "sub-001" / "T2_mid"], tmp_path / "plain").outcomes[0]
    assert plain.noise_sd is None  # the plain model unless asked
    report = fit_paths([cohort / "sub-001" / "T2_mid"], tmp_path / "out", noise_correction=True)
    outcome = report.outcomes[0]
    assert outcome.noise_sd is not None and outcome.noise_sd > 0
    assert f"{outcome.noise_sd:.4g}" in (tmp_path / "out" / "fits.csv").read_text()
    ours, _ = read_image(outcome.folder / "map.dcm")
    scanner, _ = read_image(cohort / "sub-001" / "T2_mid" / "map.dcm")
    myo = np.load(cohort / "sub-001" / "T2_mid" / "truth.npz")["myocardium_fraction"] == 1
    ratio = np.median(ours[myo]) / np.median(scanner[myo])
    assert 0.97 < ratio <= 1.0  # the floor only ever lifts dark samples, so removing it lowers T2


def test_no_identifying_fields_unless_asked(cohort, tmp_path):
    fit_paths([cohort / "sub-001" / "T2_mid"], tmp_path / "anon")
    fit_paths([cohort / "sub-001" / "T2_mid"], tmp_path / "phi", keep_phi=True)
    anon = pydicom.dcmread(next((tmp_path / "anon").rglob("map.dcm")))
    phi = pydicom.dcmread(next((tmp_path / "phi").rglob("map.dcm")))
    source = pydicom.dcmread(cohort / "sub-001" / "T2_mid" / "weighted_1.dcm")
    assert "sub-001" not in str(anon.PatientName) + str(anon.PatientID)
    assert anon.StudyInstanceUID != source.StudyInstanceUID
    assert phi.PatientID == source.PatientID and phi.StudyInstanceUID == source.StudyInstanceUID


def test_a_broken_series_does_not_stop_the_others(cohort, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(cohort / "sub-001" / "T2_mid", bad)
    (bad / "weighted_2.dcm").write_bytes((bad / "weighted_2.dcm").read_bytes()[:300])
    report = fit_paths([bad, cohort / "sub-001" / "T1_mid", tmp_path / "missing"], tmp_path / "out")
    assert len(report.outcomes) == 1 and report.outcomes[0].model == "molli"
    assert any("weighted_2.dcm" in e for e in report.errors)
    assert any("missing" in e and "no such file" in e for e in report.errors)
    assert not list((tmp_path / "out").rglob(".*partial*"))


def test_inputs_are_not_modified(cohort, tmp_path):
    folder = cohort / "sub-001" / "T2_basal"
    before = {p: p.read_bytes() for p in folder.iterdir()}
    fit_paths([folder], tmp_path / "out")
    assert {p: p.read_bytes() for p in folder.iterdir()} == before


def test_registration_recovers_a_known_shift(cohort):
    from scipy import ndimage

    from myomap.mapping.series import read_series

    series = read_series("s", sorted((cohort / "sub-001" / "T1_mid").glob("weighted_*.dcm")), "molli")
    _, before = register_translation(series.images)  # the phantom's own small misregistration
    moved = series.images.copy()
    moved[2] = ndimage.shift(moved[2], (1.5, -1.0), order=1, mode="nearest")
    _, after = register_translation(moved)
    np.testing.assert_allclose(after[2] - before[2], (-1.5, 1.0), atol=0.3)
    np.testing.assert_allclose(np.delete(after, 2, axis=0), np.delete(before, 2, axis=0), atol=1e-9)


def test_residual_sd_is_reported_next_to_r2_and_molli_needs_five_images(cohort, tmp_path):
    report = fit_paths([cohort / "sub-001" / "T1_mid"], tmp_path / "out")
    outcome = report.outcomes[0]
    assert 0 < outcome.median_residual_rel < 0.2 and outcome.median_residual_sd > 0
    header = (tmp_path / "out" / "fits.csv").read_text().splitlines()[0]
    assert "median_residual_sd" in header and "median_residual_rel" in header
    few = tmp_path / "few"
    few.mkdir()
    for k in range(1, 5):
        shutil.copy(cohort / "sub-001" / "T1_mid" / f"weighted_{k}.dcm", few)
    short = fit_paths([few], tmp_path / "out_few", model="molli")
    assert not short.outcomes and any("at least 5 images" in e and "has 4" in e for e in short.errors)


def test_a_zipped_series_is_fitted_as_its_folder_and_messages_name_the_archive(cohort, tmp_path):
    import zipfile

    folder = cohort / "sub-001" / "T2_mid"
    archive = tmp_path / "t2.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.glob("weighted_*.dcm")):
            handle.write(path, f"T2_mid/{path.name}")
        handle.writestr("T2_mid/broken.dcm", b"DICM but no")  # one unreadable file inside
    direct = fit_paths([folder], tmp_path / "direct").outcomes[0]
    report = fit_paths([archive], tmp_path / "zipped")
    (outcome,) = report.outcomes
    np.testing.assert_array_equal(read_image(outcome.folder / "map.dcm")[0], read_image(direct.folder / "map.dcm")[0])
    assert any(n.startswith(f"{archive}: a ZIP archive; its 4 file(s)") for n in report.notes)
    assert all("myomap-unzip" not in line for line in report.errors + report.notes)
    assert any(f"{archive}!/T2_mid/broken.dcm" in line for line in report.errors + report.notes)
    portal = tmp_path / "portal"  # the same archive inside a folder: named where it lies, the folder without "!"
    portal.mkdir()
    shutil.copy(archive, portal / "t2.zip")
    inside = fit_paths([portal], tmp_path / "from_folder")
    assert len(inside.outcomes) == 1 and all("myomap-unzip" not in line for line in inside.errors + inside.notes)
    assert any(f"{portal}/t2.zip/T2_mid/broken.dcm" in line for line in inside.errors + inside.notes)


def test_a_nan_pixel_in_the_weighted_images_leaves_the_others_to_fit():
    images = np.random.default_rng(0).uniform(100.0, 1000.0, (5, 32, 32))
    images[:, 3, 3] = np.nan  # a float series' pixel without a value: its percentile was NaN, and no pixel was fitted
    mask = background_mask(images)
    assert mask.sum() == 32 * 32 - 1 and not mask[3, 3]
