#!/usr/bin/env python3
"""Checks real HTTP answers against schemas/openapi.yaml (tests/e2e/openapi_responses.sh).

  openapi_check.py SPEC check METHOD PATH STATUS CONTENT_TYPE BODY_FILE
      PATH is the spec's path template (/v1/tenants/{tenant}/usage). Fails (exit 1) when the
      operation does not declare STATUS (exactly, as 4XX, or as default), when CONTENT_TYPE is
      not among the response's media types, when a body comes where none is declared, or when a
      JSON body does not validate against the schema: $refs resolved, OpenAPI 3.0 `nullable`
      turned into the JSON Schema null type, `format: date-time` checked (RFC 3339). Stricter
      than JSON Schema: a member of an object the schema lists `properties` for, without saying
      anything of additionalProperties, must be one of them (the spec names every field).
  openapi_check.py SPEC coverage LOG
      LOG lines: "checked METHOD PATH STATUS" and "uncovered METHOD PATH reason…". Fails unless
      every operation of the spec has a checked 2xx answer or is listed as uncovered with a
      reason, and unless every logged operation exists in the spec.

Only python3-yaml and python3-jsonschema (Debian 12: 4.10) are needed.
"""
import json
import re
import sys

import jsonschema
import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def load(spec_path):
    with open(spec_path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def pointer(spec, ref):
    if not ref.startswith("#/"):
        raise SystemExit(f"openapi_check: only local $refs are supported: {ref}")
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def resolve(spec, node, seen=()):
    """node with every $ref replaced by what it points to (siblings kept beside it)."""
    if isinstance(node, list):
        return [resolve(spec, item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise SystemExit(f"openapi_check: recursive $ref {ref} is not supported")
        target = resolve(spec, pointer(spec, ref), seen + (ref,))
        siblings = {k: resolve(spec, v, seen) for k, v in node.items() if k != "$ref"}
        if not siblings:
            return target
        if isinstance(target, dict) and not (set(siblings) - {"description", "summary"}):
            return {**target, **siblings}
        return {"allOf": [target], **siblings}
    return {k: resolve(spec, v, seen) for k, v in node.items()}


def nullable(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema: null is one more allowed value."""
    if isinstance(node, list):
        return [nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: nullable(v) for k, v in node.items()}
    if node.pop("nullable", False) is not True:
        return node
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        node["type"] = types + ([] if "null" in types else ["null"])
        if "enum" in node and None not in node["enum"]:
            node["enum"] = node["enum"] + [None]
        return node
    return {"anyOf": [node, {"type": "null"}]}


def operation(spec, method, path):
    item = spec.get("paths", {}).get(path)
    if item is None or method.lower() not in item:
        raise SystemExit(f"FAIL: {method} {path} is not an operation of the spec")
    return item[method.lower()]


def response_of(spec, op, status):
    responses = op.get("responses", {})
    for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
        if key in responses:
            return key, resolve(spec, responses[key])
    return None, None


def date_time(value):
    return not isinstance(value, str) or RFC3339.match(value) is not None


def undocumented(schema, value, at=""):
    """Members of the answer that no schema it validates against declares (an object schema that
    lists `properties` and says nothing of additionalProperties): the spec must name them all."""
    found = []
    if not isinstance(schema, dict):
        return found
    branches = list(schema.get("allOf", []))
    for key in ("oneOf", "anyOf"):
        branches += [b for b in schema.get(key, [])
                     if jsonschema.Draft202012Validator(b).is_valid(value)]
    if isinstance(value, dict):
        declared = dict(schema.get("properties", {}))
        open_ended = "additionalProperties" in schema or "patternProperties" in schema or not declared
        for branch in branches:
            if isinstance(branch, dict):
                declared.update(branch.get("properties", {}))
                open_ended = open_ended and not branch.get("properties")
        if schema.get("additionalProperties") not in (None, True, False):
            for name, member in value.items():
                if name not in declared:
                    found += undocumented(schema["additionalProperties"], member, f"{at}/{name}")
        for name, member in value.items():
            if name in declared:
                found += undocumented(declared[name], member, f"{at}/{name}")
            elif not open_ended:
                found.append(f"{at}/{name}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, member in enumerate(value):
            found += undocumented(schema["items"], member, f"{at}/{index}")
    for branch in branches:
        if not isinstance(value, dict):
            found += undocumented(branch, value, at)
    return sorted(set(found))


def check(spec, method, path, status, content_type, body_file):
    with open(body_file, "rb") as f:
        raw = f.read()
    where = f"{method} {path} {status}"
    op = operation(spec, method, path)
    key, response = response_of(spec, op, status)
    if response is None:
        return f"{where}: status {status} is not declared (declared: {sorted(op.get('responses', {}))})"
    content = response.get("content") or {}
    media = content_type.split(";")[0].strip().lower()
    if not content:
        if raw.strip():
            return f"{where}: the spec declares no body, the answer has one: {raw[:300]!r}"
        return None
    if media not in content:
        return f"{where}: Content-Type {content_type!r} is not declared ({sorted(content)})"
    schema = nullable(resolve(spec, content[media].get("schema", {})))
    if media == "application/json" or media.endswith("+json"):
        try:
            value = json.loads(raw)
        except ValueError as error:
            return f"{where}: not JSON ({error}): {raw[:300]!r}"
    else:
        value = raw.decode("utf-8", "replace")
    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(date_time)
    validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{where}: the answer does not match the spec (response {key}):"]
        for error in errors[:10]:
            at = "/".join(str(p) for p in error.absolute_path) or "(body)"
            lines.append(f"  at {at}: {error.message[:300]}")
        lines.append(f"  body: {raw[:600].decode('utf-8', 'replace')}")
        return "\n".join(lines)
    extra = undocumented(schema, value)
    if extra:
        return (f"{where}: the answer has members the spec does not declare: {', '.join(extra)}\n"
                f"  body: {raw[:600].decode('utf-8', 'replace')}")
    return None


def coverage(spec, log_path):
    operations = {(m.upper(), p) for p, item in spec.get("paths", {}).items()
                  for m in item if m in METHODS}
    ok, uncovered, problems = set(), {}, []
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if words[0] == "checked" and len(words) == 4:
                op = (words[1].upper(), words[2])
                if op not in operations:
                    problems.append(f"{op[0]} {op[1]} was called but is not in the spec")
                if words[3].startswith("2"):
                    ok.add(op)
            elif words[0] == "uncovered" and len(words) >= 4:
                uncovered[(words[1].upper(), words[2])] = " ".join(words[3:])
            else:
                problems.append(f"bad log line: {line.strip()}")
    for op in sorted(operations):
        if op in ok and op in uncovered:
            problems.append(f"{op[0]} {op[1]} is listed as uncovered but was checked")
        elif op not in ok and op not in uncovered:
            problems.append(f"{op[0]} {op[1]}: no successful answer was checked")
    for op, reason in sorted(uncovered.items()):
        print(f"not covered: {op[0]} {op[1]} — {reason}")
    print(f"covered: {len(ok)} of {len(operations)} operations with a checked 2xx answer")
    return problems


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    spec = load(argv[1])
    if argv[2] == "check" and len(argv) == 8:
        problem = check(spec, argv[3], argv[4], int(argv[5]), argv[6], argv[7])
        if problem:
            print("FAIL: " + problem)
            return 1
        return 0
    if argv[2] == "coverage" and len(argv) == 4:
        problems = coverage(spec, argv[3])
        for problem in problems:
            print("FAIL: " + problem)
        return 1 if problems else 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
