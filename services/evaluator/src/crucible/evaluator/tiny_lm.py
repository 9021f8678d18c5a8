"""A tiny causal LM and coaching chats for the benchmark and the tests (model hubs are
unreachable here). Same recipe as the embedded base model: byte-level BPE tokenizer with
chat roles and a chat template, a 2-layer `LlamaForCausalLM`, briefly pre-trained; plus an
optional short LoRA fine-tune so a candidate differs from its base. The evaluator does not
import the trainer (services share data, not code), hence its own small copy here."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PAD, BOS, EOS, UNK = "<|pad|>", "<|bos|>", "<|end|>", "<|unk|>"
ROLES = ["<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

_SITUATIONS = [
    "my partner and I keep arguing about chores",
    "we never have time for date nights anymore",
    "my wife feels I don't listen to her",
    "my boyfriend is stressed about work and withdraws",
    "we disagree about how to spend money",
    "my girlfriend wants to move in together and I am unsure",
    "we had a fight about visiting my parents",
    "my husband forgets the small things that matter to me",
    "we feel more like roommates than partners",
    "my partner gets jealous when I see my friends",
    "we want to plan a meaningful anniversary",
    "I struggle to say sorry after a fight",
]
_FEELINGS = ["frustrated", "lonely", "hopeful", "tired", "anxious", "hurt", "confused", "overwhelmed"]
_ADVICE = [
    "Try a weekly check-in where each of you shares one appreciation and one wish.",
    "Use I-statements: say how you feel and what you need, without blaming.",
    "Plan a short screen-free date this week, even a twenty minute walk counts.",
    "Listen first and repeat back what you heard before you answer.",
    "Agree on a time-out signal and return to the talk after you both calm down.",
    "Write down a shared budget together and review it once a month.",
    "Ask an open question about their day and stay curious about the answer.",
    "Name one small thing you can do for them tomorrow and follow through.",
]


def coaching_chats(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` chat examples ({"id", "messages"}) in the OpenAI fine-tuning format, deterministic."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        situation, feeling, advice = rng.choice(_SITUATIONS), rng.choice(_FEELINGS), rng.choice(_ADVICE)
        user = f"I feel {feeling} because {situation}. What can I do?"
        answer = (
            f"It sounds like you feel {feeling}, and that makes sense when {situation}. {advice} "
            "Notice how you both feel afterwards and keep what works."
        )
        out.append({"id": f"chat-{seed}-{k}", "messages": [{"role": "user", "content": user},
                                                           {"role": "assistant", "content": answer}]})  # fmt: skip
    return out


def build_tiny_model(path: Path, chats: Sequence[dict[str, Any]], *, steps: int = 120, seed: int = 0) -> Path:
    """Tokenizer + 2-layer Llama, pre-trained `steps` steps on the rendered chats, saved to `path`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    texts = [m["content"] for c in chats for m in c["messages"]]
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=[PAD, BOS, EOS, UNK, *ROLES],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=UNK,
        additional_special_tokens=ROLES, model_max_length=512,
    )  # fmt: skip
    fast.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=512, pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, tie_word_embeddings=True,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    stream: list[int] = []
    for c in chats:
        stream += fast(fast.apply_chat_template(c["messages"], tokenize=False), add_special_tokens=False)["input_ids"]
    _train(model, stream, steps, lr=5e-3, seed=seed)
    model.generation_config.pad_token_id = fast.pad_token_id
    model.generation_config.eos_token_id = fast.eos_token_id
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def train_lora_adapter(
    base: Path, out: Path, chats: Sequence[dict[str, Any]], *, steps: int = 30, seed: int = 1
) -> Path:
    """A LoRA adapter (r=8 on q/v) trained briefly on `chats`, saved with `save_pretrained`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    stream: list[int] = []
    for c in chats:
        stream += tok(tok.apply_chat_template(c["messages"], tokenize=False), add_special_tokens=False)["input_ids"]
    _train(model, stream, steps, lr=1e-2, seed=seed)
    model.save_pretrained(out)
    return out


def _train(model: Any, stream: list[int], steps: int, *, lr: float, seed: int, seq: int = 64, batch: int = 8) -> None:
    import torch

    data = torch.tensor(stream, dtype=torch.long)
    rng = random.Random(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        starts = [rng.randrange(0, len(stream) - seq - 1) for _ in range(batch)]
        x = torch.stack([data[s : s + seq] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    model.eval()
