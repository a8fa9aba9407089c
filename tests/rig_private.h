/*
 * What the rig's own files share and the tests do not see: errors, files,
 * processes started and tracked by pid, and spikectl.  The interface is
 * rig.h.
 */
#ifndef RIG_PRIVATE_H
#define RIG_PRIVATE_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#include "rig.h"

/* Scaled by SPIKE_TEST_SLOWDOWN, as every time the tests wait for. */
#define RIG_START_TIMEOUT_MS	budget_ms(15000)	/* up and answering */
#define RIG_STOP_TIMEOUT_MS	budget_ms(5000)		/* signalled, gone */
#define RIG_POLL_MS		10

/* rig.c: errors and files. */
bool		 rig_fail(struct rig *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 rig_append_tail(struct rig *, const char *path);
bool		 rig_write_file(struct rig *, const char *path,
		    const char *text);
char		*rig_read_file(const char *path);
bool		 rig_write_redis_conf(struct rig *);

/* rig.c: processes, tracked by pid from rig_spawn() until reaped. */
pid_t		 rig_spawn(struct rig *, char *const argv[],
		    const char *log_path, bool nginx);
pid_t		 rig_spawn_netns(struct rig *, const char *netns,
		    char *const argv[], const char *log_path, bool nginx);
pid_t		 rig_spawn_on(struct rig *, const struct rig_host *,
		    char *const argv[], const char *log_path, bool nginx);
bool		 rig_proc_exited(struct rig_proc *);
void		 rig_kill_nginx(pid_t master);
const char	*rig_status_str(int status, char *buf, size_t bufsz);
typedef bool	(*rig_ready_fn)(struct rig *, const struct rig_proc *);
bool		 rig_wait_ready(struct rig *, struct rig_proc *, rig_ready_fn,
		    const char *what, const char *awaited,
		    const char *log_path);
bool		 rig_spikectl(struct rig *, const char *out_path, ...)
		    __attribute__((sentinel));

/* rig_http.c and rig_fcgi.c */
int		 rig_json_code(const char *body);
bool		 rig_fcgi_request(struct rig_http *, const char *method,
		    const char *target, struct rig_reply *, char *err,
		    size_t errsz);

/* rig_instance.c */
void		 rig_instance_log(struct rig *, int i, char *buf,
		    size_t bufsz);

#endif /* RIG_PRIVATE_H */
