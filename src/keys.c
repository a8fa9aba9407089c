/*
 * The signing keys: buyer_key and pay_key files of spike.conf, each key
 * a file's whole contents, and the keyring the worker threads copy them
 * from.  A key file must be a regular file of KEYS_MIN_BYTES to
 * KEYS_MAX_BYTES that neither group nor others may read or write; every
 * refusal names spike.conf's line.
 *
 * The keyring changes only on SIGHUP: keyring_replace() copies the new
 * keys in under a mutex and then bumps the generation; a worker compares
 * the generation (one atomic load) before each verification and takes the
 * mutex only to copy the keys after a change (sig.c).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "spike.h"

struct keyring {
	pthread_mutex_t	 lock;
	atomic_uint	 generation;
	struct keyset	 sets[KEYS_KINDS];
};

static const char *const key_names[KEYS_KINDS] = {
	[KEYS_BUYER] = "buyer_key",
	[KEYS_PAY] = "pay_key",
};

/* Why the file open on fd cannot be a key; NULL, with its size, if it can. */
static const char *
key_file_problem(int fd, off_t *size, char *why, size_t whysz)
{
	struct stat	 st;
	const char	*problem;

	if ((problem = safefile_secret_problem(fd, &st, why, whysz)) != NULL)
		return problem;
	if (st.st_size < KEYS_MIN_BYTES || st.st_size > KEYS_MAX_BYTES) {
		snprintf(why, whysz, "%lld bytes: a key is %d to %d bytes",
		    (long long)st.st_size, KEYS_MIN_BYTES, KEYS_MAX_BYTES);
		return why;
	}
	*size = st.st_size;
	return NULL;
}

/*
 * Read the whole of fd, of size bytes by fstat, into key; false if it
 * changed size meanwhile.
 */
static bool
read_key(int fd, off_t size, struct key *key)
{
	ssize_t	 n;
	char	 more;

	key->len = 0;
	while ((n = read(fd, key->bytes + key->len,
	    sizeof(key->bytes) - key->len)) > 0)
		key->len += (size_t)n;
	return n == 0 && (off_t)key->len == size && read(fd, &more, 1) == 0;
}

/*
 * Read the key file kf of spike.conf (conf_name) into key.  Returns
 * SPIKE_OK, or SPIKE_ECONFIG with "CONF:LINE: what PATH: why" in err.
 */
static enum spike_err
read_key_file(const char *conf_name, const char *what,
    const struct conf_keyfile *kf, struct key *key, char *err, size_t errsz)
{
	char		 why[128];
	const char	*problem;
	off_t		 size = 0;
	int		 fd;

	if ((fd = open(kf->path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1)
		problem = strerror(errno);
	else if ((problem = key_file_problem(fd, &size, why, sizeof(why))) ==
	    NULL && !read_key(fd, size, key))
		problem = "changed while read, or unreadable";
	if (fd != -1)
		close(fd);
	if (problem == NULL)
		return SPIKE_OK;
	OPENSSL_cleanse(key, sizeof(*key));
	snprintf(err, errsz, "%s:%u: %s %s: %s", conf_name, kf->line, what,
	    kf->path, problem);
	return SPIKE_ECONFIG;
}

/* Read the key files of kind named in conf into set, the first first. */
enum spike_err
keys_load(const struct conf *conf, enum keys_kind kind, struct keyset *set,
    char *err, size_t errsz)
{
	const struct conf_keyfile *files = kind == KEYS_BUYER ?
	    conf->buyer_keys : conf->pay_keys;
	size_t		 n = kind == KEYS_BUYER ? conf->nbuyer_keys :
	    conf->npay_keys;
	size_t		 i;
	enum spike_err	 rc;

	memset(set, 0, sizeof(*set));
	for (i = 0; i < n && i < CONF_KEYFILES_MAX; i++)
		if ((rc = read_key_file(conf->source, key_names[kind],
		    &files[i], &set->keys[i], err, errsz)) != SPIKE_OK) {
			OPENSSL_cleanse(set, sizeof(*set));
			return rc;
		}
	set->n = i;
	return SPIKE_OK;
}

static bool
same_key(const struct key *a, const struct key *b)
{
	return a->len == b->len && CRYPTO_memcmp(a->bytes, b->bytes,
	    a->len) == 0;
}

/*
 * Is a pay_key also a buyer_key?  Then a buyer's signature for a user
 * named "ORDER.USER" would pass as the payment notice of ORDER: refuse,
 * naming the pay_key line.
 */
static bool
keys_shared(const struct conf *conf, const struct keyset sets[KEYS_KINDS],
    char *err, size_t errsz)
{
	size_t	 b, p;

	for (p = 0; p < sets[KEYS_PAY].n; p++)
		for (b = 0; b < sets[KEYS_BUYER].n; b++)
			if (same_key(&sets[KEYS_PAY].keys[p],
			    &sets[KEYS_BUYER].keys[b])) {
				snprintf(err, errsz, "%s:%u: pay_key %s: the "
				    "same key as buyer_key on line %u: they "
				    "must differ", conf->source,
				    conf->pay_keys[p].line,
				    conf->pay_keys[p].path,
				    conf->buyer_keys[b].line);
				return true;
			}
	return false;
}

/* Every kind's keys; on failure none are kept. */
enum spike_err
keys_load_all(const struct conf *conf, struct keyset sets[KEYS_KINDS],
    char *err, size_t errsz)
{
	enum spike_err	 rc = SPIKE_OK;
	int		 k;

	for (k = 0; k < KEYS_KINDS && rc == SPIKE_OK; k++)
		rc = keys_load(conf, (enum keys_kind)k, &sets[k], err, errsz);
	if (rc == SPIKE_OK && keys_shared(conf, sets, err, errsz))
		rc = SPIKE_ECONFIG;
	if (rc != SPIKE_OK)
		OPENSSL_cleanse(sets, KEYS_KINDS * sizeof(sets[0]));
	return rc;
}

struct keyring *
keyring_new(const struct keyset sets[KEYS_KINDS])
{
	struct keyring	*ring;

	if ((ring = calloc(1, sizeof(*ring))) == NULL)
		return NULL;
	if (pthread_mutex_init(&ring->lock, NULL) != 0) {
		free(ring);
		return NULL;
	}
	memcpy(ring->sets, sets, sizeof(ring->sets));
	atomic_init(&ring->generation, 1);
	return ring;
}

/* Free the ring once no checker that uses it is left. */
void
keyring_free(struct keyring *ring)
{
	if (ring == NULL)
		return;
	OPENSSL_cleanse(ring->sets, sizeof(ring->sets));
	pthread_mutex_destroy(&ring->lock);
	free(ring);
}

/* Put new keys in; each checker copies them before its next check. */
void
keyring_replace(struct keyring *ring, const struct keyset sets[KEYS_KINDS])
{
	pthread_mutex_lock(&ring->lock);
	memcpy(ring->sets, sets, sizeof(ring->sets));
	atomic_fetch_add_explicit(&ring->generation, 1, memory_order_release);
	pthread_mutex_unlock(&ring->lock);
}

unsigned int
keyring_generation(struct keyring *ring)
{
	return atomic_load_explicit(&ring->generation, memory_order_acquire);
}

/* Copy the keys into sets; returns the generation they belong to. */
unsigned int
keyring_copy(struct keyring *ring, struct keyset sets[KEYS_KINDS])
{
	unsigned int	 generation;

	pthread_mutex_lock(&ring->lock);
	memcpy(sets, ring->sets, KEYS_KINDS * sizeof(sets[0]));
	generation = atomic_load_explicit(&ring->generation,
	    memory_order_relaxed);
	pthread_mutex_unlock(&ring->lock);
	return generation;
}
