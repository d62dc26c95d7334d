// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tp-localapi: a stand-in for tailscaled's LocalAPI in the end-to-end
 * tests.  Listens on a unix socket and answers GET /localapi/v0/status
 * (Host: local-tailscaled.sock) with the contents of FILE, read at each
 * request so a test can change the peers under a running loader; 404 for
 * anything else.  Runs until SIGTERM/SIGINT.
 *
 * Usage: tp-localapi SOCKET FILE
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools.h"

static void answer(int fd, const char *file)
{
	char req[4096] = "", head[256], *body = NULL;
	size_t len = 0;
	ssize_t n, got = 0;
	FILE *f;

	while (got < (ssize_t)sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		n = read(fd, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			return;
		got += n;
		req[got] = 0;
	}
	if (strncmp(req, "GET /localapi/v0/status", 23) ||
	    !strstr(req, "\r\nHost: local-tailscaled.sock")) {
		dprintf(fd,
			"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		return;
	}
	f = fopen(file, "r");
	if (!f || getdelim(&body, &len, '\0', f) < 0) {
		dprintf(fd,
			"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
		if (f)
			fclose(f);
		free(body);
		return;
	}
	fclose(f);
	snprintf(head, sizeof(head),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 strlen(body));
	if (write(fd, head, strlen(head)) < 0 ||
	    write(fd, body, strlen(body)) < 0)
		perror("tp-localapi: write");
	free(body);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, fd;

	if (argc != 3) {
		fprintf(stderr, "usage: tp-localapi SOCKET FILE\n");
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 16)) {
		perror("tp-localapi");
		return 1;
	}
	tool_catch_stop(false); /* accept returns on the stop */
	while (!tool_stop) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		answer(fd, argv[2]);
		close(fd);
	}
	close(lfd);
	unlink(sa.sun_path);
	return 0;
}
