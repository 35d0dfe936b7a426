"""The strict base model every config group inherits, and small shared field types."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class StrictModel(BaseModel):
    """Unknown keys, loose types, NaN/inf and mutation are all errors."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        use_attribute_docstrings=True,
        allow_inf_nan=False,
        validate_default=True,
    )


NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"

Name = Annotated[
    str,
    StringConstraints(pattern=NAME_PATTERN),
    Field(description="A name: a letter, then up to 63 letters, digits, '_', '.' or '-'."),
]
"""A safe identifier for models, columns of generated data, services and DAGs."""

ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=256)]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
