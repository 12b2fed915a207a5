import shutil

import numpy as np
import pytest

from myomap.geometry.masks import observer_mask
from myomap.io.dataset import ManifestError, load_dataset, read_manifest


def _copy(cohort, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(cohort, target)
    return target


def test_loads_every_image_with_spacing_and_contours(cohort):
    images, errors = load_dataset(cohort)
    assert not errors
    assert len(images) == 3 * (3 * 9 + 3 * 4)
    maps = [i for i in images if i.role == "map"]
    assert len(maps) == 18
    for image in maps:
        assert image.pixels.dtype == np.float32
        assert min(image.spacing_mm) >= 1.2 and max(image.spacing_mm) <= 2.5
        assert "reference" in image.contours
        mask = observer_mask(image)
        assert set(np.unique(mask)) == {0, 1, 2}
    weighted = [i for i in images if i.role == "weighted"]
    assert all(i.time_ms is not None for i in weighted)
    test_maps = [i for i in maps if i.split == "test"]
    assert test_maps and all(set(i.contours) == {"reference", "obs2", "obs3"} for i in test_maps)


def test_broken_rows_are_reported_and_the_rest_loads(cohort, tmp_path):
    data = _copy(cohort, tmp_path)
    rows, _ = read_manifest(data)
    maps = [r for r in rows if r.role == "map"]
    (data / maps[0].image).write_bytes(b"garbage")
    (data / maps[1].image).unlink()
    (data / maps[2].contours["reference"]).write_text("{}")
    images, errors = load_dataset(data, roles=("map",))
    assert len(images) == len(maps) - 3
    assert len(errors) == 3
    text = "\n".join(map(str, errors))
    assert maps[0].image in text and "not a readable DICOM" in text
    assert "not found" in text and "missing key" in text


def test_bad_manifest_rows_are_reported(cohort, tmp_path):
    data = _copy(cohort, tmp_path)
    manifest = data / "manifest.csv"
    lines = manifest.read_text().splitlines()
    lines[1] = lines[1].replace(",T1,", ",T3,", 1)
    manifest.write_text("\n".join(lines) + "\n")
    rows, errors = read_manifest(data)
    assert len(errors) == 1 and "map_type 'T3'" in str(errors[0]) and errors[0].line == 2
    assert len(rows) == len(lines) - 2


def test_manifest_without_required_columns(tmp_path):
    (tmp_path / "manifest.csv").write_text("subject,image\nA,a.dcm\n")
    with pytest.raises(ManifestError, match="missing column"):
        read_manifest(tmp_path)


def test_split_filter(cohort):
    images, _ = load_dataset(cohort, roles=("map",), splits=("test",))
    assert images and all(i.split == "test" for i in images)
