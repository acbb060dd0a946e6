"""Inference end to end on small scans: units, geometry, model sources, DICOM, and every bad input's one-line error."""

from __future__ import annotations

import locale

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from semunet_monai.inference import check_scan, infer, prepare_inputs

from .conftest import MATRIX, SPACING, smooth_volume, write_scan


def _load(path):
    img = nib.load(str(path))
    return np.asarray(img.dataobj), img.affine


def test_reconstruction_is_written_in_the_scans_units_and_geometry(identity_run, tmp_path):
    volume = smooth_volume()
    scan = write_scan(tmp_path / "in" / "T1.nii.gz", volume)
    infer(identity_run, [scan], tmp_path / "out", progress=False)
    recon, affine = _load(tmp_path / "out" / "T1_recon.nii.gz")
    seg, seg_affine = _load(tmp_path / "out" / "T1_seg.nii.gz")
    ref_affine = nib.load(str(scan)).affine
    assert recon.shape == seg.shape == volume.shape and recon.dtype == np.float32 and seg.dtype == np.uint8
    np.testing.assert_allclose(affine, ref_affine, atol=1e-5)
    np.testing.assert_allclose(seg_affine, ref_affine, atol=1e-5)
    # the identity ReconNet returns the scaled scan: mapped back it is the scan, up to the clipped top 0.5 %
    top = np.percentile(volume, 99.5)
    np.testing.assert_allclose(recon, np.minimum(volume, top), rtol=1e-4, atol=1e-3 * top)
    assert abs(np.percentile(recon, 99) / np.percentile(volume, 99) - 1) < 0.05


def test_a_finer_scan_is_resampled_to_the_trained_spacing_and_back(identity_run, tmp_path):
    fine = (SPACING[0] / 2, SPACING[1] / 2, SPACING[2])
    volume = smooth_volume((64, 64, 5), fine)
    scan = write_scan(tmp_path / "in" / "fine_T1.nii.gz", volume, fine)
    summary = infer(identity_run, [scan], tmp_path / "out", progress=False)
    assert summary["fit"] == "resample" and summary["inputs"] == [str(scan)]
    recon, affine = _load(tmp_path / "out" / "fine_T1_recon.nii.gz")
    assert recon.shape == volume.shape
    np.testing.assert_allclose(affine, nib.load(str(scan)).affine, atol=1e-5)
    assert abs(np.percentile(recon, 99) / np.percentile(volume, 99) - 1) < 0.05
    inside = volume > 0.2 * volume.max()  # away from the edge, the twice-resampled smooth image stays close
    assert np.median(np.abs(recon - volume)[inside] / volume[inside]) < 0.05


def test_resize_squeezes_the_field_of_view_and_is_still_inverted(identity_run, tmp_path):
    volume = smooth_volume((48, 40, 3), (1.5, 1.7, 4.0))
    scan = write_scan(tmp_path / "s.nii.gz", volume, (1.5, 1.7, 4.0))
    infer(identity_run, [scan], tmp_path / "out", fit="resize", progress=False)
    recon, _ = _load(tmp_path / "out" / "s_recon.nii.gz")
    assert recon.shape == volume.shape
    assert abs(np.percentile(recon, 99) / np.percentile(volume, 99) - 1) < 0.05


def test_run_folder_and_bundle_give_identical_outputs(semunet_run_and_bundle, tmp_path):
    run, bundle = semunet_run_and_bundle
    scan = write_scan(tmp_path / "in" / "T1.nii.gz", smooth_volume())
    a = infer(run, [scan], tmp_path / "a", progress=False, precision="fp32")
    b = infer(bundle, [scan], tmp_path / "b", progress=False, precision="fp32")
    assert a["fit"] == b["fit"] == "resample"
    for name in ("T1_recon.nii.gz", "T1_seg.nii.gz"):
        np.testing.assert_array_equal(_load(tmp_path / "a" / name)[0], _load(tmp_path / "b" / name)[0])


def test_dataset_label_values_are_written_on_request(identity_run, tmp_path):
    scan = write_scan(tmp_path / "in" / "T1.nii.gz", smooth_volume())
    infer(identity_run, [scan], tmp_path / "raw", progress=False, dataset_labels=True)
    infer(identity_run, [scan], tmp_path / "idx", progress=False)
    raw, idx = _load(tmp_path / "raw" / "T1_seg.nii.gz")[0], _load(tmp_path / "idx" / "T1_seg.nii.gz")[0]
    lut = np.array([0, 1, 2, 3, 5, 6, 7, 8])  # paper7 class -> MRBrainS label value
    np.testing.assert_array_equal(raw, lut[idx])


def test_a_dicom_series_folder_is_read_through_simpleitk(identity_run, tmp_path):
    volume = smooth_volume()
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.T.astype(np.int16)))
    image.SetSpacing(SPACING)
    series = tmp_path / "dicom" / "series1"
    series.mkdir(parents=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    saved_locale = locale.setlocale(locale.LC_ALL)  # GDCM's DICOM writer sets the process locale to "C" (ASCII)
    for k in range(image.GetDepth()):
        piece = image[:, :, k]
        for tag, value in (
            ("0020|000e", "1.2.826.0.1.3680043.2.1125.1"),  # series instance UID
            ("0020|0032", "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k)))),
            ("0020|0037", "1\\0\\0\\0\\1\\0"),
            ("0020|0013", str(k)),
            ("0008|0060", "MR"),
        ):
            piece.SetMetaData(tag, value)
        writer.SetFileName(str(series / f"slice{k:03d}.dcm"))
        writer.Execute(piece)
    locale.setlocale(locale.LC_ALL, saved_locale)
    summary = infer(identity_run, [tmp_path / "dicom"], tmp_path / "out", progress=False)
    assert locale.setlocale(locale.LC_ALL) == saved_locale  # reading leaves the locale alone
    assert summary["inputs"] == [str(series)]
    recon, _ = _load(tmp_path / "out" / "series1_recon.nii.gz")
    assert recon.shape == volume.shape
    assert abs(np.percentile(recon, 99) / np.percentile(volume, 99) - 1) < 0.05


def _bad(tmp_path, kind):
    good = write_scan(tmp_path / "good.nii.gz", smooth_volume())
    path = tmp_path / "in" / "scan.nii.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "text":
        path.write_text("not an image\n")
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[:-200])
    elif kind == "bitflip":
        raw = bytearray(good.read_bytes())
        raw[len(raw) // 2] ^= 0x10
        path.write_bytes(bytes(raw))
    elif kind in ("2d", "4d"):
        shape = (32, 32) if kind == "2d" else (32, 32, 4, 2)
        data = np.random.default_rng(0).random(shape).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    elif kind == "nan":
        volume = smooth_volume()
        volume[3, 3, 1] = np.nan
        write_scan(path, volume)
    elif kind == "constant":
        write_scan(path, np.zeros((32, 32, 3), np.float32))
    return path


@pytest.mark.parametrize(
    "kind, match",
    [
        ("text", "not a NIfTI-1 image|corrupt or truncated gzip"),
        ("truncated", "corrupt or truncated gzip stream"),
        ("bitflip", "corrupt or truncated gzip stream"),
        ("2d", r"expected one 3-D volume \(X, Y, Z\), got 2-D data of shape \(32, 32\)"),
        ("4d", r"got 4-D data of shape \(32, 32, 4, 2\)"),
        ("nan", "1 voxel\\(s\\) are NaN or infinite"),
        ("constant", "every voxel holds 0.0"),
    ],
)
def test_bad_scans_are_refused_in_one_line_before_anything_runs(identity_run, tmp_path, kind, match, caplog):
    path = _bad(tmp_path, kind)
    with pytest.raises(ValueError, match=match) as err:
        check_scan(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message
    with pytest.raises(ValueError, match=match):
        infer(identity_run, [tmp_path / "in"], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # nothing written


def test_kspace_of_another_matrix_is_refused(tmp_path):
    k = (np.ones((2, 24, 24)) + 1j).astype(np.complex64)
    np.save(tmp_path / "acq.npy", k)
    with pytest.raises(ValueError, match=r"acq.npy: k-space slices are 24x24, the model's mask is 32x32"):
        prepare_inputs([tmp_path / "acq.npy"], tmp_path / "out", "T1", np.ones(MATRIX, bool))


def test_a_model_trained_with_n4_gets_its_scans_n4_corrected(identity_run, tmp_path):
    import shutil

    import yaml

    run = tmp_path / "n4run"
    shutil.copytree(identity_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"]["n4"] = True
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    volume = smooth_volume((32, 32, 12)) * np.linspace(0.6, 1.4, 32)[:, None, None]  # a strong bias field along x
    scan = write_scan(tmp_path / "in" / "T1.nii.gz", volume.astype(np.float32))
    infer(run, [scan], tmp_path / "n4", progress=False)
    infer(identity_run, [scan], tmp_path / "plain", progress=False)
    n4, plain = _load(tmp_path / "n4" / "T1_recon.nii.gz")[0], _load(tmp_path / "plain" / "T1_recon.nii.gz")[0]
    assert n4.shape == plain.shape and np.isfinite(n4).all()
    assert np.abs(n4 - plain).max() > 0.01 * plain.max()  # the setting reaches the pipeline: N4 changed the input
    from semunet_monai.inference import preprocessing

    names = [type(t).__name__ for t in preprocessing((32, 32), (2.0, 2.0), n4=True).transforms]
    assert names.index("N4BiasFieldCorrectiond") < names.index("PercentileScaled")  # as in training
