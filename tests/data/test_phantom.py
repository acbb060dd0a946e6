from __future__ import annotations

import functools
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from semunet_monai.data import demo
from semunet_monai.data.demo import DATASET_JSON, subject_seed, write_demo_dataset
from semunet_monai.data.layouts import mrbrains13_items, mrbrains18_items
from semunet_monai.data.phantom import MODALITIES, MRBRAINS13_SPACING, make_subject, phantom_affine

write_phantom = functools.partial(write_demo_dataset, generator="phantom")

SMALL = (96, 96, 24)
ALL_LABELS = set(range(9))
CSF, GM, WM, LESION = (5, 6), (1,), (3,), (4,)


@pytest.fixture(scope="module")
def small() -> dict:
    return make_subject(0, shape=SMALL)


@pytest.fixture(scope="module")
def clean() -> dict:
    """Noise- and bias-free subject: tissue means are the contrast table up to texture and partial volume."""
    return make_subject(1, shape=SMALL, snr=None, bias=0.0)


def _mean(sub: dict, modality: str, labels: tuple[int, ...]) -> float:
    return float(sub[modality][np.isin(sub["label"], labels)].mean())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_label_present_and_values_valid(seed):
    sub = make_subject(seed, shape=SMALL)
    label = sub["label"]
    assert label.dtype == np.uint8 and label.shape == SMALL
    assert set(np.unique(label).tolist()) == ALL_LABELS


def test_without_lesions_is_the_same_subject_minus_lesions(small):
    no_lesion = make_subject(0, shape=SMALL, lesions=False)["label"]
    assert set(np.unique(no_lesion).tolist()) == ALL_LABELS - {4}
    np.testing.assert_array_equal(np.where(small["label"] == 4, 3, small["label"]), no_lesion)


def test_images_float32_finite_non_negative(small):
    for m in MODALITIES:
        img = small[m]
        assert img.dtype == np.float32 and img.shape == SMALL
        assert np.isfinite(img).all() and img.min() >= 0.0


def test_deterministic_per_seed(small):
    again = make_subject(0, shape=SMALL)
    for key in ("label", *MODALITIES, "affine"):
        np.testing.assert_array_equal(small[key], again[key])
    other = make_subject(5, shape=SMALL)
    assert not np.array_equal(small["label"], other["label"])
    assert not np.allclose(small["T1"], other["T1"])


def test_global_numpy_rng_untouched():
    np.random.seed(1234)
    state = np.random.get_state()
    make_subject(2, shape=(48, 48, 8))
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


@pytest.mark.parametrize("fixture", ["clean", "small"])
def test_t1_and_ir_ordering(fixture, request):
    sub = request.getfixturevalue(fixture)
    for m in ("T1", "T1_IR"):
        wm, gm, csf = _mean(sub, m, WM), _mean(sub, m, GM), _mean(sub, m, CSF)
        assert wm > gm > csf, (m, wm, gm, csf)
        assert _mean(sub, m, LESION) < wm
    assert _mean(sub, "T1_IR", CSF) < 0.25 * _mean(sub, "T1", CSF)  # CSF nulled by the inversion
    assert _mean(sub, "T1_IR", WM) / _mean(sub, "T1_IR", GM) > _mean(sub, "T1", WM) / _mean(sub, "T1", GM)


@pytest.mark.parametrize("fixture", ["clean", "small"])
def test_flair_ordering(fixture, request):
    sub = request.getfixturevalue(fixture)
    csf, gm, wm = _mean(sub, "T2_FLAIR", CSF), _mean(sub, "T2_FLAIR", GM), _mean(sub, "T2_FLAIR", WM)
    assert csf < wm < gm
    assert _mean(sub, "T2_FLAIR", LESION) > wm


def test_skull_and_scalp_visible_but_background(clean):
    label, t1 = clean["label"], clean["T1"]
    outside = label == 0
    assert (t1[outside] > 180).sum() > 100  # scalp fat, label 0
    assert ((t1 > 5) & (t1 < 30) & outside).sum() > 100  # skull, label 0
    assert float(t1[0:3, 0:3].max()) == 0.0  # air in the corner without noise


def test_axial_anatomy_inferior_to_superior(small):
    label = small["label"]
    z = np.arange(label.shape[2])
    brain = ((label >= 1) & (label <= 6)).sum(axis=(0, 1))
    centroid = {k: float((z * (label == k).sum(axis=(0, 1))).sum() / (label == k).sum()) for k in (1, 3, 7, 8)}
    assert centroid[7] < centroid[3] and centroid[8] < centroid[3]  # cerebellum and brainstem below
    assert (label[:, :, -1] == 7).sum() == 0 and (label[:, :, 0] > 0).any()
    assert brain[-3] < brain[label.shape[2] // 2]  # the top of the head covers less brain


def test_full_resolution_subject():
    sub = make_subject(7)
    assert sub["label"].shape == (240, 240, 48) and sub["T1"].shape == (240, 240, 48)
    assert set(np.unique(sub["label"]).tolist()) == ALL_LABELS
    np.testing.assert_allclose(np.diag(sub["affine"])[:3], MRBRAINS13_SPACING)
    np.testing.assert_allclose(sub["affine"][:3, 3], -(np.array([239, 239, 47]) / 2) * MRBRAINS13_SPACING)
    fractions = np.bincount(sub["label"].ravel(), minlength=9) / sub["label"].size
    assert 0.02 < fractions[1] < 0.12 and 0.03 < fractions[3] < 0.15 and fractions[4] < 0.01


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": 0, "shape": (0, 10, 10)}, "shape"),
        ({"seed": 0, "shape": (10, 10)}, "shape"),
        ({"seed": 0, "spacing": (1.0, -1.0, 3.0)}, "spacing"),
        ({"seed": 0, "snr": 0.0}, "snr"),
        ({"seed": 0, "bias": 1.5}, "bias"),
    ],
)
def test_make_subject_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        make_subject(**kwargs)


def _load(path: Path) -> nib.Nifti1Image:
    img = nib.load(str(path))
    assert img.header.get_qform(coded=True)[1] == 1 and img.header.get_sform(coded=True)[1] == 1
    return img


def test_mrbrains13_layout(tmp_path):
    out = tmp_path / "mrb13"
    shape = (48, 48, 12)
    folders = write_phantom(out, subjects=2, seed=3, shape=shape)
    assert folders == [out / "TrainingData" / "1", out / "TrainingData" / "2"]
    names = {"T1.nii.gz", "T1_IR.nii.gz", "T2_FLAIR.nii.gz", "LabelsForTraining.nii.gz", "LabelsForTesting.nii.gz"}
    spacing = (0.958 * 5, 0.958 * 5, 3.0 * 4)
    for i, folder in enumerate(folders, start=1):
        assert {p.name for p in folder.iterdir()} == names
        ref = make_subject(subject_seed(3, i), shape)
        for m in MODALITIES:
            img = _load(folder / f"{m}.nii.gz")
            assert img.get_data_dtype() == np.float32 and img.shape == shape
            np.testing.assert_allclose(img.header.get_zooms(), spacing, rtol=1e-6)
            np.testing.assert_allclose(img.affine, phantom_affine(shape, spacing), atol=1e-5)
            np.testing.assert_array_equal(np.asanyarray(img.dataobj), ref[m])
        train = np.asanyarray(_load(folder / "LabelsForTraining.nii.gz").dataobj)
        test = np.asanyarray(_load(folder / "LabelsForTesting.nii.gz").dataobj)
        assert train.dtype == np.uint8 and test.dtype == np.uint8
        np.testing.assert_array_equal(train, ref["label"])
        expected = {0: 0, 1: 2, 2: 2, 3: 3, 4: 3, 5: 1, 6: 1, 7: 0, 8: 0}
        for raw, cls in expected.items():
            assert (test[train == raw] == cls).all(), raw
        assert set(np.unique(test).tolist()) == {0, 1, 2, 3}
    meta = json.loads((out / DATASET_JSON).read_text())
    assert meta["layout"] == "mrbrains13" and meta["seed"] == 3 and meta["subjects"] == 2
    assert meta["ids"] == ["1", "2"] and meta["subject_seeds"] == [3001, 3002] and meta["shape"] == list(shape)
    assert "generator_version" in meta and meta["generator_fingerprint"] == demo.generator_fingerprint("phantom")
    assert not [p for p in out.rglob(".*")]  # no temporary files left
    assert [item["subject"] for item in mrbrains13_items(out)] == ["1", "2"]


def test_generator_fingerprint_follows_the_code_and_libraries(tmp_path, monkeypatch):
    import importlib.metadata
    import shutil

    for name in ("mni_subjects.py", "mni152.py", "phantom.py", "labels.py"):
        shutil.copy(demo._HERE / name, tmp_path / name)
    monkeypatch.setattr(demo, "_HERE", tmp_path)
    before = {g: demo.generator_fingerprint(g) for g in ("mni152", "phantom")}
    assert before == {g: demo.generator_fingerprint(g) for g in ("mni152", "phantom")}  # stable
    assert before["mni152"] != before["phantom"] and all(len(f) == 16 for f in before.values())
    (tmp_path / "mni152.py").write_text((tmp_path / "mni152.py").read_text() + "\n# edited\n")
    assert demo.generator_fingerprint("mni152") != before["mni152"]
    assert demo.generator_fingerprint("phantom") == before["phantom"]  # the phantom does not use the template
    (tmp_path / "phantom.py").write_text((tmp_path / "phantom.py").read_text() + "\n# edited\n")
    assert demo.generator_fingerprint("phantom") != before["phantom"]
    edited = demo.generator_fingerprint("phantom")
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda lib: "0.0.1" if lib == "monai" else real(lib))
    assert demo.generator_fingerprint("phantom") != edited
    with pytest.raises(ValueError, match="argument 'generator' must be one of"):
        demo.generator_fingerprint("brainweb")


def test_mrbrains18_layout(tmp_path):
    out = tmp_path / "mrb18"
    folders = write_phantom(out, subjects=1, seed=0, layout="mrbrains18", shape=(32, 32, 8))
    folder = folders[0]
    assert folder == out / "training" / "1"
    assert {p.name for p in (folder / "pre").iterdir()} == {"reg_T1.nii.gz", "reg_IR.nii.gz", "FLAIR.nii.gz"}
    segm = _load(folder / "segm.nii.gz")
    assert segm.get_data_dtype() == np.uint8 and segm.shape == (32, 32, 8)
    assert _load(folder / "pre" / "reg_IR.nii.gz").get_data_dtype() == np.float32
    assert json.loads((out / DATASET_JSON).read_text())["layout"] == "mrbrains18"
    assert len(mrbrains18_items(out)) == 1


def test_refuses_non_empty_folder_unless_overwrite(tmp_path):
    out = tmp_path / "ds"
    write_phantom(out, subjects=3, shape=(24, 24, 6))
    with pytest.raises(ValueError, match="overwrite"):
        write_phantom(out, subjects=3, shape=(24, 24, 6))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=str(tmp_path / "other")):
        write_phantom(tmp_path / "other", subjects=1, shape=(24, 24, 6))
    folders = write_phantom(out, subjects=2, seed=1, shape=(24, 24, 6), overwrite=True)
    assert sorted(p.name for p in (out / "TrainingData").iterdir()) == ["1", "2"]  # stale subject 3 removed
    assert json.loads((out / DATASET_JSON).read_text())["seed"] == 1
    written = np.asanyarray(nib.load(str(folders[0] / "T1.nii.gz")).dataobj)
    np.testing.assert_array_equal(written, make_subject(1001, (24, 24, 6))["T1"])


def test_crash_leaves_no_partial_file(tmp_path, monkeypatch):
    calls, real_save = [], nib.save

    def failing_save(img, filename):
        calls.append(filename)
        if len(calls) == 2:  # second file: write half of it, then die
            Path(filename).write_bytes(b"\x1f\x8b partial")
            raise OSError("disk full")
        return real_save(img, filename)

    monkeypatch.setattr(demo.nib, "save", failing_save)
    out = tmp_path / "ds"
    with pytest.raises(OSError, match="disk full"):
        write_phantom(out, subjects=1, shape=(24, 24, 6))
    files = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert files == ["T1.nii.gz"]  # the first file completed; no partial T1_IR, no temp, no dataset.json


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"subjects": 0}, "subjects"),
        ({"subjects": 1000}, "subjects"),
        ({"seed": -2}, "seed"),
        ({"layout": "x"}, "layout"),
    ],
)
def test_write_rejects_bad_arguments(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        write_phantom(tmp_path / "ds", **kwargs)


def test_refuses_a_file_as_out_dir(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="out_dir"):
        write_phantom(tmp_path / "f", subjects=1, shape=(24, 24, 6))
