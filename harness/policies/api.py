"""An OpenAI-compatible chat endpoint as a policy (``vllm serve``, TGI, llama.cpp server, hosted APIs).

Spec: ``openai:URL#MODEL``, e.g. ``openai:http://127.0.0.1:8000/v1#tiny``. The batch's requests go
out concurrently (one thread each, up to ``concurrency``); each carries the episode's sample seed,
which servers that honour ``seed`` (vLLM does) use to make sampled replies reproducible. The
server applies its own chat template, so replies can differ from ``hf:``/``vllm:`` on the same
weights. A request the server rejects for exceeding the model's context becomes a
``ContextOverflow``. The key is read from ``OPENAI_API_KEY`` when set (local servers need none).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.policies.base import ContextOverflow, EpisodeView, Sampling, sample_seed
from harness.policies.encoding import GenerationStats

_OVERFLOW_HINTS = ("context length", "context_length", "maximum context", "too many tokens", "prompt is too long")
_RETRY_STATUS = (429, 500, 502, 503, 504)


def chat_completions_url(url: str) -> str:
    """``http://host:8000`` / ``.../v1`` / ``.../v1/chat/completions`` -> the chat-completions URL."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


class OpenAIPolicy:
    """Answers every episode with one chat-completions request, sent concurrently."""

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        concurrency: int = 64,
        timeout: float = 600.0,
        retries: int = 3,
    ):
        """Talk to ``url`` (see :func:`chat_completions_url`) about ``model``."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"openai policy URL '{url}' must start with http:// or https://")
        self.name = f"openai:{url}#{model}"
        self.url = chat_completions_url(url)
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.stats = GenerationStats()
        self.provenance = {"backend": "openai-compatible", "url": self.url, "model": model}

    def act(self, episodes: Sequence[EpisodeView], sampling: Sampling = Sampling()) -> list[str]:
        """One reply per episode; a :class:`ContextOverflow` where the server says the prompt is too long."""
        self.stats.act_calls += 1
        if not episodes:
            return []
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(episodes))) as pool:
            replies = list(pool.map(lambda v: self._one(v, sampling), episodes))
        self.stats.generate_seconds += time.perf_counter() - started
        self.stats.generate_calls += 1
        self.stats.prompts += len(episodes)
        return replies

    def _one(self, view: EpisodeView, sampling: Sampling) -> str:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": view.messages,
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p if sampling.temperature > 0 else 1.0,
            "seed": sample_seed(view) % (2**31),  # many servers take 32-bit seeds
            "n": 1,
        }
        status, payload = self._post(body)
        if status == 400 and any(h in payload.lower() for h in _OVERFLOW_HINTS):
            self.stats.overflows += 1
            return ContextOverflow(f"the server rejected the prompt as too long: {payload[:300]}")
        if status == 0:
            raise RuntimeError(f"{payload} ({self.url}); is the server running? e.g. `vllm serve MODEL --port 8000`")
        if status != 200:
            raise RuntimeError(
                f"{self.url} answered HTTP {status} for task {view.task.task_id} "
                f"step {view.step_index}: {payload[:500]}"
            )
        data = json.loads(payload)
        usage = data.get("usage") or {}
        self.stats.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.stats.generated_tokens += int(usage.get("completion_tokens", 0))
        return (data["choices"][0]["message"].get("content") or "").strip()

    def _post(self, body: dict[str, Any]) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as e:
                status, payload = e.code, e.read().decode(errors="replace")
            except urllib.error.URLError as e:
                status, payload = 0, f"cannot reach the server: {e.reason}"
            if status not in (0, *_RETRY_STATUS) or attempt == self.retries:
                return status, payload
            time.sleep(min(2**attempt, 30))
        raise AssertionError("unreachable")
