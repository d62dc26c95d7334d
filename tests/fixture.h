/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef TAILPLANE_TESTS_FIXTURE_H
#define TAILPLANE_TESTS_FIXTURE_H

#include <stddef.h>

struct tpd_config;

unsigned long long fixture_seed(const char *env);
char *read_fixture(const char *name, size_t *len);
int fixture_tmpdir(char *dir, size_t size, const char *prefix);
void fixture_pin_config(struct tpd_config *cfg, const char *prefix);
void fixture_pins_remove(const char *prefix);
size_t fixture_pins_count(const struct tpd_config *cfg);
void fixture_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TAILPLANE_TESTS_FIXTURE_H */
