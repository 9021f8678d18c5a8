from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def test_tiny_model_builds_and_reloads_with_auto_classes(tiny_model: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert type(model).__name__ == "LlamaForCausalLM"
    for special in ("pad_token", "bos_token", "eos_token", "unk_token"):
        assert getattr(tok, special) is not None, special
    assert len({tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id}) == 4
    # Byte-level BPE: any text round-trips, including characters never seen in the corpus.
    text = "Zoë and Łukasz 🤝 talk 42 times"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    msgs = [{"role": "user", "content": "We argued about chores."}]
    enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert tok.decode(enc["input_ids"][0]).endswith("<|assistant|>\n")
    out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]


def test_pretraining_makes_the_model_better_than_random(tiny_model: Path) -> None:
    from transformers import LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_model)
    trained = AutoModelForCausalLM.from_pretrained(tiny_model)
    torch.manual_seed(0)
    random_init = LlamaForCausalLM(trained.config)
    ids = tok(
        "It sounds like this mattered a lot to you. Thank your partner for one specific thing.", return_tensors="pt"
    )["input_ids"]
    with torch.no_grad():
        assert trained(input_ids=ids, labels=ids).loss < 0.5 * random_init(input_ids=ids, labels=ids).loss


def test_init_tiny_trains_on_a_given_corpus_file(tmp_path: Path) -> None:
    from crucible.trainer.tiny import TinySpec, build_tiny_model, tiny_corpus

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"Partners share {i} small kindnesses every day." for i in range(60)))
    texts, chats = tiny_corpus(corpus)
    assert len(texts) == 60 and chats == []
    info = build_tiny_model(tmp_path / "m", texts, TinySpec(pretrain_steps=10, pretrain_seq=16, pretrain_batch=4))
    assert info["loss_last"] < info["loss_first"]
    assert AutoTokenizer.from_pretrained(tmp_path / "m").chat_template
