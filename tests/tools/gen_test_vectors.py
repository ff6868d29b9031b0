#!/usr/bin/env python3
"""Write schemas/test-vectors/events.json: the shared test vectors of the producer SDKs.

usage: gen_test_vectors.py EVAL_BINARY [--out FILE]
  EVAL_BINARY: build/<dir>/tests/tools/test-vectors-eval (ninja -C build/asan test-vectors-eval)

The events below are written here as raw JSON text (so number spellings like -2.50e1 and escapes
like \\u00e9 reach the file exactly as written). Every expected canonical form, payload hash and
reason code is computed by the C++ validator (test-vectors-eval: EventValidator,
append_canonical_event, payload_hash, to_hex), never by hand; the verdict each vector is meant
to have is written here and checked against it, so a surprise stops the generator instead of
landing in the file. tests/unit/test_vectors_test.cpp proves the committed file again on every
unit test run.
"""
import argparse
import json
import subprocess
import sys

NOW = "2026-11-22T12:00:00Z"
MAX_EVENT_AGE = "35d"
MAX_FUTURE = "5m"

# The reason codes an SDK can produce (schemas/README.md, in rule order). bad_utf8 and
# malformed_json are byte-level rules, tested only in C++.
SDK_REASONS = [
    "too_large", "not_object", "unknown_field", "missing_field", "bad_key", "bad_tenant",
    "bad_subject", "bad_meter", "bad_quantity", "bad_timestamp", "bad_properties",
]

BASE = [
    ("idempotency_key", '"evt-0001"'),
    ("tenant_id", '"acme"'),
    ("meter", '"api_calls"'),
    ("quantity", '"1"'),
    ("timestamp", '"2026-11-22T11:00:00Z"'),
]


def js(text):
    """A Python string as a compact JSON string (non-ASCII kept raw)."""
    return json.dumps(text, ensure_ascii=False)


def ev(*drop, **fields):
    """The base event as raw JSON text: fields replaced or added by keyword (values are raw JSON
    text), fields named in `drop` removed. Added fields go last, in keyword order."""
    out = []
    for name, value in BASE:
        if name in drop:
            continue
        out.append((name, fields.pop(name, value)))
    out.extend(fields.items())
    return "{" + ",".join(f'"{k}":{v}' for k, v in out) + "}"


def props(n, value='"v"'):
    return "{" + ",".join(f'"p{i:02d}":{value}' for i in range(n)) + "}"


VALID = [
    ("minimal", ev()),
    ("fields in another order",
     '{"timestamp":"2026-11-22T11:00:00Z","quantity":"1","meter":"api_calls",'
     '"tenant_id":"acme","idempotency_key":"evt-0001"}'),
    ("whitespace between tokens",
     '{ "idempotency_key" : "evt-0001" ,\t"tenant_id":"acme", "meter":"api_calls", '
     '"quantity" : "1" , "timestamp":"2026-11-22T11:00:00Z" }'),
    ("subject", ev(subject='"user-42"')),
    ("empty subject is present", ev(subject='""')),
    ("null subject is absent", ev(subject="null")),
    ("subject 128 bytes", ev(subject=js("s" * 128))),
    ("subject with escapes and unicode", ev(subject='"caf\\u00e9 \\"x\\" \\/ \\\\ \\u2028"')),
    ("null properties are absent", ev(properties="null")),
    ("empty properties are absent", ev(properties="{}")),
    ("properties sorted by bytes",
     ev(properties='{"zeta":"1","alpha":"2","Beta":"3","_x":"4","9":"5"}')),
    ("properties shorter prefix first", ev(properties='{"abc":"3","a":"1","ab":"2"}')),
    ("properties sorted by UTF-8 bytes, not code units",
     ev(properties='{"\\uffff":"bmp","\\ud83d\\ude00":"astral","z":"ascii","\\u00e9":"latin"}')),
    ("property string escapes",
     ev(properties='{"q":"say \\"hi\\"","path":"a\\/b\\\\c",'
                   '"ctl":"l1\\nl2\\r\\tx\\b\\f\\u0001\\u001f\\u007f"}')),
    ("property unicode raw and escaped",
     ev(properties='{"city":"Z\\u00fcrich","emoji":"\\ud83d\\ude00","raw":"日本語",'
                   '"sep":"a\\u2028b","c1":"\\u0085"}')),
    ("property key with escapes and unicode", ev(properties='{"ключ":"значение","k\\"ey":"1"}')),
    ("property numbers canonicalised",
     ev(properties='{"a":-2.50e1,"b":1E2,"c":-0,"d":0.250,"e":1234567,"f":0,"g":1.5e-6}')),
    ("property numbers kept as written",
     ev(properties='{"big":1000000000001,"fine":0.1234567,"neg":-1000000000001}')),
    ("property booleans", ev(properties='{"t":true,"f":false}')),
    ("16 properties", ev(properties=props(16))),
    ("property key 64 bytes", ev(properties="{" + js("k" * 64) + ':"v"}')),
    ("quantity string", ev(quantity='"1500"')),
    ("quantity trailing fraction zeros", ev(quantity='"1500.000"')),
    ("quantity one micro", ev(quantity='"0.000001"')),
    ("quantity integer", ev(quantity="1500")),
    ("quantity maximum string", ev(quantity='"1000000000000"')),
    ("quantity maximum integer", ev(quantity="1000000000000")),
    ("quantity zero string", ev(quantity='"0"')),
    ("quantity zero integer", ev(quantity="0")),
    ("quantity fraction", ev(quantity='"12.50"')),
    ("quantity zeros past six fraction digits", ev(quantity='"1.0000000"')),
    ("quantity maximum with zero fraction", ev(quantity='"1000000000000.000000"')),
    ("timestamp positive offset and fraction", ev(timestamp='"2026-11-22T15:45:00.5+05:30"')),
    ("timestamp negative offset", ev(timestamp='"2026-11-21T23:15:00-12:00"')),
    ("timestamp lowercase t and z", ev(timestamp='"2026-11-22t10:15:00z"')),
    ("timestamp +00:00", ev(timestamp='"2026-11-22T10:15:00+00:00"')),
    ("timestamp fraction truncated past six digits",
     ev(timestamp='"2026-11-22T10:15:00.1234567Z"')),
    ("timestamp zero fraction", ev(timestamp='"2026-11-22T10:15:00.000Z"')),
    ("timestamp oldest allowed", ev(timestamp='"2026-10-18T12:00:00Z"')),
    ("timestamp oldest allowed via offset", ev(timestamp='"2026-10-18T13:00:00+01:00"')),
    ("timestamp latest allowed", ev(timestamp='"2026-11-22T12:05:00Z"')),
    ("timestamp latest allowed via offset", ev(timestamp='"2026-11-22T06:35:00.000000-05:30"')),
    ("timestamp now", ev(timestamp='"2026-11-22T12:00:00Z"')),
    ("idempotency key 128 bytes", ev(idempotency_key=js("k" * 128))),
    ("idempotency key with escapes and unicode",
     ev(idempotency_key='"k\\u00e9\\/\\"x\\"\\\\ \\u2028"')),
    ("idempotency key UUIDv7", ev(idempotency_key='"019a7b2c-8d3e-7f40-9a1b-2c3d4e5f6071"')),
    ("tenant full alphabet", ev(tenant_id='"Org.Team_1:eu-west-9"')),
    ("tenant 64 chars", ev(tenant_id=js("t" * 64))),
    ("meter full alphabet", ev(meter='"gpu.seconds-a100_x9"')),
    ("meter 64 chars", ev(meter=js("m" * 64))),
    ("everything",
     '{"properties":{"region":"eu-west-1","model":"gpt","tokens":12.50,"cached":false},'
     '"timestamp":"2026-11-22T11:30:15.250+01:00","subject":"user-7","quantity":"1500.5",'
     '"meter":"tokens.in","tenant_id":"acme","idempotency_key":"req-9f8e"}'),
]

INVALID = [
    # too_large comes first: whatever else is wrong.
    ("too_large: long property value", ev(properties='{"blob":' + js("x" * 20000) + "}"),
     "too_large"),
    ("too_large: long subject", ev(subject=js("s" * 17000)), "too_large"),
    ("too_large: long unknown field", ev(padding=js("p" * 17000)), "too_large"),
    ("too_large: long array", "[" + ",".join(["1"] * 9000) + "]", "too_large"),
    # not_object
    ("not_object: array", "[]", "not_object"),
    ("not_object: array of one event", "[" + ev() + "]", "not_object"),
    ("not_object: string", '"x"', "not_object"),
    ("not_object: number", "42", "not_object"),
    ("not_object: null", "null", "not_object"),
    ("not_object: true", "true", "not_object"),
    # unknown_field
    ("unknown_field: extra field", ev(extra="1"), "unknown_field"),
    ("unknown_field: field name case", ev(Tenant_id='"acme"'), "unknown_field"),
    ("unknown_field: null extra field", ev(props="null"), "unknown_field"),
    ("unknown_field before missing_field", ev("tenant_id", tenant='"acme"'), "unknown_field"),
    # missing_field
    ("missing_field: empty object", "{}", "missing_field"),
    ("missing_field: idempotency_key", ev("idempotency_key"), "missing_field"),
    ("missing_field: tenant_id", ev("tenant_id"), "missing_field"),
    ("missing_field: meter", ev("meter"), "missing_field"),
    ("missing_field: quantity", ev("quantity"), "missing_field"),
    ("missing_field: timestamp", ev("timestamp"), "missing_field"),
    ("missing_field before bad_key", ev("timestamp", idempotency_key='""'), "missing_field"),
    # bad_key
    ("bad_key: empty", ev(idempotency_key='""'), "bad_key"),
    ("bad_key: 129 bytes", ev(idempotency_key=js("k" * 129)), "bad_key"),
    ("bad_key: 128 bytes escaped but 129 unescaped",
     ev(idempotency_key='"' + "k" * 127 + '\\u00e9"'), "bad_key"),
    ("bad_key: number", ev(idempotency_key="123"), "bad_key"),
    ("bad_key: null", ev(idempotency_key="null"), "bad_key"),
    ("bad_key: control character", ev(idempotency_key='"k\\u0007"'), "bad_key"),
    ("bad_key: newline", ev(idempotency_key='"k\\n"'), "bad_key"),
    ("bad_key: DEL", ev(idempotency_key='"k\\u007f"'), "bad_key"),
    ("bad_key: C1 control", ev(idempotency_key='"k\\u0085"'), "bad_key"),
    ("bad_key before bad_quantity", ev(idempotency_key='""', quantity='"-1"'), "bad_key"),
    # bad_tenant
    ("bad_tenant: empty", ev(tenant_id='""'), "bad_tenant"),
    ("bad_tenant: 65 chars", ev(tenant_id=js("t" * 65)), "bad_tenant"),
    ("bad_tenant: space", ev(tenant_id='"acme corp"'), "bad_tenant"),
    ("bad_tenant: slash", ev(tenant_id='"acme/eu"'), "bad_tenant"),
    ("bad_tenant: non-ASCII", ev(tenant_id='"acm\\u00e9"'), "bad_tenant"),
    ("bad_tenant: number", ev(tenant_id="42"), "bad_tenant"),
    ("bad_tenant before bad_meter", ev(tenant_id='""', meter='"API"'), "bad_tenant"),
    # bad_subject
    ("bad_subject: 129 bytes", ev(subject=js("s" * 129)), "bad_subject"),
    ("bad_subject: control character", ev(subject='"u\\u0000"'), "bad_subject"),
    ("bad_subject: number", ev(subject="42"), "bad_subject"),
    ("bad_subject: boolean", ev(subject="true"), "bad_subject"),
    # bad_meter
    ("bad_meter: uppercase", ev(meter='"API_calls"'), "bad_meter"),
    ("bad_meter: empty", ev(meter='""'), "bad_meter"),
    ("bad_meter: 65 chars", ev(meter=js("m" * 65)), "bad_meter"),
    ("bad_meter: colon", ev(meter='"api:calls"'), "bad_meter"),
    ("bad_meter: space", ev(meter='"api calls"'), "bad_meter"),
    ("bad_meter: number", ev(meter="1"), "bad_meter"),
    # bad_quantity
    ("bad_quantity: negative string", ev(quantity='"-1"'), "bad_quantity"),
    ("bad_quantity: negative integer", ev(quantity="-1"), "bad_quantity"),
    ("bad_quantity: negative zero", ev(quantity='"-0"'), "bad_quantity"),
    ("bad_quantity: seven fraction digits", ev(quantity='"1.1234567"'), "bad_quantity"),
    ("bad_quantity: exponent out of range", ev(quantity='"1e13"'), "bad_quantity"),
    ("bad_quantity: above 10^12", ev(quantity='"1000000000000.000001"'), "bad_quantity"),
    ("bad_quantity: integer above 10^12", ev(quantity="1000000000001"), "bad_quantity"),
    ("bad_quantity: empty string", ev(quantity='""'), "bad_quantity"),
    ("bad_quantity: plus sign", ev(quantity='"+1"'), "bad_quantity"),
    ("bad_quantity: leading zero", ev(quantity='"01"'), "bad_quantity"),
    ("bad_quantity: leading point", ev(quantity='".5"'), "bad_quantity"),
    ("bad_quantity: trailing point", ev(quantity='"1."'), "bad_quantity"),
    ("bad_quantity: whitespace", ev(quantity='" 1"'), "bad_quantity"),
    ("bad_quantity: hex", ev(quantity='"0x10"'), "bad_quantity"),
    ("bad_quantity: word", ev(quantity='"NaN"'), "bad_quantity"),
    ("bad_quantity: boolean", ev(quantity="true"), "bad_quantity"),
    ("bad_quantity: null", ev(quantity="null"), "bad_quantity"),
    ("bad_quantity before bad_timestamp", ev(quantity='"-1"', timestamp='"x"'), "bad_quantity"),
    # bad_timestamp
    ("bad_timestamp: older than 35 days", ev(timestamp='"2026-10-18T11:59:59Z"'),
     "bad_timestamp"),
    ("bad_timestamp: 1 microsecond too old", ev(timestamp='"2026-10-18T11:59:59.999999Z"'),
     "bad_timestamp"),
    ("bad_timestamp: too old after truncation",
     ev(timestamp='"2026-10-18T11:59:59.9999999Z"'), "bad_timestamp"),
    ("bad_timestamp: too old via offset", ev(timestamp='"2026-10-18T12:59:59+01:00"'),
     "bad_timestamp"),
    ("bad_timestamp: more than 5 minutes ahead", ev(timestamp='"2026-11-22T12:05:01Z"'),
     "bad_timestamp"),
    ("bad_timestamp: 1 microsecond too far ahead",
     ev(timestamp='"2026-11-22T12:05:00.000001Z"'), "bad_timestamp"),
    ("bad_timestamp: too far ahead via offset", ev(timestamp='"2026-11-22T13:05:01+01:00"'),
     "bad_timestamp"),
    ("bad_timestamp: impossible date", ev(timestamp='"2026-02-29T12:00:00Z"'), "bad_timestamp"),
    ("bad_timestamp: hour 24", ev(timestamp='"2026-11-22T24:00:00Z"'), "bad_timestamp"),
    ("bad_timestamp: second 60", ev(timestamp='"2026-11-22T11:59:60Z"'), "bad_timestamp"),
    ("bad_timestamp: space separator", ev(timestamp='"2026-11-22 11:00:00Z"'), "bad_timestamp"),
    ("bad_timestamp: no zone", ev(timestamp='"2026-11-22T11:00:00"'), "bad_timestamp"),
    ("bad_timestamp: offset without colon", ev(timestamp='"2026-11-22T16:30:00+0530"'),
     "bad_timestamp"),
    ("bad_timestamp: no seconds", ev(timestamp='"2026-11-22T11:00Z"'), "bad_timestamp"),
    ("bad_timestamp: number", ev(timestamp="1795345200"), "bad_timestamp"),
    ("bad_timestamp: null", ev(timestamp="null"), "bad_timestamp"),
    ("bad_timestamp before bad_properties", ev(timestamp='"x"', properties="[]"),
     "bad_timestamp"),
    # bad_properties
    ("bad_properties: array", ev(properties='["a"]'), "bad_properties"),
    ("bad_properties: string", ev(properties='"a=b"'), "bad_properties"),
    ("bad_properties: 17 properties", ev(properties=props(17)), "bad_properties"),
    ("bad_properties: nested object value", ev(properties='{"a":{"b":1}}'), "bad_properties"),
    ("bad_properties: array value", ev(properties='{"a":[1]}'), "bad_properties"),
    ("bad_properties: null value", ev(properties='{"a":null}'), "bad_properties"),
    ("bad_properties: empty key", ev(properties='{"":"v"}'), "bad_properties"),
    ("bad_properties: key 65 bytes", ev(properties="{" + js("k" * 65) + ':"v"}'),
     "bad_properties"),
    ("bad_properties: key with control character", ev(properties='{"a\\u0001":"v"}'),
     "bad_properties"),
    ("bad_properties: object over 4096 bytes", ev(properties='{"blob":' + js("x" * 5000) + "}"),
     "bad_properties"),
]


def evaluate(binary, texts):
    for text in texts:
        assert "\n" not in text and "\r" not in text, text[:80]
    proc = subprocess.run([binary, NOW, MAX_EVENT_AGE, MAX_FUTURE],
                          input="".join(t + "\n" for t in texts).encode(),
                          stdout=subprocess.PIPE, check=True)
    lines = proc.stdout.decode().split("\n")
    assert lines[-1] == "" and len(lines) == len(texts) + 1
    return [json.loads(line) for line in lines[:-1]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary")
    parser.add_argument("--out", default="schemas/test-vectors/events.json")
    args = parser.parse_args()

    names = [n for n, _ in VALID] + [n for n, _, _ in INVALID]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        sys.exit(f"duplicate names: {sorted(dupes)}")
    for name, text in VALID:
        json.loads(text)  # valid JSON (the vectors never test malformed_json)
    for name, text, reason in INVALID:
        json.loads(text)
        if reason not in SDK_REASONS:
            sys.exit(f"{name}: {reason} is not an SDK reason")
    missing = set(SDK_REASONS) - {r for _, _, r in INVALID}
    if missing:
        sys.exit(f"no vector for {sorted(missing)}")

    failures = []
    valid_out = []
    for (name, text), verdict in zip(VALID, evaluate(args.binary, [t for _, t in VALID])):
        if "reason" in verdict:
            failures.append(f"valid {name!r}: {verdict['reason']}: {verdict['detail']}")
            continue
        valid_out.append(f'    {{"name": {js(name)}, "event": {text}, '
                         f'"canonical": {js(verdict["canonical"])}, '
                         f'"payload_hash": "{verdict["payload_hash"]}"}}')
    invalid_out = []
    for (name, text, reason), verdict in zip(
            INVALID, evaluate(args.binary, [t for _, t, _ in INVALID])):
        if verdict.get("reason") != reason:
            failures.append(f"invalid {name!r}: expected {reason}, got {verdict}")
            continue
        invalid_out.append(f'    {{"name": {js(name)}, "event": {text}, "reason": "{reason}"}}')
    if failures:
        sys.exit("\n".join(failures))

    text = ("{\n"
            '  "format": 1,\n'
            f'  "now": "{NOW}",\n'
            f'  "max_event_age": "{MAX_EVENT_AGE}",\n'
            f'  "max_future": "{MAX_FUTURE}",\n'
            '  "valid": [\n' + ",\n".join(valid_out) + "\n  ],\n"
            '  "invalid": [\n' + ",\n".join(invalid_out) + "\n  ]\n"
            "}\n")
    parsed = json.loads(text)
    assert len(parsed["valid"]) == len(VALID) and len(parsed["invalid"]) == len(INVALID)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{args.out}: {len(VALID)} valid, {len(INVALID)} invalid", file=sys.stderr)


if __name__ == "__main__":
    main()
