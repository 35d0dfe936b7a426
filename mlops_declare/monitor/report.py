"""Reports of a check: JSON, and one self-contained HTML page that opens offline (plotly with its
JavaScript inlined, no CDN): score vs threshold for every column, reference vs current
distribution per drifted column, scores over past windows from the history, and the
multivariate and performance figures."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from mlops_declare.atomic import write_json_atomic, write_text_atomic

MAX_DISTRIBUTIONS = 20
DRIFT_COLOUR, OK_COLOUR, THRESHOLD_COLOUR = "#d62728", "#2ca02c", "#333333"


def write_json_report(path: Path, result: dict[str, Any]) -> Path:
    write_json_atomic(path, result)
    return path


def _figure_html(figure: Any, div_id: str) -> str:
    import plotly.io as pio

    text: str = pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )
    return text


def _score_chart(columns: list[dict[str, Any]], kind: str) -> Any:
    import plotly.graph_objects as go

    chosen = [column for column in columns if column["score_kind"] == kind and column["score"] is not None]
    if not chosen:
        return None
    names = [column["column"] for column in chosen]
    scores = [
        column["p_value_adjusted"] if kind == "p_value" and column["p_value_adjusted"] is not None else column["score"]
        for column in chosen
    ]
    colours = [DRIFT_COLOUR if column["drifted"] else OK_COLOUR for column in chosen]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=names,
            y=scores,
            marker_color=colours,
            name="score",
            text=[column["method"] for column in chosen],
            hovertemplate="%{x}<br>%{text}: %{y:.4g}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=names,
            y=[column["threshold"] for column in chosen],
            mode="markers",
            name="threshold",
            marker={"symbol": "line-ew-open", "size": 24, "color": THRESHOLD_COLOUR, "line": {"width": 3}},
        )
    )
    title = (
        "p-value (corrected) per column: drift below the threshold"
        if kind == "p_value"
        else "distance per column: drift above the threshold"
    )
    figure.update_layout(
        title=title, height=380, margin={"t": 50, "b": 80}, yaxis_type="log" if kind == "p_value" else "linear"
    )
    return figure


def _distribution_chart(column: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    distribution = column["distribution"]
    if "categories" in distribution:
        labels = distribution["categories"]
    else:
        edges = distribution["edges"]
        labels = (
            [f"< {edges[0]:.3g}"]
            + [f"{edges[i]:.3g}..{edges[i + 1]:.3g}" for i in range(len(edges) - 1)]
            + [f"> {edges[-1]:.3g}"]
        )
    figure = go.Figure()
    figure.add_trace(
        go.Bar(x=labels, y=distribution["reference"], name="reference", marker_color="#1f77b4", opacity=0.7)
    )
    figure.add_trace(go.Bar(x=labels, y=distribution["current"], name="current", marker_color="#ff7f0e", opacity=0.7))
    score = column["score"]
    figure.update_layout(
        title=f"{column['column']}: reference vs current ({column['method']} = {score:.4g}, threshold {column['threshold']:.4g})",
        barmode="group",
        height=320,
        margin={"t": 50, "b": 80},
        yaxis_title="share of rows",
    )
    return figure


def _history_chart(history: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go

    series: dict[str, tuple[list[str], list[float]]] = {}
    for check in reversed(history):
        for column in check.get("columns", []):
            if column.get("score") is None:
                continue
            score = (
                column["p_value_adjusted"]
                if column["score_kind"] == "p_value" and column.get("p_value_adjusted") is not None
                else column["score"]
            )
            times, scores = series.setdefault(f"{column['column']} ({column['method']})", ([], []))
            times.append(f"#{check['id']} {check['created_at'][:19]}")
            scores.append(score)
    if not series:
        return None
    figure = go.Figure()
    for name, (times, scores) in sorted(series.items()):
        figure.add_trace(go.Scatter(x=times, y=scores, mode="lines+markers", name=name))
    figure.update_layout(title="scores over past windows", height=380, margin={"t": 50, "b": 80}, xaxis_title="check")
    return figure


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def render_html(result: dict[str, Any], history: list[dict[str, Any]] | None = None) -> str:
    """The whole report as one HTML string (plotly.js inlined)."""
    from plotly.offline import get_plotlyjs

    drift = result.get("drift_result", result)
    columns = list(drift.get("columns", []))
    if drift.get("prediction"):
        columns.append(drift["prediction"])
    dataset = drift.get("dataset", {})
    charts = []
    for kind in ("distance", "p_value"):
        figure = _score_chart(columns, kind)
        if figure is not None:
            charts.append(_figure_html(figure, f"scores-{kind}"))
    drifted = [
        column for column in columns if column["drifted"] and column.get("distribution") and column["score"] is not None
    ]
    for index, column in enumerate(drifted[:MAX_DISTRIBUTIONS]):
        charts.append(_figure_html(_distribution_chart(column), f"distribution-{index}"))
    figure = _history_chart(history or [])
    if figure is not None:
        charts.append(_figure_html(figure, "history"))
    model = result.get("model") or {}
    verdict = (
        "insufficient data"
        if drift.get("status") == "insufficient_data"
        else ("DRIFT" if result.get("drift", drift.get("drift")) else "no drift")
    )
    summary = [
        ["verdict", verdict],
        ["model", f"{model.get('name')}:{model.get('version')}" if model.get("name") else "-"],
        ["current rows", drift.get("current", {}).get("rows")],
        ["reference rows", drift.get("reference", {}).get("rows")],
        [
            "drifted columns",
            f"{dataset.get('drifted', 0)} of {dataset.get('tested', 0)} ({', '.join(dataset.get('drifted_columns', []))})",
        ],
        ["drift share / threshold", f"{dataset.get('drift_share', 0.0):.3g} / {dataset.get('threshold')}"],
        ["correction", dataset.get("correction")],
    ]
    column_rows = [
        [
            c["column"],
            c["type"],
            c["method"],
            c["chosen_by"],
            c["score_kind"],
            c["score"],
            c["p_value_adjusted"],
            c["threshold"],
            "yes" if c["drifted"] else "no",
            c["status"],
        ]
        for c in columns
    ]
    signals = [[s["column"], s["kind"], s["value"], s["threshold"]] for s in drift.get("signals", [])]
    multivariate = [
        [name, t.get("score"), t.get("threshold"), "yes" if t.get("drifted") else "no", t.get("status")]
        for name, t in (drift.get("multivariate") or {}).items()
    ]
    performance = [
        [
            m["name"],
            "estimate" if m["estimated"] else "measured",
            m["value"],
            m["threshold"],
            "yes" if m["breached"] else "no",
            m.get("rows"),
        ]
        for m in (result.get("performance") or {}).get("metrics", [])
    ]
    sections = [
        "<h2>Summary</h2>",
        _table(summary, ["", ""]),
        "<h2>Scores</h2>",
        *charts[:2],
        "<h2>Columns that moved</h2>",
        *(charts[2 : 2 + len(drifted[:MAX_DISTRIBUTIONS])] or ["<p>none</p>"]),
        "<h2>Every column</h2>",
        _table(
            column_rows,
            [
                "column",
                "type",
                "method",
                "chosen by",
                "score kind",
                "score",
                "corrected p",
                "threshold",
                "drift",
                "status",
            ],
        ),
        "<h2>Signals</h2>",
        _table(signals, ["column", "signal", "value", "threshold"]) if signals else "<p>none</p>",
        "<h2>Multivariate drift</h2>",
        _table(multivariate, ["test", "score", "threshold", "drift", "status"]) if multivariate else "<p>not run</p>",
        "<h2>Performance</h2>",
        _table(performance, ["metric", "kind", "value", "threshold", "breached", "rows"])
        if performance
        else "<p>not monitored or no labels yet</p>",
    ]
    if figure is not None:
        sections += ["<h2>History</h2>", charts[-1]]
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1200px} table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>mlops-declare drift report</title>'
        f'<style>{style}</style><script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>Drift report: {html.escape(verdict)}</h1>"
        f'<script type="application/json" id="result">{html.escape(json.dumps(_small(result), default=str))}</script>'
        + "\n".join(sections)
        + "</body></html>\n"
    )


def _small(result: dict[str, Any]) -> dict[str, Any]:
    return {key: result.get(key) for key in ("model", "window", "drift", "check_id")}


def write_html_report(path: Path, result: dict[str, Any], history: list[dict[str, Any]] | None = None) -> Path:
    write_text_atomic(path, render_html(result, history))
    return path
