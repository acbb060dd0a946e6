from __future__ import annotations

import numpy as np
import pytest
import torch

from semunet_monai.data.phantom import make_subject
from semunet_monai.transforms.intensity import N4BiasFieldCorrection, N4BiasFieldCorrectiond


def _cv(values: np.ndarray) -> float:
    return float(values.std() / values.mean())


def test_n4_flattens_a_bias_field():
    sub = make_subject(3, shape=(96, 96, 16), snr=None, bias=0.3)
    wm = sub["label"] == 3
    image = sub["T1"][None]
    corrected = N4BiasFieldCorrection(shrink=2)(image)
    assert corrected.shape == image.shape and np.isfinite(corrected).all()
    # white matter is one tissue: its spread drops once the smooth multiplicative field is removed
    assert _cv(corrected[0][wm]) < 0.8 * _cv(image[0][wm])


def test_n4_dictionary_and_tensor_types():
    sub = make_subject(4, shape=(48, 48, 8), snr=None, bias=0.2)
    data = {"image": torch.as_tensor(sub["T1"][None]), "label": sub["label"][None]}
    out = N4BiasFieldCorrectiond("image", shrink=2)(data)
    assert isinstance(out["image"], torch.Tensor) and out["image"].shape == (1, 48, 48, 8)
    assert out["label"] is data["label"]
    with pytest.raises(ValueError, match="channel-first 3-D"):
        N4BiasFieldCorrection()(np.ones((8, 8, 8), np.float32))
    with pytest.raises(ValueError, match="'shrink'"):
        N4BiasFieldCorrection(shrink=0)
