"""The scorer's shell: the ServiceSpec that plugs the core into the platform.

- data plane: consumes crucible.records.scrubbed, produces crucible.records.scored (the common worker);
- sink: rejected records (with their breakdown and the scrubbed record) and the review queue, in the registry;
- CLI: `crucible score`, `crucible scorer train|metrics`, `crucible review list|show|approve|reject`;
- bench: `crucible bench score`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from crucible.common.services import ServiceSpec, deferred
from crucible.scorer import __version__

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime
    from crucible.common.stage import StageBlock
    from crucible.scorer.policy import ScorerPolicy

log = logging.getLogger(__name__)


def build_stage(runtime: Runtime) -> StageBlock:
    """The scorer (its models loaded or trained; its diversity counts the newest persisted snapshot,
    seeded from the curated store on a fresh registry; late interaction feedback merged in front
    of it) and the sink that keeps rejected and held records, and the diversity snapshots, in the
    registry."""
    from crucible.common.stage import StageBlock
    from crucible.scorer.core import ScorerStage
    from crucible.scorer.feedback_merge import FeedbackMergingStage, registry_lookup
    from crucible.scorer.models import load_models
    from crucible.scorer.store import ScorerSink, diversity_ledger

    policy: ScorerPolicy = runtime.policy.section("scorer")
    models = load_models(runtime.artifacts, policy)
    ledger = diversity_ledger(runtime.registry, policy.diversity)
    log.info("scorer: models %s; diversity snapshot %d (%d record(s))", models.model_key, ledger.version,
             ledger.current.total)  # fmt: skip
    core = ScorerStage(policy, models, ledger.current, ledger)
    # Late feedback on a gateway interaction is merged into the interaction first (issue 18).
    stage = FeedbackMergingStage(core, registry_lookup(runtime.registry))
    return StageBlock(stage, ScorerSink(runtime.registry, runtime.run_id, ledger))


def run_summary(runtime: Any, run_id: str) -> dict[str, Any]:
    from crucible.scorer.store import rejection_counts, review_counts

    policy: ScorerPolicy = runtime.policy.section("scorer")
    out: dict[str, Any] = {
        "review_queue": review_counts(runtime.registry),
        "rejected": rejection_counts(runtime.registry),
    }
    key = f"{policy.model_key.rstrip('/')}/metrics.json"
    if runtime.artifacts.exists(key):
        m = runtime.artifacts.read_json(key)
        out["classifiers"] = {
            "category_accuracy": m["category"]["accuracy"],
            "safety_macro_f1": m["safety"]["macro_f1"],
            "safety_recall": {k: m["safety"]["per_class_recall"][k] for k in ("self_harm_high", "unsafe_environment")},
            "review_recall": m["safety"]["review"]["recall"],
        }
    return out


SPEC = ServiceSpec(
    name="scorer",
    version=__version__,
    description="Quality score (seed formula), category and safety labels; review queue for crisis/borderline records",
    order=20,
    consumes="records.scrubbed",
    produces="records.scored",
    policy_model="crucible.scorer.policy:ScorerPolicy",
    build_stage=build_stage,
    register_cli=deferred("crucible.scorer.cli:register_cli"),
    benches={
        "score": deferred(
            "crucible.scorer.bench:bench_score",
            doc="Scorer records/s on one core (time breakdown, plain-encoder baseline), held-out classifier figures.",
        )
    },
    run_summary=run_summary,
    subject_stores=("crucible.scorer.subject_store:STORE",),
)
