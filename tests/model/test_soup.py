import pytest
import torch
from typer.testing import CliRunner

from myomap.cli import app
from myomap.model.inference import ModelFileError, default_meta, load_model_file, save_model_file
from myomap.model.network import build_network
from myomap.model.registry import get_spec
from myomap.model.soup import average_models


def _model_file(path, seed: int, name: str = "unet-resnet18-tiny", window_spacing_mm: float | None = 1.25):
    torch.manual_seed(seed)
    spec = get_spec(name)
    network = build_network(spec)
    for module in network.modules():  # running statistics differ between the members too
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
    save_model_file(path, network, default_meta(spec, 64, {"seed": seed}, window_spacing_mm=window_spacing_mm))
    return path


def test_the_average_is_the_weighted_mean_of_every_tensor_and_names_its_members(tmp_path):
    a, b = _model_file(tmp_path / "a.pt", 1), _model_file(tmp_path / "b.pt", 2)
    out = average_models([a, b], tmp_path / "soup.pt", weights=[1, 3])
    network, meta = load_model_file(out)
    states = [load_model_file(p)[0].state_dict() for p in (a, b)]
    averaged = network.state_dict()
    floats = [k for k, v in averaged.items() if v.is_floating_point()]
    assert any("running_mean" in k for k in floats) and len(floats) > 50
    for key in floats:
        torch.testing.assert_close(averaged[key], 0.25 * states[0][key] + 0.75 * states[1][key])
    counts = [k for k in averaged if k.endswith("num_batches_tracked")]
    assert counts and all(torch.equal(averaged[k], states[0][k]) for k in counts)
    members = meta.training["averaged"]
    assert [(m["file"], m["weight"], m["training"]) for m in members] == [("a.pt", 0.25, {"seed": 1}), ("b.pt", 0.75, {"seed": 2})]
    assert all(len(m["sha256"]) == 64 for m in members) and meta.window_spacing_mm == 1.25


def test_models_that_cannot_be_averaged_are_refused_in_one_line(tmp_path):
    a = _model_file(tmp_path / "a.pt", 1)
    other = _model_file(tmp_path / "other.pt", 2, name="unet-resnet18")
    share = _model_file(tmp_path / "share.pt", 3, window_spacing_mm=None)
    with pytest.raises(ModelFileError, match=r"other\.pt: cannot be averaged with .*a\.pt: its spec differ"):
        average_models([a, other], tmp_path / "x.pt")
    with pytest.raises(ModelFileError, match=r"share\.pt: .* its window_spacing_mm differ"):
        average_models([a, share], tmp_path / "x.pt")
    with pytest.raises(ModelFileError, match="at least two"):
        average_models([a], tmp_path / "x.pt")
    with pytest.raises(ModelFileError, match="expected 2 positive weights"):
        average_models([a, a], tmp_path / "x.pt", weights=[1, 0])
    assert not (tmp_path / "x.pt").exists()


def test_average_models_command(tmp_path):
    runner = CliRunner()
    a, b = _model_file(tmp_path / "a.pt", 1), _model_file(tmp_path / "b.pt", 2)
    result = runner.invoke(app, ["average-models", str(a), str(b), "-o", str(tmp_path / "soup.pt"), "--weights", "1,1"])
    assert result.exit_code == 0, result.output
    assert [m["weight"] for m in load_model_file(tmp_path / "soup.pt")[1].training["averaged"]] == [0.5, 0.5]
    (tmp_path / "m.onnx").write_bytes(b"not a model")
    result = runner.invoke(app, ["average-models", str(a), str(tmp_path / "m.onnx"), "-o", str(tmp_path / "x.pt")])
    assert result.exit_code == 1 and "m.onnx: an ONNX file" in result.output and not (tmp_path / "x.pt").exists()
    result = runner.invoke(app, ["average-models", str(a), str(b), "-o", str(tmp_path / "x.pt"), "--weights", "1,x"])
    assert result.exit_code == 1 and "--weights" in result.output and not (tmp_path / "x.pt").exists()
