"""``import-contours`` labels slice levels as ``analyze`` does: where each plane crosses the exam's long axis near the heart."""

import csv

import numpy as np
import pytest
from pydicom.uid import generate_uid

from myomap.analyze.discover import discover
from myomap.analyze.import_contours import import_contours
from myomap.io.cvi42 import ENDOCARDIAL, EPICARDIAL
from myomap.io.synthetic import cvi42_workspace, mr_image, save

SHAPE, SPACING = (160, 224), (1.4, 1.4)  # rows, columns; (row, col) mm: a full-torso field of view, 225 x 314 mm
HEART = np.array([20.0, -10.0, -30.0])  # LPS mm, a point on the LV long axis
AXIS = np.array([0.6, -0.45, -0.65]) / np.linalg.norm([0.6, -0.45, -0.65])  # an oblique short-axis normal, base to apex
ALONG_MM = (-20.0, -10.0, 0.0, 10.0, 20.0)  # the five planes' distances from HEART along AXIS


def _rotated(vector, about, degrees):
    about = np.asarray(about, float) / np.linalg.norm(about)
    a = np.deg2rad(degrees)
    return vector * np.cos(a) + np.cross(about, vector) * np.sin(a) + about * (about @ vector) * (1 - np.cos(a))


def _geometry(normal, through_mm, fov_shift_mm):
    """ImageOrientationPatient and ImagePositionPatient of the plane through ``through_mm`` with the image centre moved in-plane."""
    row = np.array([1.0, 0.0, 0.0]) - normal[0] * normal
    row /= np.linalg.norm(row)
    col = -np.cross(normal, row)
    centre = through_mm + fov_shift_mm[0] * row + fov_shift_mm[1] * col
    ipp = centre - (SHAPE[1] - 1) / 2 * SPACING[1] * row - (SHAPE[0] - 1) / 2 * SPACING[0] * col
    return (*row, *col), tuple(ipp)


def _stack(root, study, number, description, normal, fov_shift_mm, level_ms, seed):
    """A T1 map series of one slice per plane (ALONG_MM); file name -> SOPInstanceUID."""
    series_uid, uids = generate_uid(), {}
    rng = np.random.default_rng(seed)
    for k, along in enumerate(ALONG_MM):
        orientation, ipp = _geometry(normal, HEART + along * AXIS, fov_shift_mm)
        stored = rng.integers(level_ms - 50, level_ms + 50, SHAPE).astype(np.uint16)
        ds = mr_image(
            stored, study_uid=study, series_uid=series_uid, series_number=number, description=description,
            image_type=("DERIVED", "PRIMARY", "T1 MAP"), position_mm=ipp, orientation=orientation, spacing_mm=SPACING,
            instance=k + 1, PatientID="DOE^JOHN",
        )  # fmt: skip
        name = f"s{number}/im{k}.dcm"
        save(ds, root / name)
        uids[name] = str(ds.SOPInstanceUID)
    return uids


def _lv() -> dict:
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ring = [[(round((110 + r * np.cos(a)) * 4), round((80 + r * np.sin(a)) * 4)) for a in t] for r in (20.0, 12.0)]
    return {EPICARDIAL: (ring[0], 4), ENDOCARDIAL: (ring[1], 4)}


@pytest.mark.parametrize("contoured", ["both", "post"])
@pytest.mark.parametrize(
    "tilt_deg, post_shift_mm",
    [(10.0, (0.0, 0.0)), (6.0, (-60.0, 35.0)), (-9.0, (45.0, -30.0))],
    ids=["tilted-10", "tilted-6-fov-shifted", "tilted-minus-9-fov-shifted"],
)
def test_import_contours_labels_each_slice_at_the_level_analyze_gives_it(tmp_path, tilt_deg, post_shift_mm, contoured):
    """A post-contrast T1 stack replanned a few degrees about the LV, its field of view moved, at the native stack's planes.

    import-contours placed ImagePositionPatient (the top-left pixel, 150-200 mm from the heart) along the
    contoured slices' mean normal: the post stack's corners lay 10-30 mm off the native ones along it and
    the data set's levels were not analyze's, so that evaluate's per-level tables paired other slices.
    """
    root, study = tmp_path / "exam", generate_uid()
    tilted = _rotated(AXIS, np.cross(AXIS, [0.0, 0.0, 1.0]), tilt_deg)
    native = _stack(root, study, 5, "MOLLI T1 MAP", AXIS, (-40.0, -20.0), 1000, seed=1)  # the heart off the image centre
    post = _stack(root, study, 9, "MOLLI T1 MAP post", tilted, post_shift_mm, 450, seed=2)
    chosen = native | post if contoured == "both" else post
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in chosen.values()}))

    (slices,) = discover([root]).patients.values()
    analyze = {s.path.relative_to(root).as_posix(): s.slice_position for s in slices}
    assert {s.contrast for s in slices} == {"native", "post"}
    for names in (native, post):  # analyze: one level per plane, whichever stack
        assert [analyze[name] for name in names] == ["basal", "basal", "mid", "apical", "apical"]

    report = import_contours([root], [tmp_path / "ws.cvi42wsx"], tmp_path / "out", keep_phi=True)
    assert report.errors == [] and report.images == len(chosen)
    with (tmp_path / "out" / "manifest.csv").open() as handle:
        imported = {row["source"].split("/", 1)[1]: row["slice"] for row in csv.DictReader(handle)}
    assert imported == {name: analyze[name] for name in chosen}


def test_maps_without_orientation_keep_their_file_order(tmp_path):
    """No ImageOrientationPatient: no long axis to measure along; the levels are thirds of the series' instance order."""
    study, series_uid, uids = generate_uid(), generate_uid(), []
    for k, z in enumerate((-20.0, 0.0, 20.0)):  # the apex first by position: the positions say nothing without an orientation
        ds = mr_image(np.full(SHAPE, 1000, np.uint16), study_uid=study, series_uid=series_uid, series_number=5, description="T1 MAP",
                      image_type=("DERIVED", "PRIMARY", "T1 MAP"), position_mm=(0.0, 0.0, z), spacing_mm=SPACING, instance=3 - k)  # fmt: skip
        del ds.ImageOrientationPatient
        save(ds, tmp_path / "exam" / f"im{k}.dcm")
        uids.append(str(ds.SOPInstanceUID))
    (tmp_path / "ws.cvi42wsx").write_bytes(cvi42_workspace({uid: _lv() for uid in uids}))
    import_contours([tmp_path / "exam"], [tmp_path / "ws.cvi42wsx"], tmp_path / "out", keep_phi=True)
    with (tmp_path / "out" / "manifest.csv").open() as handle:
        rows = [(row["source"].rsplit("/", 1)[1], row["slice"], row["frame"]) for row in csv.DictReader(handle)]
    assert rows == [("im2.dcm", "basal", "0"), ("im1.dcm", "mid", "1"), ("im0.dcm", "apical", "2")]
