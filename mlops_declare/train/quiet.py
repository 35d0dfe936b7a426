"""Keep Lightning's chatter (accelerator lines, tips, deprecation warnings of its dependencies) out of
the user's terminal unless they ask for it with `--verbose`; what is about their run still prints."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from mlops_declare.contracts.environment import VERBOSE

VERBOSE_VARIABLE = VERBOSE
"""Set to 1 by `--verbose` (and inherited by DDP workers): show Lightning's own output."""

LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")

QUIET_WARNINGS = (
    # Lightning's advice for big datasets; noise for the small in-memory tables this trains on.
    r".*does not have many workers.*",
    r".*smaller than the logging interval.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    # torch deprecates a class Lightning still uses; nothing the user can act on.
    r".*isinstance\(treespec, LeafSpec\). is deprecated.*",
)


def verbose_requested() -> bool:
    return os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")


@contextmanager
def quiet_lightning(verbose: bool | None = None) -> Iterator[None]:
    """Lightning's info lines (GPU/TPU available, logger tips, 'fit stopped') and the warnings above
    hidden for the duration, unless `verbose` (default: the MLOPS_DECLARE_VERBOSE variable)."""
    if verbose if verbose is not None else verbose_requested():
        yield
        return
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
