/*
 * Sink for bench/webhook.sh: answers every request 200 at once, keeps
 * connections alive, and counts requests (printed on SIGTERM).
 *   webhook_sink PORT
 */
#include "config.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long long requests;

static void on_request(struct evhttp_request *req, void *arg)
{
	(void)arg;
	requests++;
	evbuffer_add(evhttp_request_get_output_buffer(req), "{}", 2);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_stop(evutil_socket_t fd, short what, void *base)
{
	(void)fd;
	(void)what;
	event_base_loopexit(base, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	if (!base || !http || evhttp_bind_socket(http, "127.0.0.1", (unsigned short)atoi(argv[1])) != 0) {
		fprintf(stderr, "webhook_sink: cannot listen on 127.0.0.1:%s\n", argv[1]);
		return 1;
	}
	evhttp_set_max_body_size(http, 64 << 20);
	evhttp_set_gencb(http, on_request, NULL);
	struct event *term = evsignal_new(base, SIGTERM, on_stop, base);
	event_add(term, NULL);
	struct timeval lifetime = {.tv_sec = 600}; /* never left behind */
	event_base_loopexit(base, &lifetime);
	event_base_dispatch(base);
	printf("%llu\n", requests);
	event_free(term);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
