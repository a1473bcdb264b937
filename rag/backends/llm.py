"""Generative chat models, chosen by `settings.answerer`. Each client imports lazily.

`make_chat_model` builds the LangChain chat model; `client_errors` names the
exceptions its client raises when the model is unreachable or fails, so the
answerer can translate exactly those into `AnswererError`.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from rag.core.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from rag.core.settings import Settings

log = logging.getLogger(__name__)

# (module, exception) raised by each client; httpx for langchain-ollama's timeouts.
_CLIENT_ERRORS = (("httpx", "HTTPError"), ("openai", "OpenAIError"), ("ollama", "ResponseError"))

# Our own context window for a local GGUF model: five sources, the prompt and the answer.
LLAMACPP_CONTEXT = 4096


def _missing_package(backend: str, package: str) -> ConfigError:
    return ConfigError(
        f"the {backend!r} answerer needs {package}; install it with: pip install 'mentorkb[{backend}]'"
    )


def _require_model(settings: Settings) -> str:
    if not settings.llm_model:
        raise ConfigError(
            f"MENTORKB_LLM_MODEL: set the model name for the {settings.answerer!r} answerer"
        )
    return settings.llm_model


def _ollama(settings: Settings) -> BaseChatModel:
    try:
        from langchain_ollama import ChatOllama
    except ImportError as e:
        raise _missing_package("ollama", "langchain-ollama") from e
    return ChatOllama(
        model=_require_model(settings),
        base_url=settings.llm_base_url or None,  # None: the client's localhost:11434
        temperature=settings.llm_temperature,
        num_predict=settings.llm_max_tokens,
        client_kwargs={"timeout": settings.llm_timeout_s},
    )


def _openai(settings: Settings) -> BaseChatModel:
    try:
        import openai
        from langchain_openai import ChatOpenAI
    except ImportError as e:
        raise _missing_package("openai", "langchain-openai") from e
    model = _require_model(settings)
    # With a custom server and no key, send a placeholder (vLLM and llama.cpp ignore
    # it) rather than let the client fall back to OPENAI_API_KEY, which would hand
    # an OpenAI key to a third-party server.
    api_key = settings.llm_api_key.get_secret_value() or ("unused" if settings.llm_base_url else None)
    try:
        return ChatOpenAI(
            model=model,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            timeout=settings.llm_timeout_s,
            max_retries=1,
            base_url=settings.llm_base_url or None,  # None: api.openai.com
            api_key=api_key,
        )
    except openai.OpenAIError as e:
        raise ConfigError(f"MENTORKB_LLM_API_KEY: the 'openai' answerer needs an API key ({e})") from e


def _llamacpp(settings: Settings) -> BaseChatModel:
    path = settings.llm_model_path
    if path is None:
        raise ConfigError("MENTORKB_LLM_MODEL_PATH: set the GGUF file for the 'llamacpp' answerer")
    if not path.is_file():
        raise ConfigError(f"MENTORKB_LLM_MODEL_PATH: {path} is not a file")
    try:
        import llama_cpp  # noqa: F401  (ChatLlamaCpp imports it only when built)
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError as e:
        raise _missing_package("llamacpp", "llama-cpp-python and langchain-community") from e
    try:
        return ChatLlamaCpp(
            model_path=str(path),
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            n_ctx=LLAMACPP_CONTEXT,
            verbose=False,
        )
    except ValueError as e:  # raised when llama.cpp cannot read the file
        raise ConfigError(f"MENTORKB_LLM_MODEL_PATH: {path}: cannot load model ({e})") from e


_FACTORIES = {"ollama": _ollama, "openai": _openai, "llamacpp": _llamacpp}


def make_chat_model(settings: Settings) -> BaseChatModel:
    """The chat model named by `settings.answerer` ('ollama', 'openai' or 'llamacpp').

    Args:
        settings: supplies `answerer` and the `llm_*` fields.

    Raises:
        ConfigError: the backend is unknown, its package is not installed, or a
            required setting (model name, model path, API key) is missing.
    """
    factory = _FACTORIES.get(settings.answerer)
    if factory is None:
        raise ConfigError(f"MENTORKB_ANSWERER: {settings.answerer!r} is not a generative backend")
    model = factory(settings)
    # The key stays out of the log: only the backend, model and server are named.
    log.debug(
        "chat model %s: %s at %s",
        settings.answerer,
        settings.llm_model or settings.llm_model_path,
        settings.llm_base_url or "default address",
    )
    return model


def client_errors(backend: str = "") -> tuple[type[Exception], ...]:
    """Exceptions an LLM client raises when its model is unreachable or fails.

    OSError covers refused connections and socket timeouts; each installed client
    adds its own base class. llama.cpp runs in process and reports a failed
    generation as RuntimeError, or ValueError when the prompt overflows its
    context: those count only for the 'llamacpp' backend, where no bug of ours
    could be mistaken for them elsewhere.

    Args:
        backend: the `settings.answerer` in use.
    """
    errors: list[type[Exception]] = [OSError]
    for module, name in _CLIENT_ERRORS:
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except ImportError:
            continue
    if backend == "llamacpp":
        errors += [RuntimeError, ValueError]
    return tuple(errors)
