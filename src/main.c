/*
 * spike-fcgi: a FastCGI responder that sells a flash sale's tickets
 * exactly once.  Started by spawn-fcgi(1), which hands it the listening
 * socket on fd 0 (FCGI_LISTENSOCK_FILENO, FastCGI Specification 2.2).
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>
#include <fcgiapp.h>
#include <openssl/crypto.h>

#include "spike.h"

#define CONNS_MAX		65536	/* connections an instance holds */
#define CONNS_FLOOR		64
#define FDS_RESERVED		64	/* files, the sync's links, the rest */
#define SHUTDOWN_LEAVE_MS	400	/* to remove the heartbeat */

struct instance {
	struct conf		 conf;
	const char		*conf_path;
	char			 self_id[CONF_ADDR_MAX + 8];	/* as in spike.conf */
	char			 where[CONF_ADDR_MAX + 8];	/* for stat.log */
	unsigned int		 weight;
	struct item_table	*items;
	struct item		*default_item;	/* stock_key's */
	struct statlog		*statlog;
	struct sync_state	*sync;
	struct batcher		*batcher;
	struct keyring		*keyring;	/* buyer_key, pay_key */
	struct route_ctx	*ctxs;		/* workers', loop's, commit's */
	struct worker		**workers;
	unsigned int		 nworkers;
	struct handoff		*handoff;
	struct loop		*loop;
	size_t			 conns_max;
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: spike-fcgi [-htV] [-c file]\n");
}

/*
 * Name the address fd 0 listens on as spike.conf writes it:
 * "A.B.C.D:PORT" or "unix:PATH".  Returns false if fd 0 is no socket.
 */
static bool
listen_address(struct instance *in)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_un	*sun = (struct sockaddr_un *)&ss;
	socklen_t		 len = sizeof(ss);
	char			 host[INET_ADDRSTRLEN];

	memset(&ss, 0, sizeof(ss));
	if (getsockname(FCGI_LISTENSOCK_FILENO, (struct sockaddr *)&ss,
	    &len) == -1)
		return false;
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(in->self_id, sizeof(in->self_id), "%s:%u", host,
		    ntohs(sin->sin_port));
		snprintf(in->where, sizeof(in->where), "%u",
		    ntohs(sin->sin_port));
		return true;
	}
	if (ss.ss_family == AF_UNIX) {
		snprintf(in->self_id, sizeof(in->self_id), "unix:%.*s",
		    (int)sizeof(sun->sun_path), sun->sun_path);
		snprintf(in->where, sizeof(in->where), "%.*s",
		    (int)sizeof(sun->sun_path), sun->sun_path);
		return true;
	}
	errno = EAFNOSUPPORT;
	return false;
}

/* Find this instance's line in spike.conf; exits when there is none. */
static void
find_self(struct instance *in)
{
	const struct conf_instance *ci;

	if (!listen_address(in))
		log_fatal("fd 0 is not a listening socket: start spike-fcgi "
		    "under spawn-fcgi(1)");
	if ((ci = conf_find_instance(&in->conf, in->self_id)) == NULL)
		log_fatalx("%s: no \"instance = %s\" line: this instance "
		    "listens on %s", in->conf_path, in->self_id, in->self_id);
	in->weight = ci->weight;
}

/*
 * Signals: SIGTERM, SIGINT and SIGHUP are blocked in every thread and
 * taken by sigwait() in main: SIGHUP reopens stat.log (log rotation)
 * and reads the keys again, the others stop.  SIGUSR1, whose handler
 * in libfcgi would make every read fail, is taken and ignored.
 */
static void
setup_signals(sigset_t *waited)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(waited);
	sigaddset(waited, SIGTERM);
	sigaddset(waited, SIGINT);
	sigaddset(waited, SIGHUP);
	sigaddset(waited, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, waited, NULL);
}

/*
 * A receive buffer on the listening socket, which accepted TCP sockets
 * inherit, that holds FCGI_SCAN_WINDOW unread bytes with room to spare,
 * so that a worker can peek at the largest request it takes (conn.c).
 * libfcgi's wait for the peer's close after answering (2 s by default,
 * read by FCGX_Init) is cut to a twentieth of a second.
 */
static void
prepare_listening(void)
{
	int	 rcvbuf = 4 * FCGI_SCAN_WINDOW;
	char	 err[256];

	if (setsockopt(FCGI_LISTENSOCK_FILENO, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
	    sizeof(rcvbuf)) == -1)
		log_warn("setting a receive buffer on the listening socket");
	setenv("LIBFCGI_OS_CLOSE_POLL_TIMEOUT", "50", 0);
	if (!conn_init(err, sizeof(err)))
		log_fatalx("%s", err);
}

/*
 * The connections the loop may hold: the descriptors this process may
 * open (its soft limit raised to the hard one), less those it needs
 * for itself (two per worker, its Redis link among them), up to
 * CONNS_MAX.
 */
static size_t
connections_allowed(unsigned int workers)
{
	struct rlimit	 rl;
	size_t		 n = CONNS_MAX;
	size_t		 reserved = FDS_RESERVED + 2 * (size_t)workers;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return CONNS_FLOOR;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n + reserved)
		n = rl.rlim_cur > reserved + CONNS_FLOOR ?
		    rl.rlim_cur - reserved : CONNS_FLOOR;
	return n;
}

/*
 * The context of thread i: a worker's, the loop's (i == nworkers), or
 * the group commit's answers' (nworkers + 1).
 */
static void
init_ctx(struct instance *in, unsigned int i)
{
	struct route_ctx	*ctx = &in->ctxs[i];

	ctx->conf = &in->conf;
	ctx->items = in->items;
	ctx->stock = &in->default_item->stock;
	ctx->sync = in->sync;
	ctx->batcher = in->batcher;
	ctx->statlog = statlog_writer(in->statlog, i);
	ctx->where = in->where;
	ctx->self_id = in->self_id;
	ctx->thread = i;
	if (in->keyring != NULL && (ctx->sig = sig_checker_new(in->keyring,
	    in->conf.sig_max_ttl_s)) == NULL)
		log_fatalx("thread %u: libcrypto has no HMAC-SHA256", i);
	if ((ctx->store = store_new(&in->conf, in->self_id)) == NULL)
		log_fatal("thread %u: a Redis link", i);
}

/* The event loop on fd 0 and the workers it hands requests to. */
static void
start_serving(struct instance *in)
{
	unsigned int	 i;
	size_t		 conns = connections_allowed(in->conf.threads);

	in->nworkers = in->conf.threads;
	in->ctxs = calloc(in->nworkers + 2, sizeof(*in->ctxs));
	in->workers = calloc(in->nworkers, sizeof(*in->workers));
	if (in->ctxs == NULL || in->workers == NULL)
		log_fatal("allocating workers");
	for (i = 0; i < in->nworkers + 2; i++)
		init_ctx(in, i);
	if ((in->handoff = handoff_new(conns + in->nworkers)) == NULL ||
	    (in->loop = loop_new(&in->ctxs[in->nworkers],
	    &in->ctxs[in->nworkers + 1], FCGI_LISTENSOCK_FILENO, in->handoff,
	    conns)) == NULL)
		log_fatal("starting the event loop");
	for (i = 0; i < in->nworkers; i++)
		if ((in->workers[i] = worker_start(&in->ctxs[i], in->handoff,
		    in->loop)) == NULL)
			log_fatal("starting worker %u", i);
	if (!loop_start(in->loop))
		log_fatal("starting the event loop");
	in->conns_max = conns;
}

/*
 * Stop accepting and let the workers answer what they hold, for at most
 * the grace period, then stop the workers.  Returns how many requests
 * were still being answered then (the workers are left running).
 */
static size_t
stop_serving(struct instance *in)
{
	unsigned int	 i;
	size_t		 held;

	if ((held = loop_stop(in->loop)) > 0)
		return held;
	for (i = 0; i < in->nworkers; i++)
		handoff_put(in->handoff, NULL);
	for (i = 0; i < in->nworkers; i++)
		worker_join(in->workers[i]);
	return 0;
}

/*
 * Once every worker has finished, stop the committer, then the sync
 * thread (which removes the heartbeat), then the stat log, each after
 * the last thread that uses it.  Workers still busy after the grace
 * period, and the committer they wait for, may use all of these until
 * the process ends: then nothing is stopped or freed, the stat lines
 * written so far are flushed, and the heartbeat is left to age out, as
 * it is when Redis does not let the sync thread finish in time.
 */
static void
stop_instance(struct instance *in)
{
	size_t	 stuck;

	if ((stuck = stop_serving(in)) > 0) {
		log_warnx("%zu requests still busy after %d ms (with a worker "
		    "or Redis); exiting without them", stuck,
		    SPIKE_SHUTDOWN_GRACE_MS);
		statlog_flush(in->statlog);
		return;
	}
	batcher_stop(in->batcher);
	/* The committer gives connections back to the loop until it stops. */
	loop_free(in->loop);
	handoff_free(in->handoff);
	if (!sync_stop(in->sync, SHUTDOWN_LEAVE_MS))
		log_warnx("redis busy for %d ms: heartbeat left to age out",
		    SHUTDOWN_LEAVE_MS);
	statlog_close(in->statlog);
	log_info("stopped after %lld sales", (long long)atomic_load(
	    &in->default_item->stock.sold));
}

/*
 * Read spike.conf's buyer_key and pay_key lines and their files again
 * (key rotation) and hand the keys to the workers.  The other settings
 * wait for a restart, and so does turning verification on or off: when
 * the file now names no key of a kind that had one (or the reverse), or
 * any key will not do, the keys stay as they were and the log says why.
 */
static void
reload_keys(struct instance *in)
{
	struct conf	*conf;
	struct keyset	 sets[KEYS_KINDS];
	char		 err[CONF_ERR_MAX];
	enum spike_err	 rc;

	if ((conf = malloc(sizeof(*conf))) == NULL) {
		log_error("SIGHUP: keys kept");
		return;
	}
	if ((rc = conf_load(conf, in->conf_path, err, sizeof(err))) ==
	    SPIKE_OK && ((conf->nbuyer_keys == 0) != (in->conf.nbuyer_keys ==
	    0) || (conf->npay_keys == 0) != (in->conf.npay_keys == 0))) {
		snprintf(err, sizeof(err), "%s: buyer_key or pay_key added or "
		    "removed: restart to turn verification on or off",
		    in->conf_path);
		rc = SPIKE_ECONFIG;
	}
	if (rc == SPIKE_OK && in->keyring == NULL) {
		free(conf);
		return;
	}
	if (rc == SPIKE_OK)
		rc = keys_load_all(conf, sets, err, sizeof(err));
	free(conf);
	if (rc != SPIKE_OK) {
		log_errorx("SIGHUP: keys kept: %s", rc == SPIKE_ECONFIG ?
		    err : spike_strerror(rc));
		return;
	}
	keyring_replace(in->keyring, sets);
	log_info("SIGHUP: %zu buyer and %zu payment keys read",
	    sets[KEYS_BUYER].n, sets[KEYS_PAY].n);
	OPENSSL_cleanse(sets, sizeof(sets));
}

static void
serve_until_signalled(struct instance *in, const sigset_t *waited)
{
	int	 signo;

	for (;;) {
		if (sigwait(waited, &signo) != 0)
			continue;
		if (signo == SIGTERM || signo == SIGINT)
			break;
		if (signo == SIGHUP) {
			statlog_reopen(in->statlog);
			reload_keys(in);
		}
	}
	log_info("signal %d: finishing requests in flight", signo);
	stop_instance(in);
}

/*
 * Never serve as root: a FastCGI responder open to the network has no use
 * for it, and a root instance would write wherever a link at its stat.log
 * or flag path leads.  spawn-fcgi's -u (spikectl spawn --user) or the
 * systemd unit's DynamicUser start it as an unprivileged user.
 */
static void
refuse_root(void)
{
	if (getuid() == 0 || geteuid() == 0)
		log_fatalx("refusing to run as root (uid 0): start it as an "
		    "unprivileged user, e.g. \"spikectl spawn ADDR --user "
		    "NAME\" or the spike-fcgi@.service unit (DynamicUser)");
}

/*
 * Open stat.log and make sure the sold-out flag's path holds a regular
 * file or nothing: a link or another type of file at either path stops
 * the start, naming it.
 */
static void
open_files(struct instance *in)
{
	const char	*why;

	if ((in->statlog = statlog_open(in->conf.stat_log,
	    in->conf.threads + 2, &why)) == NULL)
		log_fatalx("%s: stat_log %s: %s", in->conf_path,
		    in->conf.stat_log, why);
	if (*in->conf.sold_out_flag != '\0' &&
	    (why = safefile_check(in->conf.sold_out_flag)) != NULL)
		log_fatalx("%s: sold_out_flag %s: %s", in->conf_path,
		    in->conf.sold_out_flag, why);
}

static void
load_conf(struct instance *in)
{
	char		 err[CONF_ERR_MAX];
	enum spike_err	 rc;

	if ((rc = conf_load(&in->conf, in->conf_path, err,
	    sizeof(err))) != SPIKE_OK)
		log_fatalx("%s", rc == SPIKE_ECONFIG ? err :
		    spike_strerror(rc));
}

/* Read the key files; exits naming spike.conf's line when one will not do. */
static void
load_keys(struct instance *in)
{
	struct keyset	 sets[KEYS_KINDS];
	char		 err[CONF_ERR_MAX];
	enum spike_err	 rc;

	if ((rc = keys_load_all(&in->conf, sets, err, sizeof(err))) !=
	    SPIKE_OK)
		log_fatalx("%s", rc == SPIKE_ECONFIG ? err :
		    spike_strerror(rc));
	if (in->conf.nbuyer_keys + in->conf.npay_keys > 0 &&
	    (in->keyring = keyring_new(sets)) == NULL)
		log_fatal("keys");
	OPENSSL_cleanse(sets, sizeof(sets));
}

/*
 * Read the Redis password once at start, so that a file that will not do
 * stops the instance naming spike.conf's line; it is read again on every
 * new Redis link (auth.c).
 */
static void
check_redis_password(struct instance *in)
{
	char	 err[CONF_ERR_MAX];

	if (auth_check(&in->conf, err, sizeof(err)) != SPIKE_OK)
		log_fatalx("%s", err);
}

int
main(int argc, char *argv[])
{
	static struct instance	 in;
	sigset_t		 waited;
	bool			 test_only = false;
	int			 ch;

	log_init("spike-fcgi");
	in.conf_path = SYSCONFDIR "/spike/spike.conf";
	while ((ch = getopt(argc, argv, "c:htV")) != -1) {
		switch (ch) {
		case 'c':
			in.conf_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 't':
			test_only = true;
			break;
		case 'V':
			printf("spike-fcgi %s\n", SPIKE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	if (!test_only)
		refuse_root();
	load_conf(&in);
	load_keys(&in);
	check_redis_password(&in);
	if (test_only) {
		fprintf(stderr, "%s: syntax is ok\n", in.conf_path);
		return 0;
	}
	find_self(&in);
	setup_signals(&waited);
	prepare_listening();
	if (FCGX_Init() != 0)
		log_fatalx("FCGX_Init failed");
	open_files(&in);
	if ((in.items = item_table_new(in.conf.items_max)) == NULL ||
	    (in.default_item = item_add(in.items, in.conf.stock_key,
	    in.conf.stock_key)) == NULL)
		log_fatal("allocating the items");
	if ((in.sync = sync_start(&in.conf, in.self_id, in.weight,
	    in.items)) == NULL)
		log_fatal("starting the sync thread");
	if ((in.batcher = batcher_start(&in.conf, in.self_id,
	    in.sync)) == NULL)
		log_fatal("starting the committer thread");
	start_serving(&in);
	log_info("serving on %s, weight %u, %u workers, up to %zu "
	    "connections", in.self_id, in.weight, in.nworkers, in.conns_max);
	serve_until_signalled(&in, &waited);
	return 0;
}
