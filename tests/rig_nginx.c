/*
 * The rig's nginx: its main configuration around the snippet spikectl
 * nginx-conf writes, started and stopped by pid.  See rig.h.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rig_private.h"

/*
 * The body of nginx's own "return 503 '...'" in the snippet, which tells
 * nginx's answer apart from the instances'.
 */
static bool
read_nginx_503(struct rig *r, const char *path)
{
	char		*text = rig_read_file(path);
	const char	*p, *end;

	if (text == NULL)
		return rig_fail(r, "%s: cannot read", path);
	if ((p = strstr(text, "return 503 '")) == NULL ||
	    (end = strchr(p + 12, '\'')) == NULL) {
		free(text);
		return rig_fail(r, "%s: no \"return 503 '...'\" of nginx's own",
		    path);
	}
	snprintf(r->nginx_503, sizeof(r->nginx_503), "%.*s",
	    (int)(end - p - 12), p + 12);
	free(text);
	return true;
}

/*
 * Write nginx's snippet to path as an operator does: spikectl nginx-conf
 * --listen on the rig's HTTP port, from spike.conf's instances, weights,
 * stat_log and sold_out_flag.
 */
static bool
write_snippet(struct rig *r, const char *path)
{
	const char *const *a = r->opt.nginx_conf_args;
	char	 listen[32];

	snprintf(listen, sizeof(listen), "%s:%d", rig_proc_addr(&r->nginx_master),
	    r->http_port);
	if (unlink(path) == -1 && errno != ENOENT)
		return rig_fail(r, "unlink %s: %s", path, strerror(errno));
	/* The test's own arguments, up to the first NULL, then a NULL. */
	return rig_spikectl(r, path, "nginx-conf", "--listen", listen, a[0],
	    a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL) &&
	    read_nginx_503(r, path);
}

/* Write nginx.conf (main context) around the snippet spikectl writes. */
static bool
write_nginx_conf(struct rig *r)
{
	char	 text[8192], snippet[RIG_PATH_MAX + 32], conf[RIG_PATH_MAX + 32];
	const char *d = r->nginx_dir;

	if (mkdir(d, 0700) == -1 && errno != EEXIST)
		return rig_fail(r, "mkdir %s: %s", d, strerror(errno));
	snprintf(snippet, sizeof(snippet), "%s/spike-fcgi.conf", d);
	if (!write_snippet(r, snippet))
		return false;
	snprintf(text, sizeof(text),
	    "%s"
	    "daemon off;\nmaster_process on;\nworker_processes 2;\n"
	    "pid %s/nginx.pid;\nerror_log %s/error.log info;\n"
	    "events { worker_connections 1024; }\n"
	    "http {\n\taccess_log off;\n"
	    "\tclient_body_temp_path %s/client_body_temp;\n"
	    "\tfastcgi_temp_path %s/fastcgi_temp;\n"
	    "\tproxy_temp_path %s/proxy_temp;\n"
	    "\tuwsgi_temp_path %s/uwsgi_temp;\n"
	    "\tscgi_temp_path %s/scgi_temp;\n"
	    "\tinclude %s;\n}\n",
	    geteuid() == 0 ? "user root;\n" : "", d, d, d, d, d, d, d,
	    snippet);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", d);
	return rig_write_file(r, conf, text);
}

/* Does nginx answer HTTP?  A request without Host gets nginx's own 400,
 * so no instance sees the probe.  A rig_ready_fn. */
static bool
nginx_answers(struct rig *r, const struct rig_proc *p)
{
	static const char probe[] = "GET / HTTP/1.1\r\n\r\n";
	char	 buf[16];
	int	 fd;
	ssize_t	 n;

	(void)r;
	if ((fd = rig_tcp_connect_to(NULL, rig_proc_addr(p), p->port,
	    1000)) == -1)
		return false;
	n = rig_send_all(fd, probe, sizeof(probe) - 1) ?
	    recv(fd, buf, sizeof(buf), 0) : -1;
	close(fd);
	return n >= 9 && memcmp(buf, "HTTP/1.1 ", 9) == 0;
}

/* Start nginx with the rig's config; wait until it answers HTTP. */
bool
rig_nginx_start(struct rig *r)
{
	char	 conf[RIG_PATH_MAX + 32], err[RIG_PATH_MAX + 32];
	char	 prefix[RIG_PATH_MAX + 2], log[RIG_PATH_MAX + 32], what[64];
	char	*argv[] = { (char *)r->nginx, "-p", prefix, "-c", conf, "-e",
	    err, NULL };

	if (!write_nginx_conf(r))
		return false;
	snprintf(prefix, sizeof(prefix), "%s/", r->nginx_dir);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", r->nginx_dir);
	snprintf(err, sizeof(err), "%s/error.log", r->nginx_dir);
	snprintf(log, sizeof(log), "%s/stderr.log", r->nginx_dir);
	if ((r->nginx_master.pid = rig_spawn_on(r, r->nginx_master.host, argv,
	    log, true)) == -1) {
		r->nginx_master.pid = 0;
		return false;
	}
	r->nginx_master.port = r->http_port;
	snprintf(what, sizeof(what), "nginx on %s:%d",
	    rig_proc_addr(&r->nginx_master), r->http_port);
	return rig_wait_ready(r, &r->nginx_master, nginx_answers, what,
	    "no HTTP answer", err);
}

/*
 * Does nginx's output say more than it is fine?  Its complaint about
 * make check's NGINX variable (nginx reads it as inherited sockets) is
 * not about the configuration.
 */
static bool
nginx_complains(const char *text)
{
	const char	*line, *eol;

	for (line = text; *line != '\0'; line = eol + (*eol != '\0')) {
		eol = line + strcspn(line, "\n");
		if ((memmem(line, (size_t)(eol - line), "[warn]", 6) != NULL ||
		    memmem(line, (size_t)(eol - line), "[emerg]", 7) != NULL) &&
		    memmem(line, (size_t)(eol - line), "NGINX environment", 17)
		    == NULL)
			return true;
	}
	return false;
}

/*
 * nginx -t on the rig's configuration, as written by rig_nginx_start():
 * true when nginx takes it without an error or a warning.
 */
bool
rig_nginx_test(struct rig *r)
{
	char	 conf[RIG_PATH_MAX + 32], err[RIG_PATH_MAX + 32];
	char	 prefix[RIG_PATH_MAX + 2], log[RIG_PATH_MAX + 32], st[64];
	char	*argv[] = { (char *)r->nginx, "-t", "-p", prefix, "-c", conf,
	    "-e", err, NULL };
	char	*text;
	struct rig_proc	 p = { 0 };
	bool	 clean;

	snprintf(prefix, sizeof(prefix), "%s/", r->nginx_dir);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", r->nginx_dir);
	snprintf(err, sizeof(err), "%s/test-error.log", r->nginx_dir);
	snprintf(log, sizeof(log), "%s/test.log", r->nginx_dir);
	if ((p.pid = rig_spawn(r, argv, log, true)) == -1)
		return false;
	if (!rig_proc_wait(&p, RIG_START_TIMEOUT_MS)) {
		rig_proc_stop(&p, SIGKILL, RIG_STOP_TIMEOUT_MS);
		return rig_fail(r, "nginx -t: still running");
	}
	text = rig_read_file(log);
	clean = text != NULL && !nginx_complains(text);
	free(text);
	if (WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0 && clean)
		return true;
	rig_fail(r, "nginx -t: %s", rig_status_str(p.status, st, sizeof(st)));
	rig_append_tail(r, log);
	return false;
}

/* SIGQUIT, then SIGTERM, then SIGKILL (workers by pid too). */
bool
rig_nginx_stop(struct rig *r)
{
	struct rig_proc	*p = &r->nginx_master;

	if (p->pid == 0)
		return true;
	kill(p->pid, SIGQUIT);
	if (rig_proc_wait(p, RIG_STOP_TIMEOUT_MS))
		return true;
	kill(p->pid, SIGTERM);
	if (rig_proc_wait(p, RIG_STOP_TIMEOUT_MS))
		return true;
	rig_kill_nginx(p->pid);
	rig_proc_wait(p, RIG_STOP_TIMEOUT_MS);
	return rig_fail(r, "nginx did not stop on SIGQUIT/SIGTERM");
}
