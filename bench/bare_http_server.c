/*
 * Reference for bench/http.sh: the least a libevent server can do for the
 * trigger API — read the body, parse it with cJSON, answer 202 with a small
 * JSON body — on N threads sharing the port with SO_REUSEPORT, the same way
 * the daemon's HTTP layer is built (its epoll changes batched too, see
 * host/http/http_loop.c).  No routing, no queues, no plugins.
 * A JSON array (the batch endpoint's body, bench/batch.sh) is parsed whole
 * and its events with a name counted.
 *   bare_http_server PORT [THREADS]
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = (const char *)evbuffer_pullup(in, -1);
	cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
	/* an array is a batch (bench/batch.sh): count the events with a name */
	int named = 0;
	const cJSON *item;
	if (cJSON_IsArray(root))
		cJSON_ArrayForEach(item, root) named += cJSON_IsString(cJSON_GetObjectItemCaseSensitive(item, "name"));
	int ok = root && (cJSON_IsArray(root) ? named > 0 : cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "name")));
	cJSON_Delete(root);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json; charset=utf-8");
	if (ok && named)
		evbuffer_add_printf(evhttp_request_get_output_buffer(req), "{\"accepted\":%d}", named);
	else
		evbuffer_add_printf(evhttp_request_get_output_buffer(req), ok ? "{\"accepted\":true}" : "{\"error\":\"bad\"}");
	evhttp_send_reply(req, ok ? 202 : 400, ok ? "Accepted" : "Bad Request", NULL);
}

static void *loop(void *arg)
{
	event_base_dispatch(arg);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]);
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                          .sin_addr.s_addr = htonl(0x7f000001)};
	pthread_t tids[64];
	for (int i = 0; i < threads && i < 64; i++) {
		/* the daemon's HTTP loops batch their epoll changes (host/http/http_loop.c) */
		struct event_config *cfg = event_config_new();
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		struct event_base *base = event_base_new_with_config(cfg);
		event_config_free(cfg);
		struct evhttp *http = evhttp_new(base);
		struct evconnlistener *l = evconnlistener_new_bind(
		        base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE, 1024,
		        (struct sockaddr *)&sin, sizeof sin);
		if (!l || !evhttp_bind_listener(http, l)) {
			perror("bind");
			return 1;
		}
		evhttp_set_gencb(http, on_request, NULL);
		pthread_create(&tids[i], NULL, loop, base);
	}
	for (int i = 0; i < threads && i < 64; i++)
		pthread_join(tids[i], NULL);
	return 0;
}
