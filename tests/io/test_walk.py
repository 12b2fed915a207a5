"""Input folders are walked through their links, each real folder once: nothing linked in is silently lost, no loop runs on."""

import json

from myomap.io.nifti import find_nifti
from myomap.io.series_kind import find_dicom_files
from myomap.io.walk import walk_folder


def _exam(tmp_path):
    """An exam folder put together from links: to a series folder, to a file, one leading nowhere, one looping back."""
    store = tmp_path / "store"
    (store / "T1_mid").mkdir(parents=True)
    (store / "T1_mid" / "map.dcm").write_bytes(b"mid")
    (store / "T1_mid" / "map.nii.gz").write_bytes(b"nifti")
    (store / "basal.dcm").write_bytes(b"basal")
    exam = tmp_path / "exam"
    (exam / "T1_apex").mkdir(parents=True)
    (exam / "T1_apex" / "map.dcm").write_bytes(b"apex")
    (exam / "T1_mid").symlink_to("../store/T1_mid")  # relative, as `ln -s` makes them
    (exam / "basal.dcm").symlink_to("../store/basal.dcm")
    (exam / "gone.dcm").symlink_to("nowhere")
    (exam / "T1_apex" / "up").symlink_to("..")
    return exam


def test_linked_folders_and_files_are_read_and_a_loop_or_a_dangling_link_is_one_note(tmp_path):
    exam = _exam(tmp_path)
    notes: list[str] = []
    files, errors = find_dicom_files([exam], notes)
    assert [p.relative_to(exam).as_posix() for p in files] == ["T1_apex/map.dcm", "T1_mid/map.dcm", "basal.dcm"] and not errors
    assert notes == [f"{exam}: 2 link(s) leading nowhere or back to a folder already read, skipped (e.g. {exam / 'gone.dcm'})"]
    assert find_nifti([exam]) == [exam / "T1_mid" / "map.nii.gz"]  # NIfTI files are found by the same walk


def test_a_folder_reached_twice_is_walked_once_its_real_path_first(tmp_path):
    (tmp_path / "a" / "series").mkdir(parents=True)
    (tmp_path / "a" / "series" / "x.dcm").write_bytes(b"x")
    (tmp_path / "a" / "also").symlink_to("series")
    skipped: list = []
    walked = [(root.relative_to(tmp_path).as_posix(), files) for root, _, files in walk_folder(tmp_path / "a", skipped)]
    assert walked == [("a", []), ("a/series", ["x.dcm"])] and skipped == [tmp_path / "a" / "also"]


def test_hidden_files_and_earlier_outputs_are_still_skipped_behind_a_link(tmp_path):
    store = tmp_path / "store"
    (store / "results" / "patient-01").mkdir(parents=True)
    (store / "results" / "run.json").write_text(json.dumps({"myomap_version": "0"}))
    (store / "results" / "patient-01" / "map.dcm").write_bytes(b"copy")
    (store / ".cache").mkdir()
    (store / ".cache" / "x.dcm").write_bytes(b"x")  # files in hidden folders are read, as before
    (store / ".DS_Store").write_bytes(b"finder")
    (store / "map.dcm").write_bytes(b"map")
    exam = tmp_path / "exam"
    exam.mkdir()
    (exam / "linked").symlink_to(store)
    notes: list[str] = []
    files, _ = find_dicom_files([exam], notes)
    assert [p.relative_to(exam).as_posix() for p in files] == ["linked/.cache/x.dcm", "linked/map.dcm"]
    assert notes == [f"{exam / 'linked' / 'results'}: the output folder of an earlier myomap run, skipped"]
