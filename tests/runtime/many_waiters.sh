#!/bin/bash
# Requests that wait for an outcome (?wait=true triggers, admin reloads)
# are bounded by server.max_waiters: past it a request is answered 503 at
# once, in JSON with Retry-After, and counted; the ones waiting still get
# their outcome, and the slots are free again afterwards.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resource_lib.sh"

stage_plugin slow
write_config <<'YAML'
server: {port: @PORT@, max_waiters: 5}
logging: {format: text, access_log: false}
event: {sync_timeout_ms: 20000}
plugins:
  directory: @PLUGDIR@
  settings:
    slow: {workers: 8, queue_size: 100, timeout_ms: 10000, subscribe: ["wait.*"], config: {delay_ms: 6000, record: @TMP@/slow.txt}}
YAML
start_daemon

# 30 clients ask to wait at once
clients=
for i in $(seq 1 30); do
	# the time from the request sent to the answer's first byte: a refusal
	# that waited for the outcome would take the handler's 6 s (that long
	# so that the five still wait when the reload below comes, even on a
	# slow sanitizer build starting 30 clients)
	curl -s -o "$TMP/wait.$i.body" -D "$TMP/wait.$i.headers" -w '%{http_code} %{time_pretransfer} %{time_starttransfer}\n' -m 15 \
		-H 'Content-Type: application/json' -d "{\"name\":\"wait.n$i\"}" \
		"http://127.0.0.1:$PORT/api/events/trigger?wait=true" > "$TMP/wait.$i.status" &
	clients="$clients $!"
done
wait_until "5 requests waiting" 10 metric_is eventsys_http_waiters 5
wait_until "25 refused" 10 metric_is eventsys_http_waiters_refused_total 25

# an admin reload is a waiter as well
request POST /api/admin/reload
expect_status 503
expect_body '"error":"too_many_waiters"'
expect_body 'server.max_waiters'
grep -qi '^Retry-After: 1' "$TMP/headers" || fail "503 without Retry-After"
echo "$BODY" | jq -e . > /dev/null || fail "the 503 is not JSON: $BODY"
pass "past 5 waiters a reload is answered 503 in JSON with Retry-After"

wait $clients
waited=0 refused=0
for i in $(seq 1 30); do
	read -r code sent answered < "$TMP/wait.$i.status"
	secs=$(awk -v a="$answered" -v s="$sent" 'BEGIN { print a - s }')
	case "$code" in
	200) waited=$((waited + 1)) ;;
	503)
		refused=$((refused + 1))
		grep -q '"error":"too_many_waiters"' "$TMP/wait.$i.body" || fail "503 body: $(cat "$TMP/wait.$i.body")"
		grep -qi '^Retry-After: 1' "$TMP/wait.$i.headers" || fail "503 without Retry-After"
		awk -v s="$secs" 'BEGIN { exit !(s < 1.5) }' || fail "a refused waiter was answered $secs s after its request"
		;;
	*) fail "waiter $i: $code $secs" ;;
	esac
done
[ "$waited" = 5 ] && [ "$refused" = 25 ] || fail "$waited waited and $refused were refused (expected 5 and 25)"
[ "$(metric eventsys_http_waiters_refused_total)" = 26 ] ||
	fail "refused waiters counted: $(metric eventsys_http_waiters_refused_total)"
pass "of 30 concurrent ?wait=true requests 5 waited for their outcome and 25 were refused at once"

wait_until "no waiter left" 5 metric_is eventsys_http_waiters 0
request POST '/api/events/trigger?wait=true' '{"name":"wait.after"}'
expect_status 200
request POST /api/admin/reload
expect_status 200
pass "the slots are free again: a waiting trigger and a reload are answered"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
