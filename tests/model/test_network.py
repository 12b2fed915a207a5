import pytest
import torch

from myomap.model.network import EncoderWeightsError, OriginalUNet, build_network, load_encoder_weights
from myomap.model.registry import get_spec


@pytest.mark.parametrize("name", ["unet-resnet18-tiny", "unet-mobilenet"])
def test_networks_keep_the_input_size(name):
    net = build_network(get_spec(name)).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, 64, 64)).shape == (2, 3, 64, 64)


def test_original_unet():
    net = OriginalUNet(1, 3, (8, 16, 32)).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 32, 32)).shape == (1, 3, 32, 32)


def test_local_imagenet_weights_are_loaded_into_one_channel(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18(weights=None).state_dict()  # stands in for ImageNet weights
    torch.save(reference, tmp_path / "resnet18.pth")
    net = build_network(get_spec("unet-resnet18-tiny"))
    assert load_encoder_weights(net, tmp_path / "resnet18.pth") > 50
    torch.testing.assert_close(net.encoder.conv1.weight, reference["conv1.weight"].sum(dim=1, keepdim=True))
    torch.testing.assert_close(net.encoder.layer1[0].conv1.weight, reference["layer1.0.conv1.weight"])


def test_missing_weights_explain_how_to_get_them(tmp_path):
    with pytest.raises(EncoderWeightsError, match="Nothing is downloaded.*--encoder-weights"):
        load_encoder_weights(build_network(get_spec("unet-resnet18-tiny")), tmp_path / "none.pth")


def test_weights_of_the_wrong_kind(tmp_path):
    (tmp_path / "text.pth").write_text("not weights")
    net = build_network(get_spec("unet-resnet18-tiny"))
    with pytest.raises(EncoderWeightsError, match="not a readable"):
        load_encoder_weights(net, tmp_path / "text.pth")
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(EncoderWeightsError, match="no tensor matches"):
        load_encoder_weights(net, tmp_path / "other.pth")
