"""The two runtimes of the embedding model: ONNX Runtime (default) and sentence-transformers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.backends import make_embedder
from rag.backends.onnx import OnnxEmbedder
from rag.backends.st import SentenceTransformerEmbedder
from rag.core.errors import EmbedderError
from rag.core.settings import load_settings
from tests.conftest import CORPUS, ROOT

PASSAGES = [p.read_text(encoding="utf-8")[:4000] for p in sorted(CORPUS.rglob("*.md"))]


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder.minilm()


def test_onnx_vectors_equal_the_torch_models(embedder, torch_embedder) -> None:
    passages = [*PASSAGES, "ok", "How do I ask for feedback?", "word " * 600]
    onnx = np.array(embedder.embed(passages))
    torch = np.array(torch_embedder.embed(passages))
    assert onnx.shape == torch.shape == (len(passages), 384)
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert (onnx * torch).sum(axis=1).min() > 0.99999
    # Order is kept although passages are batched by length.
    assert np.array(embedder.embed(passages[::-1]))[::-1] == pytest.approx(onnx, abs=1e-5)


def test_onnx_counts_tokens_like_the_torch_tokenizer(embedder, torch_embedder) -> None:
    # The tokenizer file carries a 128-token limit of its own: counts must not stop there.
    long = PASSAGES[0] * 3
    assert embedder.count_tokens(long) == torch_embedder.count_tokens(long) > 512
    for passage in PASSAGES:
        assert embedder.count_tokens(passage) == torch_embedder.count_tokens(passage)
    assert embedder.max_tokens == torch_embedder.max_tokens == 256


def test_settings_choose_the_runtime(tmp_path: Path) -> None:
    default = make_embedder(load_settings(data_dir=tmp_path))
    assert isinstance(default, OnnxEmbedder)
    assert isinstance(make_embedder(load_settings(data_dir=tmp_path, embed_runtime="torch")),
                      SentenceTransformerEmbedder)
    unshared = make_embedder(load_settings(data_dir=tmp_path, models_dir=None))
    assert unshared.name == default.name and unshared.dimension == default.dimension


def test_export_is_made_once_checked_and_kept(embedder, tmp_path: Path) -> None:
    fresh = OnnxEmbedder.minilm(tmp_path / "models")
    assert not fresh.export_path.exists()
    [vector] = fresh.embed(["hello"])
    assert fresh.export_path.exists()
    assert fresh.export_path.name == embedder.export_path.name
    assert [p.name for p in fresh.export_path.parent.iterdir()] == [fresh.export_path.name]  # no temp left
    assert vector == pytest.approx(embedder.embed(["hello"])[0], abs=1e-5)
    stamp = fresh.export_path.stat().st_mtime_ns
    OnnxEmbedder.minilm(tmp_path / "models").embed(["again"])
    assert fresh.export_path.stat().st_mtime_ns == stamp


def test_a_damaged_export_is_a_clear_error(embedder, tmp_path: Path) -> None:
    broken = OnnxEmbedder.minilm(tmp_path)
    broken.export_path.write_bytes(b"not an onnx graph")
    with pytest.raises(EmbedderError, match=r"\.onnx: cannot load ONNX model"):
        broken.embed(["hello"])


def test_a_model_pooled_otherwise_is_refused(embedder, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(embedder.model_dir, model, ignore=shutil.ignore_patterns("*.safetensors"))
    pooling = model / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({**json.loads(pooling.read_text()), "pooling_mode_mean_tokens": False,
                                   "pooling_mode_cls_token": True}))
    other = OnnxEmbedder(model, tmp_path / "m.onnx", "cls-model", 384)
    with pytest.raises(EmbedderError, match="mean pooling"):
        other.embed(["hello"])
    assert not (tmp_path / "m.onnx").exists()


def test_serving_never_imports_torch(embedder, corpus_data_dir: Path) -> None:
    """With an export in place, a process answers questions without torch or
    sentence-transformers: what makes `serve` start in seconds."""
    script = (
        "import sys\n"
        "from mentorkb.app import build\n"
        "from rag.core.settings import load_settings\n"
        "answer = build(load_settings()).assistant.ask('How should I prepare for a first mentoring session?')\n"
        "print(answer.route, bool(answer.citations))\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    env = {**os.environ, "MENTORKB_DATA_DIR": str(corpus_data_dir),
           "MENTORKB_MODELS_DIR": str(embedder.export_path.parent)}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()
    assert out == ["answer True", "[]"]
