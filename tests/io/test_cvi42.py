"""Reading cvi42 XML workspaces: coordinates in the data layout's convention, the compressed forms, and what is refused."""

import gzip
import io
import zipfile
import zlib

import numpy as np
import pytest

from myomap.io.cvi42 import ENDOCARDIAL, EPICARDIAL, PIXEL_ORIGIN_OFFSET, WorkspaceError, read_workspace
from myomap.io.synthetic import cvi42_workspace

TRIANGLE = [(40, 80), (80, 120), (120, 40)]  # cvi42's values at SubpixelResolution 4: pixels (10, 20), (20, 30), (30, 10) from the corner
IMAGES = {
    "1.2.826.0.1.1": {
        EPICARDIAL: (TRIANGLE, 4),
        ENDOCARDIAL: ([(60, 80), (80, 100), (100, 60)], 4),
        "sarvendocardialContour": ([(1, 1)], 4),
    },
    "1.2.826.0.1.2": {"laepicardialContour": (TRIANGLE, 2), "lalaContour": (TRIANGLE, 2)},
    "1.2.826.0.1.3": {},  # an image state without contours
}


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", "not a workspace")
        archive.writestr("1234567_cvi42.cvi42wsx", data)
    return buffer.getvalue()


@pytest.mark.parametrize("pack", [lambda b: b, zlib.compress, gzip.compress, _zip], ids=["xml", "zlib", "gzip", "zip"])
def test_points_become_pixel_centres_of_the_data_layout(tmp_path, pack):
    path = tmp_path / "ws.cvi42wsx"
    path.write_bytes(pack(cvi42_workspace(IMAGES)))
    images = {image.sop_uid: image for image in read_workspace(path)}
    assert set(images) == {"1.2.826.0.1.1", "1.2.826.0.1.2"}  # the image without contours is left out
    lv = images["1.2.826.0.1.1"]
    np.testing.assert_allclose(lv.epicardial.points, [[9.5, 19.5], [19.5, 29.5], [29.5, 9.5]])  # x = column, y = row
    np.testing.assert_allclose(lv.endocardial.points, np.array([[15, 20], [20, 25], [25, 15]]) - PIXEL_ORIGIN_OFFSET)
    assert lv.epicardial.problem == "" and "sarvendocardialContour" in lv.names and not lv.long_axis_only
    assert images["1.2.826.0.1.2"].long_axis_only and images["1.2.826.0.1.2"].epicardial is None


def test_origin_offset_can_be_given(tmp_path):
    path = tmp_path / "ws.cvi42wsx"
    path.write_bytes(cvi42_workspace({"1.2": {EPICARDIAL: (TRIANGLE, 4)}}))
    (image,) = read_workspace(path, origin_offset_px=0.0)
    np.testing.assert_allclose(image.epicardial.points[0], [10.0, 20.0])


@pytest.mark.parametrize(
    ("contour", "problem"),
    [
        (([(1, 2), (3, 4)], 4), "fewer than 3 points"),
        (([(1, 2), (3, 4), ("nan", 5)], 4), "unreadable or non-finite"),
        (([(1, 2), (3, 4), ("?", 5)], 4), "unreadable or non-finite"),
        ((TRIANGLE, None), "SubpixelResolution"),
        ((TRIANGLE, "0"), "SubpixelResolution"),
        ((TRIANGLE, "\u00b2"), "SubpixelResolution"),  # a digit to str.isdigit, not to int()
    ],
)
def test_unusable_contours_say_why(tmp_path, contour, problem):
    path = tmp_path / "ws.cvi42wsx"
    path.write_bytes(cvi42_workspace({"1.2": {EPICARDIAL: contour, ENDOCARDIAL: (TRIANGLE, 4)}}))
    (image,) = read_workspace(path)
    assert problem in image.epicardial.problem and image.endocardial.problem == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (zlib.compress(b"\x00\x00\x01\x02CVI42 binary workspace"), "binary cvi42 workspace (.cvi42ws)"),
        (b"PatientName,T1\nDoe,1000\n", "not a cvi42 XML workspace (not XML)"),
        (cvi42_workspace(IMAGES)[:-40], "not well-formed XML"),
        (b'<?xml version="1.0"?><Workspace><item key="other"/></Workspace>', "no ImageStates element"),
        (zlib.compress(cvi42_workspace(IMAGES))[:-30], "cut short"),
        (_zip(b"")[:40], "damaged or encrypted ZIP"),
        (
            b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><w>&b;</w>',
            "declares a DOCTYPE",
        ),
        ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE w [<!ENTITY a "1.2">]><w/>'.encode("utf-16"), "declares a DOCTYPE"),
        (cvi42_workspace(IMAGES).replace(b'encoding="UTF-8"', b'encoding="Shift_JIS"'), "encoding that cannot be read"),
    ],
    ids=["binary", "csv", "truncated", "no-states", "zlib-cut", "zip-cut", "doctype", "doctype-utf16", "shift-jis"],
)
def test_unusable_workspaces_are_one_error_naming_the_file(tmp_path, data, message):
    path = tmp_path / "site A.cvi42wsx"
    path.write_bytes(data)
    with pytest.raises(WorkspaceError, match="site A.cvi42wsx") as caught:
        read_workspace(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_zip_without_workspace_and_a_missing_file_are_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "x")
    (tmp_path / "a.zip").write_bytes(buffer.getvalue())
    with pytest.raises(WorkspaceError, match="without a .cvi42wsx"):
        read_workspace(tmp_path / "a.zip")
    with pytest.raises(WorkspaceError, match="no such file"):
        read_workspace(tmp_path / "missing.cvi42wsx")


def test_hidden_members_of_a_zip_are_skipped(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # as macOS's Finder zips a folder: an AppleDouble twin, binary
        archive.writestr("site/site.cvi42wsx", cvi42_workspace(IMAGES))
        archive.writestr("__MACOSX/site/._site.cvi42wsx", b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X" + bytes(64))
        archive.writestr("site/.backup.cvi42wsx", b"<broken")
    (tmp_path / "a.zip").write_bytes(buffer.getvalue())
    assert {image.sop_uid for image in read_workspace(tmp_path / "a.zip")} == {"1.2.826.0.1.1", "1.2.826.0.1.2"}


def test_members_of_a_zip_are_not_named_in_errors(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("DOE_JOHN.cvi42wsx", b"<broken")
    (tmp_path / "a.zip").write_bytes(buffer.getvalue())
    with pytest.raises(WorkspaceError) as caught:
        read_workspace(tmp_path / "a.zip")
    assert "workspace 1 of 1 in the ZIP archive" in str(caught.value) and "DOE" not in str(caught.value)
