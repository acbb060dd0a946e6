"""The MNI152-derived demo subjects: determinism, classes, volumes and where each class sits."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from scipy import ndimage

from semunet_monai.data import mni152
from semunet_monai.data.demo import DATASET_JSON, write_demo_dataset
from semunet_monai.data.labels import LABEL_SCHEMES
from semunet_monai.data.mni_subjects import BRAIN_CENTRE_MM, make_mni_subject

SHAPE = (96, 96, 19)  # the cpu preset's grid (MRBrainS13 field of view)
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def subjects() -> dict[int, dict[str, np.ndarray]]:
    return {seed: make_mni_subject(seed, SHAPE) for seed in SEEDS}


def _world(sub: dict, mask: np.ndarray) -> np.ndarray:
    """Centroid of ``mask`` in subject mm relative to the grid centre (x right, y anterior, z superior)."""
    idx = np.argwhere(mask).mean(axis=0)
    return sub["affine"][:3, :3] @ idx + sub["affine"][:3, 3]


def test_same_seed_same_subject_and_seeds_differ() -> None:
    a, b = make_mni_subject(7, (48, 48, 10)), make_mni_subject(7, (48, 48, 10))
    c = make_mni_subject(8, (48, 48, 10))
    for key in ("label", "T1", "T1_IR", "T2_FLAIR", "affine"):
        np.testing.assert_array_equal(a[key], b[key])
    assert (a["label"] != c["label"]).mean() > 0.01  # another deformation
    assert not np.allclose(a["T1"], c["T1"])


def test_global_rngs_untouched() -> None:
    import torch

    np.random.seed(3)
    torch.manual_seed(3)
    state_np, state_torch = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    make_mni_subject(5, (32, 32, 8))
    np.testing.assert_array_equal(np.random.get_state()[1], state_np)
    assert torch.equal(torch.get_rng_state(), state_torch)


def test_every_class_of_both_schemes_is_present(subjects) -> None:
    for seed, sub in subjects.items():
        for name in ("paper7", "tissue3"):
            scheme = LABEL_SCHEMES[name]
            lut = np.array([scheme.mapping[v] for v in range(9)])
            present = set(np.unique(lut[sub["label"]]).tolist())
            assert present == set(range(scheme.num_classes)), (seed, name, present)
        assert 4 not in np.unique(sub["label"])  # no lesions in the template


def test_volume_fractions_are_plausible(subjects) -> None:
    # Ranges (fractions of the intracranial volume, ICV) from adult volumetry: ICV 1.2-1.8 L; GM/WM 1.0-1.8 (the
    # template's own ratio is 1.5); cerebellum 7-14 % (~140 mL); brainstem 0.8-3 % (~25 mL); basal ganglia and
    # thalamus 1-4 % (~35 mL); lateral + third ventricles 0.4-4 % (~15-60 mL in adults).
    for seed, sub in subjects.items():
        label = sub["label"]
        voxel_ml = float(np.prod(np.diag(sub["affine"])[:3])) / 1000.0
        icv = (label > 0).sum()
        frac = {k: (label == k).sum() / icv for k in range(9)}
        assert 1200 <= icv * voxel_ml <= 1800, (seed, icv * voxel_ml)
        assert 1.0 <= (frac[1] + frac[2]) / frac[3] <= 1.8, seed
        assert 0.07 <= frac[7] <= 0.14, (seed, frac[7])
        assert 0.008 <= frac[8] <= 0.03, (seed, frac[8])
        assert 0.01 <= frac[2] <= 0.04, (seed, frac[2])
        assert 0.004 <= frac[6] <= 0.04, (seed, frac[6])


def test_classes_sit_where_they_belong(subjects) -> None:
    for seed, sub in subjects.items():
        label = sub["label"]
        brain = _world(sub, label > 0)
        vent, cbl, stem = (_world(sub, label == k) for k in (6, 7, 8))
        deep = label == 2
        assert np.linalg.norm((vent - brain)[:2]) < 20, seed  # ventricles near the centre, in plane
        assert abs(vent[0] - brain[0]) < 6, seed  # and on the midline
        assert cbl[1] < brain[1] - 20 and cbl[2] < brain[2] - 25, seed  # cerebellum inferior-posterior
        assert stem[2] < brain[2] - 15 and abs(stem[0] - brain[0]) < 6, seed  # brainstem inferior, midline
        # basal ganglia: one mass per hemisphere, each 8-30 mm from the midline
        x_mm = sub["affine"][0, 0] * np.argwhere(deep)[:, 0] + sub["affine"][0, 3] - brain[0]
        left, right = x_mm[x_mm < 0], x_mm[x_mm > 0]
        assert min(left.size, right.size) > 0.35 * x_mm.size, seed
        assert 8 < -left.mean() < 30 and 8 < right.mean() < 30, seed


def test_layers_from_the_brain_surface_inward(subjects) -> None:
    # depth = distance (mm) to the outside of the intracranial mask: extracerebral CSF is the outer shell, cortical GM
    # a ribbon under it, WM inside the ribbon, basal ganglia and ventricles deepest (measured at seed 1: 6, 14, 22,
    # 27 and 36 mm); and the ventricles sit near the brain's centre in height too (5 mm above its centroid)
    for seed, sub in subjects.items():
        label = sub["label"]
        spacing = np.abs(np.diag(sub["affine"])[:3])
        depth = ndimage.distance_transform_edt(label > 0, sampling=spacing)
        mean = {k: depth[label == k].mean() for k in (1, 2, 3, 5, 6)}
        assert mean[5] < mean[1] < mean[3] < min(mean[2], mean[6]), (seed, mean)
        assert mean[5] < 10 and mean[6] > 25, (seed, mean)
        assert abs(_world(sub, label == 6)[2] - _world(sub, label > 0)[2]) < 15, seed


def test_default_grid_is_mrbrains13() -> None:
    sub = make_mni_subject(1)
    assert sub["label"].shape == sub["T1"].shape == (240, 240, 48)
    np.testing.assert_allclose(np.abs(np.diag(sub["affine"])[:3]), (0.958, 0.958, 3.0), atol=1e-3)
    icv_ml = (sub["label"] > 0).sum() * np.prod(np.abs(np.diag(sub["affine"])[:3])) / 1000.0
    assert 1200 <= icv_ml <= 1800
    assert set(np.unique(sub["label"]).tolist()) == {0, 1, 2, 3, 5, 6, 7, 8}


def test_t1_contrast_and_head_around_the_brain(subjects) -> None:
    for sub in subjects.values():
        label = sub["label"]
        med = {k: np.median(sub["T1"][label == k]) for k in (1, 3, 5)}
        assert med[5] < med[1] < med[3]  # T1: CSF < GM < WM
        ir = {k: np.median(sub["T1_IR"][label == k]) for k in (1, 3, 5)}
        assert ir[5] < ir[1] < ir[3]
        flair = {k: np.median(sub["T2_FLAIR"][label == k]) for k in (1, 3, 5)}
        assert flair[5] < flair[3] < flair[1]  # FLAIR: dark CSF, GM brighter than WM
        # a scalp: bright signal outside the intracranial labels, beyond the noise floor of the corners
        background = label == 0
        corner = sub["T1"][:8, :8].mean()
        assert np.percentile(sub["T1"][background], 95) > 5 * corner


def test_grid_centre_is_the_brain_centre(subjects) -> None:
    # the grid is centred on the origin and BRAIN_CENTRE_MM goes there: the brain's centroid is near 0 in plane
    for sub in subjects.values():
        c = _world(sub, sub["label"] > 0)
        assert np.abs(c[:2]).max() < 15, c
    assert BRAIN_CENTRE_MM[0] == 0.0


def test_modified_template_is_refused(tmp_path, monkeypatch) -> None:
    for name in mni152.TEMPLATE_FILES.values():
        shutil.copy(mni152.TEMPLATE_DIR / name, tmp_path / name)
    target = tmp_path / mni152.TEMPLATE_FILES["gm"]
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    monkeypatch.setattr(mni152, "TEMPLATE_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"mni_icbm152_gm.*not the one shipped"):
        mni152.load_template("gm")
    (tmp_path / mni152.TEMPLATE_FILES["t1"]).unlink()
    with pytest.raises(FileNotFoundError, match="mni_icbm152_t1.*missing"):
        mni152.load_template("t1")
    with pytest.raises(ValueError, match="argument 'name'"):
        mni152.load_template("csf")


def test_demo_dataset_defaults_to_mni152(tmp_path) -> None:
    write_demo_dataset(tmp_path / "ds", subjects=2, seed=4, shape=(32, 32, 8))
    meta = json.loads((tmp_path / "ds" / DATASET_JSON).read_text())
    assert meta["generator_name"] == "mni152" and meta["generator"] == "semunet_monai.data.mni_subjects"
    assert meta["lesions"] is False
    with pytest.raises(ValueError, match="argument 'generator'"):
        write_demo_dataset(tmp_path / "other", subjects=1, shape=(32, 32, 8), generator="brainweb")
    assert not (tmp_path / "other").exists()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="argument 'seed'"):
        make_mni_subject(-1)
    with pytest.raises(ValueError, match="argument 'snr'"):
        make_mni_subject(1, (32, 32, 8), snr=0)
    with pytest.raises(ValueError, match="argument 'bias'"):
        make_mni_subject(1, (32, 32, 8), bias=1.5)
    with pytest.raises(ValueError, match="argument 'shape'"):
        make_mni_subject(1, (32, 32))
