/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The body of every Check test program's main(): runs @s (which it frees)
 * in Check's default fork mode and turns the result into an exit status
 * for automake's test driver. Called once, from main().
 */
#ifndef TD_CHECK_H
#define TD_CHECK_H

#include <check.h>
#include <stdlib.h>

static inline int td_check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
