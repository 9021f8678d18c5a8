"""The tiny base model for the embedded default (model hubs are unreachable here):
a byte-level BPE tokenizer trained on a corpus, wrapped as a transformers fast tokenizer with
pad/bos/eos/unk and a chat template, a small `LlamaForCausalLM`, briefly pre-trained so it
produces text, saved with `save_pretrained` and reloadable with the Auto classes."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PAD, BOS, EOS, UNK = "<|pad|>", "<|bos|>", "<|end|>", "<|unk|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]

# `{% generation %}` marks the assistant's tokens, so `apply_chat_template(...,
# return_assistant_tokens_mask=True)` can serve as the oracle for our loss masking.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\n' }}{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinySpec:
    vocab_size: int = 2000
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    max_position_embeddings: int = 1024
    pretrain_steps: int = 200
    pretrain_batch: int = 16
    pretrain_seq: int = 64
    learning_rate: float = 3e-3
    seed: int = 0


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (`tokenizers`) wrapped as a `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS, UNK, *ROLE_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        additional_special_tokens=ROLE_TOKENS,
        model_max_length=TinySpec.max_position_embeddings,
        padding_side="right",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    path: Path, texts: Sequence[str], spec: TinySpec = TinySpec(), *, chats: Sequence[Sequence[dict]] = ()
) -> dict[str, Any]:
    """Train the tokenizer, create and pre-train the model, save both under `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if not texts:
        raise ValueError("the tiny-model corpus is empty")
    started = time.perf_counter()
    torch.manual_seed(spec.seed)
    tokenizer = train_tokenizer(texts, spec.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    # Pre-train on the plain text and on the chat rendering, so the model knows the template too.
    docs = [tokenizer.bos_token + t + tokenizer.eos_token for t in texts]
    docs += [tokenizer.apply_chat_template(list(c), tokenize=False) for c in chats]
    stream: list[int] = []
    for doc in docs:
        stream.extend(tokenizer(doc, add_special_tokens=False)["input_ids"])
    losses = _pretrain(model, stream, spec)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    info = {
        "path": str(path),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "corpus_texts": len(texts),
        "corpus_tokens": len(stream),
        "pretrain_steps": spec.pretrain_steps,
        "loss_first": round(losses[0], 4),
        "loss_last": round(sum(losses[-10:]) / min(10, len(losses)), 4),
        "seconds": round(time.perf_counter() - started, 2),
    }
    log.info("tiny base model built", extra=info)
    return info


def _pretrain(model: Any, stream: list[int], spec: TinySpec) -> list[float]:
    import torch

    if len(stream) <= spec.pretrain_seq + 1:
        raise ValueError(f"the tiny-model corpus has only {len(stream)} tokens; need more than {spec.pretrain_seq}")
    data = torch.tensor(stream, dtype=torch.long)
    rng = random.Random(spec.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.0)
    warmup = max(1, spec.pretrain_steps // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, spec.pretrain_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    losses = []
    for _ in range(spec.pretrain_steps):
        starts = [rng.randrange(0, len(stream) - spec.pretrain_seq - 1) for _ in range(spec.pretrain_batch)]
        batch = torch.stack([data[s : s + spec.pretrain_seq] for s in starts])
        out = model(input_ids=batch, labels=batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(out.loss.detach()))
    model.eval()
    return losses


def default_tiny_path(home: Path) -> Path:
    return home / "models" / "tiny-base"


def ensure_tiny_model(home: Path, *, corpus: Path | None = None) -> Path:
    """The default base model: build it once under $CRUCIBLE_HOME/models/tiny-base."""
    path = default_tiny_path(home)
    if (path / "config.json").exists() and any(path.glob("*.safetensors")):
        return path
    texts, chats = tiny_corpus(corpus)
    build_tiny_model(path, texts, chats=chats)
    return path


def tiny_corpus(corpus: Path | None) -> tuple[list[str], list[list[dict[str, str]]]]:
    """Texts (and chats) to build from: the given file, else the built-in coaching corpus."""
    from crucible.trainer.corpus import builtin_texts, coaching_dialogues, texts_from_file

    if corpus is not None:
        if not corpus.exists():
            raise FileNotFoundError(f"corpus file {corpus} does not exist")
        texts = list(texts_from_file(corpus))
        if not texts:
            raise ValueError(f"corpus file {corpus} has no text")
        return texts, []
    return builtin_texts(), coaching_dialogues(200, seed=1)
