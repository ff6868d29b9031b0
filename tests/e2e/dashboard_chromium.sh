#!/usr/bin/env bash
# A new user's path to the dashboard: `up --demo` prints a URL; headless Chromium loads it.
# 1. A tenant with fixed usage (set with `account set` + `emit`): the numbers the page shows equal
#    the API's, bars are coloured green / amber / red by the meter's thresholds, the banner says
#    the limit is reached. 2. A demo tenant: two renderings a few seconds apart show its bars moving.
# 3. The admin view lists a verify job started over the API (completed, 100 %, no drift).
# 4. Alerts: the fixed tenant adds an alert rule of its own over the API (an amount threshold)
#    before its usage, crosses it and the plan's 80/95/100 % thresholds; the alerts panel (tenant
#    and admin views) lists the same alerts as GET /v1/tenants/fixed/alerts, in its order; a
#    tenant without alerts sees "No alerts raised".
# Screenshots are kept beside the binary (dashboard-fixed.png, dashboard-demo.png,
# dashboard-admin.png).
set -uo pipefail
BIN=$1
OUT_DIR=$(cd "$(dirname "$BIN")/.." && pwd)
WORK=$(mktemp -d)
UP_PID=
cleanup() {
    [[ -n "$UP_PID" ]] && kill -9 "$UP_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "--- up stdout"; cat "$WORK/up.out"; echo "--- up stderr"; tail -30 "$WORK/up.err"
    exit 1
}
CHROMIUM=$(command -v chromium || command -v chromium-browser) || fail "chromium is not installed"
render() {  # url, dom file, screenshot file
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --user-data-dir="$WORK/profile-$RANDOM" --window-size=1100,1000 \
        --virtual-time-budget=6000 --dump-dom "$1" >"$2" 2>>"$WORK/chromium.err" ||
        fail "chromium --dump-dom failed: $(tail -5 "$WORK/chromium.err")"
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --user-data-dir="$WORK/profile-$RANDOM" --window-size=1100,1000 \
        --virtual-time-budget=6000 --screenshot="$3" "$1" >/dev/null 2>>"$WORK/chromium.err" ||
        fail "chromium --screenshot failed: $(tail -5 "$WORK/chromium.err")"
}

"$BIN" up --demo --data-dir "$WORK/data" --listen 127.0.0.1:0 --admin-key admin-e2e \
    >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
for _ in $(seq 1 300); do
    grep -q "Stop with Ctrl-C" "$WORK/up.out" 2>/dev/null && break
    sleep 0.1
done
URL=$(sed -n 's/^  dashboard: *\(http:[^#]*\)#key=.*/\1/p' "$WORK/up.out")
[[ "$URL" == http://127.0.0.1:* ]] || fail "up printed no dashboard URL"
grep -q "demo-free (plan free, key demo-free-key)" "$WORK/up.out" || fail "no demo tenants printed"

# A tenant with fixed usage under the free plan of the built-in plans (api_calls 1000,
# tokens 100000, audio_minutes 60): 850 api_calls (85 %, amber), 105000 tokens (105 %, red),
# 6 audio minutes (10 %, green).
"$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant fixed --plan free \
    --api-key fixed-key >/dev/null 2>>"$WORK/cli.err" || fail "account set: $(cat "$WORK/cli.err")"
wait_for_account() {  # tenant: until the projection holds its account (the admin's tenant list)
    for _ in $(seq 1 300); do
        curl -s -H "Authorization: Bearer admin-e2e" "${URL}v1/admin/tenants" |
            grep -q "\"tenant_id\":\"$1\"" && return 0
        sleep 0.1
    done
    fail "the projection never held the account of $1"
}
wait_for_account fixed
# An alert rule of the tenant's own, before its usage: 6 audio minutes cross its amount 1.
rule=$(curl -s -w '\n%{http_code}' -X POST -H "Authorization: Bearer fixed-key" \
    -H "Content-Type: application/json" \
    -d '{"id":"audio-any","meter":"audio_minutes","period":"month","threshold":{"amount":"1"}}' \
    "${URL}v1/tenants/fixed/alert-rules")
[[ "$rule" == *$'\n201' && "$rule" == *'"effective_at":"'* ]] || fail "POST alert-rules: $rule"
# The events happen 1 ms after the rule takes effect (the version in force at an event's time
# places it), in whole microseconds as the API writes times.
NOW=$(python3 -c '
import datetime, json, sys
at = json.loads(sys.argv[1].rsplit("\n", 1)[0])["effective_at"]
t = datetime.datetime.fromisoformat(at.replace("Z", "+00:00")) + datetime.timedelta(milliseconds=1)
print(t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))' "$rule") || fail "no effective_at: $rule"
{
    echo "{\"idempotency_key\":\"a\",\"tenant_id\":\"fixed\",\"meter\":\"api_calls\",\"quantity\":850,\"timestamp\":\"$NOW\"}"
    echo "{\"idempotency_key\":\"t\",\"tenant_id\":\"fixed\",\"meter\":\"tokens\",\"quantity\":105000,\"timestamp\":\"$NOW\",\"properties\":{\"model\":\"gpt-x\"}}"
    echo "{\"idempotency_key\":\"m\",\"tenant_id\":\"fixed\",\"meter\":\"audio_minutes\",\"quantity\":\"6\",\"timestamp\":\"$NOW\"}"
} >"$WORK/fixed.jsonl"
"$BIN" emit --bootstrap-file "$WORK/data/bootstrap" --file "$WORK/fixed.jsonl" >/dev/null \
    2>>"$WORK/cli.err" || fail "emit: $(cat "$WORK/cli.err")"
API="${URL}v1/tenants/fixed/usage"
usage=
for _ in $(seq 1 300); do
    usage=$(curl -s -H "Authorization: Bearer fixed-key" "$API")
    [[ "$usage" == *'"used":"105000"'* && "$usage" == *'"used":"850"'* && "$usage" == *'"used":"6"'* ]] && break
    sleep 0.1
done
[[ "$usage" == *'"used":"105000"'* ]] || fail "the API never showed the fixed usage: $usage"

# Its alerts: api_calls 85 % crosses 80 %; tokens 105 % crosses 80, 95 and 100 %; audio_minutes
# 6 crosses the rule's amount 1. Wait until all five are raised and delivery decided each (no
# webhook is set, so no_webhook) so that the page cannot see another state.
ALERTS_API="${URL}v1/tenants/fixed/alerts"
alerts=
for _ in $(seq 1 300); do
    alerts=$(curl -s -H "Authorization: Bearer fixed-key" "$ALERTS_API")
    python3 -c '
import json, sys
a = json.loads(sys.argv[1])["alerts"]
sys.exit(0 if len(a) == 5 and all(x["delivery"]["status"] != "pending" for x in a) else 1)' \
        "$alerts" 2>/dev/null && break
    sleep 0.1
done
python3 - "$alerts" <<'EOF' || fail "the alerts API does not say what the usage crossed: $alerts"
import json, sys
answer = json.loads(sys.argv[1])
alerts = answer["alerts"]
got = sorted((a["meter"], *next(iter(a["threshold"].items())), a["rule"]) for a in alerts)
want = sorted([("api_calls", "percent", "0.8", "plan"), ("tokens", "percent", "0.8", "plan"),
               ("tokens", "percent", "0.95", "plan"), ("tokens", "percent", "1", "plan"),
               ("audio_minutes", "amount", "1", "audio-any")])
assert got == want, f"thresholds {got}, want {want}"
assert answer["tenant_id"] == "fixed" and answer["next_cursor"] is None, answer
for a in alerts:
    assert a["id"].startswith("al_") and len(a["id"]) == 35, a["id"]
    assert a["delivery"]["status"] == "no_webhook", a
    assert a["limit"] == {"api_calls": "1000", "tokens": "100000", "audio_minutes": "60"}[a["meter"]], a
keys = [(a["crossed_at"], a["entry"]["partition"], a["entry"]["sequence"]) for a in alerts]
assert [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True), f"not newest first: {keys}"
print("alerts API:", ", ".join(f'{a["id"]} {a["meter"]} {a["threshold"]} {a["delivery"]["status"]}' for a in alerts))
EOF

render "${URL}#key=fixed-key" "$WORK/fixed.html" "$OUT_DIR/dashboard-fixed.png"
python3 - "$WORK/fixed.html" "$usage" <<'EOF' || fail "the page does not show what the API says"
import html.parser, json, sys
dom = open(sys.argv[1]).read()
api = json.loads(sys.argv[2])

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.values, self.raw, self.fills, self.banner, self._field, self._banner = {}, {}, {}, "", None, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "")
        if "data-meter" in a and tag == "b":
            self._field = (a["data-meter"], cls)
            self.raw[self._field] = a.get("data-value")  # the API's figure; the text is formatted
        if "data-meter" in a and cls.startswith("fill"):
            self.fills[a["data-meter"]] = (cls.split()[1], a.get("style", ""))
        if a.get("id") == "banner" and "hidden" not in a:
            self._banner = True
    def handle_endtag(self, tag):
        self._field = None
        if tag == "div":
            self._banner = False
    def handle_data(self, data):
        if self._field:
            self.values[self._field] = data.strip()
        if self._banner:
            self.banner += data

page = Page()
page.feed(dom)
assert 'data-loaded="true"' in dom, "the page never loaded its data"
errors = []
for meter in api["meters"]:
    name = meter["meter"]
    shown_used = page.raw.get((name, "used"))
    shown_limit = page.raw.get((name, "limit"))
    if shown_used != meter["used"]:
        errors.append(f"{name}: page shows used {shown_used}, API {meter['used']}")
    if shown_limit != meter["limit"]:
        errors.append(f"{name}: page shows limit {shown_limit}, API {meter['limit']}")
    # Shown with thousands separators (Chromium's default locale here is en-US).
    for field in ("used", "limit"):
        want_text = f"{int(meter[field]):,}" if meter[field] is not None else "\u2014"
        if page.values.get((name, field)) != want_text:
            errors.append(f"{name}: {field} reads {page.values.get((name, field))!r}, want {want_text!r}")
    shown_remaining = page.values.get((name, "remaining"))
    want_remaining = "\u2014" if meter["remaining"] is None else f"{int(meter['remaining']):,}"
    if shown_remaining != want_remaining:
        errors.append(f"{name}: page shows remaining {shown_remaining}, want {want_remaining}")
    pct = meter["percentage"]
    # Amber from the meter's first threshold (the plan's, here 0.80), red at the limit.
    first = min(float(meter["thresholds"][0]), 1.0) * 100 if meter["thresholds"] else 100
    want = "red" if pct >= 100 else "amber" if pct >= first else "green"
    colour, style = page.fills.get(name, ("?", ""))
    if colour != want:
        errors.append(f"{name}: bar is {colour} at {pct} %, want {want}")
    print(f"{name}: used {shown_used} of {shown_limit}, {pct} %, bar {colour} ({style})")
if "Limit reached" not in page.banner:
    errors.append(f"banner: {page.banner!r}")
print("banner:", page.banner.strip())
if errors:
    print("\n".join(errors))
    sys.exit(1)
EOF
check_alerts_panel() {  # dom file, what: the alerts panel shows what GET .../alerts says
    python3 - "$1" "$alerts" <<'EOF' || fail "$2: the alerts panel does not show what the API says"
import html.parser, json, sys
dom = open(sys.argv[1]).read()
api = json.loads(sys.argv[2])["alerts"]

class Panel(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.section, self.empty_shown = [], None, None, None, False
        self.depth = 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "alerts":
            self.section = a
        if a.get("id") == "alerts-empty" and "hidden" not in a:
            self.empty_shown = True
        if tag == "tr" and "data-alert" in a:
            self.row = {"id": a["data-alert"], "text": {}}
            self.rows.append(self.row)
        if self.row is not None and tag == "td":
            self.cell = a.get("class", "").split()[0]
            self.row["text"][self.cell] = ""
            if self.cell == "alert-threshold":
                self.row["threshold"] = (a.get("data-kind"), a.get("data-value"))
    def handle_endtag(self, tag):
        if tag == "tr":
            self.row = None
        if tag == "td":
            self.cell = None
    def handle_data(self, data):
        if self.row is not None and self.cell:
            self.row["text"][self.cell] += data

page = Panel()
page.feed(dom)
assert 'data-loaded="true"' in dom, "the page never loaded its data"
assert page.section is not None and "hidden" not in page.section, f"no alerts panel: {page.section}"
assert not page.empty_shown, "the panel says there are no alerts"
shown = [r["id"] for r in page.rows]
assert shown == [a["id"] for a in api], f"page rows {shown}, API {[a['id'] for a in api]}"
for row, alert in zip(page.rows, api):
    kind, value = next(iter(alert["threshold"].items()))
    text = {k: " ".join(v.split()) for k, v in row["text"].items()}
    assert row["threshold"] == (kind, value), (row["threshold"], alert["threshold"])
    want = {"0.8": "80 %", "0.95": "95 %", "1": "100 %"}[value] if kind == "percent" else value
    assert text["alert-threshold"].startswith(want), (text["alert-threshold"], want)
    assert text["alert-meter"] == alert["meter"], (text, alert)
    used = f'{alert["used"]} / {alert["limit"] if alert["limit"] is not None else "no limit"}'
    assert text["alert-used"] == used, (text["alert-used"], used)
    assert text["alert-delivery"].startswith(alert["delivery"]["status"]), (text, alert["delivery"])
    attempts = alert["delivery"]["attempts"]
    assert f'{attempts} attempt{"" if attempts == 1 else "s"}' in text["alert-delivery"], text
    assert text["alert-period"].startswith(alert["period_start"][:10] + " – " + alert["period_end"][:10]), text
    assert text["alert-time"].startswith(alert["crossed_at"][:10] + " " + alert["crossed_at"][11:19]), text
    print("alert row:", row["id"], " | ".join(text[k] for k in ("alert-time", "alert-meter", "alert-threshold", "alert-period", "alert-used", "alert-delivery")))
EOF
}
check_alerts_panel "$WORK/fixed.html" "tenant view"

# A demo tenant's bars move: its used figures differ between two renderings 3 s apart.
render "${URL}#key=demo-free-key" "$WORK/demo1.html" "$WORK/demo1.png"
sleep 3
render "${URL}#key=demo-free-key" "$WORK/demo2.html" "$OUT_DIR/dashboard-demo.png"
grep -o 'class="used" data-meter="[a-z_]*" data-value="[^"]*"' "$WORK/demo1.html" >"$WORK/used1"
grep -o 'class="used" data-meter="[a-z_]*" data-value="[^"]*"' "$WORK/demo2.html" >"$WORK/used2"
[[ -s "$WORK/used1" ]] || fail "the demo tenant's page shows no meters"
cmp -s "$WORK/used1" "$WORK/used2" && fail "the demo tenant's bars did not move: $(cat "$WORK/used2")"
echo "demo before: $(tr '\n' ' ' <"$WORK/used1")"
echo "demo after:  $(tr '\n' ' ' <"$WORK/used2")"

# The admin view lists jobs: a verify started over the API shows completed, 100 %, no drift.
JOB=$(curl -s -X POST -H "Authorization: Bearer admin-e2e" -d '{"kind":"verify"}' "${URL}v1/admin/jobs")
JOB_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$JOB") || fail "no job: $JOB"
job=
for _ in $(seq 1 600); do
    job=$(curl -s -H "Authorization: Bearer admin-e2e" "${URL}v1/admin/jobs/$JOB_ID")
    [[ "$job" == *'"status":"completed"'* || "$job" == *'"status":"failed"'* ]] && break
    sleep 0.1
done
[[ "$job" == *'"status":"completed"'* && "$job" == *'"differences":0,'* ]] || fail "verify job: $job"
render "${URL}#key=admin-e2e&tenant=fixed" "$WORK/admin.html" "$OUT_DIR/dashboard-admin.png"
python3 - "$WORK/admin.html" "$JOB_ID" <<'EOF' || fail "the admin view does not show the job"
import re, sys
dom, job = open(sys.argv[1]).read(), sys.argv[2]
row = re.search(r'<tr data-job="' + re.escape(job) + r'">(.*?)</tr>', dom, re.S)
assert row, "no row for the job"
text = re.sub(r"<[^>]+>", " ", row.group(1))
print("job row:", " ".join(text.split()))
assert "verify" in text and "completed" in text and "100 %" in text and "no drift" in text, text
assert 'id="start-verify"' in dom
EOF
check_alerts_panel "$WORK/admin.html" "admin view"

# A tenant that crossed nothing: the panel says so.
"$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant quiet --plan free \
    --api-key quiet-key >/dev/null 2>>"$WORK/cli.err" || fail "account set: $(cat "$WORK/cli.err")"
wait_for_account quiet
render "${URL}#key=quiet-key" "$WORK/quiet.html" "$WORK/quiet.png"
python3 - "$WORK/quiet.html" <<'EOF' || fail "the quiet tenant's alerts panel is not empty"
import re, sys
dom = open(sys.argv[1]).read()
assert 'data-loaded="true"' in dom, "the page never loaded its data"
assert re.search(r'<section id="alerts"[^>]*data-tenant="quiet"', dom), "no alerts panel for quiet"
assert "<tr data-alert=\"al_" not in dom, "alert rows shown"
assert re.search(r'<p class="empty" id="alerts-empty">No alerts raised</p>', dom), "no empty state"
print("quiet tenant: No alerts raised")
EOF

# /metrics of the whole system (ledger + projection) passes promtool.
curl -s "${URL}metrics" >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" || fail "promtool check metrics failed"

kill -INT "$UP_PID"
for _ in $(seq 1 300); do
    kill -0 "$UP_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$UP_PID" 2>/dev/null && fail "up did not stop on SIGINT"
wait "$UP_PID"
status=$?
UP_PID=
[[ $status -eq 0 ]] || fail "up exited $status"
echo "ok: screenshots in $OUT_DIR/dashboard-fixed.png, dashboard-demo.png and dashboard-admin.png"
