/*
 * nginx-xds: editing the shared peer lists of zone and run-time upstreams
 * to match the upstreams of a version (each one alone: what it does not
 * name keeps its peers).
 *
 * Two phases. Prepare: every address is parsed and every new peer (and
 * backup list) is allocated in its upstream's zone, with nothing visible
 * yet; a failure frees what was prepared for that upstream, which is then
 * rejected alone (it keeps its peers; the others go on). Commit: per
 * upstream, under the upstream's xds lock (which keeps peer get out) and
 * ngx_http_upstream_rr_peers_wlock, the peer lists are
 * relinked in the snapshot's order, kept peers keep their run-time state,
 * and removed peers are retired (freed once no request holds them). Commit
 * cannot fail.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_snapshot.h"
#include "nginx_module/ngx_http_xds_peer.h"
#include "nginx_module/ngx_http_xds_upstreams.h"
#include "nginx_module/ngx_http_xds_zone.h"
#include "nginx_module/ngx_http_xds_plan.h"


/* one server of a snapshot, matched to a peer of the upstream */
typedef struct {
    ngx_http_upstream_rr_peer_t     *peer;
    ngx_uint_t                       fresh;     /* allocated by this apply */
    ngx_http_xds_server_t           *server;
} ngx_http_xds_planned_peer_t;


/* what a snapshot does to the shared peers of one upstream */
typedef struct {
    ngx_http_xds_upstream_sh_t      *sh;
    ngx_http_upstream_rr_peers_t    *list;      /* primary; backups at next */
    ngx_str_t                       *zone;      /* its name, for errors */
    ngx_array_t                      peers;     /* ngx_http_xds_planned_peer_t */
    ngx_http_upstream_rr_peers_t    *backup;    /* allocated by this apply */
} ngx_http_xds_plan_t;


static ngx_uint_t ngx_http_xds_named(ngx_str_t *name,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects);
static ngx_int_t ngx_http_xds_prepare(ngx_pool_t *pool,
    ngx_http_xds_plan_t *plan, ngx_http_xds_upstream_def_t *xud, u_char *err,
    size_t err_len);
static ngx_http_upstream_rr_peer_t *ngx_http_xds_find_peer(
    ngx_http_upstream_rr_peers_t *peers, ngx_str_t *name);
static ngx_http_upstream_rr_peer_t *ngx_http_xds_alloc_peer(
    ngx_slab_pool_t *shpool, ngx_addr_t *addr, ngx_http_xds_server_t *server);
static void ngx_http_xds_set_peer(ngx_http_upstream_rr_peer_t *peer,
    ngx_http_xds_server_t *server);
static void ngx_http_xds_unprepare(ngx_http_xds_plan_t *plan);
static void ngx_http_xds_commit(ngx_http_xds_plan_t *plan);
static ngx_http_upstream_rr_peer_t *ngx_http_xds_relink(
    ngx_http_upstream_rr_peers_t *peers, ngx_http_xds_plan_t *plan,
    ngx_uint_t backup);
static ngx_uint_t ngx_http_xds_planned(ngx_http_xds_plan_t *plan,
    ngx_http_upstream_rr_peer_t *peer);


ngx_int_t
ngx_http_xds_plan_apply(ngx_log_t *log, ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects,
    u_char *err, size_t err_len)
{
    u_char                        reason[NGX_HTTP_XDS_ERROR_LEN];
    ngx_int_t                     rc;
    ngx_uint_t                    i, j;
    ngx_pool_t                   *pool;
    ngx_array_t                   plans;
    ngx_http_xds_plan_t          *plan;
    ngx_http_xds_upstream_t      *xu;
    ngx_http_xds_upstream_sh_t   *ush;
    ngx_http_xds_upstream_def_t  *xud;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NGX_ERROR;
    }

    if (ngx_array_init(&plans, pool, 4, sizeof(ngx_http_xds_plan_t))
        != NGX_OK)
    {
        ngx_destroy_pool(pool);
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for (i = 0; i < snapshot->nupstreams; i++) {
        xud = &snapshot->upstreams[i];

        if (rejects->reasons[i]) {
            continue;
        }

        xu = ngx_http_xds_upstreams_find(&xmcf->upstreams, xud->name.data,
                                         xud->name.len);
        if (xu && !ngx_http_xds_in_zone(xu)) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                           "xds: upstream \"%V\" has no zone here, skipped",
                           &xud->name);
            continue;
        }

        ush = NULL;

        if (xu == NULL) {
            /* run-time: its peers are in the module's zone, for every
             * worker's build of it */

            ush = ngx_http_xds_runtime_sh(xmcf, &xud->name);
            if (ush == NULL) {
                ngx_snprintf(reason, sizeof(reason),
                             "upstream \"%V\": zone \"%V\" is full%Z",
                             &xud->name, &xmcf->shm_zone->shm.name);

                if (ngx_http_xds_reject(rejects, i, reason) != NGX_OK) {
                    ngx_snprintf(err, err_len, "out of memory%Z");
                    rc = NGX_ERROR;
                    break;
                }

                continue;
            }
        }

        plan = ngx_array_push(&plans);
        if (plan == NULL) {
            ngx_snprintf(err, err_len, "out of memory%Z");
            rc = NGX_ERROR;
            break;
        }

        ngx_memzero(plan, sizeof(ngx_http_xds_plan_t));

        if (xu) {
            plan->sh = xu->sh;
            plan->list = xu->uscf->peer.data;
            plan->zone = &xu->uscf->shm_zone->shm.name;

        } else {
            plan->sh = ush;
            plan->list = ush->peers;
            plan->zone = &xmcf->shm_zone->shm.name;
        }

        if (ngx_http_xds_prepare(pool, plan, xud, reason, sizeof(reason))
            != NGX_OK)
        {
            /* prepare freed what it allocated: only this one is rejected */

            plans.nelts--;

            if (ngx_http_xds_reject(rejects, i, reason) != NGX_OK) {
                ngx_snprintf(err, err_len, "out of memory%Z");
                rc = NGX_ERROR;
                break;
            }
        }
    }

    plan = plans.elts;

    for (j = 0; j < plans.nelts; j++) {
        if (rc == NGX_OK) {
            ngx_http_xds_commit(&plan[j]);

        } else {
            ngx_http_xds_unprepare(&plan[j]);
        }
    }

    ngx_destroy_pool(pool);

    return rc;
}


/*
 * An upstream of nginx.conf that versions had and this one removes (a
 * change names it; a whole version lacks it) was deleted at the control
 * plane: requests to it get 502 (see ngx_http_xds_peer.c). One a version
 * never had keeps nginx.conf's peers. A rejected one keeps what it was.
 */

void
ngx_http_xds_plan_mark(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects)
{
    ngx_uint_t                i, j, present;
    ngx_http_xds_upstream_t  *xu;

    xu = xmcf->upstreams.elts;

    for (i = 0; i < xmcf->upstreams.nelts; i++) {

        if (xu[i].sh == NULL) {
            continue;
        }

        present = ngx_http_xds_named(&xu[i].uscf->host, snapshot, rejects);

        if (present == 2) {
            continue;
        }

        if (present) {
            xu[i].sh->seen = 1;
            xu[i].sh->deleted = 0;
            continue;
        }

        if (snapshot->delta) {
            for (j = 0; j < snapshot->nremoved; j++) {
                if (snapshot->removed[j].len == xu[i].uscf->host.len
                    && ngx_strncasecmp(snapshot->removed[j].data,
                                       xu[i].uscf->host.data,
                                       xu[i].uscf->host.len)
                       == 0)
                {
                    break;
                }
            }

            if (j == snapshot->nremoved) {
                /* a change that does not name it leaves it */
                continue;
            }
        }

        if (xu[i].sh->seen && !xu[i].sh->deleted) {
            xu[i].sh->deleted = 1;
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "xds: upstream \"%V\" deleted", &xu[i].uscf->host);
        }
    }
}


/* 0: `snapshot` has no upstream `name`; 1: it has; 2: it has, rejected */

static ngx_uint_t
ngx_http_xds_named(ngx_str_t *name, ngx_http_xds_snapshot_t *snapshot,
    ngx_http_xds_rejects_t *rejects)
{
    ngx_uint_t                    j;
    ngx_http_xds_upstream_def_t  *xud;

    for (j = 0; j < snapshot->nupstreams; j++) {
        xud = &snapshot->upstreams[j];

        if (xud->name.len == name->len
            && ngx_strncasecmp(xud->name.data, name->data, name->len) == 0)
        {
            return rejects->reasons[j] ? 2 : 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_xds_prepare(ngx_pool_t *pool, ngx_http_xds_plan_t *plan,
    ngx_http_xds_upstream_def_t *xud, u_char *err, size_t err_len)
{
    ngx_url_t                      url;
    ngx_uint_t                     s, primaries, backups, log_nomem;
    ngx_slab_pool_t               *shpool;
    ngx_http_xds_planned_peer_t   *pp;
    ngx_http_upstream_rr_peers_t  *peers;

    peers = plan->list;
    shpool = peers->shpool;

    if (ngx_array_init(&plan->peers, pool, xud->nservers + 1,
                       sizeof(ngx_http_xds_planned_peer_t))
        != NGX_OK)
    {
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NGX_ERROR;
    }

    primaries = 0;
    backups = 0;

    for (s = 0; s < xud->nservers; s++) {

        pp = ngx_array_push(&plan->peers);
        if (pp == NULL) {
            ngx_snprintf(err, err_len, "out of memory%Z");
            goto failed;
        }

        ngx_memzero(pp, sizeof(ngx_http_xds_planned_peer_t));
        pp->server = &xud->servers[s];

        ngx_memzero(&url, sizeof(ngx_url_t));
        url.url = pp->server->address;
        url.default_port = 80;
        url.no_resolve = 1;

        if (ngx_parse_url(pool, &url) != NGX_OK || url.naddrs != 1) {
            ngx_snprintf(err, err_len,
                         "upstream \"%V\": invalid server address \"%V\"%Z",
                         &xud->name, &pp->server->address);
            goto failed;
        }

        if (pp->server->backup) {
            backups++;

        } else {
            primaries++;
        }

        pp->peer = ngx_http_xds_find_peer(peers, &url.addrs[0].name);

        if (pp->peer == NULL && peers->next) {
            pp->peer = ngx_http_xds_find_peer(peers->next,
                                              &url.addrs[0].name);
        }

        if (pp->peer) {
            continue;
        }

        pp->peer = ngx_http_xds_alloc_peer(shpool, &url.addrs[0], pp->server);
        if (pp->peer == NULL) {
            ngx_snprintf(err, err_len,
                         "upstream \"%V\": zone \"%V\" is full%Z",
                         &xud->name, plan->zone);
            goto failed;
        }

        pp->fresh = 1;
    }

    if (primaries == 0) {
        ngx_snprintf(err, err_len,
                     "upstream \"%V\": no servers but backups%Z", &xud->name);
        goto failed;
    }

    if (backups && peers->next == NULL) {
        ngx_shmtx_lock(&shpool->mutex);

        log_nomem = shpool->log_nomem;
        shpool->log_nomem = 0;

        plan->backup = ngx_slab_calloc_locked(shpool,
                                          sizeof(ngx_http_upstream_rr_peers_t));

        shpool->log_nomem = log_nomem;
        ngx_shmtx_unlock(&shpool->mutex);

        if (plan->backup == NULL) {
            ngx_snprintf(err, err_len,
                         "upstream \"%V\": zone \"%V\" is full%Z",
                         &xud->name, plan->zone);
            goto failed;
        }

        plan->backup->shpool = shpool;
        plan->backup->name = peers->name;
    }

    return NGX_OK;

failed:

    ngx_http_xds_unprepare(plan);

    return NGX_ERROR;
}


static ngx_http_upstream_rr_peer_t *
ngx_http_xds_find_peer(ngx_http_upstream_rr_peers_t *peers, ngx_str_t *name)
{
    ngx_http_upstream_rr_peer_t  *peer;

    /* only worker 0 changes the lists' shape, so they can be read here */

    for (peer = peers->peer; peer; peer = peer->next) {
        if (peer->name.len == name->len
            && ngx_strncmp(peer->name.data, name->data, name->len) == 0)
        {
            return peer;
        }
    }

    return NULL;
}


static ngx_http_upstream_rr_peer_t *
ngx_http_xds_alloc_peer(ngx_slab_pool_t *shpool, ngx_addr_t *addr,
    ngx_http_xds_server_t *server)
{
    ngx_uint_t                    log_nomem;
    ngx_http_upstream_rr_peer_t  *peer;

    ngx_shmtx_lock(&shpool->mutex);

    /* a full zone is reported by the NACK, not by a [crit] "no memory" */

    log_nomem = shpool->log_nomem;
    shpool->log_nomem = 0;

    peer = ngx_slab_calloc_locked(shpool, sizeof(ngx_http_upstream_rr_peer_t));
    if (peer == NULL) {
        goto failed;
    }

    peer->sockaddr = ngx_slab_calloc_locked(shpool, sizeof(ngx_sockaddr_t));
    if (peer->sockaddr == NULL) {
        goto failed;
    }

    peer->name.data = ngx_slab_calloc_locked(shpool, NGX_SOCKADDR_STRLEN);
    if (peer->name.data == NULL) {
        goto failed;
    }

    peer->server.len = server->address.len;
    peer->server.data = ngx_slab_alloc_locked(shpool, peer->server.len);
    if (peer->server.data == NULL) {
        goto failed;
    }

    shpool->log_nomem = log_nomem;
    ngx_shmtx_unlock(&shpool->mutex);

    ngx_memcpy(peer->sockaddr, addr->sockaddr, addr->socklen);
    peer->socklen = addr->socklen;
    peer->name.len = ngx_min(addr->name.len, NGX_SOCKADDR_STRLEN);
    ngx_memcpy(peer->name.data, addr->name.data, peer->name.len);
    ngx_memcpy(peer->server.data, server->address.data, peer->server.len);

    ngx_http_xds_set_peer(peer, server);

    return peer;

failed:

    shpool->log_nomem = log_nomem;
    ngx_shmtx_unlock(&shpool->mutex);

    if (peer) {
        ngx_http_xds_peer_free(shpool, peer);
    }

    return NULL;
}


static void
ngx_http_xds_set_peer(ngx_http_upstream_rr_peer_t *peer,
    ngx_http_xds_server_t *server)
{
    if ((ngx_uint_t) peer->weight != server->weight) {
        peer->weight = server->weight;
        peer->effective_weight = server->weight;
        peer->current_weight = 0;
    }

    peer->max_fails = server->max_fails;
    peer->fail_timeout = server->fail_timeout;
    peer->max_conns = server->max_conns;

    if (peer->down && !server->down) {
        /* back in service: forget the failures counted while it was down */
        peer->fails = 0;
    }

    peer->down = server->down;
}


static void
ngx_http_xds_unprepare(ngx_http_xds_plan_t *plan)
{
    ngx_uint_t                     i;
    ngx_slab_pool_t               *shpool;
    ngx_http_xds_planned_peer_t   *pp;
    ngx_http_upstream_rr_peers_t  *peers;

    peers = plan->list;
    shpool = peers->shpool;
    pp = plan->peers.elts;

    for (i = 0; i < plan->peers.nelts; i++) {
        if (pp[i].fresh) {
            ngx_http_xds_peer_free(shpool, pp[i].peer);
        }
    }

    plan->peers.nelts = 0;

    if (plan->backup) {
        ngx_slab_free(shpool, plan->backup);
        plan->backup = NULL;
    }
}


static void
ngx_http_xds_commit(ngx_http_xds_plan_t *plan)
{
    ngx_uint_t                     i, shape_changed;
    ngx_slab_pool_t               *shpool;
    ngx_http_xds_planned_peer_t   *pp;
    ngx_http_xds_upstream_sh_t    *ush;
    ngx_http_upstream_rr_peer_t   *peer, *removed, *next;
    ngx_http_upstream_rr_peers_t  *peers, *backup;

    ush = plan->sh;
    peers = plan->list;
    shpool = peers->shpool;
    pp = plan->peers.elts;

    ngx_rwlock_wlock(&ush->lock);
    ngx_http_upstream_rr_peers_wlock(peers);

    if (plan->backup) {
        peers->next = plan->backup;
    }

    backup = peers->next;

    /* the peers no server of the snapshot names are unlinked below */

    removed = NULL;

    for (peer = peers->peer; peer; peer = next) {
        next = peer->next;

        if (!ngx_http_xds_planned(plan, peer)) {
            peer->next = removed;
            removed = peer;
        }
    }

    for (peer = backup ? backup->peer : NULL; peer; peer = next) {
        next = peer->next;

        if (!ngx_http_xds_planned(plan, peer)) {
            peer->next = removed;
            removed = peer;
        }
    }

    for (i = 0; i < plan->peers.nelts; i++) {
        ngx_http_xds_set_peer(pp[i].peer, pp[i].server);
    }

    shape_changed = (removed != NULL);

    if (ngx_http_xds_relink(peers, plan, 0) != NULL) {
        shape_changed = 1;
    }

    if (backup && ngx_http_xds_relink(backup, plan, 1) != NULL) {
        shape_changed = 1;
    }

    /* as nginx counts: a list with backups is never "single" */

    if (backup && backup->number) {
        peers->single = 0;
        backup->single = 0;
    }

    if (shape_changed) {
        ush->generation++;
    }

    if (ush->peers == peers) {
        /* run-time, created (again): a record nginx.conf once had may say
         * deleted */
        ush->deleted = 0;
    }

    ngx_http_upstream_rr_peers_unlock(peers);
    ngx_rwlock_unlock(&ush->lock);

    for (peer = removed; peer; peer = next) {
        next = peer->next;
        peer->next = NULL;
        ngx_http_xds_peer_retire(shpool, peer);
    }
}


/*
 * Relinks `peers` (primary or backup) in the planned order and recounts it,
 * as ngx_http_upstream_init_round_robin() counts; returns non-NULL when the
 * list's members or order changed.
 */

static ngx_http_upstream_rr_peer_t *
ngx_http_xds_relink(ngx_http_upstream_rr_peers_t *peers,
    ngx_http_xds_plan_t *plan, ngx_uint_t backup)
{
    ngx_uint_t                     i, n, w, t, changed;
    ngx_http_xds_planned_peer_t   *pp;
    ngx_http_upstream_rr_peer_t   *old, **peerp;

    pp = plan->peers.elts;
    old = peers->peer;
    peerp = &peers->peer;
    changed = 0;
    n = 0;
    w = 0;
    t = 0;

    for (i = 0; i < plan->peers.nelts; i++) {

        if ((ngx_uint_t) pp[i].server->backup != backup) {
            continue;
        }

        if (old != pp[i].peer) {
            changed = 1;
        }

        old = old ? old->next : NULL;

        *peerp = pp[i].peer;
        peerp = &pp[i].peer->next;

        n++;
        w += pp[i].peer->weight;

        if (!pp[i].peer->down) {
            t++;
        }
    }

    if (old) {
        changed = 1;
    }

    *peerp = NULL;

    peers->number = n;
    peers->total_weight = w;
    peers->weighted = (w != n);
    peers->tries = t;
    peers->single = (n == 1);

    return changed ? peers->peer : NULL;
}


static ngx_uint_t
ngx_http_xds_planned(ngx_http_xds_plan_t *plan,
    ngx_http_upstream_rr_peer_t *peer)
{
    ngx_uint_t                    i;
    ngx_http_xds_planned_peer_t  *pp;

    pp = plan->peers.elts;

    for (i = 0; i < plan->peers.nelts; i++) {
        if (pp[i].peer == peer) {
            return 1;
        }
    }

    return 0;
}
