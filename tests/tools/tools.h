/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the traffic tools of the end-to-end tests share: the stop flag
 * SIGTERM and SIGINT set, a monotonic clock in seconds, and the parser of
 * the ADDR:PORT and [ADDR6]:PORT their command lines take.  Header only:
 * each tool is one file built on its own (the Makefile's tools rule).
 */
#ifndef TP_TESTS_TOOLS_H
#define TP_TESTS_TOOLS_H

#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static volatile sig_atomic_t tool_stop;

static inline void tool_on_signal(int sig)
{
	(void)sig;
	tool_stop = 1;
}

/*
 * SIGTERM and SIGINT set tool_stop.  With restart an interrupted call
 * goes on (what signal() does), so a read cut by the stop is not counted
 * as an error; without, it returns EINTR, so a blocking accept() sees the
 * stop.  SIGPIPE is ignored: a peer gone away fails the write, it does
 * not end the tool.
 */
static inline void tool_catch_stop(bool restart)
{
	struct sigaction act = { .sa_handler = tool_on_signal,
				 .sa_flags = restart ? SA_RESTART : 0 };

	sigemptyset(&act.sa_mask);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static inline double tool_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "198.19.0.10:80" or "[fd00::a]:80" -> sockaddr; -1 when it is neither */
static inline int tool_resolve(const char *s, struct sockaddr_storage *ss,
			       socklen_t *len)
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

#endif
