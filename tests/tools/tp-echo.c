// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tp-echo: the "pod" of the end-to-end tests and the demo.  One process,
 * IPv4 and IPv6 (dual-stack sockets):
 *   --http PORT  answers any request with "hello from NAME\n" and closes;
 *   --tcp PORT   echoes every byte back on long-lived connections;
 *   --udp PORT   echoes every datagram back;
 *   --whoami PORT  tells each TCP connection "NAME sees you as ADDR\n"
 *                and closes (the source a masquerade or NAT gave it).
 * Runs in the foreground until SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools.h"

#define MAX_FDS 1024

static int listen_on(int type, int port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0), off = 0, on = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 256))) {
		perror("tp-echo: bind/listen");
		close(fd);
		return -1;
	}
	return fd;
}

/* Tell @fd where it comes from: "NAME sees you as ADDR\n". */
static void whoami(int fd, const char *name, const struct sockaddr_in6 *peer)
{
	char addr[INET6_ADDRSTRLEN] = "?", line[INET6_ADDRSTRLEN + 64];

	if (IN6_IS_ADDR_V4MAPPED(&peer->sin6_addr))
		inet_ntop(AF_INET, &peer->sin6_addr.s6_addr[12], addr,
			  sizeof(addr));
	else
		inet_ntop(AF_INET6, &peer->sin6_addr, addr, sizeof(addr));
	snprintf(line, sizeof(line), "%s sees you as %s\n", name, addr);
	if (write(fd, line, strlen(line)) < 0)
		return;
}

struct slot {
	int fd;
	int kind; /* 0 http listener, 1 tcp listener, 2 udp, 3 http conn, 4 tcp conn,
		   * 5 whoami listener */
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "http", required_argument, NULL, 'h' },
		{ "tcp", required_argument, NULL, 't' },
		{ "udp", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "whoami", required_argument, NULL, 'w' },
		{},
	};
	struct pollfd pfd[MAX_FDS];
	struct slot slots[MAX_FDS];
	const char *name = "pod";
	char buf[65536], reply[256];
	int n = 0, c, i;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int kind = c == 'h'   ? 0
			   : c == 't' ? 1
			   : c == 'u' ? 2
			   : c == 'w' ? 5
				      : -1;

		if (c == 'n') {
			name = optarg;
			continue;
		}
		if (kind < 0 || n == MAX_FDS)
			return 2;
		slots[n].fd = listen_on(kind == 2 ? SOCK_DGRAM : SOCK_STREAM,
					atoi(optarg));
		slots[n].kind = kind;
		if (slots[n].fd < 0)
			return 1;
		n++;
	}
	tool_catch_stop(true);
	snprintf(
		reply, sizeof(reply),
		"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhello from %s\n",
		name);
	while (!tool_stop) {
		for (i = 0; i < n; i++) {
			pfd[i].fd = slots[i].fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, n, 500) < 0)
			continue;
		for (i = 0; i < n; i++) {
			struct sockaddr_in6 peer;
			socklen_t plen = sizeof(peer);
			ssize_t len;
			int fd;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			switch (slots[i].kind) {
			case 0:
			case 1:
				fd = accept4(slots[i].fd, NULL, NULL,
					     SOCK_CLOEXEC);
				if (fd >= 0 && n < MAX_FDS) {
					slots[n].fd = fd;
					slots[n].kind = slots[i].kind + 3;
					n++;
				} else if (fd >= 0) {
					close(fd);
				}
				break;
			case 2:
				len = recvfrom(slots[i].fd, buf, sizeof(buf), 0,
					       (struct sockaddr *)&peer, &plen);
				if (len >= 0)
					sendto(slots[i].fd, buf, len, 0,
					       (struct sockaddr *)&peer, plen);
				break;
			case 3:
				len = read(slots[i].fd, buf, sizeof(buf));
				if (len > 0 && write(slots[i].fd, reply,
						     strlen(reply)) < 0)
					len = -1;
				close(slots[i].fd);
				slots[i--] = slots[--n];
				break;
			case 4:
				len = read(slots[i].fd, buf, sizeof(buf));
				if (len <= 0 ||
				    write(slots[i].fd, buf, len) != len) {
					close(slots[i].fd);
					slots[i--] = slots[--n];
				}
				break;
			case 5:
				fd = accept4(slots[i].fd,
					     (struct sockaddr *)&peer, &plen,
					     SOCK_CLOEXEC);
				if (fd >= 0) {
					whoami(fd, name, &peer);
					close(fd);
				}
				break;
			}
		}
	}
	return 0;
}
