/*
 * The HTTP listener threads: N threads, each with its own event_base and
 * evhttp, all bound to one port with SO_REUSEPORT so the kernel spreads
 * connections over them.  Each request is answered on the thread that read
 * it; plugins never run on these threads.
 *
 * Ownership: http_server_start() returns a server owned by the caller, who
 * must call http_server_stop() (joins every thread) before freeing it.
 */
#ifndef ES_HTTP_SERVER_H
#define ES_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "control/daemon.h"

typedef struct http_server http_server;

/* Bind server.host:server.port and start server.threads loop threads, with
 * the limits of daemon->config.  NULL on failure with a one-line reason in
 * err (e.g. port in use, permission denied). */
http_server *http_server_start(es_daemon *daemon, char *err, size_t err_size);
/* Stop accepting, close connections, join the threads, free. */
void http_server_stop(http_server *server);

#endif
