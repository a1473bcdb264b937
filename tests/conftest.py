"""Hermetic tests against the real parts: MiniLM, Chroma on disk, SQLite files and a real
PostgreSQL 15 (tests/pg.py) for the application database."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from rag.core.jsonl import read_jsonl
from tests.pg import database_url, postgres  # noqa: F401 - fixtures, shared with every test module

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
MODELS = Path(tempfile.mkdtemp(prefix="mentorkb-models-"))

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


@pytest.fixture(autouse=True)
def clean_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No MENTORKB_* setting leaks in from the machine; state goes to tmp_path."""
    for key in list(os.environ):
        if key.startswith("MENTORKB_"):
            monkeypatch.delenv(key)
    data = tmp_path / "data"
    monkeypatch.setenv("MENTORKB_DATA_DIR", str(data))
    # One ONNX export of the model serves the session's data dirs and subprocesses.
    monkeypatch.setenv("MENTORKB_MODELS_DIR", str(MODELS))
    return data


def gold_questions() -> list[dict]:
    return read_jsonl(CORPUS / "questions.jsonl")


@pytest.fixture
def settings(clean_environ: Path):
    """Default settings on this test's own empty data dir."""
    from rag.core.settings import load_settings

    return load_settings(data_dir=clean_environ)


@pytest.fixture(scope="session", autouse=True)
def models_dir():
    yield MODELS
    shutil.rmtree(MODELS, ignore_errors=True)


@pytest.fixture(scope="session")
def embedder():
    """The default embedder: MiniLM on ONNX Runtime, exported once for the session."""
    from rag.backends.onnx import OnnxEmbedder

    return OnnxEmbedder.minilm(MODELS)


@pytest.fixture(scope="session")
def corpus_data_dir(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A data dir with the whole sample corpus ingested once for the session."""
    from ingest.indexer import Indexer
    from rag.core.settings import load_settings

    data = tmp_path_factory.mktemp("corpus-data")
    report = Indexer(load_settings(data_dir=data), embedder).sync([CORPUS])
    assert not report.failed, report.failed
    return data


@pytest.fixture(scope="session")
def assistant(corpus_data_dir: Path, embedder):
    from mentorkb.app import build
    from rag.core.settings import load_settings

    # Its own SQLite database, whatever backend the test that first asks for it runs on.
    return build(load_settings(data_dir=corpus_data_dir, database_url=""), embedder=embedder).assistant


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private copy of the corpus folder, free to change."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target
