from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from semunet_monai.data.labels import IGNORE_INDEX, LABEL_SCHEMES, get_label_scheme
from semunet_monai.data.layouts import detect_layout, discover, require_files
from semunet_monai.data.readers import SimpleITKReader

from .conftest import small_subject, write_nifti


@pytest.mark.parametrize(
    "scheme, raw, expected",
    [
        ("paper7", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [0, 1, 2, 3, 3, 4, 5, 6, 7, IGNORE_INDEX, IGNORE_INDEX]),
        ("tissue3", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 2, 2, 3, 3, 1, 1, 0, 0, IGNORE_INDEX]),
        ("raw", [0, 4, 8, 10], [0, 4, 8, IGNORE_INDEX]),
    ],
)
def test_label_schemes(scheme, raw, expected):
    s = get_label_scheme(scheme)
    assert [s.mapping[v] for v in raw] == expected
    assert s.num_classes == {"paper7": 8, "tissue3": 4, "raw": 9}[scheme]


def test_custom_scheme_and_errors():
    s = get_label_scheme({0: 0, 3: 1, 4: 1, 9: IGNORE_INDEX})
    assert s.num_classes == 2 and s.mapping[4] == 1
    with pytest.raises(ValueError, match="'label_scheme'"):
        get_label_scheme("brainweb")
    with pytest.raises(ValueError, match="'label_scheme'"):
        get_label_scheme({"a": "b"})
    assert set(LABEL_SCHEMES) == {"paper7", "tissue3", "raw"}


def test_mrbrains13_discovery(mrbrains13_root):
    assert detect_layout(mrbrains13_root) == "mrbrains13"
    items = discover(mrbrains13_root)
    assert [it["subject"] for it in items] == ["1", "2", "3"]
    assert all(it["image"].endswith("TrainingData/1/T1.nii.gz") for it in items[:1])
    ir = discover(mrbrains13_root, modality="T1_IR", label_file="LabelsForTesting")
    assert ir[0]["image"].endswith("T1_IR.nii.gz") and ir[0]["label"].endswith("LabelsForTesting.nii.gz")
    with pytest.raises(ValueError, match="'modality'"):
        discover(mrbrains13_root, modality="T3")


def test_mrbrains18_discovery(tmp_path):
    root = tmp_path / "mrb18"
    image, label = small_subject(0)
    write_nifti(root / "training" / "070" / "pre" / "reg_T1.nii.gz", image)
    write_nifti(root / "training" / "070" / "segm.nii.gz", label)
    assert detect_layout(root) == "mrbrains18"
    (item,) = discover(root)
    assert item["subject"] == "070" and item["image"].endswith("pre/reg_T1.nii.gz")


def test_datalist_discovery(tmp_path, mrbrains13_root):
    items = discover(mrbrains13_root)
    datalist = {"training": [{"image": it["image"], "label": it["label"]} for it in items[:2]], "test": []}
    path = tmp_path / "list.json"
    path.write_text(json.dumps(datalist))
    got = discover(path)
    assert detect_layout(path) == "datalist" and [g["subject"] for g in got] == ["T1", "T1"]
    with pytest.raises(ValueError, match="'validation'"):
        discover(path, section="validation")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        discover(bad)


def test_missing_files_are_named(mrbrains13_root):
    (mrbrains13_root / "TrainingData" / "2" / "T1.nii.gz").unlink()
    items = discover(mrbrains13_root)
    with pytest.raises(ValueError, match=r"TrainingData/2/T1\.nii\.gz: missing image"):
        require_files(items)
    with pytest.raises(ValueError, match="not a dataset"):
        detect_layout(mrbrains13_root / "TrainingData")


def test_mhd_reads_like_nifti(tmp_path):
    image, _ = small_subject(1)
    nifti = write_nifti(tmp_path / "a.nii.gz", image)
    source = sitk.ReadImage(str(nifti))
    sitk_img = sitk.GetImageFromArray(sitk.GetArrayFromImage(source))
    sitk_img.CopyInformation(source)  # geometry only: NIfTI header fields make MetaImageIO warn
    sitk.WriteImage(sitk_img, str(tmp_path / "a.mhd"))
    reader = SimpleITKReader()
    assert reader.verify_suffix(tmp_path / "a.mhd") and not reader.verify_suffix(nifti)
    array, meta = reader.get_data(reader.read(tmp_path / "a.mhd"))
    np.testing.assert_allclose(array, image)
    np.testing.assert_allclose(meta["affine"], np.diag([0.958, 0.958, 3.0, 1.0]), atol=1e-5)
