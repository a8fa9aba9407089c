/*
 * The Check unit suites, one per module; tests/check_unit.c runs them all.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stddef.h>

#include <check.h>

Suite	*make_conf_suite(void);		/* tests/check_conf.c */
Suite	*make_query_suite(void);	/* tests/check_query.c */
Suite	*make_stock_suite(void);	/* tests/check_stock.c */
Suite	*make_reply_suite(void);	/* tests/check_reply.c */
Suite	*make_statlog_suite(void);	/* tests/check_reply.c */
Suite	*make_metrics_suite(void);	/* tests/check_metrics.c */
Suite	*make_fcgi_scan_suite(void);	/* tests/check_fcgi_scan.c */
Suite	*make_conn_suite(void);		/* tests/check_conn.c */
Suite	*make_route_suite(void);	/* tests/check_route.c */
Suite	*make_sig_suite(void);		/* tests/check_sig.c */
Suite	*make_listing_suite(void);	/* tests/check_listing.c */

void	 unit_tmpdir_make(char *dir, size_t dirsz, const char *name);
void	 unit_tmpdir_remove(const char *dir);

#endif /* UNIT_H */
