/*
 * nginx-xds: the request side of peers that snapshots change in place.
 * See ngx_http_xds_peer.h for why.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_compat.h"
#include "nginx_module/ngx_http_xds_build.h"
#include "nginx_module/ngx_http_xds_peer.h"


typedef struct {
    ngx_http_xds_upstream_t         *xu;
    ngx_http_request_t              *r;
    ngx_uint_t                       generation;

    /* what the wrapped balancer (and keepalive) installed */
    void                            *data;
    ngx_event_get_peer_pt            get;
    ngx_event_free_peer_pt           free;
#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt    set_session;
    ngx_event_save_peer_session_pt   save_session;
#endif

    /* the peer of the current try, until it is freed (for its metrics) */
    ngx_http_upstream_rr_peer_t     *current;
    /* the peers this request holds a reference to */
    ngx_array_t                     *held;
    /* the build whose configuration this request uses */
    ngx_http_xds_build_t            *build;
    ngx_uint_t                       cleanup;   /* registered */
} ngx_http_xds_peer_data_t;


static ngx_int_t ngx_http_xds_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_xds_init_balancer(ngx_http_xds_peer_data_t *xp);
static void ngx_http_xds_refresh_worker_state(ngx_http_xds_upstream_t *xu);
static ngx_int_t ngx_http_xds_get_peer(ngx_peer_connection_t *pc, void *data);
static ngx_int_t ngx_http_xds_get_deleted_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_xds_free_deleted_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static void ngx_http_xds_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_xds_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_xds_save_session(ngx_peer_connection_t *pc, void *data);
#endif
static ngx_int_t ngx_http_xds_hold(ngx_http_xds_peer_data_t *xp,
    ngx_http_upstream_rr_peer_t *peer);
static ngx_int_t ngx_http_xds_add_cleanup(ngx_http_xds_peer_data_t *xp);
static void ngx_http_xds_release_held(void *data);



ngx_int_t
ngx_http_xds_peer_wrap(ngx_http_xds_upstream_t *xu)
{
    xu->original_init = xu->uscf->peer.init;
    xu->uscf->peer.init = ngx_http_xds_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_xds_init_peer(ngx_http_request_t *r, ngx_http_upstream_srv_conf_t *us)
{
    ngx_int_t                  rc;
    ngx_http_xds_srv_conf_t   *xscf;
    ngx_http_xds_peer_data_t  *xp;

    xscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_xds_module);

    xp = ngx_pcalloc(r->pool, sizeof(ngx_http_xds_peer_data_t));
    if (xp == NULL) {
        return NGX_ERROR;
    }

    xp->xu = xscf->xu;
    xp->r = r;

    if (xp->xu->build) {
        /* the build stays while this request may use its configuration */
        xp->build = xp->xu->build;
        ngx_http_xds_build_hold(xp->build);

        if (ngx_http_xds_add_cleanup(xp) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (xp->xu->sh && xp->xu->sh->deleted) {
        /* deleted at the control plane: no live upstreams, 502 */
        r->upstream->peer.data = xp;
        r->upstream->peer.get = ngx_http_xds_get_deleted_peer;
        r->upstream->peer.free = ngx_http_xds_free_deleted_peer;
        r->upstream->peer.tries = 1;
        return NGX_OK;
    }

    if (!ngx_http_xds_in_zone(xp->xu)) {
        /* peers of this worker only: they change between requests, and a
         * request keeps the list (in its build) it started with */
        return xp->xu->original_init(r, us);
    }

    /* the list cannot change shape while the balancer sizes its state */

    ngx_rwlock_rlock(&xp->xu->sh->lock);

    ngx_http_xds_refresh_worker_state(xp->xu);

    rc = ngx_http_xds_init_balancer(xp);

    ngx_rwlock_unlock(&xp->xu->sh->lock);

    return rc;
}


/* the caller holds xu->sh->lock for reading */

static ngx_int_t
ngx_http_xds_init_balancer(ngx_http_xds_peer_data_t *xp)
{
    ngx_http_upstream_t  *u;

    u = xp->r->upstream;

    if (xp->build != xp->xu->build) {
        /* re-initialized under a newer build: hold that one instead */
        if (xp->xu->build) {
            ngx_http_xds_build_hold(xp->xu->build);
        }

        if (xp->build) {
            ngx_http_xds_build_release(xp->build);
        }

        xp->build = xp->xu->build;

        if (xp->build && ngx_http_xds_add_cleanup(xp) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* balancers reuse a non-NULL peer.data as their own: start clean */
    u->peer.data = NULL;

    if (xp->xu->original_init(xp->r, xp->xu->uscf) != NGX_OK) {
        return NGX_ERROR;
    }

    xp->generation = xp->xu->sh->generation;

    xp->data = u->peer.data;
    xp->get = u->peer.get;
    xp->free = u->peer.free;

    u->peer.data = xp;
    u->peer.get = ngx_http_xds_get_peer;
    u->peer.free = ngx_http_xds_free_peer;

#if (NGX_HTTP_SSL)
    xp->set_session = u->peer.set_session;
    xp->save_session = u->peer.save_session;
    u->peer.set_session = ngx_http_xds_set_session;
    u->peer.save_session = ngx_http_xds_save_session;
#endif

    return NGX_OK;
}


/* the caller holds xu->sh->lock for reading */

static void
ngx_http_xds_refresh_worker_state(ngx_http_xds_upstream_t *xu)
{
    if (xu->generation == xu->sh->generation) {
        return;
    }

    xu->generation = xu->sh->generation;

    /* whatever the method (a build may have changed it) */

    ngx_http_xds_free_random_ranges(xu->uscf);
}


static ngx_int_t
ngx_http_xds_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_xds_peer_data_t  *xp = data;

    ngx_int_t                     rc;
    ngx_uint_t                    tries;
    ngx_http_xds_upstream_sh_t   *sh;
    ngx_http_upstream_rr_peer_t  *peer;

    sh = xp->xu->sh;

    ngx_rwlock_rlock(&sh->lock);

    if (xp->generation != sh->generation) {

        /*
         * The lists changed shape since this request started: its tried
         * bitmap no longer matches them, so the balancer starts over, with
         * no more tries than were left.
         */

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "xds: peers of \"%V\" changed, reinit balancer",
                       &xp->xu->uscf->host);

        tries = pc->tries;

        ngx_http_xds_refresh_worker_state(xp->xu);

        if (ngx_http_xds_init_balancer(xp) != NGX_OK) {
            ngx_rwlock_unlock(&sh->lock);
            return NGX_ERROR;
        }

        if (pc->tries > tries) {
            pc->tries = tries;
        }
    }

    rc = xp->get(pc, xp->data);

    if (rc == NGX_OK || rc == NGX_DONE) {

        /* every stock balancer points pc->name at the chosen peer's name */

        peer = (ngx_http_upstream_rr_peer_t *)
                   ((u_char *) pc->name
                    - offsetof(ngx_http_upstream_rr_peer_t, name));

        if (ngx_http_xds_hold(xp, peer) != NGX_OK) {
            rc = NGX_ERROR;

        } else {
            (void) ngx_atomic_fetch_add(ngx_http_xds_peer_requests(peer), 1);
            xp->current = peer;
        }
    }

    ngx_rwlock_unlock(&sh->lock);

    return rc;
}


static ngx_int_t
ngx_http_xds_get_deleted_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_xds_peer_data_t  *xp = data;

    pc->name = &xp->xu->uscf->host;

    return NGX_BUSY;
}


static void
ngx_http_xds_free_deleted_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    pc->tries = 0;
}


static void
ngx_http_xds_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_xds_peer_data_t  *xp = data;

    /* the reference is dropped with the request: $upstream_addr needs it */

    if (xp->current && (state & NGX_PEER_FAILED)) {
        (void) ngx_atomic_fetch_add(ngx_http_xds_peer_failures(xp->current),
                                    1);
    }

    xp->current = NULL;

    xp->free(pc, xp->data, state);
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_xds_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_xds_peer_data_t  *xp = data;

    return xp->set_session(pc, xp->data);
}


static void
ngx_http_xds_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_xds_peer_data_t  *xp = data;

    xp->save_session(pc, xp->data);
}

#endif


static ngx_int_t
ngx_http_xds_add_cleanup(ngx_http_xds_peer_data_t *xp)
{
    ngx_pool_cleanup_t  *cln;

    if (xp->cleanup) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(xp->r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_xds_release_held;
    cln->data = xp;
    xp->cleanup = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_xds_hold(ngx_http_xds_peer_data_t *xp,
    ngx_http_upstream_rr_peer_t *peer)
{
    ngx_http_upstream_rr_peer_t  **held;

    if (xp->held == NULL) {
        xp->held = ngx_array_create(xp->r->pool, 2,
                                    sizeof(ngx_http_upstream_rr_peer_t *));
        if (xp->held == NULL || ngx_http_xds_add_cleanup(xp) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    held = ngx_array_push(xp->held);
    if (held == NULL) {
        return NGX_ERROR;
    }

    *held = peer;

    (void) ngx_atomic_fetch_add(ngx_http_xds_peer_refs(peer), 1);

    return NGX_OK;
}


static void
ngx_http_xds_release_held(void *data)
{
    ngx_http_xds_peer_data_t  *xp = data;

    ngx_uint_t                     i;
    ngx_atomic_uint_t              refs;
    ngx_slab_pool_t               *shpool;
    ngx_http_upstream_rr_peer_t  **held;
    ngx_http_upstream_rr_peers_t  *peers;

    if (xp->held) {
        peers = xp->xu->uscf->peer.data;
        shpool = peers->shpool;
        held = xp->held->elts;

        for (i = 0; i < xp->held->nelts; i++) {
            refs = ngx_atomic_fetch_add(ngx_http_xds_peer_refs(held[i]), -1)
                   - 1;

            if (refs == NGX_HTTP_XDS_PEER_ZOMBIE) {
                ngx_http_xds_peer_free(shpool, held[i]);
            }
        }
    }

    /* last: a run-time upstream's records live in its build */

    if (xp->build) {
        ngx_http_xds_build_release(xp->build);
    }
}


void
ngx_http_xds_peer_retire(ngx_slab_pool_t *shpool,
    ngx_http_upstream_rr_peer_t *peer)
{
    ngx_atomic_uint_t  refs;

    refs = ngx_atomic_fetch_add(ngx_http_xds_peer_refs(peer),
                                NGX_HTTP_XDS_PEER_ZOMBIE)
           + NGX_HTTP_XDS_PEER_ZOMBIE;

    if (refs == NGX_HTTP_XDS_PEER_ZOMBIE) {
        ngx_http_xds_peer_free(shpool, peer);
    }
}


void
ngx_http_xds_peer_free(ngx_slab_pool_t *shpool,
    ngx_http_upstream_rr_peer_t *peer)
{
    ngx_shmtx_lock(&shpool->mutex);

    if (peer->server.data) {
        ngx_slab_free_locked(shpool, peer->server.data);
    }

    if (peer->name.data) {
        ngx_slab_free_locked(shpool, peer->name.data);
    }

    if (peer->sockaddr) {
        ngx_slab_free_locked(shpool, peer->sockaddr);
    }

    ngx_slab_free_locked(shpool, peer);

    ngx_shmtx_unlock(&shpool->mutex);
}
