"""train.json's data nodes (semunet_monai.bundle_data): the datalist, the slice datasets and what the experiment
records of the preprocessing and the training loader."""

from __future__ import annotations

import functools
import json

import pytest
import torch

from semunet_monai.bundle_data import datalist, record_loader, record_preprocessing, slice_dataset
from semunet_monai.config import load_config
from semunet_monai.data.dataset import volume_transforms
from semunet_monai.data.layouts import SUBJECT


def _config(demo_dir, **data):
    return load_config("tiny", overrides={"data": {"root": str(demo_dir), **data}})


def test_datalist_splits_the_experiments_dataset_by_subject(demo_dir):
    config = _config(demo_dir)
    sections = datalist(config)
    subjects = {name: {it[SUBJECT] for it in items} for name, items in sections.items()}
    assert not sections.given and set(sections) == {"training", "validation", "test"}
    assert len(subjects["validation"]) == config.data.n_val and len(subjects["test"]) == config.data.n_test
    assert not (subjects["training"] & subjects["validation"]) and not (subjects["training"] & subjects["test"])
    assert len(set().union(*subjects.values())) == config.data.demo_subjects


def test_given_items_are_the_split_with_subjects_named_from_their_images(demo_dir):
    scans = sorted((demo_dir / "TrainingData").iterdir())
    items = [{"image": str(s / "T1.nii.gz"), "label": str(s / "LabelsForTraining.nii.gz")} for s in scans]
    config = _config(demo_dir)
    sections = datalist(config, training=items[:-1], validation=items[-1:])
    assert sections.given and sections["test"] == []
    # every image is called T1.nii.gz: the folder makes the names unique
    assert [it[SUBJECT] for it in sections["training"]] == [f"{s.name}_T1" for s in scans[:-1]]
    assert [it["image"] for it in sections["validation"]] == [items[-1]["image"]]
    with pytest.raises(SystemExit):  # one ERROR line, exit 1
        datalist(config, training=items[:-1])
    with pytest.raises(ValueError, match="train#dataset#data: item 0 must be a dictionary with 'image' and 'label'"):
        datalist(config, training=[{"image": items[0]["image"]}], validation=items[-1:], debug=True)
    with pytest.raises(ValueError, match="LabelsForTraining"):  # labels checked against the label scheme
        datalist(
            load_config("tiny", overrides={"data": {"label_scheme": {0: 0, 1: 1}}}),
            training=items[:-1],
            validation=items[-1:],
            debug=True,
        )


def test_slice_datasets_cut_each_section_into_slices_of_the_preprocessing_size(demo_dir):
    config = _config(demo_dir)
    sections = datalist(config)
    transform = volume_transforms(config.data.label_scheme, 24)
    train = slice_dataset(config, sections, "training", transform)
    assert tuple(train[0]["image"].shape) == (1, 24, 24) and sorted(set(train.subjects)) == sorted(
        {it[SUBJECT] for it in sections["training"]}
    )
    empty = dict(sections, test=[])
    assert slice_dataset(config, empty, "test") is None
    with pytest.raises(ValueError, match="differs from the datalist's 'validation' items"):
        slice_dataset(config, sections, "validation", data=sections["training"], debug=True)


def test_the_experiment_records_the_preprocessing_and_the_loader_or_refuses_them(demo_dir):
    config = _config(demo_dir)
    recorded = record_preprocessing(config, volume_transforms(config.data.label_scheme, 48, n4=True))
    assert (recorded.data.spatial_size, recorded.data.n4) == (48, True)
    for transform, match in (
        (volume_transforms(config.data.label_scheme, (48, 32)), "square slices"),
        (volume_transforms(config.data.label_scheme, 48, upper_percentile=99.0), "upper_percentile"),
        (volume_transforms({0: 0, 1: 1}, 48), "label_scheme"),
        (torch.nn.Identity(), "expected a semunet_monai.data.volume_transforms node"),
    ):
        with pytest.raises(ValueError, match=match):
            record_preprocessing(config, transform)
    loader = functools.partial(torch.utils.data.DataLoader, batch_size=3, num_workers=0)
    assert (record_loader(config, loader).train.batch_size, record_loader(config, loader).train.num_workers) == (3, 0)
    for keywords, match in (
        ({"shuffle": True}, "'shuffle' is set by each training phase"),
        ({"batch_size": 0}, "positive"),
    ):
        with pytest.raises(ValueError, match=match):
            record_loader(config, functools.partial(torch.utils.data.DataLoader, **keywords))
    json.dumps(datalist(config))  # the run folder records it as JSON
