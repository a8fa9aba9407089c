/*
 * Test hosts: network namespaces the test makes and removes itself, as
 * root, so that one machine shows the sale spread over several hosts.
 *
 * Each host is a namespace spk<PID>-<role> with loopback up and one veth
 * pair: "eth0" in the host with an address from 198.18.0.0/24 (RFC 2544's
 * benchmarking range, never routed), its other end "v-<role>" enslaved to
 * a bridge in a namespace of its own, spk<PID>-br.  The machine's own
 * namespace gets no interface and no route: traffic never leaves the
 * namespaces.  A process runs on a host through "ip netns exec", which
 * execs it in place (rig_spawn_on), so the rig still kills it by pid.
 *
 * Every namespace made is remembered by name and removed in
 * rig_net_remove(), or by rig_cleanup() at exit and before a failed Check
 * assertion; removing the bridge's namespace removes its veth ends and so
 * their peers.  Namespaces left by a test that was SIGKILLed (its pid no
 * longer running) are removed by the next rig_net_create().
 */
#define _GNU_SOURCE	/* setns(2) */
#include "config.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rig_private.h"

#define NETNS_DIR	"/run/netns"
#define NETNS_PREFIX	"spk"
#define NET_PREFIX	"198.18.0."	/* host k: .(k + NET_FIRST) */
#define NET_FIRST	2
#define NET_MASK	"/24"
#define MADE_MAX	(RIG_HOSTS_MAX + 1)	/* the hosts and the bridge */

/* Namespaces made by this process, removed by name at the end. */
static char	 made[MADE_MAX][RIG_NETNS_MAX];

static void
made_add(const char *name)
{
	for (size_t i = 0; i < MADE_MAX; i++)
		if (made[i][0] == '\0') {
			snprintf(made[i], sizeof(made[i]), "%s", name);
			return;
		}
}

/*
 * Remove the namespace name as "ip netns del" does: detach its mount at
 * /run/netns/NAME and remove the file.  The kernel frees the namespace,
 * with its links, once no process is left in it.
 */
static void
netns_del(const char *name)
{
	char	 path[sizeof(NETNS_DIR) + 300];

	snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, name);
	umount2(path, MNT_DETACH);
	unlink(path);
}

/* Remove every namespace this process made; runs from rig_cleanup(). */
void
rig_net_cleanup(void)
{
	for (size_t i = 0; i < MADE_MAX; i++)
		if (made[i][0] != '\0') {
			netns_del(made[i]);
			made[i][0] = '\0';
		}
}

/*
 * Remove the namespaces spk<PID>-* of tests that no longer run: a test
 * SIGKILLed by Check's timeout had no chance to.
 */
static void
remove_stale(void)
{
	DIR		*d;
	struct dirent	*e;
	char		*end;
	long		 pid;

	if ((d = opendir(NETNS_DIR)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, NETNS_PREFIX, 3) != 0 ||
		    !isdigit((unsigned char)e->d_name[3]))
			continue;
		pid = strtol(e->d_name + 3, &end, 10);
		if (*end == '-' && pid > 0 && kill((pid_t)pid, 0) == -1 &&
		    errno == ESRCH)
			netns_del(e->d_name);
	}
	closedir(d);
}

/*
 * Run "ip ARGS..." (a NULL ends them) to its end, its output in ip.log in
 * the rig's directory; true when it exits 0, else r->err says why.
 */
static bool
ip(struct rig *r, ...)
{
	char	*argv[24], log[RIG_PATH_MAX + 8], st[64];
	va_list	 ap;
	int	 n = 0, status;

	argv[n++] = "ip";
	va_start(ap, r);
	while (n < 23 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/ip.log", r->dir);
	if (!rig_run(r, argv, log, RIG_START_TIMEOUT_MS, &status))
		return false;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	rig_fail(r, "ip %s %s %s %s: %s", argv[1], argv[2], argv[3],
	    n > 4 ? argv[4] : "", rig_status_str(status, st, sizeof(st)));
	rig_append_tail(r, log);
	return false;
}

/* Make namespace name and remember it for removal. */
static bool
netns_add(struct rig *r, const char *name)
{
	if (!ip(r, "netns", "add", name, NULL))
		return false;
	made_add(name);
	return true;
}

/* The bridge's namespace and the bridge in it, up. */
static bool
bridge_add(struct rig *r, struct rig_net *net)
{
	snprintf(net->bridge, sizeof(net->bridge), NETNS_PREFIX "%ld-br",
	    (long)getpid());
	return netns_add(r, net->bridge) &&
	    ip(r, "-n", net->bridge, "link", "add", "name", "br0", "type",
	    "bridge", NULL) &&
	    ip(r, "-n", net->bridge, "link", "set", "br0", "up", NULL);
}

/*
 * Host k of role: its namespace, loopback up, and a veth pair whose
 * "eth0" end is in the host with address 198.18.0.(k + 2) and whose
 * other end is a port of the bridge.
 */
static bool
host_add(struct rig *r, struct rig_net *net, size_t k, const char *role)
{
	struct rig_host	*h = &net->hosts[k];
	char		 cidr[RIG_ADDR_MAX + 4];

	if (strlen(role) > 12 || strpbrk(role, " /") != NULL)
		return rig_fail(r, "test host role \"%s\": up to 12 characters, "
		    "no blank or slash", role);
	snprintf(h->role, sizeof(h->role), "%s", role);
	snprintf(h->name, sizeof(h->name), NETNS_PREFIX "%ld-%s",
	    (long)getpid(), role);
	snprintf(h->link, sizeof(h->link), "v-%s", role);
	snprintf(h->addr, sizeof(h->addr), NET_PREFIX "%zu", k + NET_FIRST);
	snprintf(cidr, sizeof(cidr), "%s" NET_MASK, h->addr);
	return netns_add(r, h->name) &&
	    ip(r, "-n", h->name, "link", "set", "lo", "up", NULL) &&
	    ip(r, "-n", net->bridge, "link", "add", "name", h->link, "type",
	    "veth", "peer", "name", "eth0", "netns", h->name, NULL) &&
	    ip(r, "-n", net->bridge, "link", "set", h->link, "master", "br0",
	    "up", NULL) &&
	    ip(r, "-n", h->name, "addr", "add", cidr, "dev", "eth0", NULL) &&
	    ip(r, "-n", h->name, "link", "set", "eth0", "up", NULL);
}

/*
 * Make the test hosts named by roles, connected through one bridge.
 * Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2; r must be
 * rig_init()ed (the ip commands log into its directory).
 */
bool
rig_net_create(struct rig *r, struct rig_net *net, const char *const *roles,
    size_t nroles)
{
	memset(net, 0, sizeof(*net));
	net->home_fd = -1;
	if (geteuid() != 0)
		return rig_fail(r, "test hosts need root (ip netns add)");
	if (nroles > RIG_HOSTS_MAX)
		return rig_fail(r, "%zu test hosts: at most %d", nroles,
		    RIG_HOSTS_MAX);
	remove_stale();
	if (!bridge_add(r, net))
		return false;
	for (net->nhosts = 0; net->nhosts < nroles; net->nhosts++)
		if (!host_add(r, net, net->nhosts, roles[net->nhosts]))
			return false;
	return true;
}

/* The host of role, or NULL. */
const struct rig_host *
rig_net_host(const struct rig_net *net, const char *role)
{
	for (size_t i = 0; i < net->nhosts; i++)
		if (strcmp(net->hosts[i].role, role) == 0)
			return &net->hosts[i];
	return NULL;
}

/* setns(2) the calling thread into the network namespace at path. */
static bool
enter_path(struct rig *r, const char *path)
{
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return rig_fail(r, "%s: %s", path, strerror(errno));
	if (setns(fd, CLONE_NEWNET) == -1) {
		close(fd);
		return rig_fail(r, "setns %s: %s", path, strerror(errno));
	}
	close(fd);
	return true;
}

/*
 * Move the calling thread (the test's main thread, before it starts load
 * threads, which inherit it) onto host h: from then on its sockets, and
 * those of every process it forks, are h's.  rig_net_remove() brings it
 * back.
 */
bool
rig_net_enter(struct rig *r, struct rig_net *net, const struct rig_host *h)
{
	char	 path[sizeof(NETNS_DIR) + 300];

	if (net->home_fd == -1 && (net->home_fd = open("/proc/self/ns/net",
	    O_RDONLY | O_CLOEXEC)) == -1)
		return rig_fail(r, "/proc/self/ns/net: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, h->name);
	return enter_path(r, path);
}

/*
 * Cut host h off the network: its veth's bridge end goes down, so the
 * other hosts' packets to it go nowhere (no reset, no answer), as when a
 * machine loses power.
 */
bool
rig_net_cut(struct rig *r, const struct rig_net *net, const struct rig_host *h)
{
	return ip(r, "-n", net->bridge, "link", "set", h->link, "down", NULL);
}

/* How many processes run on host h (its namespace's), or -1. */
int
rig_net_pids(const struct rig_host *h)
{
	char	 cmd[RIG_NETNS_MAX + 64], line[64];
	FILE	*f;
	int	 n = 0;

	snprintf(cmd, sizeof(cmd), "ip netns pids %s 2>/dev/null", h->name);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n++;
	return pclose(f) == 0 ? n : -1;
}

/*
 * Back to the test's own namespace, and remove the hosts and the bridge
 * (with its links).  The processes on them must be stopped first.
 */
void
rig_net_remove(struct rig_net *net)
{
	if (net->home_fd != -1) {
		setns(net->home_fd, CLONE_NEWNET);
		close(net->home_fd);
		net->home_fd = -1;
	}
	rig_net_cleanup();
	net->nhosts = 0;
}

/*
 * Put the rig's parts on test hosts, by role (NULL: that part stays in
 * the test's namespace, on 127.0.0.1): Redis, nginx and each instance.
 * On a host of its own a part needs no free port: Redis takes 6379,
 * nginx 8080 and instance i 3001 + i, the seed's layout; spike.conf and
 * redis.conf are written again.
 */
bool
rig_on_host(struct rig *r, const struct rig_net *net, const char *redis_role,
    const char *nginx_role, const char *const inst_roles[RIG_INSTANCES])
{
	const char	*roles[RIG_INSTANCES + 2];
	struct rig_proc	*parts[RIG_INSTANCES + 2];
	const int	 ports[RIG_INSTANCES + 2] = { 6379, 8080, 3001, 3002,
	    3003, 3004 };
	size_t		 i;

	roles[0] = redis_role;
	parts[0] = &r->redis;
	roles[1] = nginx_role;
	parts[1] = &r->nginx_master;
	for (i = 0; i < RIG_INSTANCES; i++) {
		roles[i + 2] = inst_roles[i];
		parts[i + 2] = &r->inst[i];
	}
	for (i = 0; i < RIG_INSTANCES + 2; i++) {
		if (roles[i] == NULL)
			continue;
		if ((parts[i]->host = rig_net_host(net, roles[i])) == NULL)
			return rig_fail(r, "no test host \"%s\"", roles[i]);
		parts[i]->port = ports[i];
	}
	if (nginx_role != NULL)
		r->http_port = r->nginx_master.port;
	return rig_write_redis_conf(r) && rig_write_conf(r);
}
