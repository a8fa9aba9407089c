/*
 * query.c: the urlencoded query string and form body, the user name rule
 * and the form content type.
 */
#include "config.h"

#include <string.h>

#include "spike.h"
#include "unit.h"

#define MALFORMED	"malformed %-escape in query"
#define BAD_USER	"user must be 1 to 64 characters of A-Z a-z 0-9 _ . -"
#define TWICE		"user given more than once"
#define ESCAPED_NAME	"parameter names may not hold %-escapes, + or NUL"
#define CASED_NAME	"parameter names must be lowercase"

/* 64 characters: the longest user name there may be. */
#define USER_64	"abcdefghijklmnopqrstuvwxy" \
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

static struct query	 q;

/* Parse the NUL-terminated text into a fresh q. */
static enum spike_err
parse(const char *text)
{
	memset(&q, 0, sizeof(q));
	return query_parse(&q, text, strlen(text));
}

/* Parse text into a fresh q and require it to be refused for why. */
static void
expect_refusal(const char *text, const char *why)
{
	enum spike_err	 rc;

	rc = parse(text);
	ck_assert_msg(rc == SPIKE_EINPUT, "accepted (rc %d): \"%s\"", rc,
	    text);
	ck_assert_ptr_nonnull(q.error);
	ck_assert_msg(strcmp(q.error, why) == 0, "\"%s\": got \"%s\"", text,
	    q.error);
}

/* ---- accepted ----------------------------------------------------------- */

START_TEST(test_user_read)
{
	ck_assert_int_eq(parse("user=alice"), SPIKE_OK);
	ck_assert_str_eq(q.user, "alice");
	ck_assert(q.user_given);
	ck_assert_ptr_null(q.error);
}
END_TEST

START_TEST(test_no_user)
{
	ck_assert_int_eq(parse(""), SPIKE_OK);
	ck_assert(!q.user_given);
	ck_assert_str_eq(q.user, "");
	ck_assert_int_eq(parse("a=1&b=2&&c"), SPIKE_OK);
	ck_assert(!q.user_given);
	ck_assert_ptr_null(q.error);
}
END_TEST

/* Names that only look like "user" are other parameters. */
START_TEST(test_other_params_ignored)
{
	ck_assert_int_eq(parse("x=1&users=bad&use=r&user_=bad&"
	    "username=bad&user=bob&y=a%20b&z&=v&&"), SPIKE_OK);
	ck_assert_str_eq(q.user, "bob");
}
END_TEST

/* Other parameters' values may be escaped; they are not read. */
START_TEST(test_escapes_in_others)
{
	ck_assert_int_eq(parse("x=%41%2f%00&user=alice&y=a+b%2Bc"), SPIKE_OK);
	ck_assert_str_eq(q.user, "alice");
}
END_TEST

/*
 * '+' is a space, which no user name may hold; '+' itself is not allowed
 * either, so the decoding shows only in what other parameters may carry.
 */
START_TEST(test_plus_is_space)
{
	ck_assert_int_eq(parse("note=a+b+c&user=carol"), SPIKE_OK);
	ck_assert_str_eq(q.user, "carol");
	expect_refusal("user=a+b", BAD_USER);
	ck_assert_str_eq(q.user, "");
}
END_TEST

START_TEST(test_user_64_accepted)
{
	ck_assert_int_eq(strlen(USER_64), QUERY_USER_MAX);
	ck_assert_int_eq(parse("user=" USER_64), SPIKE_OK);
	ck_assert_str_eq(q.user, USER_64);
}
END_TEST

/* Only len bytes are read: the rest of the buffer is not input. */
START_TEST(test_length_respected)
{
	static const char text[] = "user=alice&user=bob";

	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(query_parse(&q, text, 10), SPIKE_OK);
	ck_assert_str_eq(q.user, "alice");
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(query_parse(&q, text, 8), SPIKE_OK);
	ck_assert_str_eq(q.user, "ali");
}
END_TEST

/* ---- refused ------------------------------------------------------------ */

static const char *const malformed[] = {
	"user=%z1",
	"user=%1",
	"user=%",
	"user=abc%",
	"user=ab%4",
	"user=%g0",
	"x=%zz&user=alice",
	"x=%7",
	"x=us%er",
};

START_TEST(test_malformed_escape)
{
	expect_refusal(malformed[_i], MALFORMED);
	ck_assert_str_eq(q.user, "");
}
END_TEST

static const char *const bad_users[] = {
	"user=",
	"user",
	"user=&x=1",
	"user=" USER_64 "x",
	"user=" USER_64 USER_64 USER_64,
	"user=a%20b",
	"user=a b",
	"user=a/b",
	"user=a%2Fb",
	"user=ab%00cd",
	"user=%00",
	"user=%C3%A9t%C3%A9",
	"user=\xc3\xa9t\xc3\xa9",
	"user=a%2Bb",
	"user=a,b",
	"user=a:b",
	"user=a%0Ab",
	/* A field's value is read as written: escapes are not decoded. */
	"user=al%69ce",
	"user=A%2db%2E_%7a%5A",
	"user=%41",
};

START_TEST(test_bad_user)
{
	expect_refusal(bad_users[_i], BAD_USER);
	ck_assert(q.user_given);
	ck_assert_str_eq(q.user, "");
}
END_TEST

/* A raw NUL inside the given length is a bad character, not an end. */
START_TEST(test_raw_nul_refused)
{
	static const char text[] = "user=ab\0cd";

	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(query_parse(&q, text, sizeof(text) - 1),
	    SPIKE_EINPUT);
	ck_assert_str_eq(q.error, BAD_USER);
	ck_assert_str_eq(q.user, "");
}
END_TEST

/* An escape cut by the length is malformed, whatever follows in memory. */
START_TEST(test_escape_cut_by_length)
{
	static const char text[] = "user=%41&x=1";

	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(query_parse(&q, text, 7), SPIKE_EINPUT);
	ck_assert_str_eq(q.error, MALFORMED);
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(query_parse(&q, text, 6), SPIKE_EINPUT);
	ck_assert_str_eq(q.error, MALFORMED);
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(query_parse(&q, text, 8), SPIKE_EINPUT);
	ck_assert_str_eq(q.error, BAD_USER);
}
END_TEST

/*
 * Names nginx's $arg_user does not see as "user", but a decoder would:
 * each is refused, so no request buys as a user the edge did not see.
 */
static const char *const escaped_names[] = {
	"user%00=x",
	"us%65r=x",
	"user%00%00%00=x",
	"%75ser=alice",
	"%75%73%65%72=alice",
	"user+=x",
	"+user=x",
	"x%3D=1&user=alice",
	"ord%65r=1",
	"unknown%20name=1",
	"a%5B%5D=1&user=alice",
	"%=1",
	"us%er=alice",
};

START_TEST(test_escaped_name)
{
	expect_refusal(escaped_names[_i], ESCAPED_NAME);
	ck_assert_str_eq(q.user, "");
	ck_assert_str_eq(q.order, "");
}
END_TEST

/* A raw NUL in a name, possible in a body: "user\0" is no "user". */
START_TEST(test_raw_nul_in_name)
{
	static const char text[] = "user\0=bob";

	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(query_parse(&q, text, sizeof(text) - 1),
	    SPIKE_EINPUT);
	ck_assert_str_eq(q.error, ESCAPED_NAME);
	ck_assert(!q.user_given);
}
END_TEST

/* nginx's $arg_user matches any case: so must the refusal. */
static const char *const cased_names[] = {
	"USER=bob",
	"User=bob",
	"uSeR=bob",
	"user=alice&USER=bob",
	"USER=bob&user=alice",
	"ORDER=1",
	"Order=1",
};

START_TEST(test_cased_name)
{
	expect_refusal(cased_names[_i], CASED_NAME);
}
END_TEST

START_TEST(test_user_twice)
{
	expect_refusal("user=alice&user=bob", TWICE);
	expect_refusal("user=alice&x=1&user=alice", TWICE);
	expect_refusal("user=alice&%75ser=alice", ESCAPED_NAME);
}
END_TEST

/* The query string, then the POST body, parsed into the same q. */
START_TEST(test_user_in_query_and_body)
{
	static const char body[] = "user=bob";

	ck_assert_int_eq(parse("user=alice"), SPIKE_OK);
	ck_assert_int_eq(query_parse(&q, body, strlen(body)), SPIKE_EINPUT);
	ck_assert_str_eq(q.error, TWICE);
}
END_TEST

START_TEST(test_user_in_body_only)
{
	static const char body[] = "user=bob&extra=1";

	ck_assert_int_eq(parse("x=1"), SPIKE_OK);
	ck_assert_int_eq(query_parse(&q, body, strlen(body)), SPIKE_OK);
	ck_assert_str_eq(q.user, "bob");
	ck_assert_ptr_null(q.error);
}
END_TEST

/* ---- query_user_valid and query_is_form --------------------------------- */

START_TEST(test_user_valid)
{
	ck_assert(query_user_valid("a", 1));
	ck_assert(query_user_valid("Az09_.-", 7));
	ck_assert(query_user_valid(USER_64, 64));
	ck_assert(query_user_valid("alice!", 5));
}
END_TEST

START_TEST(test_user_invalid)
{
	ck_assert(!query_user_valid("", 0));
	ck_assert(!query_user_valid("alice", 0));
	ck_assert(!query_user_valid(USER_64 "a", 65));
	ck_assert(!query_user_valid("a b", 3));
	ck_assert(!query_user_valid("a/b", 3));
	ck_assert(!query_user_valid("a\0b", 3));
	ck_assert(!query_user_valid("\xc3\xa9", 2));
	ck_assert(!query_user_valid("a,b", 3));
	ck_assert(!query_user_valid("a+b", 3));
	ck_assert(!query_user_valid("alice!", 6));
}
END_TEST

START_TEST(test_is_form)
{
	ck_assert(query_is_form("application/x-www-form-urlencoded"));
	ck_assert(query_is_form("application/x-www-form-urlencoded; "
	    "charset=UTF-8"));
	ck_assert(query_is_form("application/x-www-form-urlencoded;"
	    "charset=utf-8"));
	ck_assert(query_is_form("Application/X-WWW-Form-URLEncoded"));
	ck_assert(query_is_form("APPLICATION/X-WWW-FORM-URLENCODED ; "
	    "charset=utf-8"));
}
END_TEST

START_TEST(test_is_not_form)
{
	ck_assert(!query_is_form(NULL));
	ck_assert(!query_is_form(""));
	ck_assert(!query_is_form("application/x-www-form-urlencodedX"));
	ck_assert(!query_is_form("application/x-www-form-urlencoded2; "
	    "charset=utf-8"));
	ck_assert(!query_is_form("application/x-www-form"));
	ck_assert(!query_is_form("text/plain"));
	ck_assert(!query_is_form("application/json"));
	ck_assert(!query_is_form("multipart/form-data; boundary=x"));
}
END_TEST

/* ---- the order parameter ------------------------------------------------ */

#define BAD_ORDER	"order must be 1 to 32 of 0-9 a-f"
#define ORDER_TWICE	"order given more than once"
#define DIGITS_20	"12345678901234567890"
#define HEX_32		"0123456789abcdef0123456789abcdef"

START_TEST(test_order_read)
{
	ck_assert_int_eq(parse("order=7"), SPIKE_OK);
	ck_assert_str_eq(q.order, "7");
	ck_assert(q.order_given);
	ck_assert(!q.user_given);
	ck_assert_int_eq(strlen(HEX_32), QUERY_ORDER_MAX);
	ck_assert_int_eq(parse("order=" HEX_32), SPIKE_OK);
	ck_assert_str_eq(q.order, HEX_32);
	ck_assert_int_eq(parse("order=" DIGITS_20), SPIKE_OK);	/* an old id */
	ck_assert_str_eq(q.order, DIGITS_20);
	ck_assert_int_eq(parse("order=ff"), SPIKE_OK);
	ck_assert_str_eq(q.order, "ff");
	ck_assert_int_eq(parse("user=alice&x=1&order=0042"), SPIKE_OK);
	ck_assert_str_eq(q.user, "alice");
	ck_assert_str_eq(q.order, "0042");
	ck_assert_int_eq(parse("user=bob"), SPIKE_OK);
	ck_assert(!q.order_given);
	ck_assert_str_eq(q.order, "");
	/* Look-alike names are other parameters. */
	ck_assert_int_eq(parse("orders=x&order_=x&order=5"), SPIKE_OK);
	ck_assert_str_eq(q.order, "5");
}
END_TEST

static const char *const bad_orders[] = {
	"order=",
	"order",
	"order=&user=a",
	"order=" HEX_32 "1",
	"order=" DIGITS_20 DIGITS_20 DIGITS_20 DIGITS_20,
	"order=12g",
	"order=g12",
	"order=12A",
	"order=ABCDEF",
	"order=%31%32",
	"order=-1",
	"order=+1",
	"order=1.5",
	"order=1g3",
	"order=0x1f",
	"order=1%20",
	"order=%201",
	"order=1 2",
	"order=1%00",
	"order=%EF%BC%91",	/* a fullwidth digit one */
};

START_TEST(test_bad_order)
{
	expect_refusal(bad_orders[_i], BAD_ORDER);
	ck_assert(q.order_given);
	ck_assert_str_eq(q.order, "");
}
END_TEST

START_TEST(test_order_twice)
{
	expect_refusal("order=1&order=2", ORDER_TWICE);
	expect_refusal("order=1&user=a&order=1", ORDER_TWICE);
	expect_refusal("order=1&%6frder=1", ESCAPED_NAME);
	/* Once in the query string and once in the body. */
	ck_assert_int_eq(parse("order=1"), SPIKE_OK);
	ck_assert_int_eq(query_parse(&q, "order=2", 7), SPIKE_EINPUT);
	ck_assert_str_eq(q.error, ORDER_TWICE);
	/* The first error wins: a bad first order is refused as bad. */
	expect_refusal("order=x&order=1", BAD_ORDER);
}
END_TEST

START_TEST(test_order_valid)
{
	ck_assert(query_order_valid("0", 1));
	ck_assert(query_order_valid(DIGITS_20, 20));
	ck_assert(query_order_valid(HEX_32, 32));
	ck_assert(query_order_valid("123x", 3));
	ck_assert(!query_order_valid("", 0));
	ck_assert(!query_order_valid(HEX_32 "1", 33));
	ck_assert(!query_order_valid("12x", 3));
	ck_assert(!query_order_valid("12F", 3));
	ck_assert(!query_order_valid("-1", 2));
	ck_assert(!query_order_valid(" 1", 2));
	ck_assert(!query_order_valid("1\0" "2", 3));
}
END_TEST

/* ---- item --------------------------------------------------------------- */

#define BAD_ITEM	"item must be 1 to 64 of A-Z a-z 0-9 _ . -"
#define ITEM_TWICE	"item given more than once"

START_TEST(test_item_read)
{
	ck_assert_int_eq(parse("item=G1234.2026-12-02_A&user=a"), SPIKE_OK);
	ck_assert_str_eq(q.item, "G1234.2026-12-02_A");
	ck_assert(q.item_given);
	ck_assert_int_eq(parse("item=" USER_64), SPIKE_OK);
	ck_assert_str_eq(q.item, USER_64);
	ck_assert_int_eq(parse("user=a"), SPIKE_OK);
	ck_assert(!q.item_given);
	ck_assert_str_eq(q.item, "");
}
END_TEST

static const char *const bad_items[] = {
	"item=", "item", "item=.", "item=..", "item=a/b", "item=a%2Fb",
	"item=%2E%2E", "item=a:b", "item=a b", "item=a+b", "item=%00",
	"item=" USER_64 "x", "item=%C3%A9",
};

START_TEST(test_bad_item)
{
	expect_refusal(bad_items[_i], BAD_ITEM);
	ck_assert(q.item_given);
	ck_assert_str_eq(q.item, "");
}
END_TEST

START_TEST(test_item_twice)
{
	expect_refusal("item=a&item=b", ITEM_TWICE);
	expect_refusal("item=a&item=a", ITEM_TWICE);
	ck_assert_int_eq(parse("item=a"), SPIKE_OK);
	ck_assert_int_eq(query_parse(&q, "item=b", 6), SPIKE_EINPUT);
	ck_assert_str_eq(q.error, ITEM_TWICE);
	expect_refusal("ITEM=a", CASED_NAME);
	expect_refusal("it%65m=a", ESCAPED_NAME);
}
END_TEST

Suite *
make_query_suite(void)
{
	Suite	*s = suite_create("query");
	TCase	*tc;

	tc = tcase_create("accepted");
	tcase_add_test(tc, test_user_read);
	tcase_add_test(tc, test_no_user);
	tcase_add_test(tc, test_other_params_ignored);
	tcase_add_test(tc, test_escapes_in_others);
	tcase_add_test(tc, test_plus_is_space);
	tcase_add_test(tc, test_user_64_accepted);
	tcase_add_test(tc, test_length_respected);
	tcase_add_test(tc, test_user_in_body_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_loop_test(tc, test_malformed_escape, 0,
	    (int)(sizeof(malformed) / sizeof(malformed[0])));
	tcase_add_loop_test(tc, test_bad_user, 0,
	    (int)(sizeof(bad_users) / sizeof(bad_users[0])));
	tcase_add_test(tc, test_raw_nul_refused);
	tcase_add_test(tc, test_escape_cut_by_length);
	tcase_add_test(tc, test_user_twice);
	tcase_add_test(tc, test_user_in_query_and_body);
	tcase_add_loop_test(tc, test_escaped_name, 0,
	    (int)(sizeof(escaped_names) / sizeof(escaped_names[0])));
	tcase_add_test(tc, test_raw_nul_in_name);
	tcase_add_loop_test(tc, test_cased_name, 0,
	    (int)(sizeof(cased_names) / sizeof(cased_names[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_test(tc, test_user_valid);
	tcase_add_test(tc, test_user_invalid);
	tcase_add_test(tc, test_is_form);
	tcase_add_test(tc, test_is_not_form);
	suite_add_tcase(s, tc);

	tc = tcase_create("order");
	tcase_add_test(tc, test_order_read);
	tcase_add_loop_test(tc, test_bad_order, 0,
	    (int)(sizeof(bad_orders) / sizeof(bad_orders[0])));
	tcase_add_test(tc, test_order_twice);
	tcase_add_test(tc, test_order_valid);
	suite_add_tcase(s, tc);

	tc = tcase_create("item");
	tcase_add_test(tc, test_item_read);
	tcase_add_loop_test(tc, test_bad_item, 0,
	    (int)(sizeof(bad_items) / sizeof(bad_items[0])));
	tcase_add_test(tc, test_item_twice);
	suite_add_tcase(s, tc);
	return s;
}
