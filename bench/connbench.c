// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * connbench: the traffic of bench/kubeproxy.sh, against a ClusterIP.
 *
 *   connbench serve PORT
 *	an echo server (one thread, epoll): the backend "pod".
 *   connbench crr VIP:PORT SRC NSRC OFFSET COUNT SECONDS PARALLEL
 *	new connections per second: PARALLEL connections in flight, each
 *	connect, one byte there and back, close; stops after COUNT
 *	connections or SECONDS, whichever comes first.  Every connection
 *	binds its own source (NSRC addresses from SRC, ports 1024-59999),
 *	tuple OFFSET onwards, so no tuple repeats within a run and
 *	every connection is a new flow to conntrack and to the service
 *	lookup (a reused tuple could hit a conntrack entry left by an
 *	earlier run and skip the path being measured).
 *   connbench rr VIP:PORT COUNT SECONDS
 *	request/response latency on one connection: one byte there and
 *	back, COUNT times or for SECONDS; prints p50 and p99 in us.
 *
 * Output: one line of "key value" pairs on stdout.  Exit status 1 when
 * nothing got through or more than 1% of the connections failed: a
 * broken path must not pass for a slow one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * crr's source ports stay below the client's ephemeral range
 * (kubeproxy.sh sets ip_local_port_range to 60000-65535 there): every
 * port number crr binds keeps a bind bucket while its TIME_WAIT lives, and
 * connect() on an unbound socket (rr, iperf3) skips such port numbers on
 * every address, so a fast run would leave it none (EADDRNOTAVAIL).
 */
#define CRR_PORT_MIN   1024
#define CRR_PORT_END   60000
#define PORTS_PER_ADDR (CRR_PORT_END - CRR_PORT_MIN)
#define MAX_PAR	       256

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64], *colon;

	snprintf(host, sizeof(host), "%s", s);
	colon = strrchr(host, ':');
	if (!colon)
		return -1;
	*colon = 0;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void die(const char *what)
{
	fprintf(stderr, "connbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- server ------------------------------------------------------------------ */

static int serve(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct epoll_event ev, evs[64];
	int lfd, ep, on = 1, i, n;
	char buf[4096];

	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096))
		die("bind/listen");
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = lfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			ssize_t r;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL,
						    SOCK_NONBLOCK |
							    SOCK_CLOEXEC)) >=
				       0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY,
						   &on, sizeof(on));
					ev = (struct epoll_event){
						.events = EPOLLIN, .data.fd = c
					};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r > 0) {
				/* echo; a one-byte request never fills the socket buffer */
				if (write(fd, buf, r) < 0 && errno != EAGAIN)
					close(fd);
			} else if (r == 0 || errno != EAGAIN) {
				close(fd); /* the client closed first: no TIME_WAIT here */
			}
		}
	}
	return 0;
}

/* ---- new connections per second ------------------------------------------------ */

enum { IDLE, CONNECTING, WAITING };

struct conn {
	int fd;
	int state;
};

static int crr(int argc, char **argv)
{
	struct sockaddr_in dst, src = { .sin_family = AF_INET };
	unsigned long nsrc, next, count, done = 0, failed = 0, started = 0;
	struct conn conns[MAX_PAR];
	struct epoll_event ev, evs[MAX_PAR];
	double t0, secs, t_end;
	uint32_t src0;
	int par, ep, i, n, on = 1;

	if (argc != 9 || parse_addr(argv[2], &dst) ||
	    inet_pton(AF_INET, argv[3], &src.sin_addr) != 1)
		return 2;
	src0 = ntohl(src.sin_addr.s_addr);
	nsrc = strtoul(argv[4], NULL, 0);
	next = strtoul(argv[5], NULL, 0);
	count = strtoul(argv[6], NULL, 0);
	secs = atof(argv[7]);
	par = atoi(argv[8]);
	if (par < 1 || par > MAX_PAR || !nsrc || count > nsrc * PORTS_PER_ADDR)
		return 2;
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < par; i++)
		conns[i] = (struct conn){ .fd = -1, .state = IDLE };
	t0 = now_s();
	t_end = t0 + secs;
	for (;;) {
		for (i = 0; i < par; i++) {
			struct conn *c = &conns[i];
			unsigned long tup;

			if (c->state != IDLE || started >= count ||
			    now_s() >= t_end)
				continue;
			tup = (next++) % (nsrc * PORTS_PER_ADDR);
			src.sin_addr.s_addr =
				htonl(src0 + tup / PORTS_PER_ADDR);
			src.sin_port =
				htons(CRR_PORT_MIN + tup % PORTS_PER_ADDR);
			c->fd = socket(
				AF_INET,
				SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (c->fd < 0)
				die("socket");
			setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &on,
				   sizeof(on));
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on,
				   sizeof(on));
			if (bind(c->fd, (struct sockaddr *)&src, sizeof(src))) {
				/* a tuple still held locally (TIME_WAIT of an earlier run) */
				close(c->fd);
				c->fd = -1;
				failed++;
				started++;
				i--; /* this slot again, with the next tuple */
				continue;
			}
			started++;
			if (connect(c->fd, (struct sockaddr *)&dst,
				    sizeof(dst)) &&
			    errno != EINPROGRESS) {
				close(c->fd);
				c->fd = -1;
				failed++;
				continue;
			}
			c->state = CONNECTING;
			ev = (struct epoll_event){ .events = EPOLLOUT,
						   .data.u32 = i };
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		}
		for (i = 0, n = 0; i < par; i++)
			n += conns[i].state != IDLE;
		if (!n)
			break;
		/* a connection that hangs (a dropped SYN) is failed at the deadline + 1 s */
		n = epoll_wait(ep, evs, MAX_PAR, 100);
		if (n == 0 && now_s() > t_end + 1.0) {
			for (i = 0; i < par; i++)
				if (conns[i].state != IDLE) {
					close(conns[i].fd);
					conns[i].state = IDLE;
					failed++;
				}
			break;
		}
		for (i = 0; i < n; i++) {
			struct conn *c = &conns[evs[i].data.u32];
			char b = 'x';
			int err = 0;
			socklen_t len = sizeof(err);

			if (c->state == CONNECTING) {
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
					   &len);
				if (err || write(c->fd, &b, 1) != 1)
					goto fail;
				c->state = WAITING;
				ev = (struct epoll_event){
					.events = EPOLLIN,
					.data.u32 = evs[i].data.u32
				};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			if (read(c->fd, &b, 1) != 1)
				goto fail;
			close(c->fd); /* FIN first: the client holds TIME_WAIT, on a tuple not reused */
			c->state = IDLE;
			done++;
			continue;
		fail:
			close(c->fd);
			c->state = IDLE;
			failed++;
		}
	}
	secs = now_s() - t0;
	printf("conns %lu failed %lu secs %.3f rate %.1f next %lu\n", done,
	       failed, secs, done / secs, next);
	return !done || failed * 100 > done + failed;
}

/* ---- request/response latency ------------------------------------------------------ */

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int rr(int argc, char **argv)
{
	struct sockaddr_in dst;
	unsigned long count, n = 0;
	double secs, t_end, *lat;
	int fd, on = 1;
	char b = 'x';

	if (argc != 5 || parse_addr(argv[2], &dst))
		return 2;
	count = strtoul(argv[3], NULL, 0);
	secs = atof(argv[4]);
	lat = calloc(count ? count : 1, sizeof(*lat));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || !lat)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)))
		die("connect");
	t_end = now_s() + secs;
	while (n < count && now_s() < t_end) {
		double t = now_s();

		if (write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1)
			die("request");
		lat[n++] = (now_s() - t) * 1e6;
	}
	close(fd);
	if (!n)
		return 1;
	qsort(lat, n, sizeof(*lat), cmp_dbl);
	printf("requests %lu p50_us %.1f p99_us %.1f\n", n, lat[n / 2],
	       lat[n * 99 / 100]);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	if (argc >= 3 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "crr"))
		rc = crr(argc, argv);
	else if (argc >= 2 && !strcmp(argv[1], "rr"))
		rc = rr(argc, argv);
	if (rc == 2)
		fprintf(stderr,
			"usage: connbench serve PORT\n"
			"       connbench crr VIP:PORT SRC NSRC OFFSET COUNT SECONDS PARALLEL\n"
			"       connbench rr VIP:PORT COUNT SECONDS\n");
	return rc;
}
