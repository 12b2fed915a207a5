"""Each vendor convention of myomap.io.vendor, on DICOMs built here that carry exactly those tags."""

import numpy as np
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

from myomap.io import vendor
from myomap.io.dicom import read_image
from myomap.io.header import DicomError, index_files, read_headers
from myomap.io.synthetic import _item, enhanced_mr, mr_image, save
from myomap.mapping.series import MissingTimesError, read_series

TIMES = (100.0, 180.0, 260.0, 1100.0)


def _series(tmp_path, tags_per_image, **common):
    uid = generate_uid()
    paths = []
    for k, tags in enumerate(tags_per_image, start=1):
        image = np.full((8, 8), 1000 - 100 * k, np.uint16)
        ds = mr_image(image, study_uid="1.2", series_uid=uid, instance=k, description="MOLLI", **common, **tags)
        paths.append(save(ds, tmp_path / f"IM{k}.dcm"))
    return paths


def _philips(ds, value, vr="FL"):
    ds.add_new((0x2005, 0x0015), "LO", "Philips MR Imaging DD 005")
    ds.add_new((0x2005, 0x1572), vr, value)
    return ds


def test_inversion_time_per_image(tmp_path):
    series = read_series("s", _series(tmp_path, [{"InversionTime": t} for t in TIMES]), "molli")
    assert series.time_source == "InversionTime" and series.times_ms.tolist() == list(TIMES)


def test_siemens_molli_ti_in_image_comments_when_inversion_time_is_constant(tmp_path):
    files = _series(tmp_path, [{"InversionTime": 0, "ImageComments": f"TI {t:.0f}"} for t in TIMES])
    series = read_series("s", files, "molli")
    assert series.time_source == "ImageComments TI" and series.times_ms.tolist() == list(TIMES)


@pytest.mark.parametrize("implicit", [False, True])
def test_philips_inversion_delay_private_tag(tmp_path, implicit):
    uid = generate_uid()
    files = []
    for k, t in enumerate(TIMES, start=1):
        ds = mr_image(
            np.full((8, 8), 100 * k, np.uint16),
            study_uid="1.2",
            series_uid=uid,
            instance=k,
            Manufacturer="Philips Medical Systems",
            InversionTime=20,
        )
        _philips(ds, t)
        if implicit:  # as exported without a private dictionary: raw little-endian float bytes
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
            ds[0x20051572] = RawDataElement(Tag(0x20051572), None, 4, np.float32(t).tobytes(), 0, True, True)
        files.append(save(ds, tmp_path / f"P{k}.dcm"))
    series = read_series("s", files, "molli")
    assert series.time_source == "Philips (2005,1572)" and series.times_ms.tolist() == list(TIMES)


def test_private_tag_with_garbage_is_one_note_and_no_time(tmp_path):
    files = _series(tmp_path, [{} for _ in TIMES])
    for path in files:
        ds = _philips(__import__("pydicom").dcmread(path), b"\xde\xad\xbe\xef\x00\x01", vr="OB")
        ds.save_as(path)
    index = index_files(files)
    assert len(index.notes) == len(files) and all("(2005,1572)" in n and "ignored" in n for n in index.notes)
    with pytest.raises(MissingTimesError, match=r"no inversion time.*\(2005,1572\)"):
        read_series("s", index.frames, "molli")


@pytest.mark.parametrize(
    "tags, source",
    [
        ({"ImageComments": "T2 prep. duration = {t} ms"}, "ImageComments T2prep"),  # Siemens MyoMaps
        ({"ImageComments": "T2P = {t}"}, "ImageComments T2prep"),
        ({"EchoTime": "{t}"}, "EchoTime"),  # Philips / GE: the preparation time in EchoTime
        ({"ImageComments": "T2prep={t}ms", "EchoTime": "1.2", "InversionTime": "0"}, "ImageComments T2prep"),
    ],
)
def test_t2_preparation_conventions(tmp_path, tags, source):
    files = _series(tmp_path, [{k: v.format(t=t) for k, v in tags.items()} for t in (0, 25, 55)])
    series = read_series("s", files, "t2")
    assert series.time_source == source and series.times_ms.tolist() == [0.0, 25.0, 55.0]


def test_real_world_value_mapping_wins_over_rescale(tmp_path):
    ds = mr_image(np.full((4, 4), 100, np.uint16), study_uid="1", series_uid="2", RescaleSlope=1, RescaleIntercept=0)
    ds.RealWorldValueMappingSequence = DicomSequence(
        [
            _item(
                RealWorldValueSlope=2.5,
                RealWorldValueIntercept=-10,
                MeasurementUnitsCodeSequence=DicomSequence([_item(CodeValue="ms", CodingSchemeDesignator="UCUM")]),
            )
        ]
    )
    values, meta = read_image(save(ds, tmp_path / "m.dcm"))
    assert meta.scaling == vendor.ValueScaling(2.5, -10.0, "RealWorldValueMapping", "ms")
    np.testing.assert_allclose(values, 240.0)
    assert vendor.ms_factor(meta.scaling) == 1.0


@pytest.mark.parametrize("units, factor", [("ms", 1.0), ("s", 1000.0), ("", 1.0), ("1", 1.0), ("mm2/s", None), ("Hz", None)])
def test_map_units(units, factor):
    assert vendor.ms_factor(vendor.ValueScaling(1.0, 0.0, "RealWorldValueMapping", units)) == factor


def test_rescale_without_rwv():
    assert vendor.ms_factor(vendor.ValueScaling(0.1, 0.0, "Rescale")) == 1.0


def test_enhanced_multiframe_is_split_by_functional_groups(tmp_path):
    frames = [np.full((6, 5), v, np.uint16) for v in (10, 20, 30, 40)]
    positions = [(0, 0, 0), (0, 0, 0), (0, 0, 8), (0, 0, 8)]
    ds = enhanced_mr(
        frames, positions, study_uid="1", series_uid="2", inversion_times_ms=[100, 200, 100, 200],
        frame_types=[("DERIVED", "PRIMARY", "T1 MAP", "NONE")] * 4, rwv=(2.0, 0.0, "ms"),
    )  # fmt: skip
    metas = read_headers(save(ds, tmp_path / "enh.dcm"))
    assert [m.frame for m in metas] == [0, 1, 2, 3]
    assert [m.position_mm for m in metas] == [(0.0, 0.0, 0.0)] * 2 + [(0.0, 0.0, 8.0)] * 2
    assert [m.inversion_time_ms for m in metas] == [100.0, 200.0, 100.0, 200.0]
    assert all("T1 MAP" in m.image_type and m.spacing_mm == (1.5, 1.5) for m in metas)
    assert metas[0].scaling.source == "RealWorldValueMapping"
    from myomap.io.dicom import read_frames

    pixels = read_frames([metas[3], metas[0]])
    assert pixels[0][0, 0] == 80.0 and pixels[1][0, 0] == 20.0


def test_multiframe_with_missing_functional_groups_is_one_clear_error(tmp_path):
    ds = enhanced_mr([np.ones((4, 4))] * 3, [(0, 0, 0)] * 3, study_uid="1", series_uid="2")
    del ds.PerFrameFunctionalGroupsSequence
    save(ds, tmp_path / "a.dcm")
    ds = enhanced_mr([np.ones((4, 4))] * 2, [(0, 0, 0)] * 2, study_uid="1", series_uid="3")
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    save(ds, tmp_path / "b.dcm")
    with pytest.raises(DicomError, match="3 frames but 0 per-frame functional groups"):
        read_headers(tmp_path / "a.dcm")
    with pytest.raises(DicomError, match="frame 2 of 2 has no PlanePosition functional group"):
        read_headers(tmp_path / "b.dcm")
    index = index_files([tmp_path / "a.dcm", tmp_path / "b.dcm"])
    assert len(index.errors) == 2 and not index.frames
