"""Embedding analysis (`fakescope analyze`, seed 001 §3.3): reduction, clustering, purity,
the penultimate features, and the command on a generated crop set."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from skimage import data as skdata

from fakescope.analysis.embeddings import AnalyzeConfig, cluster, project, reduce, summarise
from fakescope.cli.main import main
from fakescope.detectors import create_detector
from fakescope.detectors.torch_bundle import last_linear


def _blobs(n_per: int = 40, dim: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, size=(3, dim))
    x = np.concatenate([c + rng.normal(0, 1, size=(n_per, dim)) for c in centres])
    group = np.repeat([0, 1, 2], n_per)
    return x, group


@pytest.mark.parametrize("space", ["pca", "tsne2d"])
def test_three_separated_groups_give_three_pure_clusters(space):
    x, group = _blobs()
    labels = (group > 0).astype(int)  # group 0 real, groups 1 and 2 fake
    config = AnalyzeConfig(method="tsne", out_dims=2 if space == "tsne2d" else 3,
                           pca_components=10, perplexity=20)
    pca, coords = project(x, config)
    assert pca.shape == (120, 10) and coords.shape == (120, config.out_dims)
    clusters = cluster(pca if space == "pca" else coords, min_cluster_size=5)
    s = summarise(labels, clusters)
    assert s.n_clusters == 3 and s.purity == 1.0 and s.noise_share < 0.15
    assert s.label_auc_of_cluster_share == 1.0
    for c in set(clusters) - {-1}:
        assert len(set(group[clusters == c])) == 1
    for g in range(3):  # every group is found
        assert (clusters[group == g] >= 0).any()


def test_pca_only_reduction_keeps_the_leading_components():
    x, _ = _blobs()
    coords = reduce(x, AnalyzeConfig(method="pca", out_dims=2, pca_components=10))
    assert coords.shape == (120, 2)
    assert coords[:, 0].var() >= coords[:, 1].var()


def test_purity_falls_when_clusters_mix_labels():
    clusters = np.array([0] * 10 + [1] * 10)
    labels = np.array([0] * 5 + [1] * 5 + [1] * 10)
    s = summarise(labels, clusters)
    assert s.purity == pytest.approx(15 / 20)
    assert {c["majority"] for c in s.clusters} == {"FAKE"} or s.clusters[0]["fake_share"] == 0.5


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="method"):
        AnalyzeConfig(method="lda")
    with pytest.raises(ValueError):
        AnalyzeConfig(out_dims=1)


def test_embeddings_are_the_input_of_the_classifier_head():
    """The features are exactly what the head turns into the score (not some other layer)."""
    det = create_detector("fakebuster", runtime="torch")
    size = det.requirements.input_size
    img = cv2.resize(skdata.astronaut()[0:220, 140:360], (size, size))
    crops = np.stack([img, img[:, ::-1].copy(), np.full_like(img, 128)])
    feats = det.embed_crops(crops)
    head = last_linear(det.model)
    assert feats.shape == (3, head.in_features)
    logits = head(torch.from_numpy(feats)).squeeze(1).detach().numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), det.score_crops(crops), atol=1e-5)


def _generated_set(folder, n_per: int = 20, seed: int = 0):
    """Three kinds of picture, jittered: astronaut face (REAL), coffee and cat (FAKE)."""
    rng = np.random.default_rng(seed)
    sources = {"astronaut": (skdata.astronaut()[0:220, 140:360], 0),
               "coffee": (skdata.coffee()[50:350, 150:450], 1),
               "chelsea": (skdata.chelsea()[0:300, 50:350], 1)}
    rows = []
    for name, (img, label) in sources.items():
        base = cv2.resize(img, (96, 96))
        for i in range(n_per):
            jit = base.astype(np.float32) * rng.uniform(0.9, 1.1) + rng.normal(0, 4, base.shape)
            path = folder / f"{name}_{i:02d}.png"
            cv2.imwrite(str(path), np.clip(jit, 0, 255).astype(np.uint8)[..., ::-1])
            rows.append({"path": path.name, "label": label, "group": name})
    rows.append({"path": "missing.png", "label": 0, "group": "none"})  # unreadable: skipped
    table = folder / "table.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table


def test_analyze_command_finds_the_generated_groups(tmp_path, capsys):
    table = _generated_set(tmp_path)
    out = tmp_path / "analysis"
    rc = main(["analyze", "--data", str(table), "--out", str(out), "--detector", "fakebuster",
               "--min-cluster-size", "5", "--perplexity", "10"])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 60 and summary["unreadable"] == 1
    assert summary["n_clusters"] == 3 and summary["purity"] == 1.0
    emb = pd.read_parquet(out / "embedding.parquet")
    assert {"x", "y", "z", "cluster", "score", "label"} <= set(emb.columns)
    for _, part in emb[emb["cluster"] >= 0].groupby("cluster"):
        assert part["group"].nunique() == 1  # a cluster is one kind of picture
    assert set(emb.loc[emb["cluster"] >= 0, "group"]) == {"astronaut", "coffee", "chelsea"}
    assert np.load(out / "features.npy").shape[0] == 60
    for name in ("scatter_label.png", "scatter_cluster.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    galleries = list((out / "clusters").glob("cluster_*.png"))
    assert len(galleries) == summary["n_clusters"]
    assert "purity" in (out / "report.md").read_text()


def test_analyze_names_a_missing_table(tmp_path, capsys):
    rc = main(["analyze", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "nope.csv" in capsys.readouterr().err
