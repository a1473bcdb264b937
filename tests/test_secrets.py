"""Secrets (API keys, database passwords, webhook URLs) never reach logs or messages."""

from __future__ import annotations

import logging

import pytest

from rag.core.errors import ConfigError, DatabaseError
from rag.core.settings import load_settings
from rag.people.db import open_database

SECRETS = {"llm_api_key": "sk-live-0123456789", "database_url": "postgresql+psycopg://mkb:hunter2-pw@db.internal/mkb",
           "handoff_webhook": "https://hooks.slack.com/services/T000/B000/s3cr3tT0k3n"}


def test_settings_never_print_their_secrets() -> None:
    settings = load_settings(**SECRETS)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for value in SECRETS.values():
        assert value not in shown
    assert settings.llm_api_key.get_secret_value() == SECRETS["llm_api_key"]


def test_a_bad_secret_setting_is_reported_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MENTORKB_LLM_API_KEY", "")
    with pytest.raises(ConfigError) as raised:
        load_settings(llm_api_key=["sk-live-0123456789"])
    assert "MENTORKB_LLM_API_KEY" in str(raised.value) and "sk-live" not in str(raised.value)


@pytest.mark.parametrize("driver, reason", [
    ("psycopg", "failed to resolve host 'db.internal'"),  # installed (the test extra): it cannot connect
    ("pg8000", "its driver is not installed (pg8000); for Postgres, pip install 'mentorkb[postgres]'"),
])
def test_database_errors_hide_the_password(tmp_path, caplog, driver: str, reason: str) -> None:
    caplog.set_level(logging.DEBUG)
    url = SECRETS["database_url"].replace("+psycopg", f"+{driver}")
    with pytest.raises(DatabaseError) as raised:
        open_database(load_settings(data_dir=tmp_path, database_url=url))
    message = str(raised.value)
    assert "hunter2" not in message and "hunter2" not in caplog.text
    assert "mkb:***@db.internal" in message and reason in message, message
