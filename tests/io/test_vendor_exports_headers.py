"""Value mapping and map naming of real vendor exports, on headers built here (see myomap.io.vendor)."""

import numpy as np
import pytest
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, generate_uid

from myomap.io import vendor
from myomap.io.dicom import DicomError, read_frames, read_image
from myomap.io.header import read_headers
from myomap.io.synthetic import _item, enhanced_mr, mr_image, save


def _rwv(slope: float, code: str, meaning: str):
    units = DicomSequence([_item(CodeValue=code, CodingSchemeDesignator="UCUM", CodeMeaning=meaning)])
    return _item(RealWorldValueSlope=slope, RealWorldValueIntercept=0.0, LUTLabel=meaning, MeasurementUnitsCodeSequence=units)


def test_of_several_real_world_value_mappings_the_one_in_ms_is_used(tmp_path):
    """The sequence may hold several mappings (one per unit); a unitless one listed first must not refuse the map.

    vtk-dicom issue #26 and nibabel PR #143: "RealWorldValueMappingSequence can also contain multiple
    mappings"; the first item was taken, and its units '1' refused a T1 map whose second item is in ms.
    """
    ds = mr_image(np.full((8, 8), 2000), study_uid="1.2", series_uid=generate_uid(), image_type=("DERIVED", "PRIMARY", "T1 MAP", "T1"))
    ds.RescaleSlope, ds.RescaleIntercept = "0.5", "0"
    ds.RealWorldValueMappingSequence = DicomSequence([_rwv(1.0, "1", "no units"), _rwv(0.5, "ms", "milliseconds")])
    (meta,) = read_headers(save(ds, tmp_path / "map.dcm"))
    assert (meta.scaling.slope, meta.scaling.units, vendor.ms_factor(meta.scaling)) == (0.5, "ms", 1.0)
    pixels, _ = read_image(tmp_path / "map.dcm")
    assert float(pixels[0, 0]) == 1000.0


def test_a_single_unitless_mapping_is_the_consoles_value_in_ms_and_another_quantity_is_refused(tmp_path):
    """Philips writes the RWV of the console's displayed value, a map's ms, with units '1' or none (dcm2niix #455)."""
    ds = mr_image(np.full((8, 8), 2000), study_uid="1.2", series_uid=generate_uid(), image_type=("DERIVED", "PRIMARY", "T1 MAP"))
    ds.RealWorldValueMappingSequence = DicomSequence([_rwv(0.5, "1", "no units")])
    (meta,) = read_headers(save(ds, tmp_path / "map.dcm"))
    assert vendor.ms_factor(meta.scaling) == 1.0 and float(read_image(tmp_path / "map.dcm")[0][0, 0]) == 1000.0
    ds.RealWorldValueMappingSequence = DicomSequence([_rwv(0.5, "Hz", "hertz")])
    (meta,) = read_headers(save(ds, tmp_path / "hz.dcm"))
    assert vendor.ms_factor(meta.scaling) is None


@pytest.mark.parametrize(
    ("bits", "slope", "expected"),
    [(8, None, True), (8, "1", True), (8, "10", False), (12, None, False), (16, "1", False)],
)
def test_eight_bit_pixels_without_a_value_mapping_are_display_levels(tmp_path, bits, slope, expected):
    stored = np.full((8, 8), 120)
    ds = mr_image(stored, study_uid="1.2", series_uid=generate_uid(), image_type=("DERIVED", "SECONDARY", "T1 MAP"))
    if bits == 8:
        ds.BitsAllocated, ds.PixelData = 8, stored.astype(np.uint8).tobytes()
    ds.BitsStored, ds.HighBit = bits, bits - 1
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, "0"
    (meta,) = read_headers(save(ds, tmp_path / "map.dcm"))
    assert meta.bits_stored == bits
    assert vendor.display_levels(meta.bits_stored, meta.scaling) is expected


def test_a_parametric_map_with_float_pixels_is_read(tmp_path):
    """Parametric Map Storage (PS3.3 A.75; written by highdicom and dcmqi) holds float pixels in FloatPixelData.

    Its frames were "no pixel data", an error line per map; then a map with NaN pixels (its failed
    fits, a masked background) was refused whole.
    """
    values = [np.full((6, 5), 1000.0 + 100 * k, np.float32) for k in range(3)]
    values[0][0, :], values[0][3, 2] = np.nan, np.inf  # a masked row and a failed fit: pixels without a value
    values[2][:] = np.nan  # nothing fitted
    ds = enhanced_mr([np.zeros((6, 5))] * 3, [(0.0, 0.0, 0.0), (0.0, 0.0, 8.0), (0.0, 0.0, 16.0)], study_uid="1.2", series_uid=generate_uid(),
                     description="T1 map", image_type=("DERIVED", "PRIMARY", "T1 MAP", "NONE"), rwv=(1.0, 0.0, "ms"))  # fmt: skip
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.30")
    for keyword in ("PixelData", "BitsStored", "HighBit", "PixelRepresentation"):
        del ds[keyword]
    ds.BitsAllocated = 32
    ds.FloatPixelData = np.stack(values).tobytes()
    metas = read_headers(save(ds, tmp_path / "pmap.dcm"))
    assert [vendor.ms_factor(m.scaling) for m in metas] == [1.0, 1.0, 1.0]
    first, second = read_frames(metas[:2])
    np.testing.assert_array_equal(first, np.where(np.isfinite(values[0]), values[0], np.nan))  # NaN: no value, as in a NIfTI map
    np.testing.assert_array_equal(second, values[1])
    with pytest.raises(DicomError, match=r"frame 3: image holds no finite pixels"):
        read_frames(metas[2:])


@pytest.mark.parametrize(
    ("description", "expected"),
    [("Map T2*", None), ("MOCO_T2*", None), ("T2* map", None), ("Map T2", "T2"), ("MOCO_T2", "T2"), ("MAP_T1 native", "T1")],
)
def test_a_t2_star_map_is_not_a_t2_map(description, expected):
    """``Map T2*`` (a T2* iron map, values 20-40 ms) was taken for a T2 map: the star after T2 was not looked at."""
    assert vendor.map_type_from_header(["DERIVED", "PRIMARY"], description) == expected


def test_a_classic_image_with_functional_groups_is_placed_by_its_own_attributes(tmp_path):
    """Siemens XA exports in the classic format keep enhanced structures beside the classic attributes.

    dcm2niix issue #845 (XA30 MyoMaps): "exported as classic not enhanced DICOM ... however the dicoms
    contain EnhancedMRImageStorage stuffs and shared/per-frame structures".  A single-frame map whose
    per-frame group holds only its frame content was refused: "frame 1 of 1 has no PlanePosition,
    PlaneOrientation, PixelMeasures functional group; its frames cannot be placed".
    """
    ds = mr_image(np.full((8, 8), 1000), study_uid="1.2", series_uid=generate_uid(), image_type=("DERIVED", "PRIMARY", "T1 MAP", "ND"),
                  position_mm=(1.0, 2.0, 3.0), description="T1MAP_SAX_MOCO_T1")  # fmt: skip
    ds.SharedFunctionalGroupsSequence = DicomSequence(
        [_item(MRTimingAndRelatedParametersSequence=DicomSequence([_item(RepetitionTime=300)]))]
    )
    ds.PerFrameFunctionalGroupsSequence = DicomSequence([_item(FrameContentSequence=DicomSequence([_item(InStackPositionNumber=1)]))])
    (meta,) = read_headers(save(ds, tmp_path / "map.dcm"))
    assert (meta.frame, meta.position_mm, meta.spacing_mm) == (None, (1.0, 2.0, 3.0), (1.5, 1.5))
    pixels, _ = read_image(tmp_path / "map.dcm")
    assert float(pixels[0, 0]) == 1000.0


def test_a_classic_image_whose_value_mapping_is_in_its_functional_groups_keeps_it(tmp_path):
    """Read as a classic image, its RealWorldValueMapping held only in a group was ignored: values at half their ms."""
    ds = mr_image(np.full((8, 8), 500), study_uid="1.2", series_uid=generate_uid(), image_type=("DERIVED", "PRIMARY", "T1 MAP"),
                  position_mm=(1.0, 2.0, 3.0))  # fmt: skip
    mapping = DicomSequence([_rwv(2.0, "ms", "milliseconds")])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence([_item(RealWorldValueMappingSequence=mapping)])
    (meta,) = read_headers(save(ds, tmp_path / "map.dcm"))
    assert (meta.position_mm, meta.scaling.slope, meta.scaling.units) == ((1.0, 2.0, 3.0), 2.0, "ms")
    assert float(read_image(tmp_path / "map.dcm")[0][0, 0]) == 1000.0
