/*
 * The integration test rig: a real redis-server, four spike-fcgi instances
 * and a real nginx, all on free loopback ports inside a private temporary
 * directory, set up the way an operator does it: spike.conf names the
 * instances and their weights, `spikectl init` puts the sale on, `spikectl
 * spawn` starts each instance under spawn-fcgi and `spikectl nginx-conf`
 * writes nginx's snippet (spikectl(1)).
 *
 * A test may place Redis, nginx and each instance on test hosts instead
 * (rig_on_host(), rig_netns.c): network namespaces with addresses of
 * their own, the processes run there through "ip netns exec".
 *
 * Every process the rig starts is a child of the calling thread with
 * PR_SET_PDEATHSIG(SIGKILL), is remembered by pid, and is killed by pid in
 * rig_stop(), at exit and before a failed Check assertion (see the end of
 * this file), so a failing test leaves nothing behind.
 * Functions return true on success; on failure rig->err says why.
 */
#ifndef RIG_H
#define RIG_H

#include <sys/types.h>

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "budget.h"

struct key;
struct redisContext;
struct redisReply;

#define RIG_INSTANCES		4	/* the reference layout: four, */
#define RIG_WEIGHT(i)		((unsigned int)(i) + 1)	/* weights 1:2:3:4 */
#define RIG_DIR_MAX		256
#define RIG_PATH_MAX		512
#define RIG_ERR_MAX		4096
#define RIG_STOCK_KEY		"ticket_hash_key"
#define RIG_TOTAL_FIELD		"ticket_total_nums"
#define RIG_SOLD_FIELD		"ticket_sold_nums"
#define RIG_CODE_NONE		INT_MIN	/* no "code" in the body */
#define RIG_CODE_MIN		(-16)	/* load counters cover -16..15 */
#define RIG_CODE_SLOTS		32
#define RIG_LOAD_THREADS_MAX	64
#define RIG_BODY_MAX		8192
#define RIG_NGINX_ARGS_MAX	8	/* rig_options.nginx_conf_args */
#define RIG_LOAD_USERS_MAX	(1u << 19)	/* users a load remembers code 1 of */
/*
 * spike-fcgi refuses to run as root: when the tests run as root (as CI
 * does) the rig starts instances as this user (spikectl spawn --user) and
 * gives it the rig's directory.  nobody/nogroup exist on stock Debian.
 * TMPDIR must then be searchable by it (mode 0755 or 1777).
 */
#define RIG_USER		"nobody"
#define RIG_NETNS_MAX		32	/* a test host's namespace name */
#define RIG_HOSTS_MAX		8	/* test hosts of one rig_net */
#define RIG_ADDR_MAX		16	/* an IPv4 address as text */

/*
 * A test host (rig_netns.c): a network namespace of its own, with one
 * address from 198.18.0.0/15 on a veth pair into a bridge that lives in
 * a namespace of its own.
 */
struct rig_host {
	char		 name[RIG_NETNS_MAX];	/* spk<PID>-<role> */
	char		 role[RIG_NETNS_MAX];
	char		 addr[RIG_ADDR_MAX];
	char		 link[RIG_NETNS_MAX];	/* its veth's bridge end */
};

/* The test hosts of one test, and the namespace the test came from. */
struct rig_net {
	char		 bridge[RIG_NETNS_MAX];	/* spk<PID>-br */
	struct rig_host	 hosts[RIG_HOSTS_MAX];
	size_t		 nhosts;
	int		 home_fd;	/* the test's own namespace; -1 */
};

/* A process the rig started. */
struct rig_proc {
	pid_t		 pid;		/* 0 when not running */
	int		 port;
	unsigned int	 weight;	/* instances: RIG_WEIGHT, in spike.conf */
	int		 status;	/* wait status once it exited */
	double		 signal_ms;	/* when the rig last signalled it */
	const struct rig_host *host;	/* runs there; NULL: here, on
					 * 127.0.0.1 (rig_proc_addr) */
};

/* What a test may choose; zero means the responder's default. */
struct rig_options {
	unsigned int	 threads;
	unsigned int	 sync_ms;
	unsigned int	 redis_timeout_ms;
	unsigned int	 buffer_percent;
	unsigned int	 request_timeout_ms;
	const char	*conf_extra;	/* lines added to spike.conf, or NULL */
	bool		 no_redis_line;	/* conf_extra names Redis (sentinel) */
	const char	*redis_extra;	/* lines added to redis.conf, or NULL:
					 * a later line overrides the rig's */
	/* More arguments of spikectl nginx-conf, up to the first NULL. */
	const char	*nginx_conf_args[RIG_NGINX_ARGS_MAX];
	/* Lines naming Redis in spike.conf instead of "redis = ADDR" (e.g.
	 * sentinel lines), or NULL. */
	const char	*redis_lines;
	/* The password the rig's own Redis connections send with AUTH (as
	 * the default user), for a Redis with requirepass; NULL: none. */
	const char	*redis_password;
};

struct rig {
	char		 dir[RIG_DIR_MAX];	/* private, mode 0700, owned by
						 * RIG_USER when run as root */
	char		 conf[RIG_PATH_MAX];	/* spike.conf */
	char		 stat_log[RIG_PATH_MAX];	/* the instances' */
	char		 edge_log[RIG_PATH_MAX];	/* nginx's answers */
	char		 sold_out_flag[RIG_PATH_MAX];
	char		 edge_dir[RIG_PATH_MAX];	/* nginx's per-item files */
	char		 redis_conf[RIG_PATH_MAX];
	char		 nginx_dir[RIG_PATH_MAX];
	char		 spike_fcgi[RIG_PATH_MAX];	/* the programs, from */
	char		 spikectl[RIG_PATH_MAX];	/* make check's */
	char		 redis_server[RIG_PATH_MAX];	/* environment */
	char		 nginx[RIG_PATH_MAX];
	struct rig_options opt;
	struct rig_proc	 redis;
	struct rig_proc	 nginx_master;
	struct rig_proc	 inst[RIG_INSTANCES];
	int		 http_port;
	char		 nginx_503[256];	/* nginx's own 503 body, read from
						 * the snippet spikectl wrote */
	char		 err[RIG_ERR_MAX];
};

/* One HTTP answer as the client saw it. */
struct rig_reply {
	int		 status;
	int		 code;		/* "code" from the JSON body */
	long		 content_length;	/* -1 when absent */
	int		 retry_after;	/* -1 when absent */
	bool		 chunked;
	char		 content_type[128];
	char		 allow[128];
	char		 body[RIG_BODY_MAX];
	size_t		 body_len;
	double		 ms;		/* request sent to answer read */
};

/* A keep-alive HTTP/1.1 connection to addr:port. */
struct rig_http {
	const char	*addr;		/* NULL: 127.0.0.1 */
	int		 port;
	const char	*source;	/* bind here first; NULL: any */
	bool		 fcgi;		/* FastCGI straight to an instance
					 * (rig_http_fcgi), not HTTP */
	int		 fd;		/* -1 when not connected */
	char		 in[RIG_BODY_MAX * 2];
	size_t		 inlen;
};

/* What a load run does. */
struct rig_load_spec {
	int		 port;		/* nginx's HTTP port */
	const char	*addr;		/* nginx's address; NULL: 127.0.0.1 */
	const char	*nginx_503;	/* nginx's own 503 body, to tell apart */
	unsigned int	 conns;		/* threads, one connection each */
	unsigned int	 total;		/* requests over all threads */
	bool		 unique_users;	/* ?user=user<k>, else no user */
	unsigned int	 deadline_ms;	/* stop sending after this */
	const struct key *sign_key;	/* unique users signed with it */
	unsigned int	 pause_503_ms;	/* after a 503, as Retry-After asks */
	unsigned int	 pause_ms;	/* after every answer: a paced load */
	const char	*item;		/* ?item=ITEM first; NULL: none */
	const char	*prefix;	/* users are <prefix><k>; NULL: "user" */
	int		 fcgi_port;	/* >0: FastCGI straight to this
					 * instance port, not nginx */
};

/* A load run and what it counted. */
struct rig_load {
	struct rig_load_spec spec;
	atomic_uint	 next;		/* next request index to hand out */
	atomic_bool	 stop;
	atomic_uint	 sent;
	atomic_uint	 answered;	/* any HTTP answer */
	atomic_uint	 failed;	/* transport errors */
	atomic_uint	 nginx_own;	/* nginx's own 503 body */
	atomic_uint	 by_status[600];
	atomic_uint	 by_code[RIG_CODE_SLOTS];
	atomic_uint	 code_other;	/* code missing or out of range */
	atomic_uint	 max_ms;
	atomic_uchar	 bought[RIG_LOAD_USERS_MAX / 8];	/* bit k: user<k> code 1 */
	atomic_uint	 bought_forgotten;	/* code 1 to users past the bits */
	atomic_uint	 first_503_ms;	/* since start_ms, +1; 0: none */
	atomic_uint	 last_503_ms;	/* since start_ms, +1 */
	/* The wall clock (CLOCK_REALTIME, ms; Redis's on this machine)
	 * when the first and the last code-1 answer was read; 0: none. */
	atomic_llong	 first_bought_wall_ms;
	atomic_llong	 last_bought_wall_ms;
	double		 start_ms;
	pthread_t	 threads[RIG_LOAD_THREADS_MAX];
	unsigned int	 nthreads;
	char		 first_error[256];
	atomic_flag	 error_taken;
};

/* Sockets (rig_http.c) and processes (rig.c), for tests that need them raw. */
int		 rig_free_port(void);
int		 rig_tcp_connect(int port, unsigned int io_timeout_ms);
int		 rig_tcp_connect_from(const char *source, int port,
		    unsigned int io_timeout_ms);
int		 rig_tcp_connect_to(const char *source, const char *addr,
		    int port, unsigned int io_timeout_ms);
bool		 rig_send_all(int fd, const void *data, size_t len);
void		 rig_kill_children(pid_t ppid);
bool		 rig_run(struct rig *, char *const argv[], const char *log_path,
		    unsigned int timeout_ms, int *status);
/* Wait for p to exit; signal p, wait, then SIGKILL it (rig.c). */
bool		 rig_proc_wait(struct rig_proc *, unsigned int timeout_ms);
bool		 rig_proc_stop(struct rig_proc *, int sig,
		    unsigned int timeout_ms);

/* Set-up and tear-down (rig.c). */
void		 rig_cleanup(void);
bool		 rig_init(struct rig *, const struct rig_options *);
bool		 rig_write_conf(struct rig *);	/* again, after a change */
bool		 rig_write_key(struct rig *, const char *name, size_t len,
		    struct key *, char *path, size_t pathsz);
unsigned int	 rig_redis_timeout_ms(const struct rig *);
bool		 rig_start(struct rig *, const struct rig_options *,
		    long long total);
void		 rig_stop(struct rig *);
double		 rig_now_ms(void);
long long	 rig_wall_ms(void);	/* CLOCK_REALTIME, ms */
const char	*rig_proc_addr(const struct rig_proc *);
void		 rig_sleep_ms(unsigned int ms);

/* Redis (rig_redis.c). */
bool		 rig_redis_start(struct rig *);
bool		 rig_redis_stop(struct rig *);
bool		 rig_redis_kill(struct rig *);	/* SIGKILL; start again
							 * from its AOF */
bool		 rig_redis_freeze(struct rig *);
bool		 rig_redis_thaw(struct rig *);
bool		 rig_redis_ping(struct rig *);
bool		 rig_sale_set(struct rig *, long long total);	/* init --force */
bool		 rig_sale_get(struct rig *, long long *total, long long *sold);
/*
 * Items (design: one sale per item, under its key): put on with spikectl
 * init TOTAL --item ITEM --force [--start START] (START as spikectl takes
 * it, "+SECONDS" or ISO 8601; NULL: open now), read back from its hash.
 * The default item is RIG_STOCK_KEY, keyed by itself.
 */
#define RIG_ITEM_KEY_MAX	256
bool		 rig_item_set(struct rig *, const char *item, long long total,
		    const char *start);
bool		 rig_item_get(struct rig *, const char *item, long long *total,
		    long long *sold);
const char	*rig_item_key(const char *item, char *buf, size_t bufsz);
bool		 rig_heartbeats_wait(struct rig *, unsigned int timeout_ms);

/*
 * A test's own Redis connection (5 s connect and I/O timeouts) and
 * commands on it.  rig_redis_open() returns what hiredis gave (NULL or
 * c->err set on failure); rig_redis_connect() returns NULL on failure with
 * r->err saying why.  rig_redis_argv() returns NULL on a transport error
 * or an error reply, err then saying "redis <command>: <why>".
 * RIG_ARGV(...) and RIG_ARGC(...) make its argv and argc from literals.
 */
#define RIG_ARGV(...)	((const char *[]){ __VA_ARGS__ })
#define RIG_ARGC(...)	(sizeof(RIG_ARGV(__VA_ARGS__)) / sizeof(const char *))
struct redisContext *rig_redis_open(int port);
struct redisContext *rig_redis_open_at(const char *addr, int port);
struct redisContext *rig_redis_connect(struct rig *);
struct redisReply *rig_redis_argv(struct redisContext *, const char **argv,
		    size_t argc, char *err, size_t errsz);
long long	 rig_redis_int(const struct redisReply *, long long other);
long long	 rig_redis_int_free(struct redisReply *, long long other);
char		*rig_redis_str_free(struct redisReply *, char *buf,
		    size_t bufsz);

/*
 * High availability (rig_ha.c): a replica of the rig's Redis and three
 * Sentinels watching it as RIG_HA_MASTER, spike.conf finding the primary
 * through them.  The starters take the network namespace to run in (NULL:
 * this one) and the address to bind, so that tests of several hosts can
 * place them; a process in another namespace must be reachable from this
 * one at that address.  Every process is stopped by pid.
 */
#define RIG_HA_SENTINELS	3
#define RIG_HA_MASTER		"spike"
#define RIG_HA_QUORUM		2
/*
 * Sentinel's settings in the rig: a primary is down after
 * RIG_HA_DOWN_AFTER_MS, a failover may take RIG_HA_FAILOVER_TIMEOUT_MS.
 * Not quicker: a Redis that stalls longer than down-after-milliseconds on
 * a loaded machine (a fork for a full resync) is failed over in turn.
 * When the Sentinels split their votes, none tries again before twice
 * failover-timeout from the first try: a failover is seen within
 * RIG_HA_FAILOVER_MS, a retry included.
 */
#define RIG_HA_DOWN_AFTER_MS	budget_ms(2000)
#define RIG_HA_FAILOVER_TIMEOUT_MS budget_ms(10000)
#define RIG_HA_FAILOVER_MS	(RIG_HA_DOWN_AFTER_MS + \
				    3 * RIG_HA_FAILOVER_TIMEOUT_MS)

struct rig_ha {
	struct rig_proc	 replica;
	struct rig_proc	 sentinel[RIG_HA_SENTINELS];
	char		 conf_extra[2048];	/* the rig's spike.conf lines */
};

bool		 rig_ha_replica_start(struct rig *, struct rig_proc *,
		    const char *netns, const char *addr,
		    const char *primary_addr, int primary_port);
bool		 rig_ha_sentinel_start(struct rig *, struct rig_proc *,
		    const char *netns, const char *addr,
		    const char *primary_addr, int primary_port);
bool		 rig_ha_init(struct rig *, struct rig_ha *,
		    const struct rig_options *);
bool		 rig_ha_run(struct rig *, struct rig_ha *, long long total);
bool		 rig_ha_on_host(struct rig *, struct rig_ha *,
		    const struct rig_host *);
bool		 rig_ha_replica_add(struct rig *, struct rig_proc *);
bool		 rig_ha_start(struct rig *, struct rig_ha *,
		    const struct rig_options *, long long total);
void		 rig_ha_stop(struct rig *, struct rig_ha *);
bool		 rig_ha_sentinel_stop(struct rig_ha *, int i);
int		 rig_ha_primary_port(struct rig *, struct rig_ha *);
bool		 rig_ha_wait_primary(struct rig *, struct rig_ha *, int port,
		    unsigned int timeout_ms);
bool		 rig_ha_wait_linked(struct rig *, const char *addr, int port,
		    int primary_port, unsigned int timeout_ms);
bool		 rig_ha_redis_rejoin(struct rig *, int primary_port);
bool		 rig_ha_sale_at(struct rig *, int port, long long *total,
		    long long *sold);

/* Instances (rig_instance.c). */
const char	*rig_instance_user(void);	/* RIG_USER as root, or NULL */
bool		 rig_instance_start(struct rig *, int i);
bool		 rig_instances_start(struct rig *);
bool		 rig_instance_kill(struct rig *, int i, int sig);
bool		 rig_instance_wait(struct rig *, int i, unsigned int timeout_ms,
		    int *status, double *ms);
bool		 rig_instance_alive(struct rig *, int i);
bool		 rig_instances_term(struct rig *, unsigned int timeout_ms);

/* nginx (rig_nginx.c). */
bool		 rig_nginx_start(struct rig *);
bool		 rig_nginx_stop(struct rig *);
bool		 rig_nginx_test(struct rig *);

/* HTTP (rig_http.c), or FastCGI straight to an instance (rig_fcgi.c). */
void		 rig_http_init(struct rig_http *, int port);
void		 rig_http_fcgi(struct rig_http *, int port);
void		 rig_http_nginx(struct rig_http *, const struct rig *);
void		 rig_http_from(struct rig_http *, const char *source);
void		 rig_http_close(struct rig_http *);
bool		 rig_http_request(struct rig_http *, const char *method,
		    const char *target, const char *content_type,
		    const char *body, size_t body_len, struct rig_reply *,
		    char *err, size_t errsz);
bool		 rig_get(struct rig *, const char *target, struct rig_reply *);
bool		 rig_send_raw(struct rig *, int port, const void *data,
		    size_t len);

/*
 * Many kept FastCGI connections to one instance, driven by one thread
 * (rig_fcgi.c): a request is written whole (rig_fcgi_send) or in pieces
 * (rig_fcgi_write), every answer read as it comes by rig_fcgi_poll().
 * Requests are rig_fcgi_build()'s, with FCGI_KEEP_CONN.
 */
#define RIG_FCGI_REQ_MAX	4096
struct rig_fcgi_conn {
	int		 fd;		/* -1: closed */
	bool		 waiting;	/* written to; its answer not read yet */
	bool		 gone;		/* the instance closed or reset it */
	double		 wrote_ms;	/* when bytes were last written */
	double		 gone_ms;	/* when it was seen gone */
	unsigned int	 answers;	/* END_REQUESTs read */
	struct rig_reply rep;		/* the last; rep.ms counts from
					 * wrote_ms */
	unsigned char	 head[8];	/* the record coming (section 3.3) */
	size_t		 headlen;
	size_t		 content_left;
	size_t		 padding_left;
	char		 out[RIG_BODY_MAX];	/* STDOUT of the answer coming */
	size_t		 outlen;
};

size_t		 rig_fcgi_build(unsigned char buf[RIG_FCGI_REQ_MAX],
		    const char *method, const char *target);
bool		 rig_fcgi_open(struct rig_fcgi_conn *, int port);
bool		 rig_fcgi_write(struct rig_fcgi_conn *, const void *data,
		    size_t len);
bool		 rig_fcgi_send(struct rig_fcgi_conn *, const char *method,
		    const char *target);
size_t		 rig_fcgi_poll(struct rig_fcgi_conn *, size_t n,
		    double until_ms);
void		 rig_fcgi_close(struct rig_fcgi_conn *);

/* Load (rig_load.c). */
struct rig_load_spec rig_load_plan(const struct rig *, unsigned int conns,
		    unsigned int total, bool unique_users,
		    unsigned int deadline_ms);
bool		 rig_load_start(struct rig_load *, const struct rig_load_spec *);
void		 rig_load_stop(struct rig_load *);
void		 rig_load_wait(struct rig_load *);
unsigned int	 rig_load_code(struct rig_load *, int code);
unsigned int	 rig_load_status(struct rig_load *, int status);
unsigned int	 rig_load_5xx(struct rig_load *);
bool		 rig_load_bought(struct rig_load *, unsigned int k);
double		 rig_load_503_span_ms(struct rig_load *);
const char	*rig_load_summary(struct rig_load *, char *buf, size_t bufsz);

/*
 * Test hosts in network namespaces (rig_netns.c), as root.  Every
 * namespace made is removed by name in rig_net_remove(), at exit and
 * before a failed Check assertion (rig_cleanup()).  roles name the hosts
 * ("edge", "app1", ...); host k gets 198.18.0.(k + 2).
 */
bool		 rig_net_create(struct rig *, struct rig_net *,
		    const char *const *roles, size_t nroles);
const struct rig_host *rig_net_host(const struct rig_net *, const char *role);
bool		 rig_net_enter(struct rig *, struct rig_net *,
		    const struct rig_host *);
bool		 rig_net_cut(struct rig *, const struct rig_net *,
		    const struct rig_host *);
int		 rig_net_pids(const struct rig_host *);
void		 rig_net_remove(struct rig_net *);
void		 rig_net_cleanup(void);
bool		 rig_on_host(struct rig *, const struct rig_net *,
		    const char *redis_role, const char *nginx_role,
		    const char *const inst_roles[RIG_INSTANCES]);

/*
 * stat.log and the instances' logs (rig_stat.c).  The stat lines are
 * counted over both writers' files: the instances' stat_log and nginx's
 * edge_log (port:nginx lines).
 */
long		 rig_stat_lines(struct rig *, const char *needle);
long		 rig_stat_lines_both(struct rig *, const char *needle,
		    const char *also);
long		 rig_instance_log_lines(struct rig *, int i, const char *needle);
long		 rig_stat_port_lines(struct rig *, int i);
bool		 rig_stat_wait(struct rig *, const char *needle, long want,
		    unsigned int timeout_ms);

/*
 * Check ends a failed test with _exit(), skipping atexit handlers: in
 * files that include <check.h> first, every failing assertion calls
 * rig_cleanup() before Check's own failure call, so the processes of a
 * failed test are still killed by pid.  (On a Check timeout the test
 * child is SIGKILLed: PR_SET_PDEATHSIG and Check's kill of the test's
 * process group cover that case.)
 */
#ifdef CHECK_H
#define _ck_assert_failed(...) \
	(rig_cleanup(), _ck_assert_failed(__VA_ARGS__))
#endif

#endif /* RIG_H */
