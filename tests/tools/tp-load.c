// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tp-load: long-lived traffic for the restart tests.  Opens CONNS TCP
 * connections to --tcp ADDR:PORT (a tp-echo --tcp) and keeps a message
 * going round each of them every 100 ms; sends a UDP stream of RATE
 * datagrams per second to --udp ADDR:PORT (a tp-echo --udp) and counts
 * the echoes.  Stops after --duration seconds or on SIGTERM/SIGINT and
 * prints one JSON line of counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

#define MAX_CONNS 512

struct conn {
	int fd;
	unsigned long seq;
	bool waiting;
	double sent_at;
};

/* A connection that failed: closed, out of the round, counted. */
static void conn_broken(struct conn *c, unsigned long *errors, int *broken)
{
	close(c->fd);
	c->fd = -1;
	(*errors)++;
	(*broken)++;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcp", required_argument, NULL, 't' },
		{ "udp", required_argument, NULL, 'u' },
		{ "conns", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{},
	};
	struct sockaddr_storage tcp_sa, udp_sa;
	socklen_t tcp_len = 0, udp_len = 0;
	static struct conn conns[MAX_CONNS];
	unsigned long tcp_ok = 0, tcp_err = 0, udp_sent = 0, udp_recv = 0, seq;
	int n_conns = 0, rate = 0, udp_fd = -1, c, i, broken = 0;
	double duration = 10, start, end, next_udp, next_tcp;
	unsigned long udp_total;
	bool has_tcp = false, has_udp = false;
	char buf[64];

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			has_tcp = !tool_resolve(optarg, &tcp_sa, &tcp_len);
			break;
		case 'u':
			has_udp = !tool_resolve(optarg, &udp_sa, &udp_len);
			break;
		case 'c':
			n_conns = atoi(optarg);
			break;
		case 'r':
			rate = atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		default:
			return 2;
		}
	}
	if (n_conns > MAX_CONNS)
		n_conns = MAX_CONNS;
	tool_catch_stop(true);
	for (i = 0; has_tcp && i < n_conns; i++) {
		conns[i].fd =
			socket(tcp_sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (conns[i].fd < 0 ||
		    connect(conns[i].fd, (struct sockaddr *)&tcp_sa, tcp_len)) {
			fprintf(stderr, "tp-load: connect: %s\n",
				strerror(errno));
			return 1;
		}
	}
	if (has_udp) {
		udp_fd = socket(udp_sa.ss_family,
				SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (udp_fd < 0 ||
		    connect(udp_fd, (struct sockaddr *)&udp_sa, udp_len))
			return 1;
	}
	udp_total = (unsigned long)(rate * duration);
	start = tool_now();
	next_udp = next_tcp = start;
	while (!tool_stop && tool_now() - start < duration) {
		double t = tool_now();

		/*
		 * every datagram due by now: exactly rate x duration, however
		 * slow the loop (a loaded VM takes more than 1/rate a round)
		 */
		while (has_udp && rate && t >= next_udp &&
		       udp_sent < udp_total) {
			snprintf(buf, sizeof(buf), "u%lu", udp_sent);
			if (send(udp_fd, buf, strlen(buf), 0) <= 0)
				break; /* again next round */
			udp_sent++;
			next_udp += 1.0 / rate;
		}
		if (has_tcp && t >= next_tcp) {
			for (i = 0; i < n_conns; i++) {
				if (conns[i].fd < 0 || conns[i].waiting)
					continue;
				snprintf(buf, sizeof(buf), "t%d.%lu\n", i,
					 conns[i].seq);
				if (write(conns[i].fd, buf, strlen(buf)) < 0) {
					conn_broken(&conns[i], &tcp_err,
						    &broken);
					continue;
				}
				conns[i].waiting = true;
			}
			next_tcp += 0.1;
		}
		/* collect what came back */
		for (i = 0; i < n_conns; i++) {
			struct pollfd p = { .fd = conns[i].fd,
					    .events = POLLIN };
			ssize_t len;

			if (conns[i].fd < 0 || !conns[i].waiting ||
			    poll(&p, 1, 0) <= 0)
				continue;
			len = read(conns[i].fd, buf, sizeof(buf));
			if (len <= 0) {
				conn_broken(&conns[i], &tcp_err, &broken);
				continue;
			}
			conns[i].waiting = false;
			conns[i].seq++;
			tcp_ok++;
		}
		while (has_udp && recv(udp_fd, buf, sizeof(buf), 0) > 0)
			udp_recv++;
		usleep(2000);
	}
	/* the last due ones, when the clock ended the loop between two rounds */
	for (seq = 0;
	     has_udp && !tool_stop && udp_sent < udp_total && seq < 1000;
	     seq++) {
		snprintf(buf, sizeof(buf), "u%lu", udp_sent);
		if (send(udp_fd, buf, strlen(buf), 0) > 0)
			udp_sent++;
		else
			usleep(1000);
	}
	/* late UDP echoes: until every one is back, or 5 s */
	end = tool_now();
	while (has_udp && udp_recv < udp_sent && tool_now() - end < 5) {
		while (recv(udp_fd, buf, sizeof(buf), 0) > 0)
			udp_recv++;
		usleep(10000);
	}
	printf("{\"tcp_conns\":%d,\"tcp_roundtrips\":%lu,\"tcp_errors\":%lu,\"tcp_broken\":%d,"
	       "\"udp_sent\":%lu,\"udp_received\":%lu,\"udp_lost\":%lu}\n",
	       n_conns, tcp_ok, tcp_err, broken, udp_sent, udp_recv,
	       udp_sent > udp_recv ? udp_sent - udp_recv : 0);
	return 0;
}
