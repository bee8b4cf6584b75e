/*
 * The reference for bench/cluster.sh: what the NATS C client alone does on
 * the same JetStream setup as the daemon, with no daemon.  One thread
 * publishes COUNT messages of the daemon's shape (an event's JSON, ~200
 * bytes, a message id and an Es-Depth header each) asynchronously, at most
 * IN-FLIGHT unacknowledged (default 4096; bench/cluster.sh passes its number
 * of HTTP connections, the most the daemon can have waiting for JetStream,
 * since each trigger is answered only once its publish was acknowledged
 * and wrk sends a connection's next request after the answer); one thread
 * pull-consumes them from a durable consumer (fetch batches of 64, one ack
 * per message).  Prints the rates:
 *   published <n>/s (acknowledged by JetStream), delivered <n>/s (acked by the consumer)
 * Usage: js_reference URLS REPLICAS COUNT [IN-FLIGHT]
 */
#include <nats/nats.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM "BENCHREF"
#define SUBJECT "benchref.deliver.noop"
#define DEFAULT_IN_FLIGHT 4096

static jsCtx *js;
static int count;
static atomic_int consumed;
static int64_t consume_end_ns;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, natsStatus s)
{
	fprintf(stderr, "js_reference: %s: %s (%s)\n", what, natsStatus_GetText(s), nats_GetLastError(NULL));
	exit(1);
}

static void *consume(void *arg)
{
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = STREAM;
	so.Consumer = "noop";
	so.ManualAck = true;
	natsStatus s = js_PullSubscribe(&sub, js, SUBJECT, "noop", NULL, &so, NULL);
	if (s != NATS_OK)
		die("pull subscribe", s);
	while (atomic_load(&consumed) < count) {
		natsMsgList list = {0};
		s = natsSubscription_Fetch(&list, sub, 64, 1000, NULL);
		if (s == NATS_OK) {
			for (int i = 0; i < list.Count; i++)
				natsMsg_Ack(list.Msgs[i], NULL);
			atomic_fetch_add(&consumed, list.Count);
		}
		natsMsgList_Destroy(&list);
	}
	consume_end_ns = now_ns();
	natsSubscription_Destroy(sub);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: js_reference URLS REPLICAS COUNT [IN-FLIGHT]\n");
		return 2;
	}
	int replicas = atoi(argv[2]);
	count = atoi(argv[3]);
	int in_flight = argc == 5 ? atoi(argv[4]) : DEFAULT_IN_FLIGHT;
	natsOptions *opts = NULL;
	natsConnection *nc = NULL;
	natsStatus s = natsOptions_Create(&opts);
	/* the URLs one by one: natsOptions_SetURL() took only a single one here */
	const char *servers[8];
	int n = 0;
	char *list = strdup(argv[1]);
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save))
		servers[n++] = t;
	if (s == NATS_OK)
		s = natsOptions_SetServers(opts, servers, n);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, opts);
	if (s != NATS_OK)
		die("connect", s);
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = in_flight;
	if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
		die("jetstream", s);

	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	sc.Name = STREAM;
	const char *subjects[] = {"benchref.deliver.*"};
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Retention = js_WorkQueuePolicy;
	sc.Storage = js_FileStorage;
	sc.Replicas = replicas;
	sc.Duplicates = (int64_t)120 * 1000000000;
	js_DeleteStream(js, STREAM, NULL, NULL);
	if ((s = js_AddStream(NULL, js, &sc, NULL, NULL)) != NATS_OK)
		die("add stream", s);
	jsConsumerConfig cc;
	jsConsumerConfig_Init(&cc);
	cc.Durable = "noop";
	cc.AckPolicy = js_AckExplicit;
	cc.FilterSubject = SUBJECT;
	cc.MaxAckPending = -1;
	if ((s = js_AddConsumer(NULL, js, STREAM, &cc, NULL, NULL)) != NATS_OK)
		die("add consumer", s);

	int64_t t0 = now_ns();
	pthread_t consumer;
	pthread_create(&consumer, NULL, consume, NULL);
	char body[400], id[64];
	for (int i = 0; i < count; i++) {
		int len = snprintf(body, sizeof body,
		                   "{\"id\":\"ref-%d-%" PRId64 "\",\"name\":\"bench.order.created\",\"time\":"
		                   "\"2026-11-26T10:00:00.000000Z\",\"data\":{\"order\":12345,\"total\":99.5,"
		                   "\"currency\":\"EUR\",\"items\":[\"a\",\"b\"]}}",
		                   i, t0);
		snprintf(id, sizeof id, "ref-%d-%" PRId64 ".noop", i, t0);
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MsgId = id;
		natsMsg *msg = NULL;
		natsMsg_Create(&msg, SUBJECT, NULL, body, len);
		natsMsgHeader_Set(msg, "Es-Depth", "0");
		while ((s = js_PublishMsgAsync(js, &msg, &po)) == NATS_TIMEOUT)
			; /* MaxPending reached: StallWait elapsed, try again */
		if (s != NATS_OK)
			die("publish", s);
	}
	jsPubOptions done;
	jsPubOptions_Init(&done);
	done.MaxWait = 60000;
	if ((s = js_PublishAsyncComplete(js, &done)) != NATS_OK)
		die("publish complete", s);
	int64_t published_ns = now_ns() - t0;
	pthread_join(consumer, NULL);
	int64_t delivered_ns = consume_end_ns - t0;
	printf("published %.0f/s delivered %.0f/s (%d messages, R%d)\n", count / (published_ns / 1e9),
	       count / (delivered_ns / 1e9), count, replicas);
	js_DeleteStream(js, STREAM, NULL, NULL);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
	free(list);
	return 0;
}
