"""Backend factories, chosen by settings. Heavy libraries are imported lazily."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.core.errors import ConfigError

if TYPE_CHECKING:
    from rag.backends.chroma import ChromaStore
    from rag.core.protocols import Embedder
    from rag.core.settings import Settings


def make_embedder(settings: Settings) -> Embedder:
    """The embedder named by `settings.embedder`, on the runtime `settings.embed_runtime`."""
    if settings.embedder == "minilm":
        if settings.embed_runtime == "onnx":
            from rag.backends.onnx import OnnxEmbedder

            return OnnxEmbedder.minilm(settings.models_path)
        from rag.backends.st import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder.minilm()
    raise ConfigError(f"MENTORKB_EMBEDDER: unknown embedder {settings.embedder!r}")


def server_collection(settings: Settings, generation: Path) -> str:
    """A generation's collection on a Chroma server: one per generation, so a rebuild
    fills a new collection while the old one keeps serving."""
    return f"{settings.collection}-{generation.name}"


def make_store(settings: Settings, embedder: Embedder, generation: Path) -> ChromaStore:
    """The vector store named by `settings.vector_store` for one index generation.

    On a Chroma server (`settings.chroma_url`) the generation is a collection there;
    otherwise it is a folder inside the generation's directory.
    """
    if settings.vector_store == "chroma":
        from rag.backends.chroma import ChromaStore

        if settings.chroma_url:
            return ChromaStore.http(
                settings.chroma_url, server_collection(settings, generation), embedder.name, embedder.dimension
            )
        return ChromaStore.persistent(
            generation / "chroma", settings.collection, embedder.name, embedder.dimension
        )
    raise ConfigError(f"MENTORKB_VECTOR_STORE: unknown store {settings.vector_store!r}")


def drop_store(settings: Settings, generation: Path) -> None:
    """Delete what a generation keeps outside its folder: its collection on a Chroma server."""
    if settings.vector_store == "chroma" and settings.chroma_url:
        from rag.backends.chroma import drop_collection

        drop_collection(settings.chroma_url, server_collection(settings, generation))
