from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from semunet_monai.keys import Keys
from semunet_monai.kspace import UndersamplingOperator
from semunet_monai.sampling.sampnet import SampNet
from semunet_monai.transforms.array import KspaceUndersample
from semunet_monai.transforms.dictionary import KspaceUndersampled


def _mask(shape=(24, 20), seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) > 0.6


def test_slice_matches_operator():
    mask = _mask()
    img = torch.rand(1, 24, 20)
    zf = KspaceUndersample(mask)(img)
    expected = UndersamplingOperator(mask).zero_filled(img[None]).abs()[0]
    assert zf.shape == (1, 24, 20)
    assert torch.allclose(zf, expected, atol=1e-6)


def test_volume_is_undersampled_slice_by_slice_and_keeps_meta():
    mask = _mask()
    affine = torch.diag(torch.tensor([0.958, 0.958, 3.0, 1.0], dtype=torch.float64))
    vol = MetaTensor(torch.rand(1, 24, 20, 5), affine=affine)
    zf, kspace = KspaceUndersample(mask, return_kspace=True)(vol)
    assert isinstance(zf, MetaTensor) and torch.allclose(zf.affine, affine)
    assert zf.shape == (1, 24, 20, 5) and kspace.shape == (1, 24, 20, 5) and kspace.is_complex()
    for d in range(5):
        one = KspaceUndersample(mask)(vol.as_tensor()[..., d])
        assert torch.allclose(zf.as_tensor()[..., d], one, atol=1e-6)
    # unsampled k-space locations are zero in every slice
    assert torch.count_nonzero(kspace[0][~mask]) == 0


def test_complex_mode_and_numpy_input():
    mask = _mask()
    img = np.random.default_rng(0).random((2, 24, 20)).astype(np.float32)
    out = KspaceUndersample(mask, image_mode="complex")(img)
    assert isinstance(out, np.ndarray) and out.shape == (2, 24, 20)
    full = KspaceUndersample(torch.ones(24, 20, dtype=torch.bool), image_mode="complex")(img)
    np.testing.assert_allclose(full, img, atol=1e-5)  # a full mask is lossless


def test_sampnet_mask_is_its_booleanized_top_n():
    net = SampNet((24, 20), 0.25, seed=0)
    t = KspaceUndersample(net)
    assert torch.equal(t.mask, net.booleanize())


def test_dictionary_wrapper_writes_output_kspace_and_mask_keys():
    mask = _mask()
    data = {Keys.IMAGE: torch.rand(1, 24, 20), Keys.LABEL: torch.zeros(1, 24, 20)}
    out = KspaceUndersampled(Keys.IMAGE, mask, kspace_keys=Keys.KSPACE, mask_key=Keys.MASK)(data)
    assert torch.allclose(out[Keys.ZERO_FILLED], KspaceUndersample(mask)(data[Keys.IMAGE]))
    assert out[Keys.KSPACE].is_complex() and torch.equal(out[Keys.MASK], mask)
    assert torch.equal(out[Keys.IMAGE], data[Keys.IMAGE])  # input untouched


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="does not match the mask shape"):
        KspaceUndersample(_mask())(torch.rand(1, 20, 24))
    with pytest.raises(ValueError, match="channel-first"):
        KspaceUndersample(_mask())(torch.rand(24, 20))
    with pytest.raises(ValueError, match="'mask'"):
        KspaceUndersample(torch.full((24, 20), 0.5))
    with pytest.raises(ValueError, match="'image_mode'"):
        KspaceUndersample(_mask(), image_mode="phase")
    with pytest.raises(ValueError, match="'output_keys'"):
        KspaceUndersampled(["a", "b"], _mask())


def test_split_recon_seg():
    from semunet_monai.transforms.dictionary import SplitReconSegd

    stacked = torch.arange(5 * 4 * 4, dtype=torch.float32).reshape(5, 4, 4)
    out = SplitReconSegd("pred", num_classes=4)({"pred": stacked})
    assert torch.equal(out["recon"], stacked[:1]) and torch.equal(out["pred"], stacked[1:])
    seg_only = SplitReconSegd("pred", num_classes=5)({"pred": stacked})
    assert "recon" not in seg_only and torch.equal(seg_only["pred"], stacked)
    with pytest.raises(ValueError, match="must have 4 .* or 3 channels"):
        SplitReconSegd("pred", num_classes=3)({"pred": stacked})
