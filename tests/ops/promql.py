"""Metric names referenced by PromQL expressions (dashboards, alert rules).

Not a PromQL parser: it removes what cannot hold a metric name (strings,
label matchers, ranges, grouping label lists, Grafana variables) and keeps
the identifiers that are not functions, aggregations or keywords. That is
exact for the expressions deploy/ uses, and errs towards reporting a name.
"""

import re

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
             "bool", "and", "or", "unless", "offset", "inf", "nan", "atan2"}

# Prometheus' own series, not exported by any target.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
             "scrape_samples_post_metric_relabeling", "scrape_series_added"}

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr):
    """The metric names `expr` reads, as a set."""
    e = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    e = re.sub(r"'(?:\\.|[^'\\])*'", "''", e)
    e = re.sub(r"`[^`]*`", "``", e)
    # Grafana variables: $job, ${datasource}, $__rate_interval.
    e = re.sub(r"\$\{?\w+\}?", "", e)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", " ", e)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = match.group(0)
        before = e[match.start() - 1] if match.start() > 0 else " "
        if before.isdigit() or before == ".":
            continue  # 1e6, 5m
        if e[match.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def template_query_metric_names(query):
    """Metric names of a Grafana Prometheus variable query."""
    match = re.match(r"\s*label_values\((.*),\s*\w+\s*\)\s*$", query)
    if match:
        return metric_names(match.group(1))
    if re.match(r"\s*label_values\(\s*\w+\s*\)\s*$", query):
        return set()
    match = re.match(r"\s*query_result\((.*)\)\s*$", query)
    return metric_names(match.group(1) if match else query)


def dashboard_metric_names(dashboard):
    """Names read by every panel target and variable query of a dashboard."""
    names = set()

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                names |= metric_names(target["expr"])
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        names |= template_query_metric_names(query or "")
    return names


def rules_metric_names(rules):
    """Names read by every rule of a parsed Prometheus rules file."""
    names = set()
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            names |= metric_names(rule["expr"])
    return names


def unexported(names, families, series_names):
    """The names not exported: `families` maps family name -> type (the
    # TYPE lines), `series_names` holds the sample names. A histogram's
    _bucket, _sum and _count count as its base name."""
    missing = set()
    for name in names:
        if name in SYNTHETIC or name in families or name in series_names:
            continue
        base = next((name[:-len(s)] for s in HISTOGRAM_SUFFIXES
                     if name.endswith(s)), None)
        if base is not None and families.get(base) == "histogram":
            continue
        missing.add(name)
    return missing
