/*
 * spike-fcgi: private interfaces, grouped by the file that defines them.
 *
 * A request's path: worker.c accepts the connection, conn.c waits until
 * the request has come whole and fcgi_scan.c has found it safe, libfcgi
 * reads it, route.c picks the handler, query.c parses its input, stock.c
 * takes a local ticket, batch.c gathers the purchases of the moment and
 * store.c sells them in one Redis script call, reply.c answers, statlog.c
 * records the stat line and metrics.c counts it.  In the background,
 * sync.c keeps each item (item.c) and its local stock in step with
 * Redis, keeps the edge files nginx answers from (edge.c) and the /items
 * listing (listing.c), and expires unpaid orders.  spikectl.c with the
 * ctl_*.c files is the operator's tool; conf.c, redis_dial.c (with
 * sentinel.c and auth.c), json.c, log.c, now.c and error.c serve both.
 */
#ifndef SPIKE_H
#define SPIKE_H

#include <sys/types.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPIKE_VERSION		PACKAGE_VERSION

/* After SIGTERM, how long requests in flight may take (main.c). */
#define SPIKE_SHUTDOWN_GRACE_MS	2500

/* Every fallible call returns one of these; 0 is success. */
enum spike_err {
	SPIKE_OK = 0,
	SPIKE_ENOMEM,		/* out of memory */
	SPIKE_ESYSTEM,		/* a system call failed; see errno */
	SPIKE_ECONFIG,		/* configuration is invalid */
	SPIKE_EINPUT,		/* request input is invalid */
	SPIKE_EREDIS,		/* Redis unreachable, timed out or broken */
	SPIKE_EUNCONFIRMED,	/* Redis ran it; too few replicas have it */
};

const char	*spike_strerror(enum spike_err);

/* ---- conf.c: the configuration file ---------------------------------- */

#define CONF_ADDR_MAX		108	/* fits a sockaddr_un path */
#define CONF_KEY_MAX		128
#define CONF_PATH_MAX		1024
#define CONF_INSTANCES_MAX	64
#define CONF_SENTINELS_MAX	8
#define CONF_ERR_MAX		(CONF_PATH_MAX + 256)

/* Defaults of the keys that set a time or a thread count (spike.conf(5)). */
#define CONF_DEFAULT_REDIS_TIMEOUT_MS	500
#define CONF_DEFAULT_THREADS		64
#define CONF_DEFAULT_READ_TIMEOUT_MS	500
#define CONF_DEFAULT_REQUEST_TIMEOUT_MS	5000
#define CONF_DEFAULT_SYNC_MS		200
#define CONF_DEFAULT_SIG_MAX_TTL_S	86400
#define CONF_SIG_MAX_TTL_S_MAX		31536000	/* a year */
#define CONF_DEFAULT_DURABILITY_TIMEOUT_MS 100
/* nginx's file of its own answers; nginx/spike-fcgi.conf names it. */
#define CONF_DEFAULT_EDGE_LOG	"/var/log/nginx/spike-fcgi-edge.log"
#define CONF_DEFAULT_ORDER_RETENTION_S	86400	/* a day */
#define CONF_ORDER_RETENTION_S_MAX	31536000	/* a year */
#define CONF_DEFAULT_EVENTS_MAX_LEN	100000
#define CONF_EVENTS_MAX_LEN_MAX		1000000000
/* The items an instance holds at once (item.c), and where nginx looks. */
#define CONF_DEFAULT_ITEMS_MAX		16384
#define CONF_ITEMS_MAX_MAX		1000000
#define CONF_DEFAULT_EDGE_DIR	"/run/spike-fcgi/edge"

/* A key file named in spike.conf (buyer_key, pay_key), and where. */
#define CONF_KEYFILES_MAX	2	/* the current key and the previous */

struct conf_keyfile {
	char		 path[CONF_PATH_MAX];
	unsigned int	 line;		/* of spike.conf, for messages */
};

struct conf_instance {
	char		 addr[CONF_ADDR_MAX];	/* "HOST:PORT" or "unix:PATH" */
	unsigned int	 weight;
};

/* When a purchase may be answered "bought" (spike.conf(5), durability). */
enum conf_durability {
	CONF_DURABILITY_NONE,		/* when the script has run */
	CONF_DURABILITY_FSYNC,		/* Redis fsyncs its AOF first */
	CONF_DURABILITY_REPLICAS,	/* WAIT saw durability_replicas */
};

struct conf {
	char		 redis[CONF_ADDR_MAX];	/* "HOST:PORT" or "unix:PATH" */
	unsigned int	 redis_timeout_ms;
	char		 sentinels[CONF_SENTINELS_MAX][CONF_ADDR_MAX];
	size_t		 nsentinels;	/* 0: redis names the primary */
	char		 sentinel_master[CONF_KEY_MAX];	/* "" without */
	enum conf_durability durability;
	unsigned int	 durability_replicas;
	unsigned int	 durability_timeout_ms;
	char		 stock_key[CONF_KEY_MAX];
	char		 total_field[CONF_KEY_MAX];
	char		 sold_field[CONF_KEY_MAX];
	char		 stat_log[CONF_PATH_MAX];
	char		 edge_log[CONF_PATH_MAX];	/* nginx's own lines */
	char		 sold_out_flag[CONF_PATH_MAX];	/* "" for none */
	char		 edge_dir[CONF_PATH_MAX];	/* "" for none */
	unsigned int	 items_max;
	unsigned int	 threads;
	unsigned int	 read_timeout_ms;
	unsigned int	 request_timeout_ms;
	unsigned int	 buffer_percent;
	unsigned int	 sync_ms;
	unsigned int	 per_user_limit;
	bool		 allow_anonymous;
	unsigned int	 pay_timeout_s;
	unsigned int	 sig_max_ttl_s;	/* EXP at most this far ahead */
	char		 events_key[CONF_KEY_MAX + 16];	/* "" until loaded */
	unsigned int	 order_retention_s;	/* ended orders kept so long */
	unsigned int	 events_max_len;	/* XADD MAXLEN ~ this */
	char		 redis_user[CONF_KEY_MAX];	/* "": the default */
	struct conf_keyfile redis_password_file;	/* path "": no AUTH */
	struct conf_instance instances[CONF_INSTANCES_MAX];
	size_t		 ninstances;
	char		 source[CONF_PATH_MAX];	/* the file, for key errors */
	struct conf_keyfile buyer_keys[CONF_KEYFILES_MAX];
	size_t		 nbuyer_keys;	/* 0: buyers are not verified */
	struct conf_keyfile pay_keys[CONF_KEYFILES_MAX];
	size_t		 npay_keys;	/* 0: payments are not verified */
};

void		 conf_defaults(struct conf *);
enum spike_err	 conf_load(struct conf *, const char *path, char *err,
		    size_t errsz);
enum spike_err	 conf_parse(struct conf *, const char *name, const char *text,
		    char *err, size_t errsz);
const struct conf_instance *conf_find_instance(const struct conf *,
		    const char *addr);
unsigned int	 conf_total_weight(const struct conf *);

/* ---- keys.c: the signing keys, read from their files ------------------ */

#define KEYS_MIN_BYTES		32
#define KEYS_MAX_BYTES		1024

enum keys_kind {
	KEYS_BUYER,		/* buyer_key: the shop's login service */
	KEYS_PAY,		/* pay_key: the payment service */
	KEYS_KINDS
};

struct key {
	size_t		 len;
	unsigned char	 bytes[KEYS_MAX_BYTES];
};

/* The keys of one kind, the current one first. */
struct keyset {
	struct key	 keys[CONF_KEYFILES_MAX];
	size_t		 n;
};

struct keyring;

enum spike_err	 keys_load(const struct conf *, enum keys_kind,
		    struct keyset *, char *err, size_t errsz);
enum spike_err	 keys_load_all(const struct conf *,
		    struct keyset sets[KEYS_KINDS], char *err, size_t errsz);
struct keyring	*keyring_new(const struct keyset sets[KEYS_KINDS]);
void		 keyring_free(struct keyring *);
void		 keyring_replace(struct keyring *,
		    const struct keyset sets[KEYS_KINDS]);
unsigned int	 keyring_generation(struct keyring *);
unsigned int	 keyring_copy(struct keyring *, struct keyset sets[KEYS_KINDS]);

/* ---- sig.c: buyer and payment signatures, "EXP.MAC" ------------------- */

#define SIG_MAC_BYTES		32	/* HMAC-SHA256 */
#define SIG_EXP_DIGITS_MAX	18
#define SIG_TEXT_MAX		(SIG_EXP_DIGITS_MAX + 1 + 2 * SIG_MAC_BYTES)
/* "[ITEM:]USER" or "[ITEM:]ORDER.USER", each part its longest, NUL. */
#define SIG_SUBJECT_MAX		(64 + 1 + 32 + 1 + 64 + 1)

enum sig_verdict {
	SIG_GOOD,
	SIG_MISSING,
	SIG_MALFORMED,
	SIG_EXPIRED,
	SIG_TOO_FAR,		/* EXP over sig_max_ttl_s ahead */
	SIG_WRONG,		/* no key of the kind made this MAC */
};

/* A signature as sent: EXP as written (it is signed so) and the MAC. */
struct sig {
	char		 exp_text[SIG_EXP_DIGITS_MAX + 1];
	long long	 exp;
	unsigned char	 mac[SIG_MAC_BYTES];
};

struct sig_checker;

bool		 sig_parse(const char *text, size_t len, struct sig *);
bool		 sig_hmac(const struct key *, const char *msg, size_t len,
		    unsigned char mac[SIG_MAC_BYTES]);
bool		 sig_mint(const struct key *, const char *subject,
		    long long exp, char *out, size_t outsz);
struct sig_checker *sig_checker_new(struct keyring *,
		    unsigned int max_ttl_s);
void		 sig_checker_free(struct sig_checker *);
enum sig_verdict sig_check(struct sig_checker *, enum keys_kind,
		    const char *subject, const char *text, long long now_s);
const char	*sig_verdict_name(enum sig_verdict);

/* ---- redis_dial.c: the connection to Redis ---------------------------- */

struct redisContext;
struct timeval;

/* Where a connection went: the primary, and the Sentinel that named it. */
struct redis_where {
	char		 addr[CONF_ADDR_MAX];
	char		 sentinel[CONF_ADDR_MAX];	/* "" without */
	unsigned int	 generation;	/* redis_dial_generation() then */
};

struct redisContext *redis_dial(const struct conf *, char *err,
		    size_t errsz);
struct redisContext *redis_dial_where(const struct conf *,
		    struct redis_where *, char *err, size_t errsz);
struct redisContext *redis_dial_addr(const char *addr, struct timeval);
unsigned int	 redis_dial_generation(void);
void		 redis_dial_follow(const char *addr);
bool		 redis_dial_error_is_unavailable(const char *msg);

/* ---- auth.c: the Redis password, from redis_password_file ----------- */

#define AUTH_PASSWORD_MAX	1024

struct auth_password {
	char		 text[AUTH_PASSWORD_MAX + 1];
	size_t		 len;
	char		 source[CONF_PATH_MAX + 32];	/* the file read */
};

enum spike_err	 auth_read_password(const struct conf *,
		    struct auth_password *, char *err, size_t errsz);
enum spike_err	 auth_check(const struct conf *, char *err, size_t errsz);

/* ---- sentinel.c: the primary, as Redis Sentinel names it -------------- */

enum spike_err	 sentinel_primary(const struct conf *, char *addr,
		    size_t addrsz, char *via, size_t viasz, char *err,
		    size_t errsz);
bool		 sentinel_check_role(struct redisContext *, char *err,
		    size_t errsz);

/* ---- log.c: diagnostics on stderr -------------------------------------- */

void		 log_init(const char *progname);
void		 log_info(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_errorx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
_Noreturn void	 log_fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
_Noreturn void	 log_fatalx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_escape(char *dst, size_t dstsz, const char *src);
bool		 log_to_journal(void);
const char	*log_journal_prefix(int priority);

/* ---- now.c: the monotonic clock -------------------------------------- */

long long	 now_us(void);
long long	 now_ms(void);

/* ---- query.c: request input -------------------------------------------- */

#define QUERY_USER_MAX		64
#define QUERY_ORDER_MAX		32
#define QUERY_BODY_MAX		4096
#define QUERY_SIG_MAX		128	/* what sig.c parses is shorter */
#define QUERY_ITEM_MAX		64	/* ITEM_NAME_MAX, item.c's */
#define QUERY_LIMIT_MAX		4	/* digits of ?limit= (GET /items) */

/* Zero it before the first query_parse. */
struct query {
	char		 user[QUERY_USER_MAX + 1];	/* "" when not given */
	char		 order[QUERY_ORDER_MAX + 1];	/* "" when not given */
	char		 sig[QUERY_SIG_MAX + 1];	/* "" when not given */
	char		 item[QUERY_ITEM_MAX + 1];	/* "" when not given */
	bool		 user_given;
	bool		 order_given;
	bool		 sig_given;
	bool		 item_given;
	char		 limit[QUERY_LIMIT_MAX + 1];	/* "" when not given */
	bool		 limit_given;
	const char	*error;				/* why input was refused */
};

enum spike_err	 query_parse(struct query *, const char *qs, size_t len);
bool		 query_user_valid(const char *user, size_t len);
bool		 query_order_valid(const char *order, size_t len);
bool		 query_sig_valid(const char *sig, size_t len);
bool		 query_is_form(const char *content_type);

/* ---- json.c: JSON strings ---------------------------------------------- */

size_t		 json_escape(char *dst, size_t dstsz, const char *s);
void		 json_print_string(const char *s);

/* ---- reply.c: JSON answers ---------------------------------------------- */

enum reply_kind {
	REPLY_BOUGHT,		/* 200, code 1 */
	REPLY_SOLD_OUT,		/* 200, code -1 */
	REPLY_UNAVAILABLE,	/* 503, code -2 */
	REPLY_BAD_REQUEST,	/* 400, code -3 */
	REPLY_NOT_FOUND,	/* 404, code -4 */
	REPLY_BAD_METHOD,	/* 405, code -5 */
	REPLY_TOO_LARGE,	/* 413, code -6 */
	REPLY_NO_ORDER,		/* 404, code -7 */
	REPLY_CONFLICT,		/* 409, code -8 */
	REPLY_HEADERS_TOO_LARGE, /* 431, code -9 */
	REPLY_PAID,		/* 200, code 1 */
	REPLY_OK,		/* 200, code 1 */
	REPLY_NOT_VERIFIED,	/* 403, code -12: buyer signature */
	REPLY_PAY_NOT_VERIFIED,	/* 403, code -14: payment signature */
	REPLY_NOT_STARTED,	/* 403, code -10: before the item's start */
	REPLY_CLOSED,		/* 403, code -11: paused, or past its end */
	REPLY_KINDS
};

/* What to answer: a kind, and optionally its details. */
struct reply {
	enum reply_kind	 kind;
	const char	*detail;	/* replaces the default msg */
	const char	*allow;		/* Allow header of a 405 */
	char		 extra[192];	/* more JSON members: ,"k":v... */
};

int		 reply_code(enum reply_kind);
int		 reply_status(enum reply_kind);
size_t		 reply_format(char *buf, size_t bufsz, const struct reply *);

/* ---- stock.c: the instance's local quota ------------------------------- */

struct stock {
	atomic_llong	 quota;		/* tickets this instance may try to sell */
	atomic_llong	 taken;		/* taken from the quota, sold or in flight */
	atomic_llong	 sold;		/* confirmed by Redis: localSales */
	atomic_bool	 sold_out;	/* Redis said so; answer from memory */
	atomic_bool	 synced;	/* quota has been set from Redis once */
	atomic_llong	 view_total;	/* the sale as the last sync saw it */
	atomic_llong	 view_sold;
};

void		 stock_init(struct stock *);
bool		 stock_take(struct stock *);
void		 stock_give_back(struct stock *);
long long	 stock_confirm(struct stock *);
void		 stock_mark_sold_out(struct stock *);
void		 stock_set_view(struct stock *, long long total, long long sold);
bool		 stock_refill(struct stock *, long long remaining,
		    unsigned int weight, unsigned int live_weight,
		    unsigned int buffer_percent);
long long	 stock_share(long long remaining, unsigned int weight,
		    unsigned int weight_sum, unsigned int buffer_percent);

/* ---- item.c: the items on sale, as the instance knows them ------------- */

/*
 * An item is one sale: its hash in Redis (total and sold fields, and
 * start_ms, end_ms, paused, per_user) and the keys of its orders, all
 * under its key (item_key).  The default item is the one named by
 * stock_key, whose key is stock_key itself: a request without "item"
 * buys it, as the seed's did.  See spike-fcgi(8), "Items".
 */
#define ITEM_NAME_MAX		64
#define ITEM_KEY_INFIX		":item:"
#define ITEM_KEY_MAX		((CONF_KEY_MAX - 1) + \
				    (sizeof(ITEM_KEY_INFIX) - 1) + \
				    ITEM_NAME_MAX + 1)

/* Where an item's sale stands at an instant of Redis's clock. */
enum item_state {
	ITEM_COMING,		/* before start_ms */
	ITEM_OPEN,
	ITEM_PAUSED,		/* the operator's brake (spikectl pause) */
	ITEM_ENDED,		/* at or past end_ms */
};

/*
 * The sync thread alone writes an item; workers read it without a lock.
 * An item once added stays for the process's life.
 */
struct item {
	char		 name[CONF_KEY_MAX];	/* the default's is stock_key */
	char		 key[ITEM_KEY_MAX];	/* its hash; prefix of its keys */
	struct stock	 stock;
	atomic_llong	 start_ms;	/* Redis's clock; 0: from the start */
	atomic_llong	 end_ms;	/* 0: no end */
	atomic_bool	 paused;
	/* The sync thread's own. */
	bool		 filled;	/* first quota granted */
	unsigned int	 edge;		/* what the edge files last said */
	long long	 edge_opens_ms;	/* the not-started file's opens_at */
	bool		 edge_retry;	/* its files failed: try again */
};

struct item_table;

bool		 item_name_valid(const char *name, size_t len);
bool		 item_key(const struct conf *, const char *name, char *key,
		    size_t keysz);
struct item_table *item_table_new(size_t capacity);
void		 item_table_free(struct item_table *);
struct item	*item_find(struct item_table *, const char *name, size_t len);
struct item	*item_add(struct item_table *, const char *name,
		    const char *key);
size_t		 item_count(const struct item_table *);
struct item	*item_at(struct item_table *, size_t i);
enum item_state	 item_state_at(const struct item *, long long redis_ms);
const char	*item_state_name(enum item_state);
void		 item_set_clock(struct item_table *, long long redis_us,
		    long long local_us);
long long	 item_redis_now_ms(const struct item_table *);
long long	 item_local_us(const struct item_table *, long long redis_ms);

/* ---- store.c: Redis, the one true count -------------------------------- */

enum store_buy_result {
	STORE_SOLD,		/* one ticket sold now */
	STORE_SOLD_BEFORE,	/* this request or user bought already */
	STORE_SOLD_OUT,
	STORE_NO_SALE,		/* stock hash missing */
	STORE_NOT_STARTED,	/* before the item's start: opens_at */
	STORE_CLOSED,		/* the item is paused or past its end */
};

enum store_pay_result {
	STORE_PAID,
	STORE_PAID_BEFORE,
	STORE_NO_ORDER,		/* none, or another user's: not told apart */
	STORE_TOO_LATE,		/* past its pay-by time, or expired */
};

#define STORE_ORDER_ID_MAX	(QUERY_ORDER_MAX + 1)	/* 32 hex digits, NUL */

/* The Lua scripts, one EVALSHA each; the metrics count calls by script. */
enum store_script {
	STORE_SCRIPT_BUY,
	STORE_SCRIPT_EXPIRE,
	STORE_SCRIPT_ORDER,
	STORE_SCRIPT_PAY,
	STORE_SCRIPT_SYNC,
	STORE_SCRIPTS
};

/* An order as Redis holds it; id is "" for an anonymous purchase. */
struct store_order {
	char		 id[STORE_ORDER_ID_MAX];
	char		 status[16];	/* pending, paid, expired */
	long long	 pay_by;	/* unix milliseconds */
};

/* An item's hash as sync.lua read it. */
struct store_sale {
	bool		 exists;	/* total and sold are numbers */
	long long	 total;
	long long	 sold;
	long long	 start_ms;	/* 0: open from the start */
	long long	 end_ms;	/* 0: no end */
	bool		 paused;
};

/* An item the change log named. */
struct store_item_view {
	char		 name[CONF_KEY_MAX];
	struct store_sale sale;
};

#define STORE_SYNC_BATCH	1000	/* changed items read per sync call */
#define STORE_SYNC_HEAD		12	/* numbers before the addresses */
#define STORE_SYNC_ITEM_FIELDS	7	/* name and the six of a sale */

struct store_view {
	bool		 exists;	/* the default item's, as sale */
	long long	 total;
	long long	 sold;
	struct store_sale sale;		/* the default item's */
	unsigned int	 live_weight;	/* weights of instances seen alive */
	long long	 redis_us;	/* Redis TIME */
	long long	 seq;		/* D:seq */
	long long	 last;		/* the last change read */
	bool		 more;		/* the log may hold more past last */
	struct store_item_view *items;	/* the caller's, STORE_SYNC_BATCH */
	size_t		 nitems;
};

/*
 * The longest request id, with its NUL: nginx's $request_id, or one made
 * by route.c, "ADDR/PID/THREAD/COUNT" with ADDR an instance address of
 * spike.conf and each number at most 20 digits.
 */
#define STORE_REQUEST_ID_MAX	(CONF_ADDR_MAX + 3 * (1 + 20))

/* One purchase as Redis is asked to make it. */
struct store_purchase {
	const struct item	*item;		/* its key and name */
	const char		*request_id;
	const char		*user;		/* "" when anonymous */
	enum store_buy_result	 result;
	struct store_order	 order;
	long long		 opens_at;	/* STORE_NOT_STARTED: Redis ms */
};

#define STORE_BATCH_MAX		64

struct store;

struct store	*store_new(const struct conf *, const char *self_id);
void		 store_free(struct store *);
enum spike_err	 store_buy(struct store *, struct store_purchase *const *,
		    size_t n);
enum spike_err	 store_pay(struct store *, const struct item *,
		    const char *user, const char *order,
		    enum store_pay_result *, struct store_order *);
enum spike_err	 store_find_order(struct store *, const struct item *,
		    const char *user, bool *found, struct store_order *);
enum spike_err	 store_expire(struct store *, long long *expired);
enum spike_err	 store_sync(struct store *, long long last,
		    struct store_view *);
void		 store_leave(struct store *);
const char	*store_error(const struct store *);
const struct redis_where *store_where(const struct store *);
const char	*store_script_name(enum store_script);

/* ---- batch.c: purchases sent to Redis together (group commit) -------- */

struct batcher;
struct sync_state;

struct batcher	*batcher_start(const struct conf *, const char *self_id,
		    struct sync_state *);
void		 batcher_stop(struct batcher *);
/* A purchase for the group commit; done() is called on its thread. */
struct batch_item {
	struct batch_item	*next;
	struct store_purchase	*purchase;
	void			(*done)(struct batch_item *, enum spike_err);
};

void		 batcher_submit(struct batcher *, struct batch_item *);

/* ---- statlog.c: stat.log, one line per request ------------------------- */

#define STATLOG_FLUSH_MS	100	/* lines reach the file this often */

struct statlog;
struct statlog_buf;

struct statlog	*statlog_open(const char *path, unsigned int writers,
		    const char **why);
void		 statlog_close(struct statlog *);
struct statlog_buf *statlog_writer(struct statlog *, unsigned int index);
void		 statlog_append(struct statlog_buf *, const char *line,
		    size_t len);
void		 statlog_flush(struct statlog *);
enum spike_err	 statlog_reopen(struct statlog *);
int		 statlog_format(char *buf, size_t bufsz, int result,
		    long long local_sales, const char *where,
		    const char *user, long long us);

/* ---- safefile.c: stat.log and the flag, regular files, never links ---- */

const char	*safefile_check(const char *path);
int		 safefile_append(const char *path, const char **why);
const char	*safefile_create(const char *path);
struct stat;
const char	*safefile_secret_problem(int fd, struct stat *st, char *why,
		    size_t whysz);

/* ---- edge.c: the files nginx answers from, per item ------------------- */

enum edge_kind {
	EDGE_SOLD_OUT,		/* edge_dir/sold-out/ITEM */
	EDGE_NOT_STARTED,	/* edge_dir/not-started/ITEM */
	EDGE_CLOSED,		/* edge_dir/closed/ITEM */
	EDGE_KINDS
};

const char	*edge_kind_dir(enum edge_kind);
const char	*edge_prepare(const char *dir, char *path, size_t pathsz);
const char	*edge_write(const char *dir, enum edge_kind, const char *name,
		    const char *body);
const char	*edge_remove(const char *dir, enum edge_kind,
		    const char *name);

/* ---- listing.c: GET /items, built by the sync thread ------------------ */

#define LISTING_DEFAULT_LIMIT	100
#define LISTING_MAX		1000	/* ?limit= at most */

struct listing;

struct listing	*listing_new(void);
void		 listing_free(struct listing *);
size_t		 listing_build(struct listing *, struct item_table *,
		    long long redis_ms);
char		*listing_answer(struct listing *, unsigned int limit,
		    long long redis_ms, size_t *len);

/* ---- sync.c: the background sync with Redis ---------------------------- */

#define SYNC_EXPIRE_MS		1000	/* overdue orders expire this often */

struct sync_state;

struct sync_state *sync_start(const struct conf *, const char *self_id,
		    unsigned int weight, struct item_table *);
bool		 sync_stop(struct sync_state *, unsigned int timeout_ms);
bool		 sync_store_up(const struct sync_state *);
void		 sync_report_down(struct sync_state *, const char *why);
struct listing	*sync_listing(struct sync_state *);

/* ---- route.c: one request, from parameters to answer ------------------- */

struct route_ctx {
	const struct conf	*conf;
	struct item_table	*items;		/* the items on sale */
	struct stock		*stock;		/* the default item's */
	struct store		*store;		/* this thread's Redis link */
	struct batcher		*batcher;	/* sells purchases in groups */
	struct sync_state	*sync;
	struct statlog_buf	*statlog;	/* this thread's stat buffer */
	struct sig_checker	*sig;		/* this thread's; NULL, no keys */
	const char		*where;		/* port or socket, for stat.log */
	const char		*self_id;	/* the instance's address */
	unsigned int		 thread;
	unsigned long long	 purchases;	/* for request ids made here */
};

/* A purchase waiting for the group commit, in storage its caller owns. */
struct route_purchase {
	struct store_purchase	 p;
	struct item		*item;
	char			 request_id[STORE_REQUEST_ID_MAX];
	char			 user[QUERY_USER_MAX + 1];
	bool			 pending;	/* for the group commit */
};

struct route_request {
	struct route_purchase *purchase;	/* where a purchase goes */
	const char	*method;
	const char	*path;
	const char	*query;
	const char	*content_type;
	const char	*request_id;	/* nginx's $request_id, or NULL */
	const char	*body;
	size_t		 body_len;
};

struct route_answer {
	struct reply	 reply;
	char		 user[QUERY_USER_MAX + 1];	/* for stat.log */
	bool		 ops;		/* /metrics or /healthz: not counted */
	bool		 exposition;	/* send metrics_format(), not JSON */
	bool		 listing;	/* send listing_answer(), GET /items */
	unsigned int	 limit;		/* of the listing */
};

/* Which thread answers a request (loop.c): memory's answers the loop. */
enum route_place {
	ROUTE_ON_LOOP,
	ROUTE_ON_LOOP_COMMIT,	/* then its purchase goes to the group commit */
	ROUTE_ON_WORKER,	/* it needs Redis */
	ROUTE_ON_WORKER_LARGE,	/* its answer may outgrow a socket buffer */
};

bool		 route_length_ok(const char *content_length, struct reply *);
enum route_place route_place(const char *path);
void		 route_settle(struct route_purchase *, enum spike_err,
		    struct reply *);
void		 route_handle(struct route_ctx *, const struct route_request *,
		    struct route_answer *);

/* ---- fcgi_scan.c: a FastCGI request checked before libfcgi reads it ---- */

#define FCGI_SCAN_PARAMS_MAX	65535	/* nginx sends at most one full record */
#define FCGI_SCAN_WINDOW	(80 * 1024)	/* bytes of a request looked at */

enum fcgi_scan_verdict {
	FCGI_SCAN_MORE,		/* fine so far: scan again with more bytes */
	FCGI_SCAN_READY,	/* libfcgi may read the request */
	FCGI_SCAN_BAD,		/* broken or hostile: close the connection */
	FCGI_SCAN_TOO_LARGE,	/* parameters over the limit: answer 431 */
};

struct fcgi_scan {
	enum fcgi_scan_verdict verdict;
	size_t		 need;		/* MORE: bytes needed in all */
	unsigned int	 request_id;	/* 0 until BEGIN_REQUEST is seen */
	const char	*why;		/* BAD, TOO_LARGE: for the log */
	size_t		 end;		/* READY: libfcgi needs no byte past */
	unsigned int	 params;	/* READY: name-value pairs in PARAMS */
};

void		 fcgi_scan_request(const unsigned char *buf, size_t len,
		    size_t body_max, struct fcgi_scan *);

/* ---- conn.c: FastCGI sockets, each request peeked at first ----------- */

#define CONN_LINGER_MS		100	/* after an answer that ends it */

struct conn_limits {
	unsigned int	 idle_ms;	/* silence allowed: read_timeout_ms */
	unsigned int	 request_ms;	/* a request's arrival: request_timeout_ms */
};

bool		 conn_init(char *err, size_t errsz);
int		 conn_accept(int listen_fd, const struct conn_limits *);
ssize_t		 conn_peek(int fd, unsigned char *buf);
bool		 conn_answer(int fd, unsigned int request_id,
		    const char *resp, size_t len);
ssize_t		 conn_discard(int fd, size_t max);
void		 conn_peer_name(int fd, char *buf, size_t bufsz);

/* ---- serve.c: one request, its answer and its stat line -------------- */

struct FCGX_Request;

/* What becomes of a connection once its request is answered. */
enum conn_after {
	CONN_AFTER_KEEP,	/* kept for the next request */
	CONN_AFTER_LINGER,	/* ended: what the peer sends is thrown away */
	CONN_AFTER_DRAIN,	/* ended before its body had all come */
	CONN_AFTER_CLOSED,	/* libfcgi closed it: a write failed */
};

/* A purchase of a connection's, waiting for the group commit. */
struct serve_pending {
	struct route_answer	 ans;
	struct route_purchase	 purchase;
	struct batch_item	 item;
	long long		 start_us;
	bool			 drop;
};

const char	*serve_path(struct FCGX_Request *);
bool		 serve_request(struct route_ctx *, struct FCGX_Request *,
		    bool *drop, struct serve_pending *);
enum conn_after	 serve_settle(struct route_ctx *, struct FCGX_Request *,
		    struct serve_pending *, enum spike_err);
void		 serve_record(struct route_ctx *, const struct route_answer *,
		    long long us);
enum conn_after	 serve_finish(struct FCGX_Request *, bool drop);
void		 serve_set_blocking(int fd, bool blocking);

/* ---- handoff.c, loop.c, worker.c: the connections and the threads ---- */

struct conn;
struct handoff;
struct loop;
struct worker;

struct handoff	*handoff_new(size_t capacity);
void		 handoff_put(struct handoff *, struct conn *);
struct conn	*handoff_take(struct handoff *);
void		 handoff_free(struct handoff *);

struct loop	*loop_new(struct route_ctx *, struct route_ctx *commit_ctx,
		    int listen_fd, struct handoff *, size_t conns_max);
bool		 loop_start(struct loop *);
size_t		 loop_stop(struct loop *);
void		 loop_free(struct loop *);
struct FCGX_Request *loop_request(struct conn *);
bool		 loop_answer_large(const struct conn *);
void		 loop_return(struct loop *, struct conn *, enum conn_after);

struct worker	*worker_start(struct route_ctx *, struct handoff *,
		    struct loop *);
void		 worker_join(struct worker *);

/* ---- metrics.c: counters for GET /metrics ----------------------------- */

#define METRICS_TEXT_MAX	8192	/* the whole exposition fits */

void		 metrics_bind(unsigned int thread);
void		 metrics_count_request(int code, long long us);
void		 metrics_redis_call(enum store_script);
void		 metrics_redis_error(void);
void		 metrics_redis_reconnect(void);
void		 metrics_unconfirmed(unsigned int n);
void		 metrics_fastcgi_refused(void);
void		 metrics_purchases_sent(unsigned int n);
void		 metrics_set_items(size_t known, size_t open);
void		 metrics_items_full(void);
size_t		 metrics_format(char *buf, size_t bufsz, struct stock *,
		    bool redis_up);

/* ---- ctl_redis.c: spikectl's look at the sale in Redis ----------------- */

#define CTL_BEATS_MAX		128
#define CTL_RAW_MAX		32

/* The stock hash as spikectl finds it. */
struct ctl_sale {
	bool		 exists;	/* either field is there */
	bool		 total_ok;	/* total is a whole number */
	bool		 sold_ok;
	long long	 total;
	long long	 sold;
	char		 total_raw[CTL_RAW_MAX];	/* as stored, for messages */
	char		 sold_raw[CTL_RAW_MAX];
};

/* One heartbeat in KEY:instances. */
struct ctl_beat {
	char		 addr[CONF_ADDR_MAX];
	long long	 age_ms;	/* Redis TIME minus its score */
};

struct ctl_status {
	struct ctl_sale	 sale;
	long long	 pending;	/* ZCARD KEY:pending */
	long long	 anonymous;	/* GET KEY:anonymous */
	long long	 items;		/* ZCARD KEY:items, those registered */
	struct ctl_beat	 beats[CTL_BEATS_MAX];	/* newest first */
	size_t		 nbeats;
	struct redis_where where;	/* the Redis that answered */
};

/* A start given may lie this far in the past (a command typed late). */
#define CTL_START_PAST_MS	60000

/* What spikectl init is asked for (spikectl(1), init). */
struct ctl_init {
	long long	 total;
	bool		 force;
	char		 start[24];	/* "" from now, "+S" seconds, unix ms */
	char		 end[24];	/* "" no end, "+S", unix ms */
	long long	 per_user;	/* -1: spike.conf's per_user_limit */
	bool		 new_unswept;	/* an item new to Redis has no keys
					 * to sweep (init --items-from) */
};

/* init.lua's "close" status: why init refused, or CTL_INIT_DONE. */
enum ctl_init_status {
	CTL_INIT_DONE = 1,
	CTL_INIT_SOLD = 0,		/* sold tickets and no --force */
	CTL_INIT_END_FIRST = -1,	/* the end not after the start */
	CTL_INIT_START_PAST = -2,	/* over CTL_START_PAST_MS ago */
	CTL_INIT_END_PAST = -3,		/* the end already past */
};

/* What spikectl init found and did. */
struct ctl_reset {
	bool		 refused;	/* status is not CTL_INIT_DONE */
	int		 status;	/* enum ctl_init_status */
	struct ctl_sale	 before;
	long long	 ended;		/* pending orders ended */
	long long	 removed;	/* per-user keys unlinked */
	long long	 now_ms;	/* Redis's clock at the close */
	long long	 start_ms;	/* the times resolved (0: none) */
	long long	 end_ms;
};

/* An item as spikectl items finds it (items.lua). */
struct ctl_item {
	char		 name[CONF_KEY_MAX];	/* the default's: stock_key */
	bool		 total_ok;
	bool		 sold_ok;
	long long	 total;
	long long	 sold;
	long long	 start_ms;	/* 0: open from init */
	long long	 end_ms;	/* 0: no end */
	bool		 paused;
	long long	 per_user;	/* -1: spike.conf's */
};

struct ctl_redis;

struct ctl_redis *ctl_redis_new(const struct conf *);
void		 ctl_redis_free(struct ctl_redis *);
const char	*ctl_redis_error(const struct ctl_redis *);
const struct redis_where *ctl_redis_where(const struct ctl_redis *);
enum spike_err	 ctl_redis_ping(struct ctl_redis *);
enum spike_err	 ctl_redis_sale(struct ctl_redis *, struct ctl_sale *);
enum spike_err	 ctl_redis_durability(struct ctl_redis *, char *why,
		    size_t whysz);
enum spike_err	 ctl_redis_status(struct ctl_redis *, struct ctl_status *);
bool		 ctl_redis_set_item(struct ctl_redis *, const char *name);
enum spike_err	 ctl_redis_init(struct ctl_redis *, const struct ctl_init *,
		    struct ctl_reset *);
enum spike_err	 ctl_redis_item_count(struct ctl_redis *, long long *);
enum spike_err	 ctl_redis_pause(struct ctl_redis *, const char *name,
		    bool paused, long long *changed);
enum spike_err	 ctl_redis_items(struct ctl_redis *, struct ctl_item **,
		    size_t *n, long long *now_ms);

/* ---- ctl_time.c: times of spikectl, ISO 8601 to and from Unix ms ------ */

bool		 ctl_time_parse(const char *text, long long *ms);
void		 ctl_time_format(long long ms, char *buf, size_t bufsz);

/* ---- ctl_items.c: spikectl items, the list ---------------------------- */

const char	*ctl_item_state(const struct ctl_item *, long long now_ms);
void		 ctl_items_print(const struct ctl_item *, size_t n,
		    long long now_ms, const struct conf *, bool json);

/* ---- ctl_audit.c: spikectl audit, the sale's books checked ------------ */

#define CTL_AUDIT_KINDS		16	/* kinds of violation audit.lua has */
#define CTL_AUDIT_LISTED	20	/* described of each kind; all counted */
#define CTL_AUDIT_ITEM_MAX	512

/* One kind of violation: how many, and the first few described. */
struct ctl_audit_kind {
	char		 name[32];
	long long	 count;
	char		 items[CTL_AUDIT_LISTED][CTL_AUDIT_ITEM_MAX];
	size_t		 nitems;
};

/* The books as audit.lua read them at one instant (spikectl(1), audit). */
struct ctl_audit {
	char		 item[CONF_KEY_MAX];	/* the item audited */
	bool		 exists;	/* the stock hash is there */
	long long	 now_ms;	/* Redis TIME when it read them */
	long long	 opened_ms;	/* KEY:opened; 0 without */
	long long	 grace_ms;	/* allowed past pay_by */
	char		 total_raw[CTL_RAW_MAX];
	char		 sold_raw[CTL_RAW_MAX];
	long long	 pending;
	long long	 paid;
	long long	 expired;
	long long	 anonymous;
	long long	 orders;	/* of this sale */
	long long	 earlier;	/* orders of an earlier sale, not checked */
	long long	 events;	/* of this sale */
	struct ctl_audit_kind kinds[CTL_AUDIT_KINDS];
	size_t		 nkinds;
	long long	 violations;	/* over every kind */
	double		 took_ms;	/* the script's round trip */
};

enum spike_err	 ctl_redis_audit(struct ctl_redis *, long long grace_ms,
		    struct ctl_audit *);
long long	 ctl_audit_grace_ms(const struct conf *);
void		 ctl_audit_print(const struct ctl_audit *, const struct conf *,
		    const char *conf_path, bool json);

/* ---- ctl_nginx.c: spikectl nginx-conf ---------------------------------- */

enum spike_err	 ctl_nginx_render(const char *tmpl, const struct conf *,
		    const char *header, const char *listen, char **out,
		    char *err, size_t errsz);

/* What nginx-conf was asked for beyond the instances. */
struct ctl_nginx_opts {
	const char	*listen;	/* NULL: keep the template's */
	unsigned int	 rate;		/* requests a second; 0: no limit */
	unsigned int	 burst;
	const char *const *pay_from;	/* /pay only from these */
	size_t		 npay_from;
	const char *const *server_names;	/* NULL: the template's */
	size_t		 nserver_names;
};

enum spike_err	 ctl_nginx_render_opts(const char *tmpl, const struct conf *,
		    const char *header, const struct ctl_nginx_opts *,
		    char **out, char *err, size_t errsz);

/* ctl_snippet.c, generated from nginx/spike-fcgi.conf at build time. */
extern const char ctl_nginx_snippet[];

/* ---- lua_scripts.c, generated from src/lua/ at build time -------------- */

extern const char lua_audit[];
extern const char lua_buy[];
extern const char lua_expire[];
extern const char lua_init[];
extern const char lua_items[];
extern const char lua_order[];
extern const char lua_pause[];
extern const char lua_pay[];
extern const char lua_sync[];

#endif /* SPIKE_H */
