from __future__ import annotations

import pytest

from semunet_monai.config import PRESETS, ExperimentConfig, load_config, preset_path


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_differs_from_defaults_where_it_says(name):
    config = load_config(name)
    assert isinstance(config, ExperimentConfig)
    assert preset_path(name).is_file()
    assert config.train.lam == 0.1


def test_paper_preset_holds_the_papers_settings():
    c = load_config("paper")
    assert (c.train.epochs, c.train.finetune_epochs, c.train.batch_size, c.train.lr) == (600, 500, 12, 1e-4)
    assert c.data.spatial_size == 240 and c.model.features == "paper" and c.sampling.init == "uniform"


def test_user_file_and_overrides_apply_in_order(tmp_path):
    user = tmp_path / "my.yaml"
    user.write_text("train:\n  epochs: 7\n  lr: 0.01\nsampling:\n  rate: 0.2\n")
    c = load_config("tiny", user, {"train": {"epochs": 9}})
    assert c.train.epochs == 9 and c.train.lr == 0.01 and c.sampling.rate == 0.2
    assert c.data.spatial_size == load_config("tiny").data.spatial_size
    assert isinstance(load_config("tiny", overrides={"train": {"lr": 1}}).train.lr, float)


@pytest.mark.parametrize(
    "text, match",
    [
        ("train:\n  epoch: 3\n", "unknown key 'train.epoch'"),
        ("train:\n  epochs: three\n", "key 'train.epochs' must be of type int"),
        ("train:\n  epochs: true\n", "key 'train.epochs' must be of type int"),
        ("sampling:\n  rate: '0.1'\n", "key 'sampling.rate' must be of type float"),
        ("optimizer:\n  lr: 1\n", "unknown key 'optimizer'"),
        ("train: 3\n", "'train' must be a mapping"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        ("train: [\n", "not valid YAML"),
    ],
)
def test_bad_user_config_names_the_key_and_file(tmp_path, text, match):
    user = tmp_path / "bad.yaml"
    user.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        load_config("tiny", user)
    assert "bad.yaml" in str(err.value)


def test_missing_file_and_unknown_preset():
    with pytest.raises(ValueError, match="config file not found"):
        load_config("tiny", "/nonexistent/x.yaml")
    with pytest.raises(ValueError, match="'preset'"):
        load_config("huge")


def test_features_accepts_a_list_and_none_where_optional():
    c = load_config("tiny", overrides={"model": {"features": [4, 4, 8, 8, 16, 4]}, "sampling": {"acs": None}})
    assert c.model.features == [4, 4, 8, 8, 16, 4] and c.sampling.acs is None
    with pytest.raises(ValueError, match="model.features"):
        load_config("tiny", overrides={"model": {"features": [4, "x"]}})


def test_custom_label_mapping_from_yaml(tmp_path):
    from semunet_monai.data.labels import get_label_scheme

    user = tmp_path / "labels.yaml"
    user.write_text("data:\n  label_scheme: {0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 0, 6: 0, 7: 0, 8: 0}\n")
    c = load_config("tiny", user)
    scheme = get_label_scheme(c.data.label_scheme)
    assert scheme.num_classes == 3 and scheme.mapping[4] == 2
    user.write_text("data:\n  label_scheme: {0: background}\n")
    with pytest.raises(ValueError, match="data.label_scheme"):
        load_config("tiny", user)


def test_label_mapping_survives_a_json_round_trip():
    import json

    from semunet_monai.config import config_from_dict

    c = load_config("tiny", overrides={"data": {"label_scheme": {0: 0, 3: 1, 4: 1}}})
    again = config_from_dict(json.loads(json.dumps(c.to_dict())))
    assert again.data.label_scheme == {0: 0, 3: 1, 4: 1}
    assert config_from_dict({"data": {"label_scheme": "tissue3"}}).data.label_scheme == "tissue3"
