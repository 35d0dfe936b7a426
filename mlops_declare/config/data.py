"""Schema of the `data` group: sources, transforms, column roles, expectations, splits."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from mlops_declare.config.base import (
    ColumnName,
    Fraction,
    Name,
    PositiveFloat,
    PositiveInt,
    StrictModel,
)

BuiltinDataset = Literal["breast_cancer", "wine", "digits", "diabetes"]
ColumnType = Literal["float", "int", "string", "bool", "timestamp"]
Policy = Literal["fail", "warn", "quarantine"]
SplitName = Literal["train", "val", "test"]
"""The three splits every prepared dataset has; the one declaration data/ and train/ use."""
SPLIT_NAMES: tuple[SplitName, ...] = get_args(SplitName)


class CsvSource(StrictModel):
    """Read one CSV file (or a glob of them); `{ds}` in the path is the run's logical date."""

    kind: Literal["csv"]
    path: str = Field(min_length=1)
    """Local path, glob or fsspec URL; `{ds}` is replaced by the logical date (YYYY-MM-DD)."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    """Field separator."""
    header: bool = True
    """Whether the first line holds column names."""
    null_values: list[str] = Field(default_factory=lambda: [""])
    """Cell texts that mean a missing value, e.g. `["", "NA", "n/a"]`."""


class ParquetSource(StrictModel):
    """Read Parquet files; `{ds}` in the path is the run's logical date."""

    kind: Literal["parquet"]
    path: str = Field(min_length=1)
    """Local path, glob or fsspec URL; `{ds}` is replaced by the logical date (YYYY-MM-DD)."""


class SqlSource(StrictModel):
    """Run a query against a database reachable through SQLAlchemy."""

    kind: Literal["sql"]
    url: str = Field(min_length=1)
    """SQLAlchemy URL, e.g. `sqlite:///data.db` or `postgresql+psycopg://user@host/db`; put passwords in `${oc.env:VAR}`."""
    query: str = Field(min_length=1)
    """The SELECT statement; `{ds}` is replaced by the logical date."""


class BuiltinSource(StrictModel):
    """A dataset shipped inside scikit-learn (nothing is downloaded)."""

    kind: Literal["builtin"]
    dataset: BuiltinDataset
    """Which bundled dataset to load."""


class GeneratedColumn(StrictModel):
    """One synthetic column."""

    name: Name
    """Column name."""
    type: Literal["numeric", "categorical"] = "numeric"
    """Numeric columns are normal(mean, std); categorical ones draw from `categories`."""
    mean: float = 0.0
    """Mean of a numeric column."""
    std: PositiveFloat = 1.0
    """Standard deviation of a numeric column."""
    categories: list[str] = Field(default_factory=list)
    """Values of a categorical column."""
    null_fraction: Fraction = 0.0
    """Share of values left missing."""

    @model_validator(mode="after")
    def _categories_match_type(self) -> GeneratedColumn:
        if self.type == "categorical" and len(self.categories) < 2:
            raise ValueError("a categorical column needs at least two `categories`")
        if self.type == "numeric" and self.categories:
            raise ValueError("`categories` is only for categorical columns")
        return self


class GeneratedDrift(StrictModel):
    """Shift applied to generated data, to exercise drift detection."""

    shift: float = 0.0
    """Added to every numeric column, in units of its std."""
    columns: list[Name] = Field(default_factory=list)
    """Columns to shift; empty means all numeric columns."""


class GeneratedSource(StrictModel):
    """A seeded synthetic table, for tests and benchmarks."""

    kind: Literal["generated"]
    rows: PositiveInt
    """Number of rows."""
    seed: int = 0
    """Random seed; the same seed gives the same table."""
    columns: list[GeneratedColumn] = Field(min_length=1)
    """The feature columns."""
    label: Literal["linear_binary", "linear_regression"] = "linear_binary"
    """How the `target` column is derived from the features."""
    noise: Annotated[float, Field(ge=0.0)] = 0.1
    """Label noise."""
    drift: GeneratedDrift | None = None
    """Optional covariate shift."""

    @model_validator(mode="after")
    def _columns_distinct(self) -> GeneratedSource:
        names = [column.name for column in self.columns]
        if "target" in names:
            raise ValueError("'target' is the generated label column; give this column another name")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"columns listed twice: {', '.join(duplicates)}")
        unknown = sorted(set(self.drift.columns) - set(names)) if self.drift else []
        if unknown:
            raise ValueError(f"drift.columns names columns that are not generated: {', '.join(unknown)}")
        return self


Source = Annotated[
    CsvSource | ParquetSource | SqlSource | BuiltinSource | GeneratedSource,
    Field(discriminator="kind"),
]


class SqlTransform(StrictModel):
    """A DuckDB query over the current table, which the query sees as `input`."""

    kind: Literal["sql"]
    query: str = Field(min_length=1)
    """e.g. `SELECT * FROM input WHERE age > 0`."""


class CastTransform(StrictModel):
    """Change column types."""

    kind: Literal["cast"]
    columns: dict[ColumnName, ColumnType] = Field(min_length=1)
    """Column -> new type."""


class ImputeTransform(StrictModel):
    """Fill missing values."""

    kind: Literal["impute"]
    columns: list[ColumnName] = Field(min_length=1)
    """Columns to fill."""
    strategy: Literal["mean", "median", "mode", "constant"] = "median"
    """How the fill value is chosen."""
    value: float | str | None = None
    """The fill value when `strategy` is `constant`."""

    @model_validator(mode="after")
    def _constant_needs_value(self) -> ImputeTransform:
        if (self.strategy == "constant") != (self.value is not None):
            raise ValueError("`value` is required with strategy 'constant' and only allowed with it")
        return self


class ClipTransform(StrictModel):
    """Bound a numeric column."""

    kind: Literal["clip"]
    column: ColumnName
    """Column to clip."""
    lower: float | None = None
    """Lower bound, or none."""
    upper: float | None = None
    """Upper bound, or none."""

    @model_validator(mode="after")
    def _bounds_ordered(self) -> ClipTransform:
        if self.lower is None and self.upper is None:
            raise ValueError("give `lower`, `upper` or both")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"`lower` ({self.lower}) is greater than `upper` ({self.upper})")
        return self


class DeriveTransform(StrictModel):
    """Add a column computed by a SQL expression over the other columns."""

    kind: Literal["derive"]
    name: ColumnName
    """The new column."""
    expression: str = Field(min_length=1)
    """DuckDB SQL expression, e.g. `income / NULLIF(household_size, 0)`."""


class DropTransform(StrictModel):
    """Remove columns."""

    kind: Literal["drop"]
    columns: list[ColumnName] = Field(min_length=1)
    """Columns to remove."""


class DeduplicateTransform(StrictModel):
    """Keep the first row of each group of duplicates."""

    kind: Literal["deduplicate"]
    columns: list[ColumnName] = Field(default_factory=list)
    """Columns that define a duplicate; empty means all columns."""


Transform = Annotated[
    SqlTransform
    | CastTransform
    | ImputeTransform
    | ClipTransform
    | DeriveTransform
    | DropTransform
    | DeduplicateTransform,
    Field(discriminator="kind"),
]


class Feature(StrictModel):
    """A model input column and its type."""

    name: ColumnName
    """Column name."""
    type: Literal["numeric", "categorical", "image"] = "numeric"
    """Numeric features are scaled, categorical ones get a vocabulary, images keep a shape."""
    shape: list[PositiveInt] | None = None
    """Shape of one image (channels, height, width); images only."""

    @model_validator(mode="after")
    def _shape_only_for_images(self) -> Feature:
        if self.type == "image" and not self.shape:
            raise ValueError("an image feature needs a `shape`, e.g. [1, 8, 8]")
        if self.type != "image" and self.shape is not None:
            raise ValueError("`shape` is only for image features")
        return self


class Columns(StrictModel):
    """Which column plays which role; features not declared here are inferred from the data."""

    target: ColumnName | None = None
    """The label column; builtin datasets name it `target`."""
    features: list[Feature] = Field(default_factory=list)
    """Model inputs; empty means every column that has no other role."""
    id: ColumnName | None = None
    """A row identifier, kept out of the features."""
    timestamp: ColumnName | None = None
    """Event time, used by time splits and freshness checks."""
    weight: ColumnName | None = None
    """Per-row sample weight."""

    @model_validator(mode="after")
    def _roles_distinct(self) -> Columns:
        roles = {
            "target": self.target,
            "id": self.id,
            "timestamp": self.timestamp,
            "weight": self.weight,
        }
        feature_names = [feature.name for feature in self.features]
        duplicates = sorted({name for name in feature_names if feature_names.count(name) > 1})
        if duplicates:
            raise ValueError(f"features listed twice: {', '.join(duplicates)}")
        for role, column in roles.items():
            if column is not None and column in feature_names:
                raise ValueError(f"column {column!r} is both the {role} and a feature")
        return self


class ExpectationBase(StrictModel):
    """Shared keys of every expectation."""

    policy: Policy = "fail"
    """fail: stop the run; warn: report and continue; quarantine: move bad rows to quarantine.parquet and continue
    (row-level checks only: max_null_fraction, range, allowed_values, unique)."""


class ColumnPresent(ExpectationBase):
    """The column exists (optionally with a type)."""

    kind: Literal["column_present"]
    column: ColumnName
    """Column that must exist."""
    type: ColumnType | None = None
    """Expected type, if any."""

    @model_validator(mode="after")
    def _not_quarantine(self) -> ColumnPresent:
        if self.policy == "quarantine":
            raise ValueError("column_present checks the whole table; policy 'quarantine' does not apply")
        return self


class MaxNullFraction(ExpectationBase):
    """At most this share of the column is missing."""

    kind: Literal["max_null_fraction"]
    column: ColumnName
    """Column to check."""
    max: Fraction
    """Largest allowed share of missing values."""


class ValueRange(ExpectationBase):
    """Every value lies within [min, max]."""

    kind: Literal["range"]
    column: ColumnName
    """Column to check."""
    min: float | None = None
    """Smallest allowed value."""
    max: float | None = None
    """Largest allowed value."""

    @model_validator(mode="after")
    def _bounds(self) -> ValueRange:
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        return self


class AllowedValues(ExpectationBase):
    """Every value is one of a set."""

    kind: Literal["allowed_values"]
    column: ColumnName
    """Column to check."""
    values: list[str | int | bool] = Field(min_length=1)
    """The allowed values."""


class Unique(ExpectationBase):
    """No value repeats."""

    kind: Literal["unique"]
    column: ColumnName
    """Column to check."""


class RowCount(ExpectationBase):
    """The table has between `min` and `max` rows."""

    kind: Literal["row_count"]
    min: Annotated[int, Field(ge=0)] = 1
    """Fewest rows allowed."""
    max: PositiveInt | None = None
    """Most rows allowed, or no limit."""

    @model_validator(mode="after")
    def _bounds(self) -> RowCount:
        if self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        if self.policy == "quarantine":
            raise ValueError("row_count checks the whole table; policy 'quarantine' does not apply")
        return self


class Freshness(ExpectationBase):
    """The newest timestamp is at most `max_age_hours` older than the logical date."""

    kind: Literal["freshness"]
    column: ColumnName
    """Timestamp column."""
    max_age_hours: PositiveFloat
    """Largest allowed age of the newest row."""

    @model_validator(mode="after")
    def _not_quarantine(self) -> Freshness:
        if self.policy == "quarantine":
            raise ValueError("freshness checks the newest row only; policy 'quarantine' does not apply")
        return self


Expectation = Annotated[
    ColumnPresent | MaxNullFraction | ValueRange | AllowedValues | Unique | RowCount | Freshness,
    Field(discriminator="kind"),
]


class SplitFractions(StrictModel):
    """Shares of rows per split; they must add up to 1."""

    train: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.7
    """Training share."""
    val: Fraction = 0.15
    """Validation share."""
    test: Fraction = 0.15
    """Test share."""

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must be 1.0, got {total:g}")
        return self


class RandomSplit(StrictModel):
    """Seeded random split, optionally stratified on the target."""

    kind: Literal["random"]
    fractions: SplitFractions = Field(default_factory=SplitFractions)
    """Share of rows per split."""
    seed: int = 42
    """Random seed."""
    stratify: bool = False
    """Keep the target's class balance in every split (classification only)."""


class TimeSplit(StrictModel):
    """Rows before `val_start` train, rows before `test_start` validate, the rest test."""

    kind: Literal["time"]
    column: ColumnName
    """Timestamp column."""
    val_start: str = Field(min_length=1)
    """ISO date or timestamp where validation begins."""
    test_start: str = Field(min_length=1)
    """ISO date or timestamp where test begins."""

    @model_validator(mode="after")
    def _ordered(self) -> TimeSplit:
        if self.val_start >= self.test_start:
            raise ValueError(f"`val_start` ({self.val_start}) must come before `test_start` ({self.test_start})")
        return self


class ColumnSplit(StrictModel):
    """A column holds each row's split name (train, val or test)."""

    kind: Literal["column"]
    column: ColumnName = Field(json_schema_extra={"x-cell-values": list(SPLIT_NAMES)})
    """Column holding `train`, `val` or `test` in each row (listed under `x-cell-values`)."""


Split = Annotated[RandomSplit | TimeSplit | ColumnSplit, Field(discriminator="kind")]


class Preprocessing(StrictModel):
    """Fitted on the training split only; training and serving share the fitted state."""

    scaling: Literal["standard", "minmax", "none"] = "standard"
    """How numeric features are scaled."""
    impute: Literal["mean", "median", "zero"] = "median"
    """How missing numeric values are filled at train and serve time."""
    max_categories: PositiveInt = 100
    """Largest vocabulary per categorical feature; rarer values go to the unknown bucket."""


class DataConfig(StrictModel):
    """Where the data comes from, how it is cleaned, checked and split."""

    name: Name
    """Dataset name, used in artefact paths and lineage."""
    source: Source
    """Where raw rows come from."""
    transforms: list[Transform] = Field(default_factory=list)
    """Applied in order after loading."""
    columns: Columns = Field(default_factory=Columns)
    """Column roles."""
    expectations: list[Expectation] = Field(default_factory=list)
    """Checks on the transformed table."""
    split: Split = Field(default_factory=lambda: RandomSplit(kind="random"))
    """How rows are divided into train, val and test."""
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    """Scaling, imputation and vocabularies fitted on train."""
    batch_size: PositiveInt = 64
    """Rows per training batch."""


_MEASUREMENTS = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
)
# scikit-learn's column order: 10 means, 10 standard errors, 10 worst values.
_BREAST_CANCER = (
    [f"mean {name}" for name in _MEASUREMENTS]
    + [f"{name} error" for name in _MEASUREMENTS]
    + [f"worst {name}" for name in _MEASUREMENTS]
)
_WINE = [
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280/od315_of_diluted_wines",
    "proline",
]
_DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
BUILTIN_TASKS: dict[str, str] = {
    "breast_cancer": "binary",
    "wine": "multiclass",
    "digits": "multiclass",
    "diabetes": "regression",
}
BUILTIN_CLASSES: dict[str, int] = {"breast_cancer": 2, "wine": 3, "digits": 10, "diabetes": 0}


def builtin_features(dataset: str) -> list[Feature]:
    """The feature columns of a bundled dataset, known without loading it."""
    if dataset == "digits":
        return [Feature(name="image", type="image", shape=[1, 8, 8])]
    names = {"breast_cancer": _BREAST_CANCER, "wine": _WINE, "diabetes": _DIABETES}[dataset]
    return [Feature(name=name) for name in names]


def declared_features(data: DataConfig) -> list[Feature] | None:
    """Features known at compile time: declared ones, or a builtin or generated source's when no
    transform can add, drop or retype columns; None if only the data can tell."""
    if data.columns.features:
        return list(data.columns.features)
    if data.transforms:
        return None
    if isinstance(data.source, BuiltinSource):
        return builtin_features(data.source.dataset)
    if isinstance(data.source, GeneratedSource):
        return [Feature(name=column.name, type=column.type) for column in data.source.columns]
    return None
