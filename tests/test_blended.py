"""Self-blended training data: a blend is labelled fake and differs from its real crop only
under its mask; draws are reproducible under (seed, epoch, index); `mix` replaces the share
of fake slots it is asked to."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from fakescope.data.blended import SelfBlendCropDataset
from fakescope.data.landmarks import CropLandmarker
from media_factory import ASTRONAUT_FACE_BOX

MEAN = STD = (0.5, 0.5, 0.5)


@pytest.fixture(scope="module")
def crops(tmp_path_factory, astronaut_module):
    """Six 224-px face crops of the astronaut (shifted a little) as JPEG files, with their
    dlib landmarks, plus two 'fake' rows."""
    folder = tmp_path_factory.mktemp("crops")
    x0, y0, x1, y1 = (int(round(v)) for v in ASTRONAUT_FACE_BOX)
    side = int(max(x1 - x0, y1 - y0) * 1.15)
    rows, lms = [], []
    marker = CropLandmarker()
    for i in range(8):
        dx, dy = (i % 3) * 4 - 4, (i // 3) * 4 - 4
        cx, cy = (x0 + x1) // 2 + dx, (y0 + y1) // 2 + dy
        crop = astronaut_module[cy - side // 2: cy + side // 2, cx - side // 2: cx + side // 2]
        crop = cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA)
        path = folder / f"c{i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        label = 1 if i >= 6 else 0
        rows.append({"path": str(path), "label": label, "group": f"g{i}"})
        lms.append(marker.landmarks(crop) if label == 0 else np.full((68, 2), np.nan, np.float32))
    return pd.DataFrame(rows), np.stack(lms)


@pytest.fixture(scope="module")
def astronaut_module():
    from skimage import data

    return data.astronaut()


def test_only_mode_serves_each_real_and_its_blend(crops):
    items, lms = crops
    ds = SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="only", jpeg_prob=0.0,
                              preload=False)
    assert len(ds) == 12  # 6 reals (fakes are never used in the SBI protocol), twice
    assert ds.labels.tolist() == [0] * 6 + [1] * 6
    for i in range(6):
        real, y0, m0 = ds.sample(i)
        fake, y1, mask = ds.sample(i + 6)
        assert (y0, y1) == (0, 1) and m0 is None
        diff = np.abs(fake.astype(int) - real.astype(int)).sum(axis=2)
        assert diff[mask == 0].max() == 0  # only pixels under the mask change
        assert diff[mask >= 0.5 * mask.max()].mean() > 1.0  # and those visibly
        x, y = ds[i + 6]
        assert tuple(x.shape) == (3, 160, 160) and float(y) == 1.0


def test_draws_are_reproducible_and_change_with_the_epoch(crops):
    items, lms = crops
    a = SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="only", seed=1, preload=False)
    b = SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="only", seed=1, preload=False)
    assert np.array_equal(a.sample(7)[0], b.sample(7)[0])
    b.set_epoch(1)
    assert not np.array_equal(a.sample(7)[0], b.sample(7)[0])


def test_mix_mode_replaces_the_asked_share_of_fake_slots(crops):
    items, lms = crops
    never = SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="mix", fake_fraction=0.0,
                                 jpeg_prob=0.0, preload=False)
    always = SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="mix", fake_fraction=1.0,
                                  jpeg_prob=0.0, preload=False)
    assert len(never) == len(items)
    for i in range(len(items)):
        img0, y0, m0 = never.sample(i)
        img1, y1, m1 = always.sample(i)
        assert y0 == y1 == items["label"][i]
        if items["label"][i] == 0:  # reals are served as they are
            assert m0 is None and m1 is None and np.array_equal(img0, img1)
        else:  # a fake slot: the file's fake, or a self-blend of a real crop
            assert m0 is None and m1 is not None and m1.max() > 0


def test_native_jpeg_touches_both_classes(crops):
    items, lms = crops
    ds = SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="only", jpeg_prob=1.0,
                              jpeg_quality=(40, 40), preload=False)
    plain = SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="only", jpeg_prob=0.0,
                                 preload=False)
    assert not np.array_equal(ds.sample(0)[0], plain.sample(0)[0])


def test_no_usable_real_is_an_error(crops):
    items, lms = crops
    with pytest.raises(ValueError, match="nothing can be self-blended"):
        SelfBlendCropDataset(items, np.full_like(lms, np.nan), 160, MEAN, STD, preload=False)


def test_pairs_hold_a_real_and_its_own_blend_under_one_augmentation(crops):
    """SBI's batches: item i is (real i, its blend), both through the same JPEG quality and
    the same augmentation draw, so within a pair only the blend differs."""
    import torch

    from fakescope.data.augment import build_augment
    from fakescope.data.blended import pair_collate
    from fakescope.data.synth import SelfBlendConfig

    items, lms = crops
    ds = SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="only", pairs=True,
                              jpeg_prob=1.0, jpeg_quality=(40, 40), preload=False,
                              synth=SelfBlendConfig.sbi())
    assert len(ds) == 6 and ds.collate_fn is pair_collate
    real, fake = ds.pair(2)
    plain = SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="only", jpeg_prob=0.0,
                                 preload=False)
    # the real crop went through the same JPEG as its blend
    from fakescope.data.blended import jpeg
    assert np.array_equal(real, jpeg(plain.sample(2)[0], 40))
    assert np.abs(fake.astype(int) - real.astype(int)).sum() > 0

    # A flip-only augmentation (p = 1) flips both crops of the pair together.
    ds.transform = build_augment(1.0, seed=0, preset="sbi")
    ds.transform.transforms[0].p = 1.0
    x, y = ds[2]
    assert tuple(x.shape) == (2, 3, 160, 160) and y.tolist() == [0.0, 1.0]
    ds.transform = None
    x0, _ = ds[2]
    assert torch.allclose(x[0], x0[0].flip(-1), atol=1e-6)
    assert torch.allclose(x[1], x0[1].flip(-1), atol=1e-6)

    xb, yb = pair_collate([ds[0], ds[1]])
    assert tuple(xb.shape) == (4, 3, 160, 160) and yb.tolist() == [0.0, 1.0, 0.0, 1.0]


def test_pairs_need_the_sbi_protocol(crops):
    items, lms = crops
    with pytest.raises(ValueError, match="pairs needs mode 'only'"):
        SelfBlendCropDataset(items, lms, 160, MEAN, STD, mode="mix", pairs=True, preload=False)


def test_validation_blends_are_recompressed_when_asked(crops, tmp_path):
    """val_jpeg_prob: validation blends scored through a JPEG like the training ones (0, the
    default, scores them as made)."""
    from fakescope.train.config import BlendConfig, DataConfig, TrainConfig
    from fakescope.train.trainer import build_crop_dataset

    items, _ = crops
    reals = items[items["label"] == 0].reset_index(drop=True)

    def val_set(p):
        cfg = TrainConfig(data=DataConfig(table="unused.csv", image_size=64,
                                          cache_dir=str(tmp_path)),
                          blend=BlendConfig(mode="only", val_mode="blend", val_jpeg_prob=p,
                                            jpeg_quality=(40, 40)))
        return build_crop_dataset(cfg, reals, train=False)

    plain, squeezed = val_set(0.0), val_set(1.0)
    assert len(plain) == len(squeezed) == 2 * len(reals)
    for i in (0, len(reals)):  # a real and a blend
        a, b = plain.sample(i)[0], squeezed.sample(i)[0]
        assert not np.array_equal(a, b)
    assert np.array_equal(plain.sample(1)[0], val_set(0.0).sample(1)[0])  # fixed draws


def test_blends_made_at_the_source_side_change_only_the_blend(crops, tmp_path):
    """source_sides: for a crop upscaled from a 112-px face the blend is made at 112 px and
    only its (upscaled) change is added: the real partner and every pixel far from the mask stay
    as decoded, and the change holds no detail finer than the 112-px grid. A crop from a face
    as large as the file is served exactly as without source sides."""
    from fakescope.train.trainer import source_sides

    items, lms = crops
    reals = items[items["label"] == 0].reset_index(drop=True)
    table = tmp_path / "metadata.csv"
    pd.DataFrame({"videoname": [f"c{i}.mp4" for i in range(6)],
                  "original_width": [112, 300, 112, 112, 112, 112]}).to_csv(table, index=False)
    sides = source_sides(str(table), reals["path"])
    assert sides.tolist() == [112, 300, 112, 112, 112, 112]
    kw = dict(mode="only", pairs=True, jpeg_prob=0.0, preload=False)
    small = SelfBlendCropDataset(reals, lms[:6], 160, MEAN, STD, source_sides=sides, **kw)
    plain = SelfBlendCropDataset(reals, lms[:6], 160, MEAN, STD, **kw)

    real, fake = small.pair(0)
    plain_real, plain_fake = plain.pair(0)
    assert np.array_equal(real, plain_real) and fake.shape == real.shape
    change = fake.astype(np.float32) - real.astype(np.float32)
    assert np.abs(change).sum(axis=2).mean() > 0.5
    # band-limited: the change survives a 112-px round trip almost intact; the 224-px blend's
    # own change loses more of itself to it
    def lost(c):
        back = cv2.resize(cv2.resize(c, (112, 112), interpolation=cv2.INTER_AREA), (224, 224),
                          interpolation=cv2.INTER_LINEAR)
        return np.abs(c - back).sum() / np.abs(c).sum()
    assert lost(change) < lost(plain_fake.astype(np.float32) - plain_real.astype(np.float32))
    for a, b in zip(small.pair(1), plain.pair(1), strict=True):  # 300 px: left as it is
        assert np.array_equal(a, b)
    single = SelfBlendCropDataset(reals, lms[:6], 160, MEAN, STD, mode="only", jpeg_prob=0.0,
                                  preload=False, source_sides=sides)
    img, label, mask = single.sample(6)
    assert label == 1 and img.shape == (224, 224, 3) and mask.shape == (224, 224)
    far = cv2.dilate((mask > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    diff = np.abs(img.astype(int) - single.sample(0)[0].astype(int)).sum(axis=2)
    assert far.any() and diff[far].max() == 0


def test_a_source_side_table_without_its_columns_is_refused(tmp_path):
    from fakescope.train.config import ConfigError
    from fakescope.train.trainer import source_sides

    table = tmp_path / "sides.csv"
    pd.DataFrame({"name": ["a.mp4"], "width": [100]}).to_csv(table, index=False)
    with pytest.raises(ConfigError, match="needs a path or videoname column"):
        source_sides(str(table), pd.Series(["a.jpg"]))
    with pytest.raises(ConfigError, match="missing.csv"):
        source_sides(str(tmp_path / "missing.csv"), pd.Series(["a.jpg"]))
    pd.DataFrame({"path": ["x/a.jpg"], "source_side": ["wide"]}).to_csv(table, index=False)
    with pytest.raises(ConfigError, match="source_side is not a number for"):
        source_sides(str(table), pd.Series(["a.jpg"]))
    table.write_text("")
    with pytest.raises(ConfigError, match="sides.csv"):
        source_sides(str(table), pd.Series(["a.jpg"]))
    pd.DataFrame({"path": ["x/a.jpg"], "source_side": [100]}).to_csv(table, index=False)
    assert np.isnan(source_sides(str(table), pd.Series(["a.png", "b.jpg"]))[1])
