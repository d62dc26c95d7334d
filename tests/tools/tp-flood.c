// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tp-flood: a handshake flood for the XDP guard's end-to-end test.  Sends
 * --count UDP datagrams shaped as WireGuard handshake initiations (type 1,
 * 148 bytes, the rest random) to --dst ADDR:PORT from one socket, so from
 * one source, at most --pps a second (0: as fast as it goes), and stops at
 * --count or after --max-seconds, whichever comes first.  Prints one JSON
 * line: {"sent":N,"errors":N,"seconds":S}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WG_INITIATION_LEN 148
#define BATCH		  64

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "198.18.0.1:51820" or "[fd00::1]:51820" -> sockaddr */
static int resolve(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128], *port;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV },
			*ai;

	snprintf(host, sizeof(host), "%s", s[0] == '[' ? s + 1 : s);
	port = strrchr(host, ':');
	if (!port)
		return -1;
	*port++ = 0;
	if (host[0] && host[strlen(host) - 1] == ']')
		host[strlen(host) - 1] = 0;
	if (getaddrinfo(host, port, &hints, &ai))
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: tp-flood --dst ADDR:PORT --count N [--pps N] [--max-seconds S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'c' },
		{ "pps", required_argument, NULL, 'r' },
		{ "max-seconds", required_argument, NULL, 't' },
		{},
	};
	unsigned char msg[WG_INITIATION_LEN];
	unsigned long count = 0, sent = 0, errors = 0, pps = 0, i;
	double max_s = 30, t0, t;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const char *dst = NULL;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dst = optarg;
			break;
		case 'c':
			count = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			pps = strtoul(optarg, NULL, 10);
			break;
		case 't':
			max_s = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (!dst || !count || max_s <= 0 || resolve(dst, &ss, &sslen))
		usage();
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	srandom(getpid());
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = random();
	msg[0] = 1; /* handshake initiation, reserved bytes zero */
	msg[1] = msg[2] = msg[3] = 0;
	t0 = now_s();
	while (sent + errors < count) {
		t = now_s() - t0;
		if (t >= max_s)
			break;
		/* paced: no more than pps * t by now */
		if (pps && sent + errors >= (unsigned long)(pps * t) + BATCH) {
			usleep(1000);
			continue;
		}
		for (i = 0; i < BATCH && sent + errors < count; i++) {
			/* a fresh sender index each time, as a real initiation has */
			memcpy(msg + 4, &sent,
			       sizeof(sent) < 4 ? sizeof(sent) : 4);
			if (sendto(fd, msg, sizeof(msg), 0,
				   (struct sockaddr *)&ss, sslen) < 0)
				errors++;
			else
				sent++;
		}
	}
	printf("{\"sent\":%lu,\"errors\":%lu,\"seconds\":%.3f}\n", sent, errors,
	       now_s() - t0);
	close(fd);
	return 0;
}
