/*
 * A small HTTP server for tests: records every request it receives as one
 * JSON line ({"method","path","headers":{...},"body"}) and answers with the
 * statuses it was given, in order (the last one repeats).  A status written
 * as 200@1500 is answered after 1500 ms.  It binds 127.0.0.1 on a free port
 * and writes the port to PORT_FILE.  Stops on SIGTERM, or by itself after
 * 120 s so a failed test never leaves it behind.
 *   http_sink RECORD_FILE PORT_FILE [STATUS[@DELAY_MS]]...
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static FILE *record;
static char **statuses;
static int status_count, next_status;
static struct event_base *base;

typedef struct pending {
	struct evhttp_request *req;
	int status;
	struct event *timer;
} pending;

static void answer(pending *p)
{
	evbuffer_add_printf(evhttp_request_get_output_buffer(p->req), "{\"sink\":%d}", p->status);
	evhttp_send_reply(p->req, p->status, p->status < 300 ? "OK" : "Error", NULL);
	if (p->timer)
		event_free(p->timer);
	free(p);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	answer(arg);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	cJSON *line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "method", evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "OTHER");
	cJSON_AddStringToObject(line, "path", evhttp_request_get_uri(req));
	cJSON *headers = cJSON_AddObjectToObject(line, "headers");
	struct evkeyval *h;
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next)
	{
		char key[128];
		snprintf(key, sizeof key, "%s", h->key);
		for (char *c = key; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		cJSON_AddStringToObject(headers, key, h->value);
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *body = malloc(len + 1);
	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	cJSON_AddStringToObject(line, "body", body);
	free(body);
	char *text = cJSON_PrintUnformatted(line);
	cJSON_Delete(line);
	fprintf(record, "%s\n", text);
	fflush(record);
	cJSON_free(text);

	const char *spec = status_count ? statuses[next_status < status_count ? next_status : status_count - 1] : "200";
	next_status++;
	pending *p = calloc(1, sizeof *p);
	p->req = req;
	p->status = atoi(spec);
	const char *at = strchr(spec, '@');
	if (at) {
		long ms = atol(at + 1);
		struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
		p->timer = evtimer_new(base, on_timer, p);
		evtimer_add(p->timer, &tv);
	} else {
		answer(p);
	}
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(base, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s RECORD_FILE PORT_FILE [STATUS[@DELAY_MS]]...\n", argv[0]);
		return 2;
	}
	record = fopen(argv[1], "a");
	if (!record)
		return 1;
	statuses = argv + 3;
	status_count = argc - 3;
	base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (!sock)
		return 1;
	evhttp_set_gencb(http, on_request, NULL);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl);
	FILE *pf = fopen(argv[2], "w");
	fprintf(pf, "%u\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	fclose(pf);
	struct event *term = evsignal_new(base, SIGTERM, on_stop, NULL);
	event_add(term, NULL);
	struct timeval lifetime = {.tv_sec = 120};
	event_base_loopexit(base, &lifetime);
	event_base_dispatch(base);
	event_free(term);
	evhttp_free(http);
	event_base_free(base);
	fclose(record);
	return 0;
}
