/*
 * Unit tests of what the sync thread builds for others: the /items
 * listing (listing.c), the edge files (edge.c) and ?limit= (query.c).
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spike.h"
#include "unit.h"

#define NOW_MS		1800000000000LL
#define HEAD		"Status: 200 OK\r\nContent-Type: application/json; " \
			"charset=utf-8\r\n\r\n"

static struct conf	 conf;

/* Add an item with its sale. */
static struct item *
add(struct item_table *t, const char *name, long long total, long long sold,
    long long start_ms, long long end_ms, bool paused)
{
	char		 key[ITEM_KEY_MAX];
	struct item	*it;

	ck_assert(item_key(&conf, name, key, sizeof(key)));
	ck_assert_ptr_nonnull(it = item_add(t, name, key));
	stock_set_view(&it->stock, total, sold);
	atomic_store(&it->start_ms, start_ms);
	atomic_store(&it->end_ms, end_ms);
	atomic_store(&it->paused, paused);
	return it;
}

/*
 * Coming and open items are listed, by opening then name; ended, paused
 * and hashless ones are not; limit cuts the list whole entries at a time.
 */
START_TEST(test_listing_order_and_limit)
{
	struct item_table *t;
	struct listing	*l;
	char		*out;
	size_t		 len;

	conf_defaults(&conf);
	ck_assert_ptr_nonnull(t = item_table_new(16));
	ck_assert_ptr_nonnull(l = listing_new());
	add(t, "b", 5, 2, 0, 0, false);
	add(t, "a", 5, 5, 0, NOW_MS + 10, false);	/* sold out, open */
	add(t, "later", 9, 0, NOW_MS + 1000, 0, false);
	add(t, "ended", 5, 0, 0, NOW_MS, false);
	add(t, "paused", 5, 0, 0, 0, true);
	add(t, "nohash", 0, 0, 0, 0, false);
	ck_assert_uint_eq(listing_build(l, t, NOW_MS), 3);	/* a b nohash */
	ck_assert_ptr_nonnull(out = listing_answer(l, 100, NOW_MS, &len));
	ck_assert_str_eq(out, HEAD "{\"code\":1,\"msg\":\"ok\",\"now\":"
	    "1800000000000,\"items\":["
	    "{\"item\":\"a\",\"state\":\"open\",\"total\":5,\"sold\":5,"
	    "\"remaining\":0,\"opens_at\":0,\"closes_at\":1800000000010},"
	    "{\"item\":\"b\",\"state\":\"open\",\"total\":5,\"sold\":2,"
	    "\"remaining\":3,\"opens_at\":0,\"closes_at\":0},"
	    "{\"item\":\"later\",\"state\":\"coming\",\"total\":9,\"sold\":0,"
	    "\"remaining\":9,\"opens_at\":1800000001000,\"closes_at\":0}]}\n");
	ck_assert_uint_eq(len, strlen(out));
	free(out);
	ck_assert_ptr_nonnull(out = listing_answer(l, 1, NOW_MS, &len));
	ck_assert_ptr_nonnull(strstr(out, "\"item\":\"a\""));
	ck_assert_ptr_null(strstr(out, "\"item\":\"b\""));
	ck_assert_ptr_nonnull(strstr(out, "}]}\n"));
	free(out);
	/* Later: "later" opened, "a" closed. */
	ck_assert_uint_eq(listing_build(l, t, NOW_MS + 1000), 3);
	ck_assert_ptr_nonnull(out = listing_answer(l, 100, NOW_MS, &len));
	ck_assert_ptr_null(strstr(out, "\"item\":\"a\""));
	ck_assert_ptr_nonnull(strstr(out, "\"item\":\"later\",\"state\":"
	    "\"open\""));
	free(out);
	listing_free(l);
	item_table_free(t);
}
END_TEST

/* An empty listing is an empty array. */
START_TEST(test_listing_empty)
{
	struct listing	*l;
	char		*out;
	size_t		 len;

	ck_assert_ptr_nonnull(l = listing_new());
	ck_assert_ptr_nonnull(out = listing_answer(l, 5, 7, &len));
	ck_assert_str_eq(out, HEAD "{\"code\":1,\"msg\":\"ok\",\"now\":7,"
	    "\"items\":[]}\n");
	free(out);
	listing_free(l);
}
END_TEST

static char	 dir[512];

static void
edge_path(char *path, size_t pathsz, const char *kind, const char *name)
{
	snprintf(path, pathsz, "%s/edge/%s/%s", dir, kind, name);
}

static void
edge_cleanup(void)
{
	char	 path[1024];
	int	 k;

	for (k = 0; k < EDGE_KINDS; k++) {
		edge_path(path, sizeof(path), edge_kind_dir(k), "x");
		unlink(path);
		edge_path(path, sizeof(path), edge_kind_dir(k), "");
		rmdir(path);
	}
	snprintf(path, sizeof(path), "%s/edge", dir);
	rmdir(path);
	unit_tmpdir_remove(dir);
}

/*
 * The directories are made 0755 and the files 0644 whatever the umask;
 * a file holds its body; a link placed at a file's path is replaced,
 * not written through; removing a missing file is no error.
 */
START_TEST(test_edge_files)
{
	char		 edge[600], path[1024], victim[600], body[64];
	struct stat	 st;
	mode_t		 old = umask(077);
	FILE		*f;
	size_t		 n;

	unit_tmpdir_make(dir, sizeof(dir), "edge");
	snprintf(edge, sizeof(edge), "%s/edge", dir);
	ck_assert_ptr_null(edge_prepare(edge, path, sizeof(path)));
	ck_assert_ptr_null(edge_prepare(edge, path, sizeof(path)));
	edge_path(path, sizeof(path), "not-started", "");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	ck_assert_ptr_null(edge_write(edge, EDGE_NOT_STARTED, "x", "hi\n"));
	edge_path(path, sizeof(path), "not-started", "x");
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	n = fread(body, 1, sizeof(body) - 1, f);
	fclose(f);
	body[n] = '\0';
	ck_assert_str_eq(body, "hi\n");
	/* A link at the sold-out path: replaced, its target untouched. */
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	ck_assert_ptr_nonnull(f = fopen(victim, "w"));
	fclose(f);
	edge_path(path, sizeof(path), "sold-out", "x");
	ck_assert_int_eq(symlink(victim, path), 0);
	ck_assert_ptr_null(edge_write(edge, EDGE_SOLD_OUT, "x", "gone\n"));
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_ptr_null(edge_remove(edge, EDGE_SOLD_OUT, "x"));
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_ptr_null(edge_remove(edge, EDGE_SOLD_OUT, "x"));
	ck_assert_ptr_null(edge_remove(edge, EDGE_CLOSED, "x"));
	umask(old);
	edge_cleanup();
}
END_TEST

/* ?limit= takes 1 to 1000 in plain decimal, nothing else. */
START_TEST(test_query_limit)
{
	static const char *const bad[] = { "limit=0", "limit=1001",
	    "limit=01", "limit=-1", "limit=1e3", "limit=", "limit",
	    "limit=10000" };
	struct query	 q;
	size_t		 i;

	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(query_parse(&q, "limit=1000", 10), SPIKE_OK);
	ck_assert(q.limit_given);
	ck_assert_str_eq(q.limit, "1000");
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(query_parse(&q, "limit=1", 7), SPIKE_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&q, 0, sizeof(q));
		ck_assert_msg(query_parse(&q, bad[i], strlen(bad[i])) ==
		    SPIKE_EINPUT, "accepted %s", bad[i]);
		ck_assert_str_eq(q.error, "limit must be 1 to 1000");
	}
}
END_TEST

Suite *
make_listing_suite(void)
{
	Suite	*s = suite_create("listing");
	TCase	*tc = tcase_create("listing");

	tcase_add_test(tc, test_listing_order_and_limit);
	tcase_add_test(tc, test_listing_empty);
	tcase_add_test(tc, test_edge_files);
	tcase_add_test(tc, test_query_limit);
	suite_add_tcase(s, tc);
	return s;
}
