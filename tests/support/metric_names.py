#!/usr/bin/env python3
"""Checks that every metric name the monitoring files use is one /metrics exports.

Usage: metric_names.py METRICS_TEXT RULES_YML DASHBOARD_JSON

METRICS_TEXT is a scrape of /metrics (Prometheus text format). The exported names are the
families of its `# TYPE` lines and the names of its samples; a histogram's (or summary's)
`_bucket`, `_sum` and `_count` series map to its family. The used names are the metric
names in every `expr` of the rules file and in every target `expr` and templating query of
the dashboard. Prints each used name with where it is used; exit 1 naming the unknown ones.
"""
import json
import re
import sys

import yaml

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "atan2", "inf", "nan",
}
SUFFIXES = ("_bucket", "_sum", "_count")


def exported_names(text):
    """Families (from # TYPE) with their types, and sample names."""
    families = {}
    samples = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            families[parts[2]] = parts[3]
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return families, samples


def names_in(expr):
    """Metric names in a PromQL expression (Grafana variables allowed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", expr)  # string literals
    text = re.sub(r"\$\{[^}]*\}|\$\w+", "0", text)  # Grafana variables: $__rate_interval, ${x}
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        name = match.group(0)
        following = text[match.end():].lstrip()
        if following.startswith("("):  # a function or an aggregation
            continue
        if name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def rule_exprs(path):
    with open(path, encoding="utf-8") as file:
        document = yaml.safe_load(file)
    for group in document["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule.get("record"), rule["expr"]


def dashboard_exprs(path):
    with open(path, encoding="utf-8") as file:
        dashboard = json.load(file)

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield "panel '" + panel.get("title", "?") + "'", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        # label_values(metric, label) and query_result(expr): the metric or expression inside.
        inner = re.match(r"\s*(?:label_values|query_result)\((.*)\)\s*$", query or "")
        if inner:
            query = re.sub(r",\s*\w+\s*$", "", inner.group(1))
        yield "variable '" + variable["name"] + "'", query


def main():
    metrics_path, rules_path, dashboard_path = sys.argv[1:4]
    with open(metrics_path, encoding="utf-8") as file:
        families, samples = exported_names(file.read())

    def exported(name):
        if name in families or name in samples:
            return True
        for suffix in SUFFIXES:
            base = name[: -len(suffix)]
            if name.endswith(suffix) and families.get(base) in ("histogram", "summary"):
                return True
        return False

    used = {}
    for where, expr in list(rule_exprs(rules_path)) + list(dashboard_exprs(dashboard_path)):
        names = names_in(expr)
        if not names:
            print(f"no metric name in {where}: {expr}")
            return 1
        for name in names:
            used.setdefault(name, []).append(where)
    unknown = sorted(name for name in used if not exported(name))
    for name in sorted(used):
        print(("ok      " if name not in unknown else "UNKNOWN ") + name + "  (" +
              ", ".join(sorted(set(used[name]))[:3]) + ")")
    if unknown:
        print(f"{len(unknown)} name(s) not exported by /metrics: {', '.join(unknown)}")
        return 1
    print(f"{len(used)} metric names used, all exported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
