"""Finding and reading NIfTI image/label pairs, and split files."""

import nibabel
import numpy as np
import pytest

from myomap.io.dataset import ManifestError, read_split_file
from myomap.io.labels import CONVENTIONS, find_label_pairs, read_label_volume
from myomap.io.nifti import NiftiError


def _save(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(np.asarray(data), np.eye(4)), path)


def test_pairs_patients_and_what_is_left_out(tmp_path):
    volume = np.zeros((8, 8, 2), np.int16)
    for name in ("P1/P1_SA_ED", "P1/P1_SA_ED_gt", "P1/P1_LA_ED", "P1/P1_LA_ED_gt", "P1/P1_SA_CINE", "P2/P2_sa_gt"):
        _save(tmp_path / f"{name}.nii.gz", volume)
    pairs, problems, long_axis = find_label_pairs(tmp_path, CONVENTIONS["mnms"])
    assert [(p.patient, p.volume, p.image.name) for p in pairs] == [("P1", "sa_ed", "P1_SA_ED.nii.gz")]
    assert long_axis == 1 and len(problems) == 1 and "P2_sa_gt.nii.gz: label image without its image" in problems[0]
    _save(tmp_path / "acdc" / "patient007_frame03.nii", volume)
    _save(tmp_path / "acdc" / "patient007_frame03_gt.nii", volume)
    acdc, _, _ = find_label_pairs(tmp_path / "acdc", CONVENTIONS["acdc"])
    assert [(p.patient, p.volume) for p in acdc] == [("patient007", "frame03")]


def test_label_volumes_are_whole_numbers_in_four_dimensions(tmp_path):
    _save(tmp_path / "a_gt.nii.gz", np.ones((4, 5, 2), np.uint8))
    assert read_label_volume(tmp_path / "a_gt.nii.gz").shape == (4, 5, 2, 1)
    _save(tmp_path / "b_gt.nii.gz", np.full((4, 5, 2), 0.5, np.float32))
    with pytest.raises(NiftiError, match="b_gt.nii.gz: not a label image"):
        read_label_volume(tmp_path / "b_gt.nii.gz")


def test_split_files_as_train_writes_them(tmp_path):
    (tmp_path / "split.csv").write_text("subject,split\na,test\nb,train\n")
    assert read_split_file(tmp_path / "split.csv") == {"a": "test", "b": "train"}
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbfsubject,split\r\na,test\r\n")  # Excel's "CSV UTF-8"
    assert read_split_file(tmp_path / "excel.csv") == {"a": "test"}
    (tmp_path / "bad.csv").write_text("subject,split\na,later\n")
    with pytest.raises(ManifestError, match="line 2: split 'later'"):
        read_split_file(tmp_path / "bad.csv")
    with pytest.raises(ManifestError, match="cannot read split file"):
        read_split_file(tmp_path / "missing.csv")
