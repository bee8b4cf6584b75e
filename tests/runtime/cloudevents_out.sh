#!/bin/bash
# CloudEvents in, CloudEvents out: events sent in every content mode
# (structured, binary, batch; JSON, text, XML and binary data; extensions
# of each JSON type, subject, dataschema, a time with an offset, no time, no
# data) reach a
# validating CloudEvents receiver through the webhook in each of its modes
# (structured, binary, batch) attribute for attribute, type for type (an
# Integer or Boolean extension stays one in structured and batch mode and
# is its text in a ce-* header) and byte for byte, signed; the log plugin's
# line agrees.  Extension values the JSON format has no type for are
# refused with the rule.  Structured mode with one worker
# keeps one connection open for all deliveries.
set -eu
. "$(dirname "$0")/lib.sh"
[ -f "$ES_BUNDLED_PLUGINS/webhook/.libs/webhook.so" ] || { echo "webhook plugin not built: skipped"; exit 77; }
RECEIVER_PID=
stop_receiver() {
	if [ -n "$RECEIVER_PID" ]; then kill "$RECEIVER_PID" 2>/dev/null || true; wait "$RECEIVER_PID" 2>/dev/null || true; RECEIVER_PID=; fi
}
trap 'stop_receiver; cleanup' EXIT
export ES_TEST_CE_SECRET=ce-signing-key
start_receiver() {
	stop_receiver
	rm -f "$TMP/received.jsonl" "$TMP/receiver.port"
	SECRET=$ES_TEST_CE_SECRET python3 "$ES_TOP_SRCDIR/tests/runtime/ce_receiver.py" "$TMP/received.jsonl" "$TMP/receiver.port" &
	RECEIVER_PID=$!
	wait_until "the receiver is listening" 10 test -s "$TMP/receiver.port"
	RECEIVER_PORT=$(cat "$TMP/receiver.port")
}

stage_plugin log
stage_plugin webhook
head -c 300 /dev/urandom > "$TMP/random.bin"
printf '\0\r\n\377' >> "$TMP/random.bin"

post() { # CURL-ARGS...: POST to the trigger endpoint, expect 202 or 207
	local status
	status=$(curl -s -o "$TMP/answer" -w '%{http_code}' -X POST "$@" "http://127.0.0.1:$PORT/api/events/trigger")
	case $status in 202 | 207) ;; *) fail "trigger answered $status: $(cat "$TMP/answer")" ;; esac
}

send_all() {
	local ce=application/cloudevents+json
	post -H "Content-Type: $ce" --data-binary '{"specversion":"1.0","id":"s-json","source":"/shop","type":"order.created",
		"time":"2024-05-01T12:00:00.5+02:00","subject":"order-7","dataschema":"https://schemas.example/order",
		"datacontenttype":"application/json","tenant":"acme","priority":5,"urgent":true,
		"data":{"big":9007199254740993,"x":1.50}}'
	post -H "Content-Type: $ce" --data-binary '{"specversion":"1.0","id":"s-text","source":"/notes","type":"note.added",
		"datacontenttype":"text/plain; charset=utf-8","data":"hello\nworld \u00fc"}'
	post -H "Content-Type: $ce" --data-binary '{"specversion":"1.0","id":"s-xml","source":"/orders","type":"order.xml",
		"datacontenttype":"application/xml","data":"<order id=\"7\">\u00e9</order>"}'
	post -H "Content-Type: $ce" --data-binary '{"specversion":"1.0","id":"s-b64","source":"/bin","type":"blob.put",
		"datacontenttype":"application/octet-stream","data_base64":"AP8QgA=="}'
	post -H 'ce-specversion: 1.0' -H 'ce-id: b-xml' -H 'ce-source: /billing' -H 'ce-type: invoice.xml' \
		-H 'ce-time: 2024-01-01T00:00:00Z' -H 'ce-region: eu%20west%2F%C3%BC' -H 'ce-count: 42' -H 'Content-Type: text/xml' \
		--data-binary '<invoice total="10"/>'
	post -H 'ce-specversion: 1.0' -H 'ce-id: b-bin' -H 'ce-source: /blobs' -H 'ce-type: blob.raw' \
		-H 'Content-Type: application/octet-stream' --data-binary "@$TMP/random.bin"
	post -H 'Content-Type: application/cloudevents-batch+json' --data-binary '[
		{"specversion":"1.0","id":"batch-1","source":"/b","type":"x.one","myint":-2147483648,"myflag":false,"data":{"n":1}},
		{"specversion":"1.0","id":"batch-2","source":"/b","type":"x.two","datacontenttype":"text/plain","data":"two"}]'
	post -H 'Content-Type: application/json' --data-binary \
		'{"name":"plain.event","id":"p-1","source":"app","attributes":{"tenant":"acme","n":-7,"ok":true},"data":{"n":1}}'
	post -H "Content-Type: $ce" --data-binary '{"specversion":"1.0","id":"s-nodata","source":"/e","type":"empty.event"}'
}
IDS="s-json s-text s-xml s-b64 b-xml b-bin batch-1 batch-2 p-1 s-nodata"
received_all() { [ "$(wc -l < "$TMP/received.jsonl" 2>/dev/null || echo 0)" -ge 10 ]; }

# check MODE: every event arrived once, valid, and as it was sent
check() {
	python3 - "$1" "$TMP/received.jsonl" "$TMP/events.log" "$TMP/random.bin" <<'PY' || fail "mode $1: see above"
import base64, datetime, json, sys
mode, received, logged, random_file = sys.argv[1:]
b64 = lambda b: base64.b64encode(b).decode()
def ce(id, source, type, **extra):
    a = {"specversion": "1.0", "id": id, "source": source, "type": type}
    a.update(extra)
    return a
# id -> (attributes, JSON data or None, data bytes or None)
expected = {
    "s-json": (ce("s-json", "/shop", "order.created", time="2024-05-01T12:00:00.5+02:00", subject="order-7",
                  dataschema="https://schemas.example/order", datacontenttype="application/json", tenant="acme",
                  priority=5, urgent=True), {"big": 9007199254740993, "x": 1.5}, None),
    "s-text": (ce("s-text", "/notes", "note.added", datacontenttype="text/plain; charset=utf-8"), None,
               "hello\nworld \u00fc".encode()),
    "s-xml": (ce("s-xml", "/orders", "order.xml", datacontenttype="application/xml"), None,
              '<order id="7">\u00e9</order>'.encode()),
    "s-b64": (ce("s-b64", "/bin", "blob.put", datacontenttype="application/octet-stream"), None, b"\x00\xff\x10\x80"),
    "b-xml": (ce("b-xml", "/billing", "invoice.xml", time="2024-01-01T00:00:00Z", region="eu west/\u00fc",
                 count="42", datacontenttype="text/xml"), None, b'<invoice total="10"/>'),
    "b-bin": (ce("b-bin", "/blobs", "blob.raw", datacontenttype="application/octet-stream"), None,
              open(random_file, "rb").read()),
    "batch-1": (ce("batch-1", "/b", "x.one", myint=-2147483648, myflag=False), {"n": 1}, None),
    "batch-2": (ce("batch-2", "/b", "x.two", datacontenttype="text/plain"), None, b"two"),
    "p-1": (ce("p-1", "app", "plain.event", tenant="acme", n=-7, ok=True), {"n": 1}, None),
    "s-nodata": (ce("s-nodata", "/e", "empty.event"), None, None),
}
# type for type: 5 is not "5", True is not 1
same = lambda a, b: json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
# a ce-* header is text: an Integer or Boolean goes as its canonical text
as_text = lambda v: ("true" if v else "false") if isinstance(v, bool) else str(v)
problems = []
records = [json.loads(l) for l in open(received)]
for r in records:
    if "error" in r:
        problems.append("the receiver refused a request: " + r["error"])
by_id = {}
for r in records:
    if "attributes" in r:
        by_id.setdefault(r["attributes"]["id"], []).append(r)
for id, (attrs, data, raw) in expected.items():
    got = by_id.get(id, [])
    if len(got) != 1:
        problems.append("%s arrived %d times" % (id, len(got)))
        continue
    r = got[0]
    if mode == "binary" and data is not None and "datacontenttype" not in attrs:
        # the body needs a Content-Type: JSON's, which an absent
        # datacontenttype means
        attrs = dict(attrs, datacontenttype="application/json")
    if mode == "binary":
        attrs = {k: as_text(v) for k, v in attrs.items()}
    want_mode = {"structured": "structured", "binary": "binary", "batch": "batch"}[mode]
    if r["mode"] != want_mode:
        problems.append("%s came in %s mode, not %s" % (id, r["mode"], want_mode))
    if not same(r["attributes"], attrs):
        problems.append("%s attributes\n  got  %s\n  want %s" % (id, r["attributes"], attrs))
    if data is not None and r.get("data") != data:
        problems.append("%s data %r, want %r" % (id, r.get("data"), data))
    if raw is not None and r.get("data_bytes_b64") != b64(raw):
        problems.append("%s bytes %r, want %r" % (id, r.get("data_bytes_b64"), b64(raw)))
    if data is None and raw is None and ("data" in r or "data_bytes_b64" in r):
        problems.append("%s has data it was not sent: %r" % (id, r))
# the log plugin's line says the same
def instant(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
lines = {}
for l in open(logged):
    e = json.loads(l)
    lines[e["id"]] = e
for id, (attrs, data, raw) in expected.items():
    e = lines.get(id)
    if not e:
        problems.append("%s not in the log plugin's file" % id)
        continue
    if e["name"] != attrs["type"] or e.get("source") != attrs["source"]:
        problems.append("%s log line name/source %r" % (id, e))
    if "time" in attrs and instant(e["time"]) != instant(attrs["time"]):
        problems.append("%s log time %s is not the instant %s" % (id, e["time"], attrs["time"]))
    ext = {k: v for k, v in attrs.items() if k not in ("specversion", "id", "source", "type", "time")}
    logged_attrs = {k: v for k, v in e.get("attributes", {}).items() if k != "dataencoding"}
    if not same(logged_attrs, ext):
        problems.append("%s log attributes %r, want %r" % (id, logged_attrs, ext))
    if data is not None and e["data"] != data:
        problems.append("%s log data %r" % (id, e["data"]))
    if raw is not None:
        as_logged = base64.b64decode(e["data"]) if e.get("attributes", {}).get("dataencoding") else e["data"].encode()
        if as_logged != raw:
            problems.append("%s log data %r is not the bytes sent" % (id, e["data"]))
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
PY
}

run_mode() { # MODE WORKERS EXTRA-CONFIG
	start_receiver
	rm -f "$TMP/events.log"
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    log: {config: {path: @TMP@/events.log}}
    webhook:
      subscribe: ["**"]
      workers: $2
      config:
        url: "http://127.0.0.1:$RECEIVER_PORT/events"
        secret: {env: ES_TEST_CE_SECRET}
        mode: $1
$3
YAML
	start_daemon
	expect_log "posting events to http://127.0.0.1:$RECEIVER_PORT/events (signed, $1 mode"
	send_all
	wait_until "the receiver got every event ($1 mode)" 15 received_all
	wait_until "the log plugin wrote every event" 5 lines_at_least "$TMP/events.log" '"id"' 10
	check "$1"
}

run_mode structured 1 ""
pass "structured mode: every attribute, the content type, the time as written, JSON data exactly (9007199254740993), text, XML and binary bytes arrive as sent, signed; the log line agrees"
peers=$(jq -r 'select(.peer) | .peer' "$TMP/received.jsonl" | sort -u | wc -l)
[ "$peers" = 1 ] || fail "10 deliveries by one worker used $peers connections (no keep-alive)"
opened=$(curl -s "http://127.0.0.1:$PORT/api/plugins" | jq '.plugins[] | select(.name == "webhook") | .plugin_counters.connections_opened')
[ "$opened" = 1 ] || fail "the webhook counted $opened connections opened for 10 deliveries on one worker"
pass "keep-alive: one worker's 10 deliveries share one connection"
# counted once the receiver's answer is read, after it recorded the event
wait_until "the webhook's posted counter at 10" 10 prints 10 metric_value 'eventsys_plugin_custom_total{plugin="webhook",name="posted"}'
curl -s "http://127.0.0.1:$MPORT/metrics" > "$TMP/metrics.txt"
grep -q '^eventsys_plugin_custom_total{plugin="webhook",name="posted"} 10$' "$TMP/metrics.txt" ||
	fail "the webhook's posted counter is not in /metrics: $(grep plugin_counter "$TMP/metrics.txt")"
linted=" (promtool not installed: not linted)"
promtool_checked "$TMP/metrics.txt" && linted=" (promtool check metrics passes)"
pass "the webhook's own counters are in /metrics with a plugin label$linted"
stop_daemon TERM

run_mode binary 2 "        keep_alive: false"
pass "binary mode: ce-* headers (percent-encoded), Content-Type and the body carry the same events"
peers=$(jq -r 'select(.peer) | .peer' "$TMP/received.jsonl" | sort -u | wc -l)
[ "$peers" = 10 ] || fail "keep_alive: false used $peers connections for 10 deliveries"
pass "keep_alive: false opens a connection per delivery"
stop_daemon TERM

run_mode batch 4 "        batch_max: 8
        batch_linger_ms: 300"
biggest=$(jq -r 'select(.batch_size) | .batch_size' "$TMP/received.jsonl" | sort -n | tail -1)
[ "${biggest:-0}" -gt 1 ] || fail "no batch held more than one event"
pass "batch mode: application/cloudevents-batch+json arrays (up to $biggest events) carry the same events"
stop_daemon TERM
