"""Loading a model version, generating answers with pinned settings, and perplexity.

Everything that touches torch lives here; the rest of the evaluator works on strings.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crucible.common.hub import model_source
from crucible.evaluator.policy import GenerationSettings
from crucible.evaluator.testset import Example, Message

log = logging.getLogger(__name__)

# Used only when neither the policy nor the tokenizer has a chat template (a plain LM);
# the report records which template was used and its sha256.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant: {% endif %}"
)


@dataclass
class LoadedModel:
    label: str
    model: Any
    tokenizer: Any
    chat_template: str
    source: dict[str, str]

    @property
    def template_sha256(self) -> str:
        return hashlib.sha256(self.chat_template.encode()).hexdigest()


def load_model(label: str, base_path: str, adapter_dir: Path | None, settings: GenerationSettings) -> LoadedModel:
    """The base causal LM with the LoRA adapter applied (peft), in eval mode, float32 on CPU
    (or the first GPU when there is one)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok_dir = adapter_dir if adapter_dir is not None and (adapter_dir / "tokenizer_config.json").exists() else None
    base = model_source(base_path)  # a hub id is loaded at its pinned commit only
    tokenizer = AutoTokenizer.from_pretrained(
        str(tok_dir) if tok_dir else base.path, revision=None if tok_dir else base.revision
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(base.path, revision=base.revision, dtype=torch.float32)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = settings.chat_template or getattr(tokenizer, "chat_template", None) or FALLBACK_CHAT_TEMPLATE
    source = {"base_model": str(base_path), "adapter": str(adapter_dir or "")}
    return LoadedModel(label=label, model=model, tokenizer=tokenizer, chat_template=template, source=source)


def render_prompt(lm: LoadedModel, messages: Sequence[Message], settings: GenerationSettings) -> str:
    msgs = list(messages)
    if settings.system_prompt and not any(m["role"] == "system" for m in msgs):
        msgs = [{"role": "system", "content": settings.system_prompt}, *msgs]
    return lm.tokenizer.apply_chat_template(
        msgs, chat_template=lm.chat_template, add_generation_prompt=True, tokenize=False
    )


def generate_answers(
    lm: LoadedModel,
    prompts: Sequence[Sequence[Message]],
    settings: GenerationSettings,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Answers in input order. Batches of `batch_size`, left padding, prompts cut to their
    last `max_prompt_tokens` tokens; the seed is set before every batch, so a rerun (and a
    sampled run) gives the same text."""
    import torch

    tok = lm.tokenizer
    tok.padding_side = "left"
    texts = [render_prompt(lm, p, settings) for p in prompts]
    device = next(lm.model.parameters()).device
    answers: list[str] = []
    for start in range(0, len(texts), settings.batch_size):
        chunk = texts[start : start + settings.batch_size]
        ids = [tok(t, add_special_tokens=False)["input_ids"][-settings.max_prompt_tokens :] for t in chunk]
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), tok.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            input_ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            attention[row, width - len(seq) :] = 1
        torch.manual_seed(settings.seed + start)
        sampling = settings.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": settings.max_new_tokens,
            "do_sample": sampling,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": tok.eos_token_id,
        }
        if sampling:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with torch.no_grad():
            out = lm.model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs)
        for row in range(len(ids)):
            answers.append(tok.decode(out[row, width:], skip_special_tokens=True).strip())
        if progress is not None:
            progress(min(start + settings.batch_size, len(texts)), len(texts))
    return answers


@dataclass(frozen=True)
class Perplexity:
    perplexity: float
    nll_sum: float
    tokens: int


def answer_token_ids(lm: LoadedModel, example: Example, settings: GenerationSettings) -> tuple[list[int], int]:
    """(token ids of prompt + reference answer, index where the answer starts). The answer's
    tokens are those the chat template adds after the generation prompt (its end-of-turn too)."""
    tok = lm.tokenizer
    prompt_text = render_prompt(lm, example.prompt_messages(), settings)
    msgs = list(example.prompt_messages())
    if settings.system_prompt and not any(m["role"] == "system" for m in msgs):
        msgs = [{"role": "system", "content": settings.system_prompt}, *msgs]
    full_text = tok.apply_chat_template(
        [*msgs, {"role": "assistant", "content": example.reference}], chat_template=lm.chat_template, tokenize=False
    )
    if full_text.startswith(prompt_text):
        answer_text = full_text[len(prompt_text) :]
    else:  # a template that renders the last turn differently: score the plain answer text
        answer_text = example.reference + (tok.eos_token or "")
    prompt_ids = tok(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tok(answer_text, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, len(prompt_ids)


def perplexity(lm: LoadedModel, examples: Sequence[Example], settings: GenerationSettings) -> Perplexity:
    """Token-weighted perplexity of the reference answers given their prompts:
    exp(sum of answer-token NLL / number of answer tokens), over the whole split."""
    import torch
    import torch.nn.functional as F

    limit = int(getattr(lm.model.config, "max_position_embeddings", 2048) or 2048)
    pad = lm.tokenizer.pad_token_id
    device = next(lm.model.parameters()).device
    rows: list[tuple[list[int], list[int]]] = []
    for ex in examples:
        ids, split = answer_token_ids(lm, ex, settings)
        labels = [-100] * split + ids[split:]
        rows.append((ids[-limit:], labels[-limit:]))
    nll, count = 0.0, 0
    for start in range(0, len(rows), settings.batch_size):
        chunk = rows[start : start + settings.batch_size]
        width = max(len(r[0]) for r in chunk)
        input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, (ids, labs) in enumerate(chunk):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(labs)] = torch.tensor(labs)
            attention[i, : len(ids)] = 1
        with torch.no_grad():
            logits = lm.model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
        shift_logits = logits[:, :-1, :].reshape(-1, logits.size(-1))
        shift_labels = labels[:, 1:].reshape(-1).to(device)
        nll += float(F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum"))
        count += int((shift_labels != -100).sum())
    if count == 0:
        raise ValueError("no answer tokens to score: the test split's answers are empty")
    return Perplexity(perplexity=math.exp(nll / count), nll_sum=nll, tokens=count)


def free(lm: LoadedModel) -> None:
    import gc

    lm.model = None
    gc.collect()
