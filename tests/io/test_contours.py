import numpy as np
import pytest

from myomap.io.contours import ContourError, Contours, read_contours, write_contours


def _square(offset=0.0):
    return np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float) + offset


def test_round_trip(tmp_path):
    c = Contours(_square(10.25), _square(11.5), rv_insertion=(3.5, 7.25), spacing_mm=(1.4, 1.4))
    write_contours(tmp_path / "c.json", c)
    back = read_contours(tmp_path / "c.json")
    np.testing.assert_allclose(back.epi, c.epi)
    np.testing.assert_allclose(back.endo, c.endo)
    assert back.rv_insertion == (3.5, 7.25) and back.spacing_mm == (1.4, 1.4)
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{not json", "not a readable contours JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"epicardial_contours_x": [1,2,3]}', "missing key epicardial_contours_y"),
        (
            '{"epicardial_contours_x": [1,2], "epicardial_contours_y": [1,2], "endocardial_contours_x": [1,2,3], "endocardial_contours_y": [1,2,3]}',
            "2 points",
        ),
        (
            '{"epicardial_contours_x": [1,2,3], "epicardial_contours_y": [1,2], "endocardial_contours_x": [1,2,3], "endocardial_contours_y": [1,2,3]}',
            "3 x but 2 y",
        ),
        (
            '{"epicardial_contours_x": [1,2,"a"], "epicardial_contours_y": [1,2,3], "endocardial_contours_x": [1,2,3], "endocardial_contours_y": [1,2,3]}',
            "not numbers",
        ),
        (
            '{"epicardial_contours_x": [1,2,NaN], "epicardial_contours_y": [1,2,3], "endocardial_contours_x": [1,2,3], "endocardial_contours_y": [1,2,3]}',
            "non-finite",
        ),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, text, reason):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ContourError, match=reason) as info:
        read_contours(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ContourError, match="not found"):
        read_contours(tmp_path / "none.json")
