#!/bin/bash
# A receiver answering 400 with UTF-8 text: the webhook keeps the start of
# the answer as the failure reason and never cuts it inside a character, so
# the ?wait=true answer is valid UTF-8 JSON and the reason ends on a whole
# "é" (before, the 160-byte cut split one, and the answer carried the
# half; the host now also repairs such bytes, so the test checks that the
# webhook left none to repair).
set -eu
. "$(dirname "$0")/lib.sh"
[ -f "$ES_BUNDLED_PLUGINS/webhook/.libs/webhook.so" ] || { echo "webhook plugin not built: skipped"; exit 77; }
RECEIVER_PID=
stop_receiver() { if [ -n "$RECEIVER_PID" ]; then kill "$RECEIVER_PID" 2>/dev/null || true; wait "$RECEIVER_PID" 2>/dev/null || true; fi; }
trap 'stop_receiver; cleanup' EXIT

python3 - "$TMP/receiver.port" <<'PY' &
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = ("\u00e9" * 200).encode("utf-8")
        self.send_response(400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
threading.Timer(120, lambda: os._exit(0)).start()
s.serve_forever()
PY
RECEIVER_PID=$!
wait_until "the receiver is listening" 5 test -s "$TMP/receiver.port"

stage_plugin webhook
write_config <<YAML
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    webhook: {max_attempts: 1, subscribe: ["**"], config: {url: "http://127.0.0.1:$(cat "$TMP/receiver.port")/x"}}
YAML
start_daemon
request POST '/api/events/trigger?wait=true' '{"name":"w.x"}'
expect_status 200
python3 -c 'import json,sys; json.loads(open(sys.argv[1],"rb").read().decode("utf-8"))' "$TMP/body" ||
	fail "the answer is not UTF-8 JSON: $(od -c "$TMP/body" | tail -4)"
reason=$(echo "$BODY" | jq -r .outcomes.webhook.error)
case "$reason" in
*"HTTP 400: é"*é) ;;
*) fail "the reason does not end on a whole character: $reason" ;;
esac
case "$reason" in *"?"*) fail "the reason has a repaired byte: $reason" ;; esac
pass "the receiver's answer is cut between characters in the reason"
