"""inference.json's own network_def and the override file training writes (issue #13, item 2), in-process: the
override rebuilds every method's trained network exactly, the file's defaults are the default bundle's, ids
override it, nothing is read at parse time, and weights that do not fit end in one line naming the override."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser

from semunet_monai.bundle_network import (
    OVERRIDE_NAME,
    inference_override,
    layer_inference_override,
    load_weights,
    write_inference_override,
)
from semunet_monai.config import load_config
from semunet_monai.data.phantom import check_subject_args
from semunet_monai.engines.builders import build_model
from semunet_monai.engines.rundata import demo_shape
from semunet_monai.inference import bundle_fit

REPO = Path(__file__).resolve().parents[1]
INFERENCE = REPO / "bundle" / "configs" / "inference.json"


def _parser(override: dict | None = None, models_dir: Path | None = None, **ids) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(INFERENCE))
    for key, value in {**(override or {}), **ids}.items():  # as monai.bundle layers a second file, then --ids
        parser[key] = value
    if models_dir is not None:
        parser["models_dir"] = str(models_dir)
    parser["device"] = "$torch.device('cpu')"
    return parser


def _trained(method: str, **overrides):
    """A tiny model of ``method`` after stage 2, as training publishes it: (model, config, prefixed state)."""
    sections = {"train": {"method": method, "seed": 3}, **overrides}
    config = load_config("tiny", overrides=sections)
    model = build_model(config, 8, (32, 48))
    if model.sampler is not None:
        model.freeze_mask()
    with torch.no_grad():  # weights that differ from a fresh network's, so loading them is visible
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model.eval(), config, {f"model.{k}": v for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "method, overrides",
    [
        ("semunet", {}),
        ("semunet", {"model": {"image_mode": "complex"}, "physics": {"mode": "complex"}}),
        ("semunet", {"model": {"recon": "varnet", "varnet_cascades": 2}, "physics": {"mode": "multicoil", "coils": 4}}),
        ("baseline", {"physics": {"mode": "multicoil", "coils": 3, "coil_radius": 2.0}}),
        ("mdrecon", {}),
        ("loupe", {}),
        ("fullysampled", {}),
    ],
)
def test_override_rebuilds_the_trained_network_exactly(tmp_path, method, overrides):
    model, config, state = _trained(method, **overrides)
    torch.save(state, tmp_path / "model.pt")
    override = inference_override(model, config, {"spacing": [1.5, 2.0, 3.0]})
    write_inference_override(tmp_path, override)
    layered = json.loads((tmp_path / OVERRIDE_NAME).read_text())
    parser = _parser(layered, tmp_path)
    network = load_weights(parser.get_parsed_content("network"), tmp_path)  # strict: every key and shape
    x = torch.rand(2, 1, 32, 48)
    with torch.no_grad():
        out, ref = network.model(x), model(x)
    assert torch.equal(network.model.operator.mask.bool(), model.operator.mask.bool())
    assert torch.allclose(out.recon, ref.recon, atol=1e-6)
    assert (out.seg is None) == (ref.seg is None) and (out.seg is None or torch.allclose(out.seg, ref.seg, atol=1e-5))
    assert parser.get_parsed_content("spatial_size") == [32, 48]
    assert parser.get_parsed_content("spacing") == [1.5, 2.0]


def test_defaults_are_the_default_bundle():
    """A bundle trained by train.json as it stands (cpu preset) needs no override file."""
    config = load_config("cpu")
    model = build_model(config, 8, (config.data.spatial_size,) * 2)
    model.freeze_mask()
    _, mm = check_subject_args(0, demo_shape(config.data.spatial_size), None, None, 0.0)
    override = inference_override(model, config, {"spacing": [float(m) for m in mm]})
    raw = ConfigParser.load_config_file(str(INFERENCE))
    for key, value in override.items():
        node, *path = key.split("#")
        here = raw[node]
        for part in path:
            here = here[part]
        if key == "spacing":
            assert here == pytest.approx(value, abs=1e-5)
        else:
            assert here == value, key


def test_an_id_changes_the_network_and_nothing_is_read_at_parse_time(tmp_path):
    parser = _parser(models_dir=tmp_path / "absent", **{"network_def#recon#features": [8, 8, 16, 16, 32, 8]})
    network = parser.get_parsed_content("network")  # no models folder: the config alone builds it
    assert tuple(network.model.recon.features) == (8, 8, 16, 16, 32, 8)
    assert tuple(network.model.seg.features) == (16, 16, 32, 64, 128, 16)
    assert tuple(network.model.operator.mask.shape) == (96, 96)


def test_weights_that_do_not_fit_end_in_one_line_naming_the_override(tmp_path, caplog):
    model, _, state = _trained("semunet")
    torch.save(state, tmp_path / "model.pt")
    network = _parser(models_dir=tmp_path).get_parsed_content("network")  # the defaults: 96x96, small widths
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit_info:
        load_weights(network, tmp_path)
    assert exit_info.value.code == 1
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert "model.pt" in message and OVERRIDE_NAME in message and "(32, 48) in model.pt" in message
    with pytest.raises(SystemExit):
        load_weights(network, tmp_path / "absent")
    with pytest.raises(ValueError, match="do not fit"):
        load_weights(network, tmp_path, debug=True)


@pytest.mark.parametrize(
    "spacing, fit, expected",
    [([1.0, 1.0], "auto", "resample"), (None, "auto", "resize"), ([1.0, 2.0], "resize", "resize")],
)
def test_fit_follows_the_bundle_spacing(spacing, fit, expected):
    assert bundle_fit(spacing, fit, debug=True) == expected


@pytest.mark.parametrize(
    "spacing, fit, match",
    [(None, "resample", "spacing is null"), ([1.0, 0.0], "auto", "two positive"), ([1.0, 1.0], "warp", "fit")],
)
def test_fit_refuses_bad_settings(spacing, fit, match):
    with pytest.raises(ValueError, match=match):
        bundle_fit(spacing, fit, debug=True)


def test_layering_into_a_deployed_copy_gives_what_the_command_line_layers(tmp_path):
    """MONAI Label reads configs/inference.json alone: the override written into a copy parses to the network that
    --config_file "[inference.json, override]" builds."""
    import shutil

    model, config, state = _trained("baseline")
    bundle = tmp_path / "bundle"
    shutil.copytree(REPO / "bundle" / "configs", bundle / "configs")
    (bundle / "models").mkdir()
    torch.save(state, bundle / "models" / "model.pt")
    override = inference_override(model, config, {"spacing": [1.0, 1.0]})
    write_inference_override(bundle / "models", override)
    layer_inference_override(bundle)
    assert (bundle / "configs" / "inference.json.bak").read_text() == INFERENCE.read_text()
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser["device"] = "$torch.device('cpu')"
    network = load_weights(parser.get_parsed_content("network"), bundle / "models")
    x = torch.rand(1, 1, 32, 48)
    with torch.no_grad():
        assert torch.allclose(network(x), model(x).seg, atol=1e-5)
    assert parser.get_parsed_content("spacing") == [1.0, 1.0]
    with pytest.raises(ValueError, match="inference.json: not found"):
        layer_inference_override(tmp_path / "elsewhere")


def test_a_device_given_as_a_string_as_monai_label_sets_it(tmp_path):
    parser = _parser(models_dir=tmp_path)
    parser["device"] = "cpu"  # BundleInferTask._update_device writes the request's device string
    assert parser.get_parsed_content("sw_batch_size") == 2
    assert parser.get_parsed_content("inferer") is not None


@pytest.mark.parametrize(
    "node_id, value, message",
    [
        ("network_def#recon#features", [8, 8], "network_def#recon: argument 'features' must be six positive"),
        ("network_def#operator#mask", 3, "network_def#operator:"),
        ("network_def#matrix", [96], "network_def#matrix: expected two positive integers"),
    ],
)
def test_a_bad_network_setting_ends_in_one_line_naming_its_id(caplog, node_id, value, message):
    parser = _parser(**{node_id: value})
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as stop:
        parser.get_parsed_content("network")
    assert stop.value.code == 1
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage().startswith(message) and error.exc_info is None
    parser = _parser(**{node_id: value, "debug": True})
    with pytest.raises(RuntimeError) as raised:  # debug: MONAI's traceback, with ours as its cause
        parser.get_parsed_content("network")
    assert str(raised.value.__cause__).startswith(message)


def test_inference_needs_only_the_weights_and_the_override(tmp_path):
    """A deployed models folder with model.pt and inference_override.json alone (no experiment.json, no
    geometry.json): the inputs are checked against the loaded network's mask and the override's contrast."""
    import nibabel as nib
    import numpy as np

    model, config, state = _trained("semunet")
    torch.save(state, tmp_path / "model.pt")
    write_inference_override(tmp_path, inference_override(model, config, {"spacing": [1.5, 2.0, 3.0]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == [OVERRIDE_NAME, "model.pt"]
    (tmp_path / "in").mkdir()
    scan = np.random.default_rng(0).random((32, 48, 3)).astype(np.float32)
    nib.save(nib.Nifti1Image(scan, np.diag([1.5, 2.0, 3.0, 1.0])), str(tmp_path / "in" / "T1.nii.gz"))
    nib.save(nib.Nifti1Image(scan, np.diag([1.5, 2.0, 3.0, 1.0])), str(tmp_path / "in" / "FLAIR.nii.gz"))
    parser = _parser(json.loads((tmp_path / OVERRIDE_NAME).read_text()), tmp_path)
    parser["input_dir"], parser["output_dir"], parser["precision"] = str(tmp_path / "in"), str(tmp_path / "out"), "fp32"
    parser.get_parsed_content("initialize")
    assert [i["image"] for i in parser.get_parsed_content("image_list")] == [str(tmp_path / "in" / "T1.nii.gz")]
    parser.get_parsed_content("run")
    seg = nib.load(str(tmp_path / "out" / "T1_seg.nii.gz"))
    assert seg.shape == scan.shape and not (tmp_path / "out" / "FLAIR_seg.nii.gz").exists()
