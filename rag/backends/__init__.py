"""Backend factories, chosen by settings. Heavy libraries are imported lazily."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.protocols import Embedder
    from rag.settings import Settings
    from rag.backends.chroma import ChromaStore


def make_embedder(settings: Settings) -> Embedder:
    """The embedder named by `settings.embedder`."""
    if settings.embedder == "minilm":
        from rag.backends.st import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder.minilm()
    raise ConfigError(f"MENTORKB_EMBEDDER: unknown embedder {settings.embedder!r}")


def make_store(settings: Settings, embedder: Embedder, generation: Path) -> ChromaStore:
    """The vector store named by `settings.vector_store` for one index generation."""
    if settings.vector_store == "chroma":
        from rag.backends.chroma import ChromaStore

        return ChromaStore.persistent(
            generation / "chroma", settings.collection, embedder.name, embedder.dimension
        )
    raise ConfigError(f"MENTORKB_VECTOR_STORE: unknown store {settings.vector_store!r}")
