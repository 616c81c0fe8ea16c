/* tap.h: minimal TAP producer for host-only unit tests (tests/run-tests counts the lines). */
#ifndef TESTS_TAP_H
#define TESTS_TAP_H

#include <stdbool.h>
#include <stdint.h>

/* Records one check: prints "ok N - name" or "not ok N - name" plus where. */
bool tap_check(bool cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prints the plan ("1..N") and returns the process exit status (0 if all passed). */
int tap_done(void);

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_EQ(a, b, ...)                                                                        \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
		if (!tap_check(a_ == b_, __FILE__, __LINE__, __VA_ARGS__))                         \
			printf("#   got 0x%llx, want 0x%llx\n", a_, b_);                              \
	} while (0)

#include <stdio.h>
#endif
