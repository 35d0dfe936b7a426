"""The `pruning` group: schedule windows and sparsity targets."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from mlops_declare.config.pruning import PruningConfig

ADAPTER: TypeAdapter[PruningConfig] = TypeAdapter(PruningConfig)


def test_defaults_follow_gradual_magnitude_pruning() -> None:
    pruning = ADAPTER.validate_python({"kind": "gradual"})
    assert (pruning.init_sparsity, pruning.final_sparsity, pruning.schedule) == (0.05, 0.8, "cubic")  # type: ignore[union-attr]
    assert pruning.lottery_ticket is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start_epoch": 5, "end_epoch": 2}, "`start_epoch` (5) is after `end_epoch` (2)"),
        ({"schedule": "one_shot", "start_epoch": 1, "end_epoch": 3}, "set `start_epoch` equal to `end_epoch`"),
        ({"method": "neurons", "scope": "global"}, "use scope 'local'"),
        ({"final_sparsity": 1.0}, "less than 1"),
    ],
)
def test_contradictions_rejected(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        ADAPTER.validate_python({"kind": "gradual", **fields})
    assert message in str(error.value)
