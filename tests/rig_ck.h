/*
 * The rig's calls as Check assertions: each fails the test, saying why,
 * where the rig call returns false or NULL.  For the integration tests;
 * the rig itself stays free of Check.
 */
#ifndef RIG_CK_H
#define RIG_CK_H

#include "rig.h"

void		 rig_ck_start(struct rig *, const struct rig_options *,
		    long long total);
void		 rig_ck_all_alive(struct rig *);
long long	 rig_ck_sold(struct rig *);
struct redisContext *rig_ck_redis(struct rig *);
long long	 rig_ck_orders_made(struct redisContext *);
unsigned int	 rig_ck_bought_are_orders(struct rig *, struct rig_load *);
void		 rig_ck_logs_wait(struct rig *, const char *needle, long want,
		    double within_ms);
void		 rig_ck_audit(struct rig *);
long long	 rig_ck_redis_now_ms(struct redisContext *);
void		 rig_ck_order_by_hand(struct redisContext *, const char *user,
		    const char *id, long long pay_by_ms);
struct redisReply *rig_ck_cmd(struct redisContext *, const char **argv,
		    size_t argc);

/* A command from literals, e.g. RIG_CK_CMD(c, "GET", key). */
#define RIG_CK_CMD(c, ...)	rig_ck_cmd((c), RIG_ARGV(__VA_ARGS__), \
				    RIG_ARGC(__VA_ARGS__))

#endif /* RIG_CK_H */
