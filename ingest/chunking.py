"""Structure-aware chunking: sections first (from the loaders), then a token budget.

Pure functions. Token counts come from the embedding model's own tokenizer, so no
chunk, with the title and heading path it is embedded with, exceeds the model's limit.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from ingest.document import LoadedDocument, Section
from rag.core.types import Chunk

if TYPE_CHECKING:
    from langchain_core.documents import Document

# Paragraphs, then lines, then sentences, then words: the split that breaks least.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
# The model adds [CLS] and [SEP] to what it reads.
_SPECIAL_TOKENS = 2
# Fewest tokens of text a chunk may hold beside its title and headings.
_MIN_BUDGET = 64
_TITLE_CHARS = 200


def doc_title(doc: LoadedDocument) -> str:
    return doc.title[:_TITLE_CHARS]


def section_path(doc: LoadedDocument, section: Section) -> str:
    """'Giving feedback > Timing': the headings under the title, joined."""
    headings = list(section.headings)
    if headings and headings[0].casefold() == doc.title.casefold():
        headings = headings[1:]
    return " > ".join(headings)


def embedding_header(title: str, section: str) -> str:
    return f"{title} > {section}\n" if section else f"{title}\n"


def embedding_text(chunk: Chunk) -> str:
    """What the model embeds: title and heading path with the text, so both are searchable."""
    return embedding_header(chunk.title, chunk.section) + chunk.text


def split_document(
    doc: LoadedDocument,
    count_tokens: Callable[[str], int],
    chunk_tokens: int,
    overlap: int,
    max_tokens: int,
) -> list[Document]:
    """LangChain Documents of at most `chunk_tokens` tokens, each with its metadata."""
    # Imported here: `serve` imports the indexer for uploads, and starts sooner without these.
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    # The splitter measures the same pieces many times (each separator once per merge,
    # each split again as it merges), so token counts are cached.
    count_tokens = cache(count_tokens)
    pieces: list[Document] = []
    for section in doc.sections:
        title, path = doc_title(doc), section_path(doc, section)
        while True:
            room = max_tokens - _SPECIAL_TOKENS - count_tokens(embedding_header(title, path))
            if room >= _MIN_BUDGET or (not path and len(title) <= 8):
                break
            # A heading so long it crowds out the text: shorten it, path first.
            path, title = (path[: len(path) // 2], title) if path else (path, title[: len(title) // 2])
        budget = max(min(chunk_tokens, room), 1)
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=budget,
            chunk_overlap=min(overlap, budget // 4),
            length_function=count_tokens,
            separators=_SEPARATORS,
            keep_separator="end",
            strip_whitespace=True,
        )
        for text in splitter.split_text(section.text):
            if text.strip():
                meta = {"title": title, "section": path, "page": section.page}
                pieces.append(Document(page_content=text.strip(), metadata=meta))
    return pieces


def to_chunks(doc: LoadedDocument, pieces: list[Document]) -> list[Chunk]:
    """Chunks with ids derived from the content hash, so identical text gets identical ids."""
    digest = doc.content_hash
    return [
        Chunk(
            chunk_id=f"{digest[:32]}-{i:04d}",
            text=piece.page_content,
            source=doc.source,
            title=piece.metadata["title"],
            section=piece.metadata["section"],
            page=piece.metadata["page"],
            mentor=doc.mentor,
            content_hash=digest,
        )
        for i, piece in enumerate(pieces)
    ]
