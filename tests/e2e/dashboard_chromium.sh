#!/usr/bin/env bash
# A new user's path to the dashboard: `up --demo` prints a URL; headless Chromium loads it.
# 1. A tenant with fixed usage (set with `account set` + `emit`): the numbers the page shows equal
#    the API's, bars are coloured green / amber / red by percentage, the banner says the limit is
#    reached. 2. A demo tenant: two renderings a few seconds apart show its bars moving.
# 3. The admin view lists a verify job started over the API (completed, 100 %, no drift).
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
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
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

render "${URL}#key=fixed-key" "$WORK/fixed.html" "$OUT_DIR/dashboard-fixed.png"
python3 - "$WORK/fixed.html" "$usage" <<'EOF' || fail "the page does not show what the API says"
import html.parser, json, sys
dom = open(sys.argv[1]).read()
api = json.loads(sys.argv[2])

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.values, self.fills, self.banner, self._field, self._banner = {}, {}, "", None, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "")
        if "data-meter" in a and tag == "b":
            self._field = (a["data-meter"], cls)
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
    shown_used = page.values.get((name, "used"))
    shown_limit = page.values.get((name, "limit"))
    if shown_used != meter["used"]:
        errors.append(f"{name}: page shows used {shown_used}, API {meter['used']}")
    if shown_limit != meter["limit"]:
        errors.append(f"{name}: page shows limit {shown_limit}, API {meter['limit']}")
    pct = meter["percentage"]
    want = "red" if pct >= 100 else "amber" if pct >= 80 else "green"
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

# A demo tenant's bars move: its used figures differ between two renderings 3 s apart.
render "${URL}#key=demo-free-key" "$WORK/demo1.html" "$WORK/demo1.png"
sleep 3
render "${URL}#key=demo-free-key" "$WORK/demo2.html" "$OUT_DIR/dashboard-demo.png"
grep -o 'class="used" data-meter="[a-z_]*">[^<]*' "$WORK/demo1.html" >"$WORK/used1"
grep -o 'class="used" data-meter="[a-z_]*">[^<]*' "$WORK/demo2.html" >"$WORK/used2"
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
