"""Which files inference takes from what users point it at, and where the outputs go."""

from __future__ import annotations

import pytest

from semunet_monai.inference import modality_of, select_inputs


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


MRB13 = ("T1.nii.gz", "T1_IR.nii.gz", "T2_FLAIR.nii.gz", "LabelsForTraining.nii.gz", "LabelsForTesting.nii.gz")


def _mrbrains13(root, subjects=("1", "2")):
    for s in subjects:
        for name in MRB13:
            _touch(root / "TrainingData" / s / name)
    return root


def test_mrbrains13_folder_yields_the_t1_scans_with_one_output_folder_per_subject(tmp_path):
    root = _mrbrains13(tmp_path / "mrb")
    _touch(root / "TrainingData" / "1" / "T1_seg.nii.gz")  # an earlier output beside the scans
    sel = select_inputs([root], tmp_path / "out")
    assert [s.path.relative_to(root).as_posix() for s in sel.scans] == [
        "TrainingData/1/T1.nii.gz",
        "TrainingData/2/T1.nii.gz",
    ]
    assert [s.outputs["seg"].relative_to((tmp_path / "out").resolve()).as_posix() for s in sel.scans] == [
        "TrainingData/1/T1_seg.nii.gz",
        "TrainingData/2/T1_seg.nii.gz",
    ]
    reasons = {p.name: r for p, r in sel.skipped if p.parent.name == "1"}
    assert set(reasons) == {
        "T1_IR.nii.gz",
        "T2_FLAIR.nii.gz",
        "LabelsForTraining.nii.gz",
        "LabelsForTesting.nii.gz",
        "T1_seg.nii.gz",
    }
    assert "another contrast (T1_IR" in reasons["T1_IR.nii.gz"] and "label map" in reasons["LabelsForTesting.nii.gz"]
    assert "earlier output" in reasons["T1_seg.nii.gz"]
    assert len(sel.skipped) == 9  # every skipped file is listed, none silently


def test_another_trained_modality_and_a_pattern(tmp_path):
    root = _mrbrains13(tmp_path / "mrb", ("1",))
    flair = select_inputs([root], tmp_path / "o1", modality="T2_FLAIR")
    assert [s.path.name for s in flair.scans] == ["T2_FLAIR.nii.gz"]
    picked = select_inputs([root], tmp_path / "o2", pattern="t1_ir.nii.gz")
    assert [s.path.name for s in picked.scans] == ["T1_IR.nii.gz"]


def test_unnamed_contrasts_are_taken_only_where_no_file_names_the_trained_one(tmp_path):
    for name in ("patient1.nii.gz", "patient2.nii", "patient2_FLAIR.nii.gz"):
        _touch(tmp_path / "mine" / name)
    sel = select_inputs([tmp_path / "mine"], tmp_path / "out")
    assert [s.path.name for s in sel.scans] == ["patient1.nii.gz", "patient2.nii"]
    _touch(tmp_path / "mine" / "patient3_T1w.nii.gz")
    sel = select_inputs([tmp_path / "mine"], tmp_path / "out")
    assert [s.path.name for s in sel.scans] == ["patient3_T1w.nii.gz"]
    assert sum("states no contrast" in r for _, r in sel.skipped) == 2


@pytest.mark.parametrize(
    "name, modality",
    [
        ("T1.nii.gz", "T1"),
        ("reg_T1.nii.gz", "T1"),
        ("sub-01_T1w.nii.gz", "T1"),
        ("T1_IR.nii.gz", "T1_IR"),
        ("reg_IR.nii.gz", "T1_IR"),
        ("T2_FLAIR.nii.gz", "T2_FLAIR"),
        ("FLAIR.nii", "T2_FLAIR"),
        ("sub-01_T2w.nii.gz", "T2"),
        ("patient1.nii.gz", None),
        ("t10.nii.gz", None),
    ],
)
def test_modality_of_names(name, modality):
    assert modality_of(name) == modality


def test_literal_names_list_files_and_explicit_files(tmp_path):
    for name in ("$b.nii.gz", "@c.nii", "%d.nii.gz"):
        _touch(tmp_path / "in" / name)
    sel = select_inputs([tmp_path / "in"], tmp_path / "out")
    assert sorted(s.path.name for s in sel.scans) == ["$b.nii.gz", "%d.nii.gz", "@c.nii"]  # never evaluated
    _touch(tmp_path / "scans" / "x_FLAIR.nii.gz")
    listing = tmp_path / "list.txt"
    listing.write_text("# scans\nscans/x_FLAIR.nii.gz\n\n")
    (scan,) = select_inputs([listing], tmp_path / "out").scans  # named explicitly: taken whatever its contrast
    assert scan.path == tmp_path / "scans" / "x_FLAIR.nii.gz"
    (scan,) = select_inputs([tmp_path / "scans" / "x_FLAIR.nii.gz"], tmp_path / "out").scans
    assert scan.outputs["recon"].name == "x_FLAIR_recon.nii.gz"


@pytest.mark.parametrize(
    "setup, match",
    [
        ("empty", "nothing to process in .*empty: no T1 scan found"),
        ("labels_only", r"no T1 scan found \(1 file\(s\) skipped"),
        ("missing", "nope: no such file or folder"),
        ("text", r"notes.txt: the list file names no scans"),
        ("unsupported", r"scan.mat: unsupported file type"),
        ("collide", "would both write"),
        ("over_input", "would overwrite a file of the input"),
        ("over_skipped", "would overwrite a file of the input \\(even with --overwrite\\)"),
        ("exists", "exists already .*--overwrite"),
    ],
)
def test_refusals_name_the_file(tmp_path, setup, match):
    out = tmp_path / "out"
    inputs = {
        "empty": lambda: [(tmp_path / "empty").mkdir() or tmp_path / "empty"],
        "labels_only": lambda: [_touch(tmp_path / "l" / "LabelsForTesting.nii.gz").parent],
        "missing": lambda: [tmp_path / "nope"],
        "text": lambda: [(tmp_path / "notes.txt").write_text("# nothing yet\n") and tmp_path / "notes.txt"],
        "unsupported": lambda: [_touch(tmp_path / "scan.mat")],
        "collide": lambda: [_touch(tmp_path / "a" / "T1.nii.gz"), _touch(tmp_path / "b" / "T1.nii")],
        "over_input": lambda: [_touch(out / "a.nii.gz"), _touch(out / "a_seg.nii.gz")],
        "exists": lambda: [_touch(tmp_path / "a.nii.gz"), _touch(out / "a_recon.nii.gz")][:1],
        # a user's own segmentation beside the scan, in the folder given as --out: skipped, and never replaced
        "over_skipped": lambda: [_touch(out / "T1.nii.gz").parent, _touch(out / "T1_seg.nii.gz")][:1],
    }[setup]()
    with pytest.raises(ValueError, match=match):
        select_inputs(inputs, out, overwrite=setup == "over_skipped")
    if setup == "exists":
        (scan,) = select_inputs(inputs, out, overwrite=True).scans
        assert scan.outputs["recon"] == (out / "a_recon.nii.gz").resolve()


def test_dicom_series_folders_follow_the_contrast_and_label_rules(tmp_path):
    for series in ("t1_mprage", "t2_flair", "seg_manual"):
        for k in range(3):
            (tmp_path / "study" / series).mkdir(parents=True, exist_ok=True)
            (tmp_path / "study" / series / f"IM{k:04d}").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    (tmp_path / "study" / "t1_mprage" / "info.txt").write_text("acquired 2026\n")  # a side file does not hide it
    sel = select_inputs([tmp_path / "study"], tmp_path / "out")
    assert [s.path.name for s in sel.scans] == ["t1_mprage"] and sel.scans[0].kind == "image"
    assert {p.name: r for p, r in sel.skipped} == {
        "seg_manual": "a label map or mask",
        "t2_flair": "another contrast (T2_FLAIR; the model was trained on T1)",
    }
    assert sel.scans[0].outputs["seg"].name == "t1_mprage_seg.nii.gz"
