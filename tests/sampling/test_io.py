from __future__ import annotations

import json
from datetime import datetime

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch

import semunet_monai
from semunet_monai.sampling import io as mask_io
from semunet_monai.sampling.io import load_mask, save_mask
from semunet_monai.sampling.masks import make_mask

SHAPE = (48, 40)


@pytest.fixture
def radial():
    return make_mask("radial", SHAPE, 0.2, seed=0)


def _save(mask, out, **kwargs):
    args = {"rate": 0.2, "geometry": "2d", "method": "fixed:radial", "seed": 0}
    args.update(kwargs)
    return save_mask(mask, out, **args)


def test_round_trip(tmp_path, radial):
    out = tmp_path / "a" / "b"  # created, parents included
    paths = _save(radial, out, seed=3, extra={"note": "x", "k": np.int64(2)})
    assert set(paths) == {"npy", "nii", "png", "json"}
    assert all(p.is_file() and p.parent == out for p in paths.values())
    assert sorted(p.name for p in out.iterdir()) == ["mask.json", "mask.nii.gz", "mask.npy", "mask.png"]

    for source in (out, paths["npy"], paths["json"], str(paths["npy"])):
        mask, meta = load_mask(source)
        assert mask.dtype == torch.bool and torch.equal(mask, radial)

    raw = np.load(paths["npy"])
    assert raw.dtype == np.bool_ and raw.shape == SHAPE

    meta = json.loads(paths["json"].read_text())
    n = int(radial.sum())
    assert meta["rate"] == 0.2
    assert meta["n"] == n and meta["shape"] == list(SHAPE)
    assert meta["effective_rate"] == pytest.approx(n / (SHAPE[0] * SHAPE[1]))
    assert meta["effective_rate"] == pytest.approx(0.2, abs=0.5 / (SHAPE[0] * SHAPE[1]))
    assert meta["geometry"] == "2d" and meta["method"] == "fixed:radial"
    assert meta["slopes"] is None and meta["seed"] == 3
    assert meta["semunet_monai_version"] == semunet_monai.__version__
    assert meta["extra"] == {"note": "x", "k": 2}
    assert datetime.fromisoformat(meta["created"]).tzinfo is not None

    img = nib.load(paths["nii"])
    data = np.asarray(img.dataobj)
    assert data.shape == (*SHAPE, 1) and data.dtype == np.uint8
    assert np.array_equal(img.affine, np.eye(4))
    assert np.array_equal(data[:, :, 0], radial.numpy().astype(np.uint8))

    png = sitk.GetArrayFromImage(sitk.ReadImage(str(paths["png"])))
    assert png.dtype == np.uint8 and png.shape == SHAPE
    assert np.array_equal(png, radial.numpy().astype(np.uint8) * 255)


def test_prob_slopes_lines_and_stem(tmp_path):
    mask = make_mask("cartesian_random", SHAPE, 0.25, seed=1)
    prob = torch.rand(SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    paths = save_mask(
        mask.numpy().astype(np.float32),  # 0/1 floats are accepted
        tmp_path,
        rate=0.25,
        geometry="lines",
        method="sampnet",
        slopes={"prob": 5.0, "sample": 12.0},
        prob=prob,
        stem="final",
    )
    assert paths["prob"].name == "final_prob.npy" and paths["json"].name == "final.json"
    saved_prob = np.load(paths["prob"])
    assert saved_prob.dtype == np.float32 and np.allclose(saved_prob, prob.numpy(), atol=1e-7)
    loaded, meta = load_mask(tmp_path, stem="final")
    assert torch.equal(loaded, mask)
    assert meta["slopes"] == {"prob": 5.0, "sample": 12.0} and meta["seed"] is None
    assert meta["geometry"] == "lines" and meta["n_lines"] == int(mask[0].sum()) == 10


def test_refuses_to_overwrite(tmp_path, radial):
    _save(radial, tmp_path)
    other = make_mask("random", SHAPE, 0.2, seed=0)
    with pytest.raises(ValueError, match="mask.npy") as err:
        _save(other, tmp_path)
    assert "exists" in str(err.value)
    assert torch.equal(load_mask(tmp_path)[0], radial)  # nothing was replaced
    # any one existing target blocks the write
    (tmp_path / "mask.npy").unlink()
    with pytest.raises(ValueError, match="mask.nii.gz"):
        _save(other, tmp_path)
    assert not (tmp_path / "mask.npy").exists()
    _save(other, tmp_path, overwrite=True)
    assert torch.equal(load_mask(tmp_path)[0], other)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_failed_write_leaves_no_temp_file(tmp_path, radial, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(mask_io.sitk, "WriteImage", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _save(radial, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["mask.nii.gz", "mask.npy"]  # the PNG and the sidecar were never put in place


def test_corrupt_or_mismatched_sidecar(tmp_path, radial):
    paths = _save(radial, tmp_path)
    js = paths["json"]
    meta = json.loads(js.read_text())

    js.write_text("{not json")
    with pytest.raises(ValueError, match="mask.json"):
        load_mask(tmp_path)

    js.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="JSON object"):
        load_mask(tmp_path)

    js.write_text(json.dumps({**meta, "n": meta["n"] + 1}))
    with pytest.raises(ValueError, match="n=") as err:
        load_mask(paths["npy"])
    assert str(js) in str(err.value)

    js.write_text(json.dumps({**meta, "shape": [40, 48]}))
    with pytest.raises(ValueError, match="shape"):
        load_mask(js)

    js.unlink()  # no sidecar: the mask alone loads, with empty metadata
    mask, meta = load_mask(paths["npy"])
    assert torch.equal(mask, radial) and meta == {}


def test_bad_npy_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_mask(tmp_path)
    with pytest.raises(ValueError, match="path"):
        load_mask(tmp_path / "mask.png")
    np.save(tmp_path / "mask.npy", np.zeros((2, 3, 4), dtype=bool))
    with pytest.raises(ValueError, match="2-D"):
        load_mask(tmp_path)
    np.save(tmp_path / "mask.npy", np.full((3, 4), 2, dtype=np.uint8))
    with pytest.raises(ValueError, match="0 and 1"):
        load_mask(tmp_path)
    (tmp_path / "mask.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="mask.npy"):
        load_mask(tmp_path)
    np.save(tmp_path / "mask.npy", np.eye(3, dtype=np.int64))  # 0/1 integers load as bool
    mask, _ = load_mask(tmp_path / "mask.npy")
    assert mask.dtype == torch.bool and torch.equal(mask, torch.eye(3, dtype=torch.bool))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"rate": 1.0}, "rate"),
        ({"geometry": "3d"}, "geometry"),
        ({"stem": "a/b"}, "stem"),
        ({"stem": ""}, "stem"),
        ({"prob": np.zeros((3, 3))}, "prob"),
        ({"extra": {"obj": object()}}, "extra"),
        ({"geometry": "lines"}, "mask"),  # a radial mask is not constant along H
    ],
)
def test_bad_save_arguments(tmp_path, radial, kwargs, name):
    with pytest.raises(ValueError, match=name):
        _save(radial, tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())  # checks happen before anything is written


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2)), np.full((3, 3), 0.5), np.array(["a", "b"]).reshape(1, 2)])
def test_bad_mask_values(tmp_path, bad):
    with pytest.raises(ValueError, match="mask"):
        _save(bad, tmp_path)
