/*
 * An HTTP loop on its own thread: see http_loop.h.
 */
#include "config.h"

#include "http/http_loop.h"

#include <event2/event.h>
#include <event2/http.h>
#include <sys/time.h>

/* A base whose epoll backend batches its changes: a keep-alive request
 * turns its connection's read interest off and write interest on, then
 * back, and without the changelist each of those is an epoll_ctl() of its
 * own (4 a request); with it, the changes made between two epoll_wait()s
 * merge into one per fd (2 a request).  libevent's caveat is fds cloned
 * by dup(): epoll keeps watching a closed fd's socket while a clone of it
 * is open, and a change the changelist defers may then meet the wrong
 * registration.  Nothing on these bases is dup()ed; a plugin child
 * spawned meanwhile (posix_spawn) holds clones only until its exec closes
 * them (the sockets are close-on-exec), and what that window can cause is
 * a spurious wake-up, which libevent reads past (a read gets EAGAIN). */
static struct event_base *new_base(void)
{
	struct event_config *cfg = event_config_new();
	if (!cfg)
		return NULL;
	struct event_base *base = event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0
	                                  ? event_base_new_with_config(cfg)
	                                  : NULL;
	event_config_free(cfg);
	return base;
}

int http_loop_init(http_loop *loop, const http_loop_limits *limits)
{
	loop->base = new_base();
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
