"""The exception family: every failure a user can act on is an MlopsDeclareError."""

from __future__ import annotations

from dataclasses import dataclass

MAX_LISTED_ISSUES = 20


class MlopsDeclareError(Exception):
    """Base of every error the CLI prints without a traceback."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in the config: where it is (file and dotted YAML path) and what to do."""

    file: str
    path: str
    message: str

    def render(self) -> str:
        location = f"{self.file}: {self.path}" if self.path else self.file
        return f"{location}: {self.message}"


class ConfigError(MlopsDeclareError):
    """The composed config is invalid; carries every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__(render_issues(self.issues))


class CompileError(ConfigError):
    """The config is valid group by group but its groups contradict each other."""


class DataError(MlopsDeclareError):
    """Raw data could not be read, transformed or validated."""


class StaleOutputError(MlopsDeclareError):
    """Committed generated files differ from what the config compiles to."""


def render_issues(issues: list[ConfigIssue]) -> str:
    lines = [issue.render() for issue in issues[:MAX_LISTED_ISSUES]]
    if len(issues) > MAX_LISTED_ISSUES:
        lines.append(f"... and {len(issues) - MAX_LISTED_ISSUES} more")
    return "\n".join(lines)


class MlopsDeclareWarning(UserWarning):
    """A problem worth telling the user about that does not stop the run."""


class TrainingError(MlopsDeclareError):
    """Training could not start or stopped: impossible precision, non-finite loss, bad package."""
