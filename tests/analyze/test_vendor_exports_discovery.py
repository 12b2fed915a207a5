"""Discovery of map series written the way real exports store them (8-bit renderings, several value mappings)."""

import numpy as np
import pydicom
import pytest
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from myomap.analyze.discover import discover, load_slices
from myomap.io.synthetic import _item, mr_image, save

SAX = (1.0, 0.0, 0.0, 0.0, 0.8, -0.6)


def _map(folder, number, image_type, stored, *, bits=16, **tags):
    ds = mr_image(np.zeros(stored.shape), study_uid="1.2.3", series_uid=generate_uid(), series_number=number, description=f"series {number}",
                  image_type=image_type, orientation=SAX, position_mm=(0.0, 0.0, float(number)), **tags)  # fmt: skip
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelData = stored.astype(np.uint8 if bits == 8 else np.uint16).tobytes()
    return save(ds, folder / f"S{number}.dcm")


def _ring(level: float) -> np.ndarray:
    pixels = np.zeros((32, 32))
    pixels[6:26, 6:26] = level
    return pixels


def test_an_eight_bit_map_is_an_error_line_not_values(tmp_path):
    """A T1 or T2 map stored in 8 bits (a secondary capture, a PACS's lossy JPEG baseline copy) holds display levels.

    Before, its grey levels were taken as ms: every native T1 map became a
    post-contrast map by its level (0-255 "ms"), and a T2 map windowed
    0-120 ms gave a myocardial T2 of ~107 "ms" with status ok.
    """
    _map(tmp_path, 5, ("DERIVED", "SECONDARY", "T1 MAP"), _ring(128), bits=8)
    _map(tmp_path, 6, ("DERIVED", "SECONDARY", "T2 MAP"), _ring(107), bits=8)
    _map(tmp_path, 7, ("DERIVED", "PRIMARY", "T1 MAP"), _ring(1000))  # the scanner's 16-bit map beside them
    found = discover([tmp_path])
    actions = {row.series.split(" ", 1)[0]: row.action for row in found.series}
    assert actions == {"5": "analyse 0 slice(s), 1 unreadable", "6": "analyse 0 slice(s), 1 unreadable", "7": "analyse 1 slice(s)"}
    assert len(found.errors) == 2
    assert all("stored in 8 bits without a value mapping" in line and "not ms" in line for line in found.errors)
    ((item,),) = found.patients.values()
    assert (item.series_number, item.contrast) == (7, "native")


def test_an_eight_bit_map_with_a_value_mapping_is_read(tmp_path):
    """8 bits with a rescale slope, or a real-world value mapping in ms, are values the writer scaled: they are read."""
    _map(tmp_path, 5, ("DERIVED", "PRIMARY", "T1 MAP"), _ring(100), bits=8, RescaleSlope="10", RescaleIntercept="0")
    units = DicomSequence([_item(CodeValue="ms", CodingSchemeDesignator="UCUM", CodeMeaning="ms")])
    mapping = _item(RealWorldValueSlope=0.5, RealWorldValueIntercept=0.0, MeasurementUnitsCodeSequence=units)
    _map(tmp_path, 6, ("DERIVED", "PRIMARY", "T2 MAP"), _ring(100), bits=8, RealWorldValueMappingSequence=DicomSequence([mapping]))
    found = discover([tmp_path])
    assert found.errors == []
    slices = load_slices(next(iter(found.patients.values())))
    assert sorted((s.map_type, float(s.pixels.max())) for s in slices) == [("T1", 1000.0), ("T2", 50.0)]


def test_an_eight_bit_series_given_its_type_is_still_taken(tmp_path):
    """``--map-type`` takes a series the header does not name (a cine whose contours are compared): its bits are not checked."""
    _map(tmp_path, 5, ("ORIGINAL", "PRIMARY", "M"), _ring(128), bits=8)
    found = discover([tmp_path], map_type="T1")
    assert found.errors == []
    assert [s.series_number for s in next(iter(found.patients.values()))] == [5]


def test_a_philips_map_with_a_unitless_mapping_before_the_one_in_ms(tmp_path):
    """Several RealWorldValueMapping items (one per unit): the map is read in ms, not refused for the first item's units '1'."""
    units = [
        DicomSequence([_item(CodeValue=c, CodingSchemeDesignator="UCUM", CodeMeaning=m)]) for c, m in (("1", "no units"), ("ms", "ms"))
    ]
    mappings = [
        _item(RealWorldValueSlope=s, RealWorldValueIntercept=0.0, MeasurementUnitsCodeSequence=u) for s, u in zip((1.0, 0.5), units)
    ]
    _map(tmp_path, 401, ("DERIVED", "PRIMARY", "T1 MAP", "T1"), _ring(2000), RescaleSlope="0.5", RescaleIntercept="0", RescaleType="ms",
         Manufacturer="Philips Medical Systems", RealWorldValueMappingSequence=DicomSequence(mappings))  # fmt: skip
    found = discover([tmp_path])
    assert found.errors == []
    (item,) = load_slices(next(iter(found.patients.values())))
    assert float(item.pixels.max()) == 1000.0


def _colour(folder, series_uid, number, instance, name):
    ds = mr_image(np.zeros((32, 32)), study_uid="1.2.3", series_uid=series_uid, series_number=number, description="T1 Map",
                  image_type=("DERIVED", "PRIMARY", "T1 MAP"), orientation=SAX, instance=instance)  # fmt: skip
    ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.PlanarConfiguration = "RGB", 3, 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = np.zeros((32, 32, 3), np.uint8).tobytes()
    save(ds, folder / name)


@pytest.mark.parametrize(("colour_instance", "colour_file"), [(1, "a.dcm"), (1, "z.dcm"), (2, "a.dcm")])
def test_a_colour_copy_inside_the_map_series_does_not_hide_the_map(tmp_path, colour_instance, colour_file):
    """A series holding the grey map and its colour rendering at the same position: the grey map is analysed.

    Before, a colour copy read first made the whole series "not relevant: colour image" (the map was
    lost without an error), and one with the lower InstanceNumber was taken as the map of its position
    and refused ("a colour image (RGB), not a T1 or T2 map").
    """
    uid = generate_uid()
    grey = mr_image(_ring(1000), study_uid="1.2.3", series_uid=uid, series_number=7, description="T1 Map",
                    image_type=("DERIVED", "PRIMARY", "T1 MAP"), orientation=SAX, instance=3 - colour_instance)  # fmt: skip
    save(grey, tmp_path / "m.dcm")
    _colour(tmp_path, uid, 7, colour_instance, colour_file)
    found = discover([tmp_path])
    assert found.errors == []
    assert [(row.kind, row.action) for row in found.series] == [("T1 map", "analyse 1 slice(s)")]
    assert any("1 colour image(s) beside the map" in note for note in found.notes)
    (item,) = load_slices(next(iter(found.patients.values())))
    assert float(item.pixels.max()) == 1000.0


def test_maps_without_series_uid_keep_their_series_apart(tmp_path):
    """Files whose de-identification stripped SeriesInstanceUID (Type 1) were all one series ''.

    An exam's T1 and T2 maps then made one "T1 map" series: the T2 maps were analysed as post-contrast
    T1 maps (by their level) and the post-contrast T1 maps dropped as "further images" at taken positions.
    """
    for number, image_type, level in ((5, "T1 MAP", 1000), (6, "T2 MAP", 50), (7, "T1 MAP", 450)):
        path = _map(tmp_path, number, ("DERIVED", "PRIMARY", image_type), _ring(level), MagneticFieldStrength="1.5")
        ds = pydicom.dcmread(path)
        del ds.SeriesInstanceUID
        ds.save_as(path)
    found = discover([tmp_path])
    assert [row.kind for row in found.series] == ["T1 map", "T2 map", "T1 map"]
    ((_, slices),) = found.patients.items()
    assert sorted((s.series_number, s.map_type, s.contrast) for s in slices) == [
        (5, "T1", "native"),
        (6, "T2", "native"),
        (7, "T1", "post"),
    ]


@pytest.mark.parametrize("image_type", [("DERIVED", "PRIMARY", "T1 MAP", "ND"), ("DERIVED", "PRIMARY", "M", "ND")])
def test_a_siemens_moco_t1s_series_beside_the_map_is_a_companion(tmp_path, image_type):
    """``T1MAP_SAX_MOCO_T1S`` beside ``T1MAP_SAX_MOCO_T1``: public code reading MyoMaps exports leaves it out.

    Its name carries the protocol's map word (``T1MAP``), so it was a second T1 map at the map's position
    (and ``..._T1SD`` a third), their values (here 40) measured as T1.
    """
    _map(tmp_path, 11, ("DERIVED", "PRIMARY", "T1 MAP", "ND"), _ring(1000), SeriesDescription="T1MAP_SAX_MOCO_T1")
    for number, suffix in ((12, "T1S"), (13, "T1SD")):
        _map(tmp_path, number, image_type, _ring(40), SeriesDescription=f"T1MAP_SAX_MOCO_{suffix}")
    found = discover([tmp_path])
    kinds = {row.series.split(" ", 1)[0]: row.kind for row in found.series}
    assert kinds == {
        "11": "T1 map",
        "12": "not relevant: a map's companion (T1S), not its values",
        "13": "not relevant: a map's companion (T1SD), not its values",
    }
    assert [s.series_number for s in next(iter(found.patients.values()))] == [11]


def test_a_philips_map_whose_only_mapping_is_unitless_is_analysed_in_ms_and_one_in_hertz_is_an_error_line(tmp_path):
    """Refusing a unitless RWV would refuse every map of a site that writes its maps so; another quantity's units still refuse."""
    mapping = {u: _item(RealWorldValueSlope=0.5, RealWorldValueIntercept=0.0, MeasurementUnitsCodeSequence=DicomSequence(
        [_item(CodeValue=u, CodingSchemeDesignator="UCUM", CodeMeaning=u)])) for u in ("1", "Hz")}  # fmt: skip
    _map(tmp_path, 401, ("DERIVED", "PRIMARY", "T1 MAP", "T1"), _ring(2000), Manufacturer="Philips Medical Systems",
         RealWorldValueMappingSequence=DicomSequence([mapping["1"]]))  # fmt: skip
    _map(tmp_path, 402, ("DERIVED", "PRIMARY", "T1 MAP", "T1"), _ring(2000), RealWorldValueMappingSequence=DicomSequence([mapping["Hz"]]))
    found = discover([tmp_path])
    assert len(found.errors) == 1 and "in units 'Hz', not a time" in found.errors[0]
    (item,) = load_slices(next(iter(found.patients.values())))
    assert (item.series_number, float(item.pixels.max())) == (401, 1000.0)


def test_a_map_marked_original_is_not_taken_but_the_table_says_how_to_give_it(tmp_path):
    """Raw MOLLI protocols are named t1map_..., so an ORIGINAL image's name never makes it a map; a series named like a map
    whose images are no weighted images may still be one (a vendor marking its maps ORIGINAL): the table says what to do."""
    path = _map(tmp_path, 8, ("ORIGINAL", "PRIMARY", "OTHER"), _ring(1000), MagneticFieldStrength="1.5")
    ds = pydicom.dcmread(path)
    ds.SeriesDescription = "T1 Map"
    ds.save_as(path)
    (row,) = discover([tmp_path]).series
    assert row.kind == "not relevant: named like a T1 map, ImageType ORIGINAL (if it is the map: --map-type T1 on it alone)"
    assert not discover([tmp_path]).patients
    found = discover([tmp_path], map_type="T1")
    assert [s.series_number for s in next(iter(found.patients.values()))] == [8]
