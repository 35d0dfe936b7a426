"""A table of invalid configs, each pinned to the exact file, YAML path and message a user sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlops_declare.compiler import cross_group_problems
from mlops_declare.config import load_config
from mlops_declare.errors import ConfigError, render_issues
from tests.conftest import edit_yaml


@dataclass(frozen=True)
class Case:
    id: str
    expected: str
    overrides: tuple[str, ...] = ()
    edits: tuple[tuple[str, str, str], ...] = field(default=())
    """(file under conf/, old snippet, new snippet)."""


CASES = [
    # Unknown keys at each nesting level.
    Case(
        "unknown-top-level-key",
        "command line: projekt: unknown key 'projekt' (did you mean 'project'?)",
        ("+projekt.name=x",),
    ),
    Case(
        "unknown-group-key-in-file",
        "conf/trainer/cpu.yaml: trainer.precison: unknown key 'precison' (did you mean 'precision'?)",
        edits=(("trainer/cpu.yaml", "precision: 32-true", "precison: 32-true"),),
    ),
    Case(
        "unknown-nested-key",
        "conf/trainer/cpu.yaml: trainer.optimizer.learning_rate: unknown key 'learning_rate'; allowed keys: 'name', 'lr', 'weight_decay', 'momentum'",
        edits=(("trainer/cpu.yaml", "  lr: 1.0e-3", "  learning_rate: 1.0e-3"),),
    ),
    Case(
        "unknown-key-in-list-item",
        "conf/data/breast_cancer.yaml: data.expectations.1.max: required key is missing\nconf/data/breast_cancer.yaml: data.expectations.1.maximum: unknown key 'maximum' (did you mean 'max'?)",
        edits=(("data/breast_cancer.yaml", "    max: 0.0", "    maximum: 0.0"),),
    ),
    Case(
        "unknown-key-in-union-member",
        "conf/model/mlp.yaml: model.hiden: unknown key 'hiden' (did you mean 'hidden'?)",
        edits=(("model/mlp.yaml", "hidden: [64, 32]", "hiden: [64, 32]"),),
    ),
    Case(
        "override-of-unknown-key",
        "command line: trainer.max_epoch: unknown key 'max_epoch' (did you mean 'max_epochs'?)",
        ("trainer.max_epoch=3",),
    ),
    Case(
        "target-hook-is-just-an-unknown-key",
        "conf/trainer/cpu.yaml: trainer._target_: unknown key '_target_'; allowed keys: 'accelerator', 'devices', 'strategy', 'num_nodes', 'precision', 'matmul_precision', 'max_epochs', 'gradient_clip_val', 'accumulate_grad_batches', 'optimizer', 'lr_scheduler', 'early_stopping', 'checkpointing', 'metrics', 'objective', 'seed', 'deterministic', 'compile', 'logger', 'progress_bar', 'callbacks'",
        edits=(("trainer/cpu.yaml", "accelerator: cpu", "_target_: os.system\naccelerator: cpu"),),
    ),
    # Misspelt group options.
    Case(
        "misspelt-group-option-on-command-line",
        "command line: trainer: unknown option 'gpuu' for group 'trainer'; allowed: cpu, ddp_cpu, gpu (did you mean 'gpu'?)",
        ("trainer=gpuu",),
    ),
    Case(
        "misspelt-group-option-in-defaults",
        "conf/config.yaml: defaults.model: unknown option 'mpl' for group 'model'; allowed: cnn, mlp, transformer (did you mean 'mlp'?)",
        edits=(("config.yaml", "  - model: mlp", "  - model: mpl"),),
    ),
    Case(
        "misspelt-experiment",
        "command line: experiment: unknown option 'digit_cnn' for group 'experiment'; allowed: breast_cancer_mlp, digits_cnn, tabular_transformer (did you mean 'digits_cnn'?)",
        ("experiment=digit_cnn",),
    ),
    Case(
        "misspelt-kind",
        "conf/model/mlp.yaml: model: kind 'mpl' is not allowed; allowed: 'mlp', 'cnn', 'transformer' (did you mean 'mlp'?)",
        edits=(("model/mlp.yaml", "kind: mlp", "kind: mpl"),),
    ),
    Case(
        "missing-kind",
        "conf/pruning/none.yaml: pruning: required key 'kind' is missing",
        edits=(("pruning/none.yaml", "kind: none", "{}"),),
    ),
    Case(
        "misspelt-discriminator",
        "conf/model/mlp.yaml: model: required key 'kind' is missing; unknown key 'kindz' (did you mean 'kind'?)",
        edits=(("model/mlp.yaml", "kind: mlp", "kindz: mlp"),),
    ),
    Case(
        "precision-spelling",
        "command line: trainer.precision: 'fp16' is not allowed; allowed: 'auto', '32-true', '16-mixed', 'bf16-mixed', '16-true', 'bf16-true', '64-true', 'transformer-engine' (did you mean '16-mixed'?)",
        ("trainer.precision=fp16",),
    ),
    Case(
        "literal-typo",
        "command line: trainer.strategy: 'dpp' is not allowed; allowed: 'auto', 'ddp', 'ddp_spawn', 'fsdp' (did you mean 'ddp'?)",
        ("trainer.strategy=dpp",),
    ),
    # Wrong types, including YAML traps.
    Case(
        "quoted-scientific-number",
        "conf/trainer/cpu.yaml: trainer.optimizer.lr: expected a number, got string '1e-3' (the YAML value '1e-3' is a quoted string; write it without quotes)",
        edits=(("trainer/cpu.yaml", "  lr: 1.0e-3", "  lr: '1e-3'"),),
    ),
    Case(
        "yaml-no-read-as-bool",
        "conf/data/breast_cancer.yaml: data.columns.target: expected a string, got boolean false (YAML reads unquoted yes/no/on/off/true/false as booleans; quote the value, e.g. 'no')",
        edits=(("data/breast_cancer.yaml", "target: target", "target: no"),),
    ),
    Case(
        "yaml-nan",
        "conf/monitoring/default.yaml: monitoring.drift.p_value: .nan is not allowed: .nan and .inf are not numbers a config can use".replace(
            ".nan is", "nan is"
        ),
        edits=(("monitoring/default.yaml", "p_value: 0.05", "p_value: .nan"),),
    ),
    Case(
        "yaml-inf",
        "conf/monitoring/default.yaml: monitoring.drift.distance: inf is not allowed: .nan and .inf are not numbers a config can use",
        edits=(("monitoring/default.yaml", "distance: 0.1", "distance: .inf"),),
    ),
    Case(
        "string-for-int",
        "command line: trainer.max_epochs: expected an integer, got string 'ten'",
        ("trainer.max_epochs=ten",),
    ),
    Case(
        "float-for-int",
        "command line: trainer.max_epochs: expected an integer, got number 2.5 (write a whole number without a decimal point)",
        ("trainer.max_epochs=2.5",),
    ),
    Case(
        "quoted-bool",
        "conf/model/mlp.yaml: model.batch_norm: expected true or false, got string 'yes' (a quoted string is not a boolean; write true or false without quotes)",
        edits=(("model/mlp.yaml", "batch_norm: false", "batch_norm: 'yes'"),),
    ),
    Case("scalar-for-list", "command line: model.hidden: expected a list, got number 64", ("model.hidden=64",)),
    Case(
        "devices-union",
        "command line: trainer.devices: expected an integer, got string 'two'; or 'two' is not allowed; allowed: 'auto'; or expected a list, got string 'two'",
        ("trainer.devices=two",),
    ),
    # Out-of-range values.
    Case("negative-epochs", "command line: trainer.max_epochs: must be > 0, got -1", ("trainer.max_epochs=-1",)),
    Case("dropout-above-one", "command line: model.dropout: must be <= 1.0, got 1.5", ("model.dropout=1.5",)),
    Case("port-out-of-range", "command line: serving.port: must be <= 65535, got 70000", ("serving.port=70000",)),
    Case(
        "split-fractions-sum",
        "command line: data.split.fractions: train + val + test must be 1.0, got 1.1",
        ("data.split.fractions.train=0.8",),
    ),
    Case(
        "bad-memory-string",
        "command line: serving.resources.memory: '1GB' does not match the required pattern ^[0-9]+(Ki|Mi|Gi)$",
        ("serving.resources.memory=1GB",),
    ),
    Case(
        "bad-cron",
        "command line: orchestration.training_schedule: '61 * * * *': cron minute field '61' is invalid (values 0-59)",
        ("orchestration.training_schedule='61 * * * *'",),
    ),
    Case(
        "bad-preset",
        "command line: orchestration.monitoring_schedule: '@fortnightly' is not a schedule preset; allowed: @once, @hourly, @daily, @weekly, @monthly, @quarterly, @yearly",
        ("orchestration.monitoring_schedule=@fortnightly",),
    ),
    # Contradictory options within a group.
    Case(
        "sparsity-inverted",
        "command line: pruning: `init_sparsity` (0.9) is greater than `final_sparsity` (0.8)",
        ("pruning=gradual", "pruning.init_sparsity=0.9"),
    ),
    Case(
        "gate-without-thresholds",
        "conf/registry/local.yaml: registry.stages.0: stage 'staging' is gated but its gate has no thresholds; add gate.thresholds or set gated: false",
        edits=(
            ("registry/local.yaml", "        - {metric: accuracy, split: test, min: 0.8}\n", ""),
            (
                "registry/local.yaml",
                "      thresholds:\n  - name: production",
                "      thresholds: []\n  - name: production",
            ),
        ),
    ),
    Case(
        "heads-do-not-divide",
        "command line: model: `n_heads` (3) must divide `d_model` (64)",
        ("model=transformer", "model.n_heads=3"),
    ),
    Case(
        "canary-without-candidate",
        "command line: serving.rollout: a canary rollout needs a `candidate` model reference",
        ("serving.rollout.strategy=canary", "serving.rollout.weight=0.1"),
    ),
    Case(
        "callback-not-allowed",
        "command line: trainer.callbacks.0.name: 'os.system' is not allowed; allowed: 'learning_rate_monitor', 'model_summary', 'rich_model_summary', 'timer', 'stochastic_weight_averaging', 'device_stats_monitor'",
        ("trainer.callbacks=[{name: os.system}]",),
    ),
    # Contradictions between groups (the compiler's checks).
    Case(
        "fp16-on-cpu",
        "command line: trainer.precision: '16-mixed' needs a CUDA GPU; this run has only CPU (use 32-true or bf16-mixed) [accelerator: cpu]",
        ("trainer.precision=16-mixed",),
    ),
    Case(
        "fp8-on-cpu",
        "command line: trainer.precision: 'transformer-engine' (FP8) needs an NVIDIA Hopper GPU (H100/H200); this run has only CPU (use bf16-mixed) [accelerator: cpu]",
        ("trainer.precision=transformer-engine",),
    ),
    Case(
        "gate-metric-not-computed",
        "conf/registry/local.yaml: registry.stages.0.gate.thresholds.0.metric: metric 'accuracy' is not computed by the trainer for task 'regression'; computed: mse, mae, r2, loss",
        (
            "data.source.dataset=diabetes",
            "model.task=regression",
            "trainer.objective=mse",
            "registry.stages.1.gate.thresholds.0.metric=mse",
        ),
    ),
    Case(
        "drift-column-not-a-feature",
        "command line: monitoring.drift.columns.0: 'mean radiu' is not a feature of data 'breast_cancer' (did you mean 'mean radius'?)",
        ("monitoring.drift.columns=[mean radiu]",),
    ),
    Case(
        "serving-inputs-mismatch",
        "command line: serving.inputs: features the model needs are missing: ",
        ("serving.inputs=[mean radius]",),
    ),
    Case(
        "cnn-without-images",
        "conf/model/cnn.yaml: model.kind: a cnn needs an image feature; data 'breast_cancer' has none (use mlp or transformer)",
        ("model=cnn", "model.num_classes=null", "model.task=binary"),
    ),
    Case(
        "task-does-not-fit-data",
        "command line: model.task: 'multiclass' does not fit dataset 'breast_cancer', which is a binary task",
        ("model.task=multiclass",),
    ),
    Case(
        "neurons-on-cnn",
        "conf/pruning/neurons.yaml: pruning.method: 'neurons' removes hidden units of an mlp; model kind is 'cnn' (use l1_unstructured or ln_structured)",
        ("experiment=digits_cnn", "pruning=neurons"),
    ),
    Case(
        "serving-unknown-stage",
        "conf/serving/default.yaml: serving.model: 'breast_cancer@prod' names stage or alias 'prod', which the registry does not declare; declared: challenger, champion, latest, production, staging",
        edits=(("serving/default.yaml", "@production", "@prod"),),
    ),
]


def _messages(project: Path, case: Case) -> str:
    for relative, old, new in case.edits:
        edit_yaml(project / "conf" / relative, old, new)
    try:
        loaded = load_config(project / "conf", list(case.overrides))
    except ConfigError as error:
        return str(error)
    return render_issues(cross_group_problems(loaded))


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_config_is_pinned(project: Path, case: Case) -> None:
    message = _messages(project, case)
    if case.id == "serving-inputs-mismatch":
        assert message.startswith(case.expected) and "mean texture" in message
    else:
        assert message == case.expected
