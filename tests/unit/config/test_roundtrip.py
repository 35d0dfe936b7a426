"""Property: a validated config survives snapshot -> load_snapshot unchanged, fingerprint included."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_declare.config import load_config, load_snapshot
from tests.conftest import REPO_ROOT

CONF = REPO_ROOT / "conf"

overrides = st.fixed_dictionaries(
    {
        "trainer.max_epochs": st.integers(min_value=11, max_value=500),
        "trainer.optimizer.lr": st.floats(min_value=1e-6, max_value=1.0, allow_nan=False),
        "model.dropout": st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
        "model.hidden": st.lists(st.integers(min_value=1, max_value=512), min_size=1, max_size=4),
        "monitoring.drift.p_value": st.floats(min_value=0.001, max_value=0.5, allow_nan=False),
        "project.tags": st.lists(st.text(alphabet="abcdefghij-_", min_size=1, max_size=8), max_size=3),
    }
)


def _render(key: str, value: object) -> str:
    if isinstance(value, list):
        return f"{key}=[{','.join(str(item) for item in value)}]"
    return f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=overrides)
def test_snapshot_round_trip(values: dict[str, object]) -> None:
    loaded = load_config(CONF, [_render(key, value) for key, value in values.items()])
    assert loaded.config.trainer.max_epochs == values["trainer.max_epochs"]
    again = load_snapshot(loaded.snapshot)
    assert again.config == loaded.config
    assert again.fingerprint == loaded.fingerprint
