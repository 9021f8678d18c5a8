"""The `gateway:` policy section: seed defaults, and bad values named at start-up."""

import pytest

from crucible.common.config import ConfigError, load_policy
from crucible.gateway.policy import GatewayPolicy


def test_defaults_are_the_seeds():
    p = GatewayPolicy()
    assert p.stages == [10, 25, 50, 100] and p.stage_duration_seconds == 3 * 86_400
    assert (p.rollback.max_satisfaction_drop, p.rollback.max_error_rate_increase_points) == (0.5, 5.0)
    assert p.rollback.max_safety_incidents == 0


@pytest.mark.parametrize(
    "key, value",
    [
        ("gateway.stages", [10, 5, 100]),
        ("gateway.stages", [10, 50]),
        ("gateway.rollback.max_satisfaction_drop", -1),
        ("gateway.embedded.stage_seconds", 3),
    ],
)
def test_bad_values_are_errors_naming_the_key(key, value):
    with pytest.raises(ConfigError) as err:
        load_policy(None, {"gateway": GatewayPolicy}, overrides={key: value})
    assert key.rsplit(".", 1)[0] in str(err.value)
