from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from semunet_monai.data.dataset import make_slice_dataset, split_subjects, volume_transforms
from semunet_monai.data.layouts import discover

from .conftest import small_subject


@pytest.mark.parametrize("scheme, classes", [("paper7", 8), ("tissue3", 4), ("raw", 9)])
def test_slices_shapes_ranges_and_labels(mrbrains13_root, scheme, classes):
    ds = make_slice_dataset(discover(mrbrains13_root), volume_transforms(scheme, spatial_size=40))
    assert len(ds) == 3 * 6
    item = ds[7]
    assert item["image"].shape == (1, 40, 40) and item["image"].dtype == torch.float32
    assert item["label"].shape == (1, 40, 40) and item["label"].dtype == torch.int64
    assert item["subject"] == "2" and item["slice"] == 1
    images = torch.stack([ds[i]["image"] for i in range(len(ds))])
    labels = torch.stack([ds[i]["label"] for i in range(len(ds))])
    assert float(images.min()) >= 0.0 and float(images.max()) == 1.0
    assert set(torch.unique(labels).tolist()) == set(range(classes))


def test_label_mapping_matches_scheme(mrbrains13_root):
    raw = make_slice_dataset(discover(mrbrains13_root), volume_transforms("raw", spatial_size=(32, 28)))
    paper = make_slice_dataset(discover(mrbrains13_root), volume_transforms("paper7", spatial_size=(32, 28)))
    r, p = raw[4]["label"], paper[4]["label"]
    table = {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7}
    expected = r.clone().apply_(lambda v: table[v])
    assert torch.equal(p, expected)


def test_crop_and_pad_to_size(mrbrains13_root):
    small = make_slice_dataset(discover(mrbrains13_root), volume_transforms(spatial_size=16))
    assert small[0]["image"].shape == (1, 16, 16)
    big = make_slice_dataset(discover(mrbrains13_root), volume_transforms(spatial_size=(48, 64)))
    assert big[0]["image"].shape == (1, 48, 64)
    with pytest.raises(ValueError, match="'spatial_size'"):
        volume_transforms(spatial_size=(1, 2, 3))


def test_no_decoding_after_construction(mrbrains13_root):
    ds = make_slice_dataset(discover(mrbrains13_root), volume_transforms(spatial_size=32))
    first = ds[5]["image"].clone()
    shutil.rmtree(mrbrains13_root)
    assert torch.equal(ds[5]["image"], first)
    assert len([ds[i] for i in range(len(ds))]) == 18


def test_disk_cache(mrbrains13_root, tmp_path):
    ds = make_slice_dataset(
        discover(mrbrains13_root), volume_transforms(spatial_size=32), cache="disk", cache_dir=tmp_path / "c"
    )
    assert len(ds) == 18 and any((tmp_path / "c").iterdir())
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "c").iterdir()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MONAI warns "Corrupt cache file" when it cannot load what it cached
        again = make_slice_dataset(
            discover(mrbrains13_root), volume_transforms(spatial_size=32), cache="disk", cache_dir=tmp_path / "c"
        )
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "c").iterdir()} == files  # read back, not rewritten
    assert torch.equal(again[7]["image"], ds[7]["image"])
    # the same cache folder with other settings: the cached volumes of the first pipeline are not reused
    other = make_slice_dataset(
        discover(mrbrains13_root), volume_transforms(spatial_size=24), cache="disk", cache_dir=tmp_path / "c"
    )
    assert ds[0]["image"].shape[-2:] == (32, 32) and other[0]["image"].shape[-2:] == (24, 24)
    with pytest.raises(ValueError, match="'cache_dir'"):
        make_slice_dataset(discover(mrbrains13_root), cache="disk")


def test_mhd_and_nifti_give_the_same_slices(mrbrains13_root):
    d = mrbrains13_root / "TrainingData" / "1"
    for name in ("T1", "LabelsForTraining"):
        source = sitk.ReadImage(str(d / f"{name}.nii.gz"))
        copy = sitk.GetImageFromArray(sitk.GetArrayFromImage(source))
        copy.CopyInformation(source)
        sitk.WriteImage(copy, str(d / f"{name}.mhd"))
        (d / f"{name}.nii.gz").rename(d / f"{name}.bak")
    mhd = make_slice_dataset(discover(mrbrains13_root)[:1], volume_transforms(spatial_size=32))
    for name in ("T1", "LabelsForTraining"):
        (d / f"{name}.bak").rename(d / f"{name}.nii.gz")
    nii = make_slice_dataset(discover(mrbrains13_root)[:1], volume_transforms(spatial_size=32))
    assert discover(mrbrains13_root)[0]["image"].endswith(".nii.gz")
    for i in range(len(nii)):
        assert torch.allclose(mhd[i]["image"], nii[i]["image"], atol=1e-6)
        assert torch.equal(mhd[i]["label"], nii[i]["label"])


def test_min_foreground_filters_slices(mrbrains13_root):
    ds = make_slice_dataset(discover(mrbrains13_root), volume_transforms(spatial_size=32), min_foreground=0.5)
    assert 0 < len(ds) < 18
    assert all(float((ds[i]["label"] > 0).float().mean()) >= 0.5 for i in range(len(ds)))


@pytest.mark.parametrize("n_test, n_val", [(1, 0), (1, 1), (2, 1)])
def test_split_subjects_is_disjoint_and_complete(n_test, n_val):
    ids = [str(i) for i in range(1, 6)]
    split = split_subjects(ids, n_test=n_test, n_val=n_val, seed=3)
    assert len(split["test"]) == n_test and len(split["val"]) == n_val
    assert sorted(split["train"] + split["val"] + split["test"]) == sorted(ids)
    assert not set(split["train"]) & set(split["test"]) and not set(split["val"]) & set(split["test"])
    assert split == split_subjects(ids, n_test=n_test, n_val=n_val, seed=3)


def test_kfold_covers_every_subject_once():
    ids = [f"s{i}" for i in range(7)]
    tests = [split_subjects(ids, folds=3, fold=f, seed=0)["test"] for f in range(3)]
    assert sorted(sum(tests, [])) == sorted(ids)
    with pytest.raises(ValueError, match="'fold'"):
        split_subjects(ids, folds=3, fold=3)
    with pytest.raises(ValueError, match="'n_test'"):
        split_subjects(ids, n_test=7)
    with pytest.raises(ValueError, match="'subjects'"):
        split_subjects(["a", "a"])


def test_labels_are_integers_in_the_raw_volume():
    _, label = small_subject(0)
    assert label.dtype == np.uint8 and set(np.unique(label)) == set(range(9))


@pytest.mark.parametrize("layout", ["mrbrains13", "mrbrains18"])
def test_generated_phantom_loads_in_both_layouts(tmp_path, layout):
    from semunet_monai.data.demo import write_demo_dataset
    from semunet_monai.data.preflight import check_data

    root = tmp_path / layout
    write_demo_dataset(root, subjects=2, seed=1, layout=layout, shape=(48, 48, 8))
    assert check_data(root, label_scheme="paper7").ok
    ds = make_slice_dataset(discover(root), volume_transforms("paper7", spatial_size=48))
    assert len(ds) == 2 * 8 and ds.subjects == ["1", "2"]
    labels = torch.stack([ds[i]["label"] for i in range(len(ds))])
    assert set(torch.unique(labels).tolist()) == set(range(8))  # every paper7 class appears
    for modality in ("T1_IR", "T2_FLAIR"):
        assert len(make_slice_dataset(discover(root, modality=modality), volume_transforms(spatial_size=48))) == 16


def test_datalist_sections_fix_the_split(tmp_path, mrbrains13_root):
    import json

    from semunet_monai.config import load_config
    from semunet_monai.engines.rundata import prepare_data

    items = discover(mrbrains13_root)
    entry = [{"image": it["image"], "label": it["label"], "subject": f"s{it['subject']}"} for it in items]
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"training": entry[:1], "validation": entry[1:2], "test": entry[2:]}))
    data = prepare_data(load_config("tiny", overrides={"data": {"root": str(path), "spatial_size": 32}}))
    assert data.split == {"train": ["s1"], "val": ["s2"], "test": ["s3"]}
    assert len(data.train) == len(data.val) == len(data.test) == 6
