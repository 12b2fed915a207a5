import shutil

import pytest

from myomap.io.dataset import load_dataset, read_manifest
from myomap.io.paper import import_paper_layout


def _paper_layout(cohort, root):
    """Rearrange one simulated subject into the paper's folder layout."""
    words = {"basal": "base", "mid": "mid", "apical": "apex"}
    patient = root / "Patient (1)"
    for map_type in ("T1", "T2"):
        for position, word in words.items():
            src = cohort / "sub-001" / f"{map_type}_{position}"
            dst = patient / f"{map_type}_map_{word}"
            dst.mkdir(parents=True)
            for w in src.glob("weighted_*.dcm"):
                shutil.copy(w, dst / w.name)
            shutil.copy(src / "contours.json", dst / "Contours.json")
            maps = patient / f"{map_type}_Mapping_"
            maps.mkdir(exist_ok=True)
            shutil.copy(src / "map.dcm", maps / f"{word.capitalize()}.dcm")
    return patient


def test_import_paper_layout(cohort, tmp_path):
    source = tmp_path / "paper"
    _paper_layout(cohort, source)
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    manifest, problems = import_paper_layout(source, tmp_path / "out")
    assert not problems
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before  # input untouched
    images, errors = load_dataset(manifest)
    assert not errors
    assert len([i for i in images if i.role == "map"]) == 6
    assert {i.slice for i in images} == {"basal", "mid", "apical"}
    assert len(images) == 6 + 3 * 8 + 3 * 3


def test_missing_contours_is_reported_and_the_rest_imported(cohort, tmp_path):
    source = tmp_path / "paper"
    patient = _paper_layout(cohort, source)
    (patient / "T2_map_apex" / "Contours.json").unlink()
    manifest, problems = import_paper_layout(source, tmp_path / "out")
    assert len(problems) == 1 and "T2_map_apex" in problems[0]
    rows, _ = read_manifest(manifest)
    assert len({(r.map_type, r.slice) for r in rows}) == 5


def test_folder_without_the_layout(tmp_path):
    with pytest.raises(ValueError, match="no '<patient>/T1_map_base'"):
        import_paper_layout(tmp_path, tmp_path / "out")
