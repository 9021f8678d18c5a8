"""Token-by-token generation with a transformers causal LM (+ LoRA adapters, chosen per request).

One decoding loop serves both `/generate` and `/generate_stream`: it yields each token as it is
produced (with its id, text and log-probability), honours TGI's parameters (max_new_tokens,
temperature, top_k, top_p, do_sample, seed, repetition_penalty, stop) and reports why it stopped
(`length`, `eos_token`, `stop_sequence`), the three finish reasons TGI uses. A stop string ends
generation when the text ends with it (TGI); with `stop_anywhere` (vLLM's completions), also when a
token carries it inside.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crucible.common.hub import model_source

# A head of this many characters per context position holds more tokens than the context in any
# ordinary text (BPE tokens average 3-5 characters), so its count alone can refuse a long prompt.
HEAD_CHARS_PER_TOKEN = 16


class PromptTooLong(ValueError):
    """TGI's validation message for a prompt the model's positions cannot hold."""

    def __init__(self, tokens: int, max_total_tokens: int) -> None:
        super().__init__(f"`inputs` must have less than {max_total_tokens} tokens. Given: {tokens}")
        self.tokens = tokens


@dataclass(frozen=True)
class Token:
    id: int
    text: str
    logprob: float
    special: bool


@dataclass(frozen=True)
class Finished:
    generated_text: str
    finish_reason: str
    generated_tokens: int
    seed: int | None
    input_length: int


class ModelRunner:
    """Holds one base model (+ LoRA adapters) in memory; generation is serialised (batch size 1)
    by a lock, which loading and unloading adapters take too."""

    def __init__(
        self,
        model_path: Path,
        adapter_path: Path | None = None,
        *,
        served_model_name: str | None = None,
        max_loras: int = 4,
        max_lora_rank: int = 16,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from crucible.tgidev.lora import LoadedAdapters

        self.model_path = Path(model_path)
        self.adapter_path = Path(adapter_path) if adapter_path else None
        source = model_source(model_path)  # a hub id is loaded at its pinned commit only
        self.tokenizer = AutoTokenizer.from_pretrained(source.path, revision=source.revision)
        model = AutoModelForCausalLM.from_pretrained(source.path, revision=source.revision, dtype=torch.float32)
        if self.adapter_path is not None:
            from peft import PeftModel

            # `--adapter`: merged weights serve at the base model's speed, so the canary of a
            # two-server rollout must not look slow for it. Named adapters below are never merged.
            model = PeftModel.from_pretrained(model, str(self.adapter_path)).merge_and_unload()
        model.eval()
        self.lock = threading.Lock()
        config = getattr(model, "config", None)
        self.max_total_tokens = int(getattr(config, "max_position_embeddings", 2048) or 2048)
        self.model_id = served_model_name or str(self.adapter_path or self.model_path)
        self.adapters = LoadedAdapters(
            model,
            served_names=[str(self.model_path), self.model_id],
            lock=self.lock,
            max_loras=max_loras,
            max_lora_rank=max_lora_rank,
        )

    @property
    def model(self) -> Any:
        return self.adapters.model

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def prompt_tokens(self, text: str) -> int:
        """Tokens in `text`, or a count already past the context when it is: a long text is judged
        by its head first, so a 5 MB prompt is refused without tokenizing (or running) all of it."""
        head = text[: self.max_total_tokens * HEAD_CHARS_PER_TOKEN]
        counted = self.count_tokens(head)
        if counted >= self.max_total_tokens or len(head) == len(text):
            return counted
        return self.count_tokens(text)  # an unusually dense text: count it all (still no model call)

    def chat_prompt(self, messages: list[dict[str, Any]]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages) + "\nassistant:"

    def generate(self, inputs: str, params: dict[str, Any], adapter: str | None = None) -> Iterator[Token | Finished]:
        """Yield each new Token, then one Finished, from the base (`adapter` None) or the named
        adapter. Holds the lock for the whole generation."""
        import torch

        max_new = int(params.get("max_new_tokens") or 20)
        stops = [s for s in (params.get("stop") or []) if s]
        max_stop = max((len(s) for s in stops), default=1)
        stop_anywhere = bool(params.get("stop_anywhere"))
        # TGI samples when asked to, or when a sampling knob is set (temperature 0 means greedy).
        knobs = params.get("temperature") not in (None, 0, 1.0) or params.get("top_k") or params.get("top_p")
        do_sample = bool(params.get("do_sample") or knobs) and params.get("temperature") != 0
        seed = params.get("seed")
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        temperature = float(params.get("temperature") or 1.0)
        top_k = int(params.get("top_k") or 0)
        top_p = float(params.get("top_p") or 1.0)
        penalty = float(params.get("repetition_penalty") or 1.0)
        eos_ids = _eos_ids(self.model, self.tokenizer)

        with self.lock, self.adapters.active(adapter) as model, torch.inference_mode():
            input_ids = self.tokenizer(inputs, return_tensors="pt")["input_ids"]
            input_length = int(input_ids.shape[1])
            if input_length >= self.max_total_tokens:  # never a forward pass the positions cannot hold
                raise PromptTooLong(input_length, self.max_total_tokens)
            max_new = max(1, min(max_new, self.max_total_tokens - input_length))
            past = None
            next_input = input_ids
            generated: list[int] = []
            text = ""
            reason = "length"
            for _ in range(max_new):
                out = model(input_ids=next_input, past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1, :].float()
                if penalty != 1.0 and generated:
                    seen = torch.tensor(sorted(set(generated) | set(input_ids[0].tolist())))
                    scores = logits[seen]
                    logits[seen] = torch.where(scores > 0, scores / penalty, scores * penalty)
                logprobs = torch.log_softmax(logits, dim=-1)
                if do_sample:
                    token_id = _sample(logits / max(temperature, 1e-5), top_k, top_p, generator)
                else:
                    token_id = int(torch.argmax(logits))
                generated.append(token_id)
                special = token_id in self.tokenizer.all_special_ids
                full = self.tokenizer.decode(generated, skip_special_tokens=True)
                # A byte-level token can end inside a UTF-8 character: hold it back until complete.
                piece = "" if full.endswith("\ufffd") else full[len(text) :]
                text += piece
                yield Token(
                    token_id,
                    piece if not special else self.tokenizer.decode([token_id]),
                    float(logprobs[token_id]),
                    special,
                )
                if token_id in eos_ids:
                    reason = "eos_token"
                    break
                # The window a new piece can complete a stop string in, ending inside the piece or at its end.
                window = text[-(len(piece) + max_stop - 1) :] if stop_anywhere and piece else ""
                if any(text.endswith(s) or s in window for s in stops):
                    reason = "stop_sequence"
                    break
                next_input = torch.tensor([[token_id]])
            text = self.tokenizer.decode(generated, skip_special_tokens=True)
            yield Finished(text, reason, len(generated), int(seed) if seed is not None else None, input_length)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(int(v) for v in value)
    return ids


def _sample(logits: Any, top_k: int, top_p: float, generator: Any) -> int:
    import torch

    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[-1]
        logits = torch.where(logits < kth, torch.full_like(logits, float("-inf")), logits)
    probs = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p
        sorted_probs = sorted_probs * keep
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        probs = probs / probs.sum()
    return int(torch.multinomial(probs, 1, generator=generator))
