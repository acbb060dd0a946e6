from __future__ import annotations

import pytest

from semunet_monai.bundle import experiment, inference_inputs


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folder_inputs_are_literal_paths(tmp_path):
    for name in ("a.nii.gz", "$b.nii.gz", "@c.nii", "%d.nii.gz", "notes.txt"):
        _touch(tmp_path / "in" / name)
    items = inference_inputs(str(tmp_path / "in"), None, str(tmp_path / "out"))
    names = sorted(p["image"].rsplit("/", 1)[1] for p in items)
    assert names == ["$b.nii.gz", "%d.nii.gz", "@c.nii", "a.nii.gz"]


def test_list_file_relative_paths_and_comments(tmp_path):
    _touch(tmp_path / "scans" / "x.nii.gz")
    listing = tmp_path / "list.txt"
    listing.write_text("# scans\nscans/x.nii.gz\n\n")
    (item,) = inference_inputs(None, str(listing), str(tmp_path / "out"))
    assert item["image"] == str(tmp_path / "scans" / "x.nii.gz")


@pytest.mark.parametrize(
    "files, output, match",
    [
        (["a.nii.gz", "a_seg.nii.gz"], ".", "would overwrite an input"),
        (["a.nii", "a.nii.gz"], "out", "would both write"),
        ([], "out", "no .nii, .nii.gz, .h5 or .npy files"),
    ],
)
def test_unsafe_or_empty_inputs_are_refused(tmp_path, files, output, match):
    for name in files:
        _touch(tmp_path / "in" / name)
    (tmp_path / "in").mkdir(exist_ok=True)
    out = tmp_path / "in" if output == "." else tmp_path / output
    with pytest.raises(ValueError, match=match):
        inference_inputs(str(tmp_path / "in"), None, str(out))


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="exactly one of"):
        inference_inputs(None, None, str(tmp_path))
    with pytest.raises(ValueError, match="not a folder"):
        inference_inputs(str(tmp_path / "nope"), None, str(tmp_path))
    listing = tmp_path / "l.txt"
    listing.write_text("missing.nii.gz\n")
    with pytest.raises(ValueError, match="missing.nii.gz: scan not found"):
        inference_inputs(None, str(listing), str(tmp_path / "o"))
    listing.write_text("scan.mha\n")
    _touch(tmp_path / "scan.mha")
    with pytest.raises(ValueError, match="unsupported file type"):
        inference_inputs(None, str(listing), str(tmp_path / "o"))


def test_experiment_routes_flat_overrides():
    c = experiment("tiny", dataset_dir="/data/x", device="cpu", method="baseline", rate=0.05, epochs=None)
    assert c.data.root == "/data/x" and c.train.device == "cpu" and c.train.method == "baseline"
    assert c.sampling.rate == 0.05 and c.train.epochs == 1  # None keeps the preset's value
    with pytest.raises(ValueError, match="'epoch' is not known"):
        experiment("tiny", epoch=3)


def test_experiment_from_given_items_writes_a_fixed_split_datalist(tmp_path):
    import json

    train = [{"image": f"/data/a/{i}/T1.nii.gz", "label": f"/data/a/{i}/seg.nii.gz"} for i in (1, 2)]
    val = [{"image": "/data/b/scan3.nii.gz", "label": "/data/b/scan3_seg.nii.gz"}]
    c = experiment("tiny", train_items=train, val_items=val, datalist_path=str(tmp_path / "dl.json"), max_epochs=3)
    sections = json.loads((tmp_path / "dl.json").read_text())
    assert c.data.root == str(tmp_path / "dl.json") and c.train.epochs == 3
    assert [e["subject"] for e in sections["training"]] == ["1_T1", "2_T1"]  # same names made unique by folder
    assert [e["subject"] for e in sections["validation"]] == ["scan3"]
    assert c.data.label_scheme == {i: i for i in range(8)}  # MONAI Label stores labels as class indices
    with pytest.raises(ValueError, match="validation items"):
        experiment("tiny", train_items=train, datalist_path=str(tmp_path / "x.json"))
