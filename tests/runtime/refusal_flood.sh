#!/bin/bash
# A flood of events against a full queue (batches, as a bulk loader sends
# them) writes a bounded number of log lines -- the first refusal, then one
# line per plugin per interval with a count, and the rest when the plugin
# stops -- and the counts in those lines add up to every refusal.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin slow
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
  settings:
    slow: {workers: 1, queue_size: 2, subscribe: ["flood.*"], config: {delay_ms: 2000, record: @TMP@/slow.txt}}
YAML
start_daemon

# 3 s of batches of 500 events from two connections
python3 - "$PORT" > "$TMP/flood.out" <<'PY'
import http.client, json, sys, threading, time
port = int(sys.argv[1])
body = json.dumps([{"name": "flood.n%d" % i} for i in range(500)])
refused = [0, 0]
def run(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    end = time.time() + 3
    while time.time() < end:
        c.request("POST", "/api/events/batch", body, {"Content-Type": "application/json"})
        r = json.loads(c.getresponse().read())
        refused[k] += sum(1 for x in r["results"] if x["status"] == 503)
ts = [threading.Thread(target=run, args=(k,)) for k in range(2)]
for t in ts: t.start()
for t in ts: t.join()
print(sum(refused))
PY
refused=$(cat "$TMP/flood.out")
[ "$refused" -ge 2000 ] || fail "only $refused events refused: the flood did not fill the queue"
counted=$(plugin_counter slow refused)
[ "$counted" = "$refused" ] || fail "the plugin's refused counter says $counted, the client saw $refused"
stop_daemon TERM

lines=$(grep -c "queue of plugin 'slow'" "$LOG" || true)
# the first line, at most one per 10 s interval of the flood, the last at stop
[ "$lines" -ge 2 ] && [ "$lines" -le 3 ] || fail "$lines log lines for $refused refusals (expected 2 or 3)"
total=$(grep "queue of plugin 'slow'" "$LOG" |
	sed -n -e "s/.* is full (\([0-9]*\) refused).*/\1/p" -e "s/.* \([0-9]*\) more events refused .*/\1/p" |
	awk '{ s += $1 } END { print s + 0 }')
[ "$total" = "$refused" ] || fail "the log lines count $total refusals, the clients saw $refused"
expect_log "queue of plugin 'slow' stops: [0-9]* more events refused since the last line"
pass "$refused refusals in 3 s wrote $lines log lines whose counts add up to $refused"
