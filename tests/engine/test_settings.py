from pathlib import Path

import pytest

from engine.infra.settings import SettingsError, load_settings


def test_defaults_without_config_or_environment() -> None:
    settings = load_settings(None, env={})
    assert settings.smpp.port == 2775
    assert settings.http.port == 8080
    assert settings.database.url == ""


def test_repository_config_toml_is_valid_and_matches_the_defaults() -> None:
    path = Path(__file__).resolve().parents[2] / "config.toml"
    assert load_settings(path, env={}) == load_settings(None, env={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[smpp]\nport = 3000\n[database]\nurl = "postgresql://file"\n')
    settings = load_settings(config, env={"SMSENGINE_SMPP_PORT": "4000", "SMSENGINE_DATA_DIR": "/x"})
    assert settings.smpp.port == 4000
    assert settings.database.url == "postgresql://file"
    assert settings.data_dir == "/x"


def test_invalid_value_names_the_setting_and_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"smpp\.port .*SMSENGINE_SMPP_PORT"):
        load_settings(None, env={"SMSENGINE_SMPP_PORT": "not-a-number"})


def test_out_of_range_value_names_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"smpp\.port"):
        load_settings(None, env={"SMSENGINE_SMPP_PORT": "70000"})


def test_unknown_environment_variable_is_refused() -> None:
    with pytest.raises(SettingsError, match="SMSENGINE_SMPP_PROT"):
        load_settings(None, env={"SMSENGINE_SMPP_PROT": "1"})


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[smpp]\nwindwo = 3\n")
    with pytest.raises(SettingsError, match="windwo"):
        load_settings(config, env={})
