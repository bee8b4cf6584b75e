# Sourced by runtime tests that send raw requests and expect the daemon to
# refuse them (after lib.sh, with the daemon started: $PORT).

# raw BYTES: sends them on one connection and prints every answer until the
# daemon closes it (raw_http.py; SLOW=N,SECONDS sends them in pieces of N
# bytes, SLOW=@K,SECONDS in two, cut after K bytes)
raw() { python3 "$ES_TOP_SRCDIR/tests/runtime/raw_http.py" "$PORT" "$1" "${SLOW:-}"; }

# refused WHAT STATUS ERROR MESSAGE-PART REQUEST: REQUEST is answered first
# with STATUS, in JSON with the error code ERROR and a message holding
# MESSAGE-PART (headers only for a HEAD), and the connection is closed.
refused() { # WHAT STATUS ERROR MESSAGE-PART REQUEST
	local out
	out=$(raw "$5")
	case "$out" in
	"HTTP/1.1 $2 "*) ;;
	*) fail "$1: expected a $2 first, got: $(printf '%s' "$out" | head -c 300)" ;;
	esac
	case "$5" in
	HEAD*) # headers only, as for every answer to HEAD
		case "$out" in *$'\r\nContent-Length: '[1-9]*) ;; *) fail "$1: no Content-Length: $out" ;; esac
		# nothing after the empty line ($(...) cut its last \n)
		case "$out" in *$'\r\n\r') ;; *) fail "$1: the answer to HEAD has a body: $out" ;; esac ;;
	*) case "$out" in *'"error":"'"$3"'"'*"$4"*) ;; *) fail "$1: not the JSON error $3 saying '$4': $out" ;; esac ;;
	esac
	case "$out" in *"NOT CLOSED"*) fail "$1: the connection stayed open after the refusal" ;; esac
	case "$out" in *'<html'* | *'<HTML'*) fail "$1: an HTML page: $out" ;; esac
	pass "$1: $2 $3, closed"
}
