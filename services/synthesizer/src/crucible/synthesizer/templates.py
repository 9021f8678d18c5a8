"""The versioned prompt templates (files in `prompts/`, named `<step>-<version>.txt`) and the
category briefs they are filled with. A record's provenance names the version it was made with,
so changing a prompt means adding `-v2` files, never editing `-v1` ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

STEPS = ("scenario", "conversation")

CATEGORY_BRIEFS: Mapping[str, tuple[str, str]] = {
    "instruction_following": (
        "a request for concrete help",
        "The person asks for specific guidance (how to start a hard talk, plan a date, split chores) "
        "and the coach gives clear, doable steps.",
    ),
    "contextual_understanding": (
        "a situation with history",
        "The person refers back to earlier events or details, and the coach's replies build on them.",
    ),
    "empathetic_dialogue": (
        "an emotional moment",
        "The person is hurt, anxious, lonely or overwhelmed, and the coach acknowledges the feeling before "
        "anything else.",
    ),
    "personalization": (
        "advice fitted to the person",
        "The person's circumstances (stage of the relationship, culture, age, family) shape what the coach suggests.",
    ),
    "safety_ethics": (
        "a safety concern",
        "Something in the relationship may be harmful (controlling behaviour, threats, feeling unsafe), and "
        "the coach responds responsibly, puts safety first and points to real help.",
    ),
}

HINT_LABELS: Mapping[str, str] = {
    "relationship_stage": "stage of the relationship",
    "relationship_type": "kind of relationship",
    "age_band": "age of the person",
    "culture": "cultural background",
    "language": "language",
    "gender_user": "gender of the person",
    "gender_partner": "gender of the partner",
}


@dataclass(frozen=True)
class Templates:
    version: str
    scenario: str
    conversation: str

    def names(self) -> str:
        return f"scenario-{self.version}+conversation-{self.version}"


def load_templates(version: str) -> Templates:
    folder = resources.files("crucible.synthesizer") / "prompts"
    texts = {}
    for step in STEPS:
        path = folder / f"{step}-{version}.txt"
        if not path.is_file():
            raise ValueError(f"no prompt template {step}-{version}.txt in crucible.synthesizer/prompts")
        texts[step] = path.read_text(encoding="utf-8")
    return Templates(version, texts["scenario"], texts["conversation"])


def hint_lines(scenario: Mapping[str, str]) -> str:
    if not scenario:
        return ""
    lines = [f"- {HINT_LABELS.get(k, k.replace('_', ' '))}: {v}" for k, v in sorted(scenario.items())]
    return "The situation involves:\n" + "\n".join(lines) + "\n"


def scenario_prompt(templates: Templates, category: str, scenario: Mapping[str, str]) -> str:
    title, brief = CATEGORY_BRIEFS[category]
    return templates.scenario.format(category_title=title, category_brief=brief, hints=hint_lines(scenario))


def conversation_prompt(
    templates: Templates, category: str, scenario: Mapping[str, str], situation: str, turns: int
) -> str:
    title, brief = CATEGORY_BRIEFS[category]
    return templates.conversation.format(
        scenario=situation.strip(), category_title=title, category_brief=brief, hints=hint_lines(scenario), turns=turns
    )
