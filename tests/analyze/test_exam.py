"""Whole exam folders: every series classified, the irrelevant skipped in one line, bad inputs one line each."""

import csv
import json
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from myomap.analyze import discover as discover_module
from myomap.analyze.discover import discover, load_slices
from myomap.cli import app
from myomap.conventions import MYOCARDIUM
from myomap.geometry.masks import contours_to_mask
from myomap.io.dicom import DicomError, read_image
from myomap.io.synthetic import _item, enhanced_mr, mr_image, save, write_exam

MAP = ("DERIVED", "PRIMARY", "T1 MAP")


def _map(folder, name, *, z=0.0, series_uid="1.2.3.4", instance=1, value=1000, image_type=MAP, description="MOLLI T1 MAP", **tags):
    image = np.full((16, 16), value, np.uint16)
    ds = mr_image(
        image,
        study_uid="1.2.3",
        series_uid=series_uid,
        series_number=7,
        description=description,
        image_type=image_type,
        position_mm=(0, 0, z),
        instance=instance,
        **tags,
    )
    return save(ds, folder / name)


def test_mixed_exam_is_classified_and_skipped_series_are_one_line(tmp_path):
    assert write_exam(tmp_path, 250, size=16) == 250  # one visit
    ds = mr_image(
        np.ones((16, 16), np.uint16),
        study_uid="1.9",
        series_uid=generate_uid(),
        series_number=50,
        description="TI scout",
        InversionTime=150,
    )
    save(ds, tmp_path / "scout.dcm")
    found = discover([tmp_path])
    kinds = {r.series.split(" ", 1)[1].strip("'"): (r.kind, r.slices, r.action) for r in found.series}
    assert kinds["localizer"] == ("not relevant: localiser", 3, "skip")
    assert kinds["cine_sax"][0] == "not relevant: cine (--map-type T1 segments its cardiac phases, without T1 values)"
    assert kinds["LGE_PSIR"][0] == "not relevant: one preparation time (e.g. LGE)"
    assert kinds["TI scout"][0] == "not relevant: Look-Locker TI scout"
    assert kinds["MOLLI_sax"] == ("T1 weighted", 1, "not fitted: the scanner's map is used")
    assert kinds["T2prep_sax"] == ("T2 weighted", 1, "not fitted: the scanner's map is used")
    assert kinds["MOLLI T1 MAP"] == ("T1 map", 3, "analyse 3 slice(s)")
    assert kinds["T2 MAP"] == ("T2 map", 3, "analyse 3 slice(s)")
    skipped = [n for n in found.notes if "skipped as not relevant" in n]
    assert len(skipped) == 1 and skipped[0].startswith("4 series (212 images)")
    assert not found.errors and len(found.notes) == 1
    assert sum(len(s) for s in found.patients.values()) == 6


@pytest.mark.parametrize("description", ["LGE_PSIR_sax_MAG", "tfl_late_gad", "Delayed Enhancement SAX"])
def test_an_lge_slice_repeated_at_other_inversion_times_is_not_weighted_images(tmp_path, description):
    # The mid slice's LGE taken at five TIs (the blood nulled better each time): grouped across series as an
    # inversion-recovery series, a note asked to --fit-missing it, which then fitted a T1 map out of LGE images.
    for number, ti in enumerate((260, 280, 300, 320, 340), start=20):
        ds = mr_image(np.full((16, 16), ti, np.uint16), study_uid="1.2.3", series_uid=f"1.2.3.{number}", series_number=number,
                      description=description, position_mm=(0, 0, 8), InversionTime=ti)  # fmt: skip
        save(ds, tmp_path / f"lge{number}.dcm")
    _map(tmp_path, "map.dcm")
    found = discover([tmp_path], fit_missing=True)
    assert {row.kind for row in found.series if row.series.startswith("2")} == {"not relevant: one preparation time (e.g. LGE)"}
    assert not found.errors and found.fittable == 0
    assert [s.origin for slices in found.patients.values() for s in slices] == ["scanner"]


def test_duplicates_and_several_maps_at_one_position(tmp_path):
    first = _map(tmp_path, "a.dcm")
    shutil.copy(first, tmp_path / "copy_of_a.dcm")
    _map(tmp_path, "masked.dcm", instance=2, value=500)  # the vendor's masked copy, same position
    _map(tmp_path, "b.dcm", z=8.0, instance=3)
    found = discover([tmp_path])
    assert not found.errors
    (slices,) = found.patients.values()
    assert len(slices) == 2 and all(s.loaded().pixels[0, 0] == 1000 for s in slices)
    assert [s.series_label for s in slices] == ["series 7 'MOLLI T1 MAP'"] * 2
    assert any("1 duplicate image(s)" in n and "copy_of_a.dcm" in n for n in found.notes)
    assert any("1 further image(s) at positions" in n for n in found.notes)


def test_the_map_image_of_a_series_that_holds_its_magnitude_image_too(tmp_path):
    # A Philips-style series: the magnitude image first, then the map, at each position.
    for z in (0.0, 8.0):
        _map(tmp_path, f"m{z:g}.dcm", z=z, instance=int(z) + 1, value=520, image_type=("ORIGINAL", "PRIMARY", "M_FFE", "M"))
        _map(tmp_path, f"t1{z:g}.dcm", z=z, instance=int(z) + 2)
    (slices,) = discover([tmp_path]).patients.values()
    assert len(slices) == 2 and all(s.loaded().pixels[0, 0] == 1000 for s in slices)


def test_weighted_images_named_like_a_map_without_their_times_are_no_map(tmp_path):
    # Siemens names the T2-prep MOCO images after the protocol (T2MAP_...); an anonymiser stripped the prep times.
    for k in range(3):
        ds = mr_image(
            np.full((16, 16), 400 - 100 * k, np.uint16), study_uid="1.2.3", series_uid="5.5", series_number=26,
            description="T2MAP_SAX_MOCO", image_type=("DERIVED", "PRIMARY", "M", "ND", "MOCO"), position_mm=(0, 0, 0), instance=k + 1,
        )  # fmt: skip
        save(ds, tmp_path / f"w{k}.dcm")
    _map(tmp_path, "masked.dcm", instance=2, image_type=("DERIVED", "PRIMARY", "M", "ND"), series_uid="6.6", description="T2MAP_SAX")
    _map(tmp_path, "map.dcm", instance=1, image_type=("DERIVED", "PRIMARY", "M", "ND"), series_uid="6.6", description="T2MAP_SAX")
    found = discover([tmp_path])
    kinds = {row.series: row.kind for row in found.series}
    assert [k for k in kinds.values() if k.startswith("not relevant")] == ["not relevant: no map type or preparation time in the header"]
    (slices,) = found.patients.values()
    assert [s.map_type for s in slices] == ["T2"]  # a map named by its description alone, with a copy beside it, stays a map


def test_map_with_real_world_value_mapping_in_units_not_a_time_fails_alone(tmp_path):
    bad = _map(tmp_path, "bad.dcm", series_uid="9.9")
    ds = pydicom.dcmread(bad)
    units = DicomSequence([_item(CodeValue="mm2/s", CodingSchemeDesignator="UCUM", CodeMeaning="mm2/s")])
    ds.RealWorldValueMappingSequence = DicomSequence(
        [_item(RealWorldValueSlope=1.0, RealWorldValueIntercept=0.0, MeasurementUnitsCodeSequence=units)]
    )
    ds.save_as(bad)
    _map(tmp_path, "good.dcm")
    found = discover([tmp_path])
    assert len(found.errors) == 1 and "bad.dcm" in found.errors[0] and "RealWorldValueMapping" in found.errors[0]
    assert sum(len(s) for s in found.patients.values()) == 1 and found.unreadable_maps == 1


def test_enhanced_multiframe_maps_become_slices(tmp_path):
    frames = [np.full((16, 16), v, np.uint16) for v in (1000, 1100, 1200)]
    ds = enhanced_mr(
        frames,
        [(0, 0, 0), (0, 0, 8), (0, 0, 16)],
        study_uid="1",
        series_uid="2",
        image_type=("DERIVED", "PRIMARY", "T1 MAP", "NONE"),
        rwv=(1.0, 0.0, "ms"),
    )
    save(ds, tmp_path / "enhanced.dcm")
    found = discover([tmp_path])
    assert not found.errors
    (slices,) = found.patients.values()
    assert sorted(s.frame for s in slices) == [0, 1, 2] and sorted(float(s.loaded().pixels[0, 0]) for s in slices) == [1000, 1100, 1200]


def test_a_multiframe_file_is_decoded_once_for_all_its_maps_and_a_bad_frame_fails_alone(tmp_path, monkeypatch):
    # Six map frames in one enhanced file (a cine given --map-type is hundreds): decoded whole for every frame, it took minutes.
    frames = [np.full((16, 16), 1000 + 10 * k, np.uint16) for k in range(6)]
    ds = enhanced_mr(frames, [(0, 0, 8 * k) for k in range(6)], study_uid="1", series_uid="2", image_type=("DERIVED", "PRIMARY", "T1 MAP"))
    ds.PerFrameFunctionalGroupsSequence[5].PixelMeasuresSequence = DicomSequence([_item(PixelSpacing=[0, 0], SliceThickness=8)])
    save(ds, tmp_path / "enhanced.dcm")
    reads = []
    real = discover_module.read_frames
    monkeypatch.setattr(discover_module, "read_frames", lambda metas, **kw: reads.append(len(metas)) or real(metas, **kw))
    found = discover([tmp_path])
    assert reads[0] == 6 and len(reads) == 7  # once for the file; again frame by frame to find its bad frame
    assert len(found.errors) == 1 and "frame 6: PixelSpacing (0.0, 0.0) is not positive" in found.errors[0]
    (slices,) = found.patients.values()
    reads.clear()
    loaded = load_slices(slices)
    assert reads == [5] and sorted(float(s.pixels[0, 0]) for s in loaded) == [1000 + 10 * k for k in range(5)]
    assert [s.pixels.tobytes() for s in loaded] == [s.loaded().pixels.tobytes() for s in slices]


def test_the_error_line_of_a_slice_of_a_multiframe_file_names_its_frame(tmp_path):
    # A cine given --map-type in one enhanced file: each failed phase printed the same line, naming only the file.
    frames = [np.full((16, 16), 1000, np.uint16)] * 2
    save(enhanced_mr(frames, [(0, 0, 0), (0, 0, 8)], study_uid="1", series_uid="2", image_type=MAP), tmp_path / "in" / "enhanced.dcm")
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-report", "--no-tta", "--no-seg"])
    errors = sorted(line for line in result.output.splitlines() if line.startswith("error:"))
    assert [e.split(" ", 2)[2].split(":")[0] for e in errors] == ["frame 1", "frame 2"], result.output
    assert len({e.split(" ")[1] for e in errors}) == 1  # one file, named alike


def test_the_found_series_table_of_several_patients_names_each_rows_patient(tmp_path):
    # Two patients exported into one folder: their series 1, 2 ... were listed interleaved, with nothing to tell them apart.
    for patient, study in (("B", "1.8"), ("A", "1.9")):
        for number, description, image_type in ((1, "localizer", ("ORIGINAL", "PRIMARY", "LOCALIZER")), (2, "MOLLI T1 MAP", MAP)):
            ds = mr_image(np.full((16, 16), 1000, np.uint16), study_uid=study, series_uid=f"{study}.{number}", series_number=number,
                          description=description, image_type=image_type)  # fmt: skip
            ds.PatientID = patient
            save(ds, tmp_path / "in" / f"{patient}{number}.dcm")
    save(
        mr_image(np.ones((16, 16), np.uint16), study_uid="2.1", series_uid="2.1.1", series_number=1, description="cine"),
        tmp_path / "in" / "c.dcm",
    )
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-report", "--no-tta", "--no-seg"])
    rows = [line.split("│")[1:3] for line in result.output.splitlines() if line.startswith("│") and line.split("│")[2].strip()]
    assert [(patient.strip(), series.strip()) for patient, series in rows] == [
        ("patient-01", "1"), ("patient-01", "2"), ("patient-02", "1"), ("patient-02", "2"), ("-", "1"),
    ]  # fmt: skip


def _cine(folder, *, positions=(0.0, 8.0, 16.0), phases=(0.0, 350.0), masked_copy=False, description="cine_sax"):
    """A cine series: each position at each trigger delay, with its own value; optionally a masked copy of one frame."""
    instance = 0
    for z in positions:
        for delay in phases:
            instance += 1
            image = np.full((16, 16), 100 + instance, np.uint16)
            ds = mr_image(image, study_uid="1.5", series_uid="1.5.1", series_number=4, description=description,
                          position_mm=(0, 0, z), instance=instance, TriggerTime=delay)  # fmt: skip
            save(ds, folder / f"cine{instance:03d}.dcm")
    if masked_copy:  # same position and trigger delay as the first frame: a copy, not a phase
        ds = mr_image(np.zeros((16, 16), np.uint16), study_uid="1.5", series_uid="1.5.1", series_number=4,
                      description=description, position_mm=(0, 0, positions[0]), instance=99, TriggerTime=phases[0])  # fmt: skip
        save(ds, folder / "masked.dcm")


def test_a_cine_given_a_map_type_gives_every_cardiac_phase_as_a_slice(tmp_path):
    _cine(tmp_path, masked_copy=True)
    save(mr_image(np.ones((16, 16), np.uint16), study_uid="1.5", series_uid="1.5.9", series_number=1, description="localizer",
                  image_type=("ORIGINAL", "PRIMARY", "M")), tmp_path / "loc.dcm")  # fmt: skip
    alone = discover([tmp_path])
    assert not alone.patients  # without --map-type a cine is not a map, and the table says what to do with it
    assert {r.kind for r in alone.series} == {
        "not relevant: cine (--map-type T1 segments its cardiac phases, without T1 values)",
        "not relevant: localiser",
    }
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), "-o", str(tmp_path.with_name(tmp_path.name + "-out"))])
    assert result.exit_code == 3 and "no T1 or T2 maps found (cine images: see --map-type)" in " ".join(result.output.split())
    found = discover([tmp_path], map_type="T1")
    assert not found.errors
    (slices,) = found.patients.values()
    assert len(slices) == 6  # 3 positions x 2 phases; the masked copy and the localiser are not slices
    assert all(s.cine and (s.contrast, s.contrast_rule) == ("native", "cine") for s in slices)  # signal near 100: no post level
    assert sorted(float(s.loaded().pixels[0, 0]) for s in slices) == [101, 102, 103, 104, 105, 106]
    by_z = {}
    for s in slices:
        by_z.setdefault(round(s.position_mm[2]), set()).add(s.slice_position)
    assert all(len(levels) == 1 for levels in by_z.values())  # both phases of a position share its level
    assert sorted(next(iter(v)) for v in by_z.values()) == ["apical", "basal", "mid"]
    kinds = {r.series.split(" ", 1)[1].strip("'"): (r.kind, r.slices, r.images) for r in found.series}
    assert kinds == {"cine_sax": ("T1 map (--map-type)", 6, 7), "localizer": ("not relevant: localiser", 1, 1)}
    assert any("3 position(s) with different trigger delays" in n and "6 in all" in n for n in found.notes)
    assert any("1 further image(s) at positions" in n for n in found.notes)


def test_weighted_images_without_readable_times_are_not_called_a_cine(tmp_path):
    """A de-identified MOLLI series (inversion times gone with ImageComments) also differs in trigger delay: not a cine."""
    for k, delay in enumerate((100.0, 180.0, 260.0)):
        ds = mr_image(np.full((16, 16), 100 + k, np.uint16), study_uid="1.6", series_uid="1.6.1", series_number=7,
                      description="MOLLI_5(3)3_sax", position_mm=(0, 0, 0), instance=k + 1, TriggerTime=delay)  # fmt: skip
        save(ds, tmp_path / f"molli{k}.dcm")
    (row,) = discover([tmp_path]).series
    assert row.kind == "not relevant: no map type or preparation time in the header"


def test_a_cines_phases_are_ordered_by_trigger_delay_whatever_the_file_order(tmp_path):
    _cine(tmp_path, positions=(0.0, 8.0), phases=(400.0, 0.0, 200.0))  # file and instance order: 400, 0, 200 ms
    (slices,) = discover([tmp_path], map_type="T1").patients.values()
    delays = [(round(s.position_mm[2]), s.source.trigger_time_ms) for s in sorted(slices, key=lambda s: s.order)]
    assert delays in ([(0, 0.0), (0, 200.0), (0, 400.0), (8, 0.0), (8, 200.0), (8, 400.0)],
                      [(8, 0.0), (8, 200.0), (8, 400.0), (0, 0.0), (0, 200.0), (0, 400.0)])  # fmt: skip


def test_a_copy_without_a_trigger_delay_is_still_a_copy(tmp_path):
    _cine(tmp_path, positions=(0.0,), phases=(0.0,), description="sax_maps")
    ds = mr_image(np.zeros((16, 16), np.uint16), study_uid="1.5", series_uid="1.5.1", series_number=4, description="sax_maps",
                  position_mm=(0, 0, 0), instance=99)  # fmt: skip
    save(ds, tmp_path / "masked.dcm")
    found = discover([tmp_path], map_type="T1")
    (slices,) = found.patients.values()
    assert len(slices) == 1 and not any("cardiac phases" in n for n in found.notes)
    assert not slices[0].cine and slices[0].contrast_rule != "cine"  # one image per position, not named a cine: a map


@pytest.mark.parametrize("description", ["cine_sax", "SAX FIESTA", "sBTFE_BH_SA"])
def test_one_exported_phase_of_a_series_named_a_cine_is_a_cine_phase(tmp_path, description):
    """The frame an expert contoured, exported alone: its signal (near 100 here) makes no post-contrast call and no T1 value."""
    _cine(tmp_path, phases=(350.0,), description=description)
    found = discover([tmp_path], map_type="T1")
    (slices,) = found.patients.values()
    assert len(slices) == 3 and all(s.cine and (s.contrast, s.contrast_rule) == ("native", "cine") for s in slices)
    assert {s.kind for s in slices} == {"cine"}
    assert any("named a cine" in n for n in found.notes)


def test_a_map_named_after_its_bssfp_readout_is_not_a_cine(tmp_path):
    _cine(tmp_path, phases=(350.0,), description="MOLLI_bSSFP_sax")
    (slices,) = discover([tmp_path], map_type="T1").patients.values()
    assert not any(s.cine for s in slices)


def test_one_cine_position_is_one_slice_level_whatever_the_number_of_phases(tmp_path):
    _cine(tmp_path, positions=(0.0,), phases=(0.0, 40.0, 80.0, 120.0))
    (slices,) = discover([tmp_path], map_type="T2").patients.values()
    assert len(slices) == 4 and {s.slice_position for s in slices} == {"mid"}  # not basal, mid, apical by file order


def test_enhanced_cine_frames_take_their_phase_from_the_cardiac_synchronisation_group(tmp_path):
    frames = [np.full((16, 16), v, np.uint16) for v in (100, 200, 300, 400)]
    ds = enhanced_mr(frames, [(0, 0, 0), (0, 0, 0), (0, 0, 8), (0, 0, 8)], study_uid="1", series_uid="2", description="cine")
    for group, delay in zip(ds.PerFrameFunctionalGroupsSequence, (0.0, 300.0, 0.0, 300.0)):
        group.CardiacSynchronizationSequence = DicomSequence([_item(NominalCardiacTriggerDelayTime=delay)])
    save(ds, tmp_path / "cine.dcm")
    found = discover([tmp_path], map_type="T1")
    (slices,) = found.patients.values()
    assert sorted(float(s.loaded().pixels[0, 0]) for s in slices) == [100, 200, 300, 400]


def test_fit_missing_hint_only_when_true(tmp_path):
    runner = CliRunner()
    (tmp_path / "loc").mkdir()
    save(mr_image(np.ones((8, 8), np.uint16), study_uid="1", series_uid="2", description="localizer"), tmp_path / "loc" / "1.dcm")
    result = runner.invoke(app, ["analyze", str(tmp_path / "loc"), "-o", str(tmp_path / "o1"), "--no-report"])
    text = " ".join(result.output.split())
    assert result.exit_code == 3 and "no T1 or T2 maps found" in text and "--fit-missing" not in text  # 3: nothing analysed
    for k, ti in enumerate((100, 200, 400, 800), start=1):
        save(
            mr_image(np.full((8, 8), 10 * k, np.uint16), study_uid="1", series_uid="3", instance=k, InversionTime=ti),
            tmp_path / "w" / f"{k}.dcm",
        )
    result = runner.invoke(app, ["analyze", str(tmp_path / "w"), "-o", str(tmp_path / "o2"), "--no-report"])
    assert result.exit_code == 3 and "weighted images need --fit-missing" in " ".join(result.output.split())


def test_nifti_maps_with_type_from_sidecar_or_command_line(tmp_path):
    import nibabel

    data = np.full((16, 12, 2), 1000.0, np.float32)
    affine = np.diag([1.5, 1.5, 8.0, 1.0])
    nibabel.save(nibabel.Nifti1Image(data, affine), tmp_path / "t1.nii.gz")
    (tmp_path / "t1.json").write_text(json.dumps({"ImageType": ["DERIVED", "PRIMARY", "T1 MAP"]}))
    nibabel.save(nibabel.Nifti1Image(data / 20, affine), tmp_path / "other.nii")
    found = discover([tmp_path])
    assert len(found.errors) == 1 and "other.nii" in found.errors[0] and "--map-type" in found.errors[0]
    (slices,) = found.patients.values()
    assert [s.map_type for s in slices] == ["T1", "T1"] and slices[0].loaded().pixels.shape == (12, 16)
    assert slices[0].spacing_mm == (1.5, 1.5) and slices[0].origin == "nifti"
    assert [(r.series, r.kind, r.slices) for r in found.series] == [("t1.nii.gz", "T1 map (NIfTI)", 2)]
    found = discover([tmp_path], map_type="T2")
    assert not found.errors and sorted(s.map_type for s in next(iter(found.patients.values()))) == ["T1", "T1", "T2", "T2"]


def test_a_nifti_slice_without_a_finite_pixel_is_an_error_and_takes_no_place_in_the_stack(tmp_path):
    import nibabel

    data = np.random.default_rng(0).uniform(900.0, 1100.0, (16, 12, 3)).astype(np.float32)
    data[:, :, 1] = np.nan  # nothing fitted on the middle slice
    data[0, 0, 2] = np.nan  # one failed fit: a slice as any other
    nibabel.save(nibabel.Nifti1Image(data, np.diag([1.5, 1.5, 8.0, 1.0])), tmp_path / "t1.nii.gz")
    found = discover([tmp_path], map_type="T1")
    assert found.errors == [f"{tmp_path / 't1.nii.gz'} slice 2: image holds no finite pixels (all NaN or infinite)"]
    (slices,) = found.patients.values()
    assert sorted(s.frame for s in slices) == [0, 2]


def test_a_nifti_whose_sform_disagrees_with_its_voxel_sizes_takes_its_qform_with_one_note(tmp_path):
    import nibabel

    for k in range(2):  # as ACDC ships its files: a sform of 1 mm voxels, a qform of the true 1.32 mm pixels and 10 mm slices
        image = nibabel.Nifti1Image(np.full((16, 12, 3), 1000.0, np.float32), np.diag([-1.3158, -1.3158, 10.0, 1.0]))
        image.set_sform(np.diag([-1.0, -1.0, 1.0, 1.0]), code=1)
        image.set_qform(np.diag([-1.3158, -1.3158, 10.0, 1.0]), code=1)
        nibabel.save(image, tmp_path / f"patient00{k}_frame01.nii.gz")
    found = discover([tmp_path], map_type="T1")
    slices = [s for group in found.patients.values() for s in group]
    assert len(slices) == 6 and np.allclose([s.spacing_mm for s in slices], 1.3158)
    positions = sorted({round(s.position_mm[2], 3) for s in slices})
    assert np.allclose(np.diff(positions), 10.0)  # the slices 10 mm apart, not 1
    (note,) = [n for n in found.notes if "sform" in n]
    assert "qform" in note and "(and in 1 more NIfTI file(s))" in note
    image = nibabel.Nifti1Image(np.full((16, 12, 3), 1000.0, np.float32), np.diag([1.5, 1.5, 8.0, 1.0]))  # agreeing: no note
    (tmp_path / "patient00").mkdir()
    nibabel.save(image, tmp_path / "patient00" / "t1.nii")
    assert not [n for n in discover([tmp_path / "patient00"], map_type="T1").notes if "sform" in n]
    nibabel.save(
        nibabel.Nifti1Image(np.full((16, 12), 1000.0, np.float32), np.diag([1.5, 1.5, 8.0, 1.0])), tmp_path / "patient00" / "one.nii"
    )
    found = discover([tmp_path / "patient00"], map_type="T1")  # a 2-D file: two voxel sizes in its header
    assert not found.errors and sum(len(group) for group in found.patients.values()) == 4


def _cine_nifti(path, data, step: float, unit: str):
    import nibabel

    image = nibabel.Nifti1Image(data.astype(np.float32), np.diag([1.5, 1.5, 8.0, 1.0]))
    image.header.set_xyzt_units("mm", unit)
    image.header["pixdim"][4] = step
    nibabel.save(image, path)


def test_a_4d_nifti_cine_gives_every_phase_of_every_slice_and_its_labels_are_skipped(tmp_path):
    """A cine as public data sets ship it (x, y, slice, phase), with its expert labels beside it (*_gt.nii.gz)."""
    import nibabel

    rng = np.random.default_rng(0)
    data = rng.uniform(100, 900, (16, 12, 2, 5))
    data[0, 0, 1, 3] = np.nan
    _cine_nifti(tmp_path / "p01_sa.nii.gz", data, 0.04, "sec")
    labels = np.zeros((16, 12, 2, 5), np.uint8)  # drawn on two phases only, as M&Ms does (end-diastole and end-systole)
    labels[4:8, 4:8, :, (1, 3)] = 2
    labels[5:7, 5:7, :, (1, 3)] = 3
    nibabel.save(nibabel.Nifti1Image(labels, np.eye(4)), tmp_path / "p01_sa_gt.nii.gz")
    nibabel.save(nibabel.Nifti1Image(np.ones((16, 12, 2, 5, 2), np.float32), np.eye(4)), tmp_path / "five.nii")
    found = discover([tmp_path], map_type="T1")
    assert found.errors == [
        f"{tmp_path / 'five.nii'}: NIfTI of shape (16, 12, 2, 5, 2); a map has one volume, a cine one volume per cardiac phase"
    ]
    assert found.notes == [f"1 NIfTI label image(s) skipped (segmentations, not maps), e.g. {tmp_path / 'p01_sa_gt.nii.gz'}"]
    (slices,) = found.patients.values()
    assert len(slices) == 10 and len({s.sop_uid for s in slices}) == 10
    assert all(s.cine and np.isnan(s.level_ms) for s in slices)  # signal, not ms: no T1 level for the contrast call
    by_order = sorted(slices, key=lambda s: s.order)
    assert [(s.frame, s.phase) for s in by_order[:5]] in ([(0, t) for t in range(5)], [(1, t) for t in range(5)])
    assert [s.trigger_time_ms for s in by_order[:5]] == pytest.approx([0.0, 40.0, 80.0, 120.0, 160.0])
    assert len({s.slice_position for s in by_order[:5]}) == 1  # the phases of a position share its level
    item = next(s for s in slices if (s.frame, s.phase) == (1, 3))
    assert item.pixels is None  # read again when analysed, so a folder of cines fits in memory
    pixels = item.loaded().pixels
    np.testing.assert_array_equal(pixels, data[:, :, 1, 3].T.astype(np.float32))  # NaN kept: a failed fit, no value
    rows = {r.series: (r.kind, r.slices, r.images, r.action) for r in found.series}
    assert rows["p01_sa.nii.gz"] == ("T1 map (NIfTI cine, 5 phases)", 2, 10, "analyse 10 slice(s)")
    assert rows["p01_sa_gt.nii.gz"] == ("not relevant: label image (NIfTI)", 0, 0, "skip")


def test_a_cines_phase_saved_again_as_a_3d_file_is_analysed_as_a_cine_phase(tmp_path):
    """ACDC ships each labelled frame again beside the 4-D cine: those slices are a cine's, not a map's (contours, no values)."""
    import nibabel

    data = np.random.default_rng(1).uniform(100, 900, (16, 12, 2, 5))
    _cine_nifti(tmp_path / "patient001_4d.nii.gz", data, 0.04, "sec")
    affine = np.diag([1.5, 1.5, 8.0, 1.0])
    nibabel.save(nibabel.Nifti1Image(data[..., 3].astype(np.float32), affine), tmp_path / "patient001_frame04.nii.gz")
    nibabel.save(nibabel.Nifti1Image((data[..., 3] + 1.0).astype(np.float32), affine), tmp_path / "other.nii.gz")
    found = discover([tmp_path], map_type="T1")
    (slices,) = found.patients.values()
    assert len(slices) == 14 and {s.path.name for s in slices if not s.cine} == {"other.nii.gz"}
    frame = [s for s in slices if s.path.name == "patient001_frame04.nii.gz"]
    assert len(frame) == 2 and all(np.isnan(s.level_ms) and s.contrast_rule == "cine" for s in frame)
    note = f"{tmp_path / 'patient001_frame04.nii.gz'}: the pixels of volume 4 of {tmp_path / 'patient001_4d.nii.gz'}"
    assert note in " ".join(found.notes)


def test_a_cine_without_a_time_unit_keeps_its_phase_order(tmp_path):
    """Slices stored apex first (the affine's slice step points to the base) are ordered base first, each with its phases in order."""
    import nibabel

    image = nibabel.Nifti1Image(
        np.random.default_rng(1).uniform(100, 900, (16, 12, 3, 4)).astype(np.float32), np.diag([1.5, 1.5, 8.0, 1.0])
    )
    nibabel.save(image, tmp_path / "cine.nii")
    (slices,) = discover([tmp_path], map_type="T1").patients.values()
    ordered = sorted(slices, key=lambda s: s.order)
    assert [(s.frame, s.phase, s.trigger_time_ms) for s in ordered] == [(k, t, None) for k in (2, 1, 0) for t in range(4)]


def test_label_images_are_told_by_name_or_values_and_a_sidecar_overrides_both(tmp_path):
    import nibabel

    from myomap.io.nifti import NiftiLabelImage, read_nifti_map

    steps = np.zeros((16, 12, 2), np.float32)
    steps[4:12] = 200.0
    steps[6:10, 3:9] = 2221.0  # MyoPS-style label values
    nibabel.save(nibabel.Nifti1Image(steps, np.eye(4)), tmp_path / "myops.nii.gz")
    noise = np.random.default_rng(2).uniform(0, 9, (16, 12, 2)).astype(np.float32)
    nibabel.save(nibabel.Nifti1Image(noise, np.eye(4)), tmp_path / "p1_frame01_gt.nii")
    nibabel.save(nibabel.Nifti1Image(noise * 100, np.eye(4)), tmp_path / "sax_cine_seg.nii")  # segmented k-space: a cine
    assert len(read_nifti_map(tmp_path / "sax_cine_seg.nii", "T1").slices) == 2
    (tmp_path / "sax_cine_seg.nii").unlink()
    (tmp_path / "labelsTr").mkdir()  # nnU-Net's folder of labels, resampled with linear interpolation: not whole numbers
    nibabel.save(nibabel.Nifti1Image(noise, np.eye(4)), tmp_path / "labelsTr" / "patient001_frame01.nii.gz")
    for name in ("myops.nii.gz", "p1_frame01_gt.nii", "labelsTr/patient001_frame01.nii.gz"):
        with pytest.raises(NiftiLabelImage, match="not a map: skipped"):
            read_nifti_map(tmp_path / name, "T2")
    nibabel.save(nibabel.Nifti1Image(steps / 10, np.eye(4)), tmp_path / "object.nii.gz")  # a flat-valued test object, typed
    (tmp_path / "object.json").write_text(json.dumps({"MapType": "T2"}))
    assert len(read_nifti_map(tmp_path / "object.nii.gz").slices) == 2
    found = discover([tmp_path])  # no --map-type: the label images are still skipped, not errors
    assert found.errors == [] and len(found.notes) == 1 and found.notes[0].startswith("3 NIfTI label image(s) skipped")


def test_a_4d_weighted_series_is_refused_and_a_changed_cine_is_an_error_not_a_crash(tmp_path):
    import nibabel

    from myomap.io.dicom import DicomError

    data = np.random.default_rng(3).uniform(100, 900, (16, 12, 2, 3)).astype(np.float32)
    nibabel.save(nibabel.Nifti1Image(data, np.eye(4)), tmp_path / "molli.nii")
    (tmp_path / "molli.json").write_text(json.dumps({"InversionTime": 0.1}))
    found = discover([tmp_path], map_type="T1")
    assert len(found.errors) == 1 and "inversion-recovery images" in found.errors[0]
    (tmp_path / "molli.nii").unlink()
    nibabel.save(nibabel.Nifti1Image(data, np.eye(4)), tmp_path / "cine.nii")
    (slices,) = discover([tmp_path], map_type="T1").patients.values()
    nibabel.save(nibabel.Nifti1Image(data[:, :, :1], np.eye(4)), tmp_path / "cine.nii")  # rewritten with one slice
    with pytest.raises(DicomError, match="changed since it was found"):  # analyze's patient loop reports it and goes on
        next(s for s in slices if s.frame == 1).loaded()
    assert len(slices) == 6 and next(s for s in slices if s.frame == 0).loaded().pixels is not None


def test_a_nifti_sidecar_gives_the_scan_context_and_the_contrast_state(tmp_path):
    import nibabel

    data = np.full((16, 12, 1), 1000.0, np.float32)  # a native level: only the sidecar says post
    nibabel.save(nibabel.Nifti1Image(data, np.diag([1.5, 1.5, 8.0, 1.0])), tmp_path / "t1.nii.gz")
    sidecar = {"MapType": "T1", "SeriesDescription": "MOLLI_T1_post_15min", "MagneticFieldStrength": 3, "AcquisitionTime": "10:15:30.5"}
    (tmp_path / "t1.json").write_text(json.dumps(sidecar))
    ((item,),) = discover([tmp_path]).patients.values()
    assert (item.context.field_strength_t, item.context.sequence, item.context.acquisition_time_s) == (3.0, "MOLLI", 36930.5)
    assert (item.contrast, item.contrast_rule) == ("post", "series-description")


@pytest.mark.slow
def test_ten_thousand_unrelated_files_are_one_note(tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    for k in range(10_000):
        (junk / f"file{k:05d}.bin").write_bytes(b"not dicom")
    _map(tmp_path, "map.dcm")
    found = discover([tmp_path])
    assert not found.errors
    assert [n for n in found.notes if "not DICOM" in n] == [
        f"10000 file(s) are not DICOM (e.g. {junk / 'file00000.bin'}, {junk / 'file00001.bin'}); skipped"
    ]
    assert sum(len(s) for s in found.patients.values()) == 1


@pytest.mark.slow
def test_analyze_prints_the_found_series_and_names_the_series_of_each_slice(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    shutil.copytree(subject / "T1_mid", tmp_path / "in" / "T1_mid")
    save(
        mr_image(np.ones((8, 8), np.uint16), study_uid="1", series_uid="2", series_number=1, description="localizer"),
        tmp_path / "in" / "loc.dcm",
    )
    result = CliRunner().invoke(
        app, ["analyze", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-report", "--no-tta", "--keep-phi"]
    )
    assert result.exit_code == 0, result.output
    assert "found series" in result.output and "localizer" in result.output and "skip" in result.output and "analyse" in result.output
    (row,) = csv.DictReader((tmp_path / "out" / "slices.csv").open())
    assert row["series"] == "202 'MOLLI_T1_MAP_mid'"
    # De-identified (the default): the series number only, its description being free text.
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "in"), "-o", str(tmp_path / "anon"), "--no-report", "--no-tta"])
    assert result.exit_code == 0 and "found series" in result.output and "localizer" not in result.output
    (row,) = csv.DictReader((tmp_path / "anon" / "slices.csv").open())
    assert row["series"] == "202"


def test_map_type_must_be_t1_or_t2(tmp_path):
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), "-o", str(tmp_path / "o"), "--map-type", "T3"])
    assert result.exit_code == 2 and "--map-type must be T1 or T2" in result.output  # 2: bad usage


def _as_nifti(dicom_path, out):
    """A DICOM map as dcm2niix-like NIfTI: voxel (i, j) = (column, row), affine in RAS+."""
    import nibabel

    from myomap.io.dicom import read_image

    pixels, meta = read_image(dicom_path)
    row_dir, col_dir = np.array(meta.orientation[:3]), np.array(meta.orientation[3:])
    lps = np.eye(4)
    lps[:3, 0] = row_dir * meta.spacing_mm[1]
    lps[:3, 1] = col_dir * meta.spacing_mm[0]
    lps[:3, 2] = np.cross(row_dir, col_dir) * 8.0
    lps[:3, 3] = meta.position_mm
    nibabel.save(nibabel.Nifti1Image(pixels.T[:, :, None].astype(np.float32), np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps), out)
    return pixels, meta


def test_nifti_geometry_round_trips_to_the_dicom_frame(cohort, tmp_path):
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    pixels, meta = _as_nifti(subject / "T1_mid" / "map.dcm", tmp_path / "map.nii.gz")
    (item,) = next(iter(discover([tmp_path], map_type="T1").patients.values()))
    np.testing.assert_array_equal(item.loaded().pixels, pixels)
    np.testing.assert_allclose(item.orientation, meta.orientation, atol=1e-6)
    np.testing.assert_allclose(item.position_mm, meta.position_mm, atol=1e-4)
    np.testing.assert_allclose(item.spacing_mm, meta.spacing_mm, atol=1e-6)


@pytest.mark.slow
def test_analyze_runs_on_nifti_maps(cohort, tmp_path):
    from myomap.analyze.settings import AnalyzeConfig
    from myomap.report.analysis import analyze

    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    (tmp_path / "in").mkdir()
    for position in ("basal", "mid", "apical"):
        _as_nifti(subject / f"T1_{position}" / "map.dcm", tmp_path / "in" / f"t1_{position}.nii")
    slices: list = []
    result = analyze([tmp_path / "in"], tmp_path / "out", AnalyzeConfig(map_type="T1", tta=False, report=False), on_patient=slices.extend)
    assert not result.errors, result.errors
    assert sorted((r.slice.slice_position, r.slice.path.name) for r in slices) == [
        ("apical", "t1_apical.nii"),
        ("basal", "t1_basal.nii"),
        ("mid", "t1_mid.nii"),
    ]
    assert all(r.values for r in slices)
    with (tmp_path / "out" / "slices.csv").open() as handle:
        assert {row["series"] for row in csv.DictReader(handle)} == {""}  # no series number: empty, as every unknown number


@pytest.mark.slow
def test_analyze_measures_a_nifti_map_with_nan_failures_from_its_other_pixels(cohort, tmp_path):
    """NaN pixels (failed fits, a masked lung and air) are pixels without a value, not 0 ms.

    The network is shown the wall's failures as the tissue around them, so the contours hardly move, and the
    values leave them out.  NaN used to be read as 0, which the network took for dark tissue.
    """
    import nibabel

    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    (tmp_path / "clean").mkdir()
    (tmp_path / "holes").mkdir()
    pixels, _ = _as_nifti(subject / "T1_mid" / "map.dcm", tmp_path / "clean" / "t1_mid.nii")
    affine = nibabel.load(tmp_path / "clean" / "t1_mid.nii").affine
    holes = np.where(pixels >= pixels.max(), np.nan, pixels)  # the lung's failures at the top: NaN
    holes[np.random.default_rng(0).random(holes.shape) < 0.1] = np.nan  # a tenth of every tissue's pixels failed
    nibabel.save(nibabel.Nifti1Image(holes.T[:, :, None].astype(np.float32), affine), tmp_path / "holes" / "t1_mid.nii")
    rows, contours = {}, {}
    for name in ("clean", "holes"):
        result = CliRunner().invoke(
            app, ["analyze", str(tmp_path / name), "-o", str(tmp_path / f"out_{name}"), "--map-type", "T1", "--no-tta", "--no-report"]
        )
        assert result.exit_code == 0, result.output
        (rows[name],) = csv.DictReader(next((tmp_path / f"out_{name}").glob("*/slices.csv")).open())
        contours[name] = json.loads((tmp_path / f"out_{name}" / rows[name]["folder"] / "contours.json").read_text())
    assert int(rows["holes"]["global_n_missing"]) > 0.05 * int(rows["clean"]["global_n_pixels"])
    assert float(rows["holes"]["global_median_ms"]) == pytest.approx(float(rows["clean"]["global_median_ms"]), rel=0.02)
    masks = [
        contours_to_mask(
            np.column_stack([c["epicardial_contours_x"], c["epicardial_contours_y"]]),
            np.column_stack([c["endocardial_contours_x"], c["endocardial_contours_y"]]),
            pixels.shape,
        )
        == MYOCARDIUM
        for c in contours.values()
    ]
    assert 2 * (masks[0] & masks[1]).sum() / (masks[0].sum() + masks[1].sum()) > 0.85


@pytest.mark.slow
def test_analyze_runs_on_a_4d_nifti_cine(cohort, tmp_path, caplog):
    """Every phase of a 4-D cine gets contours, and slices.csv says which slice and phase each row is."""
    import csv

    import nibabel

    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    pixels, _ = _as_nifti(subject / "T1_mid" / "map.dcm", tmp_path / "mid.nii")
    image = nibabel.load(tmp_path / "mid.nii")
    phases = np.stack([np.roll(pixels.T, shift, axis=0) for shift in (0, 2, 4)], axis=-1)[:, :, None, :]  # the heart moves
    (tmp_path / "in").mkdir()
    # Converters name files after the patient: the found-series table names the file as outputs name source files.
    nibabel.save(nibabel.Nifti1Image(phases.astype(np.float32), image.affine), tmp_path / "in" / "Doe_John_cine.nii.gz")
    result = CliRunner().invoke(
        app, ["analyze", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--map-type", "T1", "--no-tta", "--no-report"]
    )
    assert result.exit_code == 0, result.output
    assert "found series" in result.output and "file-" in result.output and "Doe_John" not in result.output
    rows = list(csv.DictReader(next((tmp_path / "out").glob("*/slices.csv")).open()))
    assert [(r["frame"], r["phase"]) for r in rows] == [("0", "0"), ("0", "1"), ("0", "2")]
    assert all(r["status"] != "error" and r["global_median_ms"] for r in rows)
    values = list(csv.DictReader(next((tmp_path / "out").glob("*/values.csv")).open()))
    assert values == [] and "native T1 3 cine phase(s) not pooled" in caplog.text  # signal is no patient's T1
    folders = [tmp_path / "out" / r["folder"] for r in rows]
    centres = [np.mean(json.loads((f / "contours.json").read_text())["epicardial_contours_x"]) for f in folders]
    assert np.diff(centres) == pytest.approx([2.0, 2.0], abs=0.5)  # each phase was segmented on its own pixels


def test_an_exam_of_maps_and_a_cine_given_a_map_type_keeps_the_cines_signal_out_of_the_maps_values(cohort, tmp_path, caplog):
    """A new user's exam: the T1 maps and a cine of the same slices (signal about 200), all given --map-type T1."""
    subject = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
    series_uid, instance = generate_uid(), 0
    for level in ("basal", "mid", "apical"):
        shutil.copy(subject / f"T1_{level}" / "map.dcm", tmp_path / f"map_{level}.dcm")
        for delay in (0.0, 400.0):  # two cardiac phases at the map's plane, in one series
            ds = pydicom.dcmread(subject / f"T1_{level}" / "map.dcm")
            values = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            instance += 1
            ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.SeriesNumber, ds.InstanceNumber = series_uid, generate_uid(), 40, instance
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.SeriesDescription, ds.ImageType, ds.TriggerTime = "cine_sax", ["ORIGINAL", "PRIMARY", "M"], delay
            ds.RescaleSlope, ds.RescaleIntercept = 1, 0
            ds.PixelData = np.clip(values * 0.2, 0, 65535).astype(np.uint16).tobytes()
            ds.save_as(tmp_path / f"cine_{instance}.dcm")
    out = tmp_path.with_name(tmp_path.name + "-out")
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), "-o", str(out), "--map-type", "T1", "--no-tta", "--no-report"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(next(out.glob("*/slices.csv")).open()))
    assert sorted(r["contrast_rule"] for r in rows) == ["cine"] * 6 + ["default"] * 3 and {r["contrast"] for r in rows} == {"native"}
    assert all(r["status"] == "ok" for r in rows)
    values = list(csv.DictReader(next(out.glob("*/values.csv")).open()))
    (pooled,) = [v for v in values if v["region"] == "global" and v["eroded"] == "True"]
    assert pooled["n_slices"] == "3" and 900 < float(pooled["median_ms"]) < 1500  # the maps alone, in ms
    assert "native T1 6 cine phase(s) not pooled" in caplog.text


def _colour_copy(path, series_uid):
    """The same map as a vendor's colour rendering (RGB, 8 bits per sample), in its own series."""
    ds = pydicom.dcmread(path)
    ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.SeriesDescription = series_uid, generate_uid(), "MOLLI T1 MAP COLOR"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = np.zeros((ds.Rows, ds.Columns, 3), np.uint8).tobytes()
    ds.save_as(path.with_name("colour.dcm"))
    return path.with_name("colour.dcm")


def test_a_colour_copy_of_a_map_is_skipped_not_measured(tmp_path):
    colour = _colour_copy(_map(tmp_path, "a.dcm"), "5.5")
    found = discover([tmp_path])
    kinds = {r.series.split(" ", 1)[1].strip("'"): (r.kind, r.action) for r in found.series}
    assert kinds["MOLLI T1 MAP COLOR"] == ("not relevant: colour image (RGB), no values to measure", "skip")
    assert kinds["MOLLI T1 MAP"] == ("T1 map", "analyse 1 slice(s)")
    assert not found.errors and sum(len(s) for s in found.patients.values()) == 1
    with pytest.raises(DicomError, match="colour image \\(RGB\\), not a T1 or T2 map"):
        read_image(colour)


def test_a_maps_sd_companion_is_skipped_not_taken_for_a_second_map(tmp_path):
    _map(tmp_path, "a.dcm", SeriesDescription="MOCO_T1")
    _map(tmp_path, "sd.dcm", series_uid="6.6", value=40, SeriesDescription="MOCO_T1_SD")  # the fit's pixel-wise SD
    _map(tmp_path, "ecv.dcm", series_uid="7.7", z=8.0, SeriesDescription="T1 map pre ECV")  # a protocol's name, no companion
    found = discover([tmp_path])
    kinds = {r.series.split(" ", 1)[1].strip("'"): r.kind for r in found.series}
    assert kinds["MOCO_T1_SD"] == "not relevant: a map's companion (SD), not its values"
    assert kinds["MOCO_T1"] == kinds["T1 map pre ECV"] == "T1 map"
    assert sorted(s.loaded().pixels[0, 0] for s in found.patients[next(iter(found.patients))]) == [1000, 1000]
