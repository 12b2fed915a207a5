"""Exams written with the header conventions of real exports: map type, scaling, contrast state, sequence, field, heart rate.

The files are built here (:mod:`myomap.io.synthetic`); each carries the
tags a vendor writes (see docs/clinical_values.md and myomap.io.vendor).
"""

import numpy as np
import pydicom
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from myomap.analyze.discover import discover
from myomap.io.synthetic import _item, mr_image, save

SAX = (1.0, 0.0, 0.0, 0.0, 0.8, -0.6)  # an oblique short-axis plane


def _map(level_ms: float, slope: float = 1.0) -> np.ndarray:
    pixels = np.zeros((48, 48))
    pixels[8:40, 8:40] = level_ms
    return np.rint(pixels / slope)


def _series(folder, number, description, image_type, images, **tags):
    uid = generate_uid()
    for k, (pixels, extra) in enumerate(images, start=1):
        ds = mr_image(pixels, study_uid="1.2.3", series_uid=uid, series_number=number, description=description, image_type=image_type,
                      instance=k, orientation=SAX, position_mm=(0.0, 0.0, 10.0 * number), **tags, **extra)  # fmt: skip
        ds.PatientID = "EXAM01"
        save(ds, folder / f"S{number:03d}_{k:03d}.dcm")


def _siemens_exam(folder):
    common = {"MagneticFieldStrength": "1.494", "HeartRate": "0", "NominalInterval": "923", "Manufacturer": "SIEMENS"}
    # Motion-corrected MOLLI images: DERIVED, named after a "t1map" protocol, TI in ImageComments, one InversionTime for all.
    moco = [
        (np.full((48, 48), 300 + 40 * k), {"ImageComments": f"TI {ti}", "InversionTime": "0"})
        for k, ti in enumerate((100, 180, 260, 1100, 1180, 1260, 2100, 3100))
    ]
    _series(folder, 10, "T1MAP_SAX_MOCO", ("DERIVED", "PRIMARY", "M", "ND", "MOCO"), moco, ProtocolName="T1MAP_SAX", AcquisitionTime="101000", **common)  # fmt: skip
    _series(folder, 11, "T1MAP_SAX_MOCO_T1", ("DERIVED", "PRIMARY", "T1 MAP", "ND"), [(_map(1000.0), {})], ProtocolName="T1MAP_SAX", AcquisitionTime="101000", SequenceName="*tfi2d1_192", **common)  # fmt: skip
    _series(folder, 20, "LGE_PSIR_SAX", ("ORIGINAL", "PRIMARY", "M"), [(np.full((48, 48), 200), {"InversionTime": "300"})], AcquisitionTime="103000", ContrastBolusAgent="Gadovist", **common)  # fmt: skip
    # The post-contrast map: agent registered on the scanner, a post scheme in the name.
    _series(folder, 30, "MOLLI_4(1)3(1)2_SAX_MOCO_T1", ("DERIVED", "PRIMARY", "T1 MAP", "ND"), [(_map(450.0), {})], ProtocolName="MOLLI_4(1)3(1)2_SAX", AcquisitionTime="104500", ContrastBolusAgent="Gadovist", **common)  # fmt: skip


def test_siemens_exam_moco_images_native_and_post_maps(tmp_path):
    _siemens_exam(tmp_path)
    found = discover([tmp_path])
    kinds = {row.series.split(" ", 1)[0]: row.kind for row in found.series}
    assert kinds["10"] == "T1 weighted"  # not a map, though its name says T1MAP
    assert kinds["11"] == kinds["30"] == "T1 map"
    assert kinds["20"].startswith("not relevant")
    (slices,) = found.patients.values()
    calls = {s.series_number: (s.map_type, s.contrast, s.contrast_rule, s.context.sequence) for s in slices}
    assert calls == {11: ("T1", "native", "default", ""), 30: ("T1", "post", "ContrastBolusAgent", "MOLLI")}
    assert {(s.context.field_strength_t, s.context.heart_rate_bpm) for s in slices} == {(1.494, 65.0)}


def test_an_unnamed_post_map_is_split_by_time_and_value(tmp_path):
    _series(tmp_path, 5, "MOLLI_SAX_MOCO_T1", ("DERIVED", "PRIMARY", "T1 MAP", "ND"), [(_map(1150.0), {})], AcquisitionTime="092000", MagneticFieldStrength="2.89362")  # fmt: skip
    _series(tmp_path, 9, "MOLLI_SAX_MOCO_T1", ("DERIVED", "PRIMARY", "T1 MAP", "ND"), [(_map(520.0), {})], AcquisitionTime="094000", MagneticFieldStrength="2.89362")  # fmt: skip
    (slices,) = discover([tmp_path]).patients.values()
    assert {s.series_number: (s.contrast, s.contrast_rule) for s in slices} == {
        5: ("native", "default"),
        9: ("post", "acquisition-time+value-range"),
    }


def test_a_pre_contrast_name_keeps_a_low_map_native(tmp_path):
    """A lone map named pre-contrast stays native whatever its values (the level rule is only for unnamed maps)."""
    _series(tmp_path, 7, "T1map_preGd", ("DERIVED", "PRIMARY", "T1 MAP"), [(_map(640.0), {})], MagneticFieldStrength="1.5")
    (slices,) = discover([tmp_path]).patients.values()
    assert [(s.contrast, s.contrast_rule) for s in slices] == [("native", "series-description")]


def test_philips_map_scaling_uses_the_public_mapping_not_the_private_scale_slope(tmp_path):
    """A Philips map: RealWorldValueMapping in ms, RescaleSlope for display, and the private (2005,100E) scale slope.

    The console shows stored * RescaleSlope + RescaleIntercept; the private
    slope gives the "precise" value of magnitude images (dcm2niix's Philips
    notes), not ms, so the map must come out at its level in ms.
    """
    _series(tmp_path, 401, "T1map_MOLLI_post", ("DERIVED", "PRIMARY", "T1 MAP", "T1"), [(_map(480.0, slope=0.5), {})],
            RescaleSlope="0.5", RescaleIntercept="0", MagneticFieldStrength="3", HeartRate="58")  # fmt: skip
    for path in tmp_path.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.add_new((0x2005, 0x0010), "LO", "Philips MR Imaging DD 001")
        ds.add_new((0x2005, 0x100E), "FL", 0.00312)
        ds.add_new((0x2005, 0x100D), "FL", 0.0)
        ds.RealWorldValueMappingSequence = DicomSequence(
            [_item(RealWorldValueSlope=0.5, RealWorldValueIntercept=0.0, LUTLabel="T1",
                   MeasurementUnitsCodeSequence=DicomSequence([_item(CodeValue="ms", CodingSchemeDesignator="UCUM", CodeMeaning="ms")]))]
        )  # fmt: skip
        ds.save_as(path)
    (slices,) = discover([tmp_path]).patients.values()
    (item,) = [s.loaded() for s in slices]
    assert float(np.median(item.pixels[8:40, 8:40])) == 480.0
    assert (item.contrast, item.contrast_rule, item.context.sequence) == ("post", "series-description", "MOLLI")
    assert (item.context.field_strength_t, item.context.heart_rate_bpm) == (3.0, 58.0)


def test_ge_named_map_of_derived_images(tmp_path):
    """A map that only its SeriesDescription names (DERIVED, no map in ImageType), field from the imaging frequency."""
    _series(tmp_path, 12, "cardiac T2 map", ("DERIVED", "SECONDARY"), [(_map(52.0), {})], ImagingFrequency="63.86", NominalInterval="1000")  # fmt: skip
    (slices,) = discover([tmp_path]).patients.values()
    assert [(s.map_type, s.contrast, s.context.field_strength_t, s.context.heart_rate_bpm) for s in slices] == [("T2", "native", 1.5, 60.0)]
