"""Seed 000's LatentForensics family: alignment, projectors, classifiers, the safe skops bundle
and the detector through the protocol and `fakescope scan`."""

from __future__ import annotations

from pathlib import Path

import json
import warnings

import numpy as np
import pytest
import skops.io as sio
from lf_factory import face_variants, make_lf_bundle, tint
from media_factory import make_video
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from fakescope.cli.main import main
from fakescope.detectors import create_detector
from fakescope.detectors.bundle import load_bundle
from fakescope.errors import WeightsError
from fakescope.families.latentforensics import align
from fakescope.families.latentforensics.classifiers import make_classifier
from fakescope.families.latentforensics.projectors import (
    PCAProjector,
    projector_from_state,
    resize_faces,
)

warnings.filterwarnings("ignore", category=ConvergenceWarning)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_lf_bundle(tmp_path_factory.mktemp("lf") / "lf.skops")


def test_pca_reconstruction_error_falls_with_more_components():
    faces = face_variants(64)
    proj = PCAProjector(n_components=48, resolution=16).fit([faces[:40], faces[40:]])
    ref = resize_faces(faces, 16).astype(np.float32)
    errs = [float(np.mean((proj.reconstruct(faces, k).astype(np.float32) - ref) ** 2))
            for k in (2, 8, 24, 48)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert np.allclose(proj.reconstruction_error(faces), np.mean(
        ((proj.reconstruct(faces).astype(np.float32) - ref) / 255.0).reshape(64, -1) ** 2, 1),
        atol=1e-4)


def test_pca_state_round_trips_and_needs_enough_faces():
    faces = face_variants(40)
    proj = PCAProjector(n_components=16, resolution=16).fit([faces])
    again = projector_from_state(sio.loads(sio.dumps(proj.state()), trusted=[]))
    assert np.allclose(again.transform(faces), proj.transform(faces), atol=1e-4)
    with pytest.raises(ValueError, match="at least"):
        PCAProjector(n_components=64, resolution=16).fit([faces])


def test_classifiers_have_the_seeds_hyper_parameters():
    rf = make_classifier("rf")
    assert isinstance(rf, RandomForestClassifier)
    assert (rf.n_estimators, rf.criterion, rf.max_depth, rf.max_features) == (1500, "gini", None, "sqrt")
    for name, hidden in (("lr", ()), ("mlp2", (512,)), ("mlp5", (2048, 512, 512, 512))):
        mlp = make_classifier(name).steps[-1][1]
        assert isinstance(mlp, MLPClassifier)
        assert mlp.hidden_layer_sizes == hidden
        assert (mlp.activation, mlp.solver, mlp.learning_rate_init, mlp.learning_rate) == \
            ("relu", "sgd", 5e-4, "constant")
        assert mlp.alpha == 0.0  # BCE only, no weight decay
    fitted = make_classifier("mlp2", max_iter=2).fit(np.random.default_rng(0).normal(size=(20, 4)),
                                                      np.r_[np.zeros(10), np.ones(10)])
    assert fitted.steps[-1][1].out_activation_ == "logistic"  # sigmoid output, log-loss = BCE
    with pytest.raises(ValueError, match="unknown classifier"):
        make_classifier("svm")


def test_five_points_from_68_and_alignment_keeps_the_face_inside():
    pts = np.zeros((68, 2))
    pts[36:42] = [10, 20]
    pts[42:48] = [30, 20]
    pts[30], pts[48], pts[54] = [20, 30], [12, 40], [28, 40]
    five = align.five_from_68(pts)
    assert np.allclose(five, [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]])
    # a tight 224 crop showing a little more than the family's square: that square fits,
    # the FFHQ frame (margin 0) does not, nor does the zoom without the centring shift
    from fakescope.faces.align import template_points

    tight = template_points(224, margin=-0.45, shift_y=align.centring_shift(-0.45))
    assert align.outside_fraction(tight, (224, 224), 256, align.ALIGN_MARGIN,
                                  align.ALIGN_SHIFT_Y) == 0.0
    assert align.outside_fraction(tight, (224, 224), 256, 0.0) > 0.3
    assert align.outside_fraction(tight, (224, 224), 256, align.ALIGN_MARGIN) > 0.05


def test_bundle_loads_through_the_common_loader_and_scores(bundle):
    path, sha = bundle
    b = load_bundle(path, expected_sha256=sha)
    assert b.meta.detector == "latentforensics" and b.payload is not None
    det = create_detector(weights=path)  # family read from the bundle
    assert det.info.name == "latentforensics" and det.info.weights_sha256 == sha
    assert det.requirements.crop_preset == "ffhq_tight" and det.requirements.input_size == 256
    real = face_variants(8, seed=5)
    fake = tint(real)
    s_real, s_fake = det.score_crops(real), det.score_crops(fake)
    assert s_real.shape == (8,) and np.all((s_real >= 0) & (s_real <= 1))
    assert s_fake.mean() > s_real.mean()  # it learnt the tint
    assert det.score_crops(np.zeros((0, 256, 256, 3), np.uint8)).shape == (0,)
    with pytest.raises(ValueError, match="expected crops of shape"):
        det.score_crops(np.zeros((1, 224, 224, 3), np.uint8))


class Foreign:
    """Any class skops does not know: loading it would mean running its code."""

    def __init__(self) -> None:
        self.x = 1


def test_bundle_with_a_foreign_type_is_refused(tmp_path):
    from fakescope.detectors.bundle import BundleMeta
    from fakescope.detectors.sk_bundle import save_sk_bundle

    meta = BundleMeta(model_name="x", model_kwargs={}, input_size=256, detector="latentforensics")
    path = tmp_path / "evil.skops"
    save_sk_bundle(path, meta, {"classifier": Foreign()})
    with pytest.raises(WeightsError, match="refusing to load"):
        load_bundle(path)
    with pytest.raises(WeightsError, match="does not match the pinned"):
        load_bundle(path, expected_sha256="0" * 64)


def test_scan_cli_on_a_face_video(bundle, tmp_path, capsys):
    video = make_video(tmp_path / "face.mp4", n_frames=30, size=(320, 240))
    out = tmp_path / "out.jsonl"
    code = main(["scan", str(video), "--detector", "latentforensics", "--weights", str(bundle[0]),
                 "--json", "--out", str(out), "--min-face", "24", "--no-progress",
                 "--in-process"])
    assert code in (0, 1)
    res = json.loads(out.read_text().splitlines()[0])
    assert res["detector"]["name"] == "latentforensics"
    assert res["detector"]["weights_sha256"] == bundle[1]
    assert res["verdict"] in ("fake", "real") and 0.0 <= res["score"] <= 1.0
    assert res["tracks"][0]["frames"] == [0, 10, 20]  # seed 000: one frame in ten


def test_vqvae_overfits_a_tiny_set():
    import torch

    from fakescope.families.latentforensics.vqvae import VQVAEProjector

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # process-wide: given back below (later tests compare floats
    try:                      # between this process and fresh workers)
        faces = face_variants(8, seed=0, size=32)
        proj = VQVAEProjector(resolution=32, channels=32, embed_dim=16, n_embed=32, epochs=80,
                              batch_size=8, lr=2e-3)
        before = float(proj.reconstruction_error(faces).mean())
        proj.fit([faces])
        after = float(proj.reconstruction_error(faces).mean())
    finally:
        torch.set_num_threads(threads)
    assert after < 0.35 * before, (before, after)
    assert proj.losses[-1] < 0.35 * proj.losses[0]
    codes = proj.transform(faces)
    assert codes.shape == (8, 4 * 4 + 8 * 8)  # top 4x4 + bottom 8x8 indices at 32 px
    assert codes.min() >= 0 and codes.max() < 32 and np.allclose(codes, codes.round())
    again = projector_from_state(sio.loads(sio.dumps(proj.state()), trusted=[]))
    assert np.array_equal(again.transform(faces), codes)


def test_stylegan_inversion_lowers_its_loss_on_a_face_the_generator_made(tmp_path):
    """Random-initialised tiny generator (no weights ship): invert an image it generated."""
    import torch

    from fakescope.families.latentforensics.perceptual import PerceptualDistance
    from fakescope.families.latentforensics.stylegan import (
        Generator,
        invert,
        load_stylegan_weights,
        save_stylegan_weights,
    )

    torch.manual_seed(0)
    kwargs = dict(resolution=16, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=32)
    gen = Generator(**kwargs).eval()
    assert gen.num_ws == 6 and Generator(resolution=256).num_ws == 14  # seed 000: 14 x 512
    path = tmp_path / "sg.pt"
    sha = save_stylegan_weights(path, gen, kwargs)
    gen, enc, sha2 = load_stylegan_weights(path)
    assert enc is None and sha2 == sha
    with torch.no_grad():
        target = gen(torch.randn(2, 32))
    w, losses = invert(gen, target, PerceptualDistance(), steps=40, lr=0.05)
    assert w.shape == (2, 6, 32) and len(losses) == 41
    assert losses[-1] < 0.5 * losses[0], losses[::10]
    with pytest.raises(WeightsError, match="not a fakescope-stylegan2"):
        (tmp_path / "bad.pt").write_bytes(b"not torch")
        load_stylegan_weights(tmp_path / "bad.pt")


def test_per_channel_study_finds_the_channel_that_carries_the_label(tmp_path):
    from fakescope.families.latentforensics.study import per_channel_accuracy, plot_per_channel

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60), np.ones(60)].astype(int)
    codes = rng.normal(size=(120, 3, 4))
    codes[:, 1, 0] += 3.0 * y  # only channel 1 separates real from fake
    train = np.arange(120) % 2 == 0
    res = per_channel_accuracy(codes, y, train, ~train, classifiers=("lr",), max_iter=300)
    assert int(np.argmax(res["lr"])) == 1 and res["lr"][1] > 0.85
    assert plot_per_channel(res, tmp_path / "pc.png", "synthetic").stat().st_size > 0
    with pytest.raises(ValueError, match="W\\+ codes"):
        per_channel_accuracy(codes[:, 0], y, train, ~train)


def _write_face_table(tmp_path: Path) -> None:
    """crops/ with 40 astronaut faces (odd ones tinted: "fake") and table.csv splitting them
    train / val / test by pairs."""
    import cv2
    import pandas as pd

    crops = tmp_path / "crops"
    crops.mkdir()
    faces = face_variants(40, seed=3, size=224)
    rows = []
    for i, f in enumerate(faces):
        label = i % 2
        img = tint(f[None])[0] if label else f
        cv2.imwrite(str(crops / f"c{i:02d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        split = "train" if i < 24 else ("val" if i < 32 else "test")
        rows.append({"path": f"c{i:02d}.jpg", "label": label, "group": f"v{i}",
                     "split_group": f"g{i // 2}", "split": split})
    pd.DataFrame(rows).to_csv(tmp_path / "table.csv", index=False)


def test_fakescope_train_recipe_then_eval_on_its_bundle(tmp_path, capsys):
    """`fakescope train` runs the family's recipe from YAML (align → PCA → LR → bundle), and
    `fakescope eval` reads the skops bundle like any other."""
    import pandas as pd

    _write_face_table(tmp_path)
    (tmp_path / "lf.yaml").write_text(
        "recipe: latentforensics\ntable: table.csv\nimage_root: crops\nout_dir: out\n"
        "projector_kwargs: {n_components: 8, resolution: 16}\nclassifiers: [lr]\n"
        "max_iter: 50\nn_bootstrap: 20\n")
    assert main(["train", str(tmp_path / "lf.yaml")]) == 0
    out = tmp_path / "out"
    assert "pca lr: auc" in capsys.readouterr().out
    bundle = out / "latentforensics_pca_lr.skops"
    meta = load_bundle(bundle).meta
    assert meta.extra["val"]["threshold"]["method"] == "far" and meta.crop_preset == "ffhq_tight"
    training = meta.extra["training"]
    assert not any(Path(training[k]).is_absolute() for k in ("table", "image_root", "out_dir"))
    assert main(["eval", "--bundle", str(bundle), "--data", str(out / "aligned" / "aligned.csv"),
                 "--split", "test", "--cluster-column", "split_group", "--n-bootstrap", "20",
                 "--out", str(tmp_path / "eval"), "-q"]) == 0
    preds = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert len(preds) == 8 and preds["score"].between(0, 1).all()
    (tmp_path / "bad.yaml").write_text("recipe: latentforensics\ntable: t.csv\nout_dir: o\nbogus: 1\n")
    assert main(["train", str(tmp_path / "bad.yaml")]) == 2
    assert "bogus" in capsys.readouterr().err


def test_model_card_command_runs_the_module(tmp_path):
    """The model card's `python -m fakescope.families.latentforensics.train ...` is run as
    written (a fresh interpreter executing the module as __main__, where a helper defined below
    the __main__ block is a NameError) and writes its bundle."""
    import subprocess
    import sys

    _write_face_table(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "fakescope.families.latentforensics.train", "--table", "table.csv",
         "--image-root", "crops", "--out", "out", "--projector", "pca",
         "--projector-arg", "n_components=8", "--projector-arg", "resolution=16",
         "--classifiers", "lr", "--max-iter", "50", "--n-bootstrap", "20"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pca lr: auc" in proc.stdout
    assert (tmp_path / "out" / "latentforensics_pca_lr.skops").is_file()
