"""The trained models: the int8 encoder and the static reply encoder against the float32 oracle, and the
held-out figures."""

from __future__ import annotations

import json
from importlib.resources import files

import numpy as np

from crucible.scorer.encoder import reference_encode, split_sentences
from crucible.scorer.evaluation import evaluate_all
from crucible.scorer.labelled import category_set, safety_set
from crucible.scorer.policy import ScorerPolicy
from crucible.scorer.replies import ReplyEncoder
from crucible.scorer.stacking import ensemble_figures
from crucible.scorer.training import embed_texts


def test_int8_encoder_agrees_with_sentence_transformers(scorer_models) -> None:
    texts = [e.user for e in category_set()[::12]] + [e.text for e in safety_set()[::25]]
    ours = scorer_models.encoder.encode(texts)
    ref = reference_encode(texts)
    cos = (ours * ref).sum(axis=1)
    # Measured (per-token int8): 0.9955 mean, 0.984 min on the bench's sentences.
    assert cos.min() > 0.97 and cos.mean() > 0.99
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-3)


def test_reply_encoder_round_trips_and_lands_in_minilm_space(scorer_models, scorer_store) -> None:
    replies = scorer_models.replies
    held_out = list(dict.fromkeys(e.assistant for e in category_set() if e.split == "test"))[:80]
    ours = replies.encode(held_out)
    again = ReplyEncoder.from_bytes(replies.to_bytes()).encode(held_out)
    assert np.allclose(ours, again, atol=2e-3)  # the table is stored in float16
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    # Replies the map never saw, against MiniLM itself reading them whole: far from identical (a bag of
    # words), but clearly the same space; measured 0.70 mean on the bench's replies. Unmapped, the static
    # vectors are not even the same dimension.
    cos = (ours * reference_encode(held_out, max_tokens=replies.max_tokens)).sum(axis=1)
    assert cos.mean() > 0.6
    manifest = scorer_store.read_json(f"{scorer_models.model_key}/manifest.json")
    assert manifest["replies_fit"]["fit_cosine_to_minilm"]["mean"] > 0.7


def test_labelled_sets_are_big_enough_and_split_by_source() -> None:
    cat, saf = category_set(), safety_set()
    assert len(cat) >= 300 and len(saf) >= 600
    for label in ("self_harm_high", "unsafe_environment", "self_harm_low"):
        assert sum(label in e.labels for e in saf if e.split == "test") >= 15
    # The v3 additions (control without violence, mild conflict) are training and validation data only,
    # so the held-out rows are the ones v2 was measured on.
    rows = [
        json.loads(line) for line in files("crucible.scorer").joinpath("data", "safety.jsonl").read_text().splitlines()
    ]
    added = [r for r in rows if r["fragments"][0].startswith(("control.", "conflict."))]
    assert len(added) >= 150 and {r["split"] for r in added} == {"train", "val"}
    train_text = {e.text for e in saf if e.split == "train"}
    assert not any(e.text in train_text for e in saf if e.split == "test")
    assert split_sentences("One. Two! Three?") == ["One.", "Two!", "Three?"]


def test_replies_are_embedded_as_replies_even_when_the_words_are_also_a_message(scorer_models) -> None:
    # The safety set holds coach-reply sentences as neutral messages; a reply must still get the reply
    # encoder's vector, as it does in the stage (v4's first training embedded 48 of 80 replies by MiniLM).
    line = "That sounds really hard."
    embed, _, replies = embed_texts(scorer_models.encoder, scorer_models.replies, [line], [line])
    assert np.allclose(replies[line], scorer_models.replies.encode([line])[0])
    assert np.allclose(embed[line], scorer_models.encoder.encode([line])[0], atol=1e-5)
    assert float(embed[line] @ replies[line]) < 0.999


def test_held_out_figures_of_the_trained_models(scorer_models) -> None:
    cat, saf = category_set(), safety_set()
    embed, sentences, reply_embed = embed_texts(
        scorer_models.encoder,
        scorer_models.replies,
        [e.user for e in cat] + [e.text for e in saf],
        [e.assistant for e in cat],
    )
    m = evaluate_all(scorer_models.heads, embed, sentences, reply_embed, cat, saf)
    assert m["category"]["accuracy"] >= 0.75 > m["category"]["chance_accuracy"]
    # Measured (v4: per-token int8 MiniLM for people's turns, static reply encoder): category accuracy 0.99,
    # review recall 0.946 (106 of 112), false review rate 0.066; unsafe_environment 0.93 alone / 0.946 with
    # the backstop (53 of 56), self_harm_high 0.96 alone / 1.0 with it (target 0.95 for each: see
    # docs/scorer.md); coherence AUC 0.91 (v3, MiniLM on replies: 0.955). These pin no regression.
    assert m["category"]["accuracy"] >= 0.9
    assert m["safety"]["review"]["recall"] >= 0.94
    assert m["safety"]["review"]["false_review_rate"] <= 0.08
    assert m["safety"]["per_class_recall"]["unsafe_environment"] >= 0.92
    assert m["safety"]["with_backstop"]["per_class_recall"]["unsafe_environment"] >= 0.94
    assert m["safety"]["per_class_recall"]["self_harm_high"] >= 0.95
    assert m["safety"]["with_backstop"]["per_class_recall"]["self_harm_high"] >= 0.95
    assert m["safety"]["macro_f1"] >= 0.65
    assert m["coherence"]["auc"] >= 0.9
    stored = scorer_models.metrics
    assert m == {k: v for k, v in stored.items() if k != "ensemble"}  # what training stored is what serves
    # The same for the safety ensemble: every member and the ensemble, on the held-out rows and slices.
    ens = ensemble_figures(scorer_models, ScorerPolicy(), saf, embed, sentences)
    assert ens == {k: stored["ensemble"][k] for k in ens}
    assert ens["ensemble_decides"] == stored["ensemble"]["held_out_check"]["ensemble_decides"]
