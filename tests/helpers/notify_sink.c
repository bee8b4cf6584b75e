/*
 * Stands in for systemd's notification socket in tests: binds a unix
 * datagram socket at PATH and appends every message it receives to FILE,
 * one message per line (newlines inside become '|').  Exits on SIGTERM, or
 * by itself after 120 s.  With --times each line starts with the
 * monotonic time it was received, in milliseconds, and a space.
 *   notify_sink PATH FILE [--times]
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "--times") == 0)) {
		fprintf(stderr, "usage: %s SOCKET_PATH OUTPUT_FILE [--times]\n", argv[0]);
		return 2;
	}
	int times = argc == 4;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s", argv[1]);
	unlink(argv[1]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		perror("bind");
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	time_t end = time(NULL) + 120;
	while (!stop && time(NULL) < end) {
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (char *p = buf; *p; p++)
			if (*p == '\n')
				*p = '|';
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		FILE *out = fopen(argv[2], "a");
		if (out) {
			if (times)
				fprintf(out, "%lld ", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
			fprintf(out, "%s\n", buf);
			fclose(out);
		}
	}
	unlink(argv[1]);
	return 0;
}
