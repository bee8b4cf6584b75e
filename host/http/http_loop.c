/*
 * An HTTP loop on its own thread: see http_loop.h.
 */
#include "config.h"

#include "http/http_loop.h"

#include <event2/event.h>
#include <event2/http.h>
#include <sys/time.h>

int http_loop_init(http_loop *loop, const http_loop_limits *limits)
{
	loop->base = event_base_new();
	loop->http = loop->base ? evhttp_new(loop->base) : NULL;
	if (!loop->http)
		return -1;
	evhttp_set_max_headers_size(loop->http, (ev_ssize_t)limits->max_headers_size);
	evhttp_set_max_body_size(loop->http, (ev_ssize_t)limits->max_body_size);
	struct timeval timeout = {.tv_sec = limits->timeout_ms / 1000,
	                          .tv_usec = (suseconds_t)(limits->timeout_ms % 1000) * 1000};
	/* Every connection's reads and writes have this one timeout, re-armed
	 * each time its socket is read or written: as a common timeout that
	 * is a list append, not a move in the base's timer heap (libevent
	 * passes the value through to each connection's bufferevent). */
	const struct timeval *common = event_base_init_common_timeout(loop->base, &timeout);
	evhttp_set_timeout_tv(loop->http, common ? common : &timeout);
	evhttp_set_allowed_methods(loop->http, (ev_uint16_t)limits->methods);
	return 0;
}

static void *loop_main(void *arg)
{
	http_loop *loop = arg;
	event_base_dispatch(loop->base);
	if (loop->after_loop)
		loop->after_loop(loop);
	return NULL;
}

int http_loop_start(http_loop *loop, const char *thread_name)
{
	int rc = pthread_create(&loop->thread, NULL, loop_main, loop);
	if (rc != 0)
		return rc;
	pthread_setname_np(loop->thread, thread_name);
	loop->running = true;
	return 0;
}

void http_loop_join(http_loop *loop)
{
	if (!loop->running)
		return;
	pthread_join(loop->thread, NULL);
	loop->running = false;
}

void http_loop_free(http_loop *loop, void (*free_on_base)(void *arg), void *arg)
{
	if (loop->http)
		evhttp_free(loop->http); /* closes the connections: before what lives on the base */
	loop->http = NULL;
	if (free_on_base)
		free_on_base(arg);
	if (loop->base)
		event_base_free(loop->base);
	loop->base = NULL;
}
