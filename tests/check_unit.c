/*
 * The unit test runner: every module's suite in one srunner; exits 1 when
 * any test failed.
 */
#include "config.h"

#include <stdlib.h>

#include "unit.h"

static Suite *(*const suite_makers[])(void) = {
	make_conf_suite,
	make_query_suite,
	make_stock_suite,
	make_reply_suite,
	make_statlog_suite,
	make_metrics_suite,
	make_fcgi_scan_suite,
	make_conn_suite,
	make_route_suite,
	make_sig_suite,
	make_listing_suite,
};

int
main(void)
{
	SRunner	*sr;
	size_t	 i;
	int	 failed;

	sr = srunner_create(NULL);
	for (i = 0; i < sizeof(suite_makers) / sizeof(suite_makers[0]); i++)
		srunner_add_suite(sr, suite_makers[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
