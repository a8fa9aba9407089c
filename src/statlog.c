/*
 * stat.log: one line per answered request.  Each worker appends to its
 * own ring buffer (single producer, single consumer, no lock); a
 * background thread drains every ring with one writev(2) on an O_APPEND
 * descriptor every STATLOG_FLUSH_MS, so lines stay whole even when
 * several instances share the file.  statlog_reopen() moves to a new
 * file for log rotation between two flushes, so no line is split or lost.
 * The file is opened through safefile.c: a regular file, never a link.
 */
#include "config.h"

#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spike.h"

#define STATLOG_RING_SIZE	(256 * 1024)

struct statlog_buf {
	_Alignas(64) atomic_size_t head;	/* written by the worker */
	_Alignas(64) atomic_size_t tail;	/* written by the flusher */
	char		*data;
};

struct statlog {
	int		 fd;		/* under flush_lock */
	char		*path;
	bool		 reopen_failing;	/* only statlog_reopen() */
	unsigned int	 nbufs;
	struct statlog_buf *bufs;
	pthread_mutex_t	 flush_lock;	/* flusher against the last flush */
	pthread_t	 flusher;
	atomic_bool	 stopping;
	bool		 failing;	/* under flush_lock */
};

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Append one whole line to a worker's ring.  When the flusher falls
 * behind, the worker waits for room rather than lose the line.
 */
void
statlog_append(struct statlog_buf *b, const char *line, size_t len)
{
	size_t	 head, tail, off, first;

	if (b == NULL || len == 0 || len > STATLOG_RING_SIZE)
		return;
	head = atomic_load_explicit(&b->head, memory_order_relaxed);
	for (;;) {
		tail = atomic_load_explicit(&b->tail, memory_order_acquire);
		if (STATLOG_RING_SIZE - (head - tail) >= len)
			break;
		sleep_ms(1);
	}
	off = head % STATLOG_RING_SIZE;
	first = STATLOG_RING_SIZE - off < len ? STATLOG_RING_SIZE - off : len;
	memcpy(b->data + off, line, first);
	memcpy(b->data, line + first, len - first);
	atomic_store_explicit(&b->head, head + len, memory_order_release);
}

/* Add the unwritten part of one ring to iov; returns iovecs used. */
static int
ring_iov(struct statlog_buf *b, struct iovec *iov, size_t *head_out)
{
	size_t	 head, tail, off, len, first;

	head = atomic_load_explicit(&b->head, memory_order_acquire);
	tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
	*head_out = head;
	if ((len = head - tail) == 0)
		return 0;
	off = tail % STATLOG_RING_SIZE;
	first = STATLOG_RING_SIZE - off < len ? STATLOG_RING_SIZE - off : len;
	iov[0].iov_base = b->data + off;
	iov[0].iov_len = first;
	if (first == len)
		return 1;
	iov[1].iov_base = b->data;
	iov[1].iov_len = len - first;
	return 2;
}

/* Write iov fully; returns false on an error other than EINTR. */
static bool
write_all(int fd, struct iovec *iov, int n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = writev(fd, iov, n)) == -1) {
			if (errno == EINTR)
				continue;
			return false;
		}
		for (; n > 0 && (size_t)w >= iov->iov_len; n--, iov++)
			w -= iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	return true;
}

/*
 * Drain every ring in one write; the caller holds flush_lock.  A failing
 * disk costs the lines, never a sale: the failure is reported once, and
 * once more when it ends.
 */
static void
flush_locked(struct statlog *log)
{
	struct iovec	 iov[2 * 256];
	size_t		 heads[256];
	unsigned int	 i, nbufs;
	int		 n = 0;
	bool		 ok;

	nbufs = log->nbufs < 256 ? log->nbufs : 256;
	for (i = 0; i < nbufs; i++)
		n += ring_iov(&log->bufs[i], iov + n, &heads[i]);
	if (n > 0) {
		ok = write_all(log->fd, iov, n);
		if (!ok && !log->failing)
			log_warn("stat.log: lines lost");
		else if (ok && log->failing)
			log_info("stat.log: writing again");
		log->failing = !ok;
		for (i = 0; i < nbufs; i++)
			atomic_store_explicit(&log->bufs[i].tail, heads[i],
			    memory_order_release);
	}
}

void
statlog_flush(struct statlog *log)
{
	pthread_mutex_lock(&log->flush_lock);
	flush_locked(log);
	pthread_mutex_unlock(&log->flush_lock);
}

/*
 * Open the path again, for log rotation (rename, then SIGHUP): the lines
 * buffered so far go to the old file, the next ones to the new.  When the
 * path cannot be opened, or is a link or not a regular file, the old file
 * stays in use, and the failure is reported once until a reopen succeeds.
 * Returns SPIKE_ESYSTEM then.
 */
enum spike_err
statlog_reopen(struct statlog *log)
{
	const char	*why;
	int		 fd, old;

	if ((fd = safefile_append(log->path, &why)) == -1) {
		if (!log->reopen_failing)
			log_warnx("%s: cannot reopen (%s), writing on to the "
			    "old file", log->path, why);
		log->reopen_failing = true;
		return SPIKE_ESYSTEM;
	}
	pthread_mutex_lock(&log->flush_lock);
	flush_locked(log);
	old = log->fd;
	log->fd = fd;
	pthread_mutex_unlock(&log->flush_lock);
	close(old);
	log_info("%s: reopened", log->path);
	log->reopen_failing = false;
	return SPIKE_OK;
}

static void *
flusher_main(void *arg)
{
	struct statlog	*log = arg;

	while (!atomic_load(&log->stopping)) {
		sleep_ms(STATLOG_FLUSH_MS);
		statlog_flush(log);
	}
	return NULL;
}

/*
 * Open path for appending with one ring per writer and start the
 * flusher.  Returns NULL on failure, with *why saying what went wrong.
 */
struct statlog *
statlog_open(const char *path, unsigned int writers, const char **why)
{
	struct statlog	*log;
	unsigned int	 i;

	*why = "out of memory";
	if (writers == 0 || writers > 256) {
		*why = "too many or no writers";
		return NULL;
	}
	if ((log = calloc(1, sizeof(*log))) == NULL)
		return NULL;
	log->nbufs = writers;
	log->fd = safefile_append(path, why);
	if (log->fd == -1 || (log->path = strdup(path)) == NULL ||
	    (log->bufs = aligned_alloc(64,
	    sizeof(*log->bufs) * writers)) == NULL)
		goto fail;
	memset(log->bufs, 0, sizeof(*log->bufs) * writers);
	for (i = 0; i < writers; i++) {
		atomic_init(&log->bufs[i].head, 0);
		atomic_init(&log->bufs[i].tail, 0);
		if ((log->bufs[i].data = malloc(STATLOG_RING_SIZE)) == NULL)
			goto fail;
	}
	pthread_mutex_init(&log->flush_lock, NULL);
	atomic_init(&log->stopping, false);
	if (pthread_create(&log->flusher, NULL, flusher_main, log) != 0) {
		*why = "cannot start the flusher thread";
		goto fail;
	}
	return log;
fail:
	if (log->fd != -1)
		close(log->fd);
	if (log->bufs != NULL)
		for (i = 0; i < writers; i++)
			free(log->bufs[i].data);
	free(log->bufs);
	free(log->path);
	free(log);
	return NULL;
}

struct statlog_buf *
statlog_writer(struct statlog *log, unsigned int index)
{
	return index < log->nbufs ? &log->bufs[index] : NULL;
}

/* Stop the flusher, write what is left and close. */
void
statlog_close(struct statlog *log)
{
	unsigned int	 i;

	if (log == NULL)
		return;
	atomic_store(&log->stopping, true);
	pthread_join(log->flusher, NULL);
	statlog_flush(log);
	close(log->fd);
	for (i = 0; i < log->nbufs; i++)
		free(log->bufs[i].data);
	free(log->bufs);
	pthread_mutex_destroy(&log->flush_lock);
	free(log->path);
	free(log);
}

/* Format one stat line; returns its length, or 0 if it does not fit. */
int
statlog_format(char *buf, size_t bufsz, int result, long long local_sales,
    const char *where, const char *user, long long us)
{
	int	 n;

	n = snprintf(buf, bufsz, "result:%d,localSales:%lld,port:%s,"
	    "user:%s,us:%lld\n", result, local_sales, where,
	    *user != '\0' ? user : "-", us);
	return n < 0 || (size_t)n >= bufsz ? 0 : n;
}
