/*
 * nginx-xds: applying snapshots to upstreams.
 *
 * Worker 0 applies a snapshot in two phases. Prepare: every address is
 * parsed and every new peer (and backup list) is allocated in its upstream's
 * zone, with nothing visible yet; any failure frees what was prepared and
 * the snapshot is rejected whole. Commit: per upstream, under the upstream's
 * xds lock (which keeps peer get out) and ngx_http_upstream_rr_peers_wlock,
 * the peer lists are relinked in the snapshot's order, kept peers keep their
 * run-time state, and removed peers are retired (freed once no request
 * holds them). Commit cannot fail.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_apply.h"
#include "nginx_module/ngx_http_xds_build.h"
#include "nginx_module/ngx_http_xds_peer.h"
#include "nginx_module/ngx_http_xds_snapshot.h"
#include "nginx_module/ngx_http_xds_upstreams.h"


struct ngx_http_xds_apply_shctx_s {
    /* by name: nginx.conf's upstreams and the run-time ones; never freed */
    ngx_http_xds_upstream_sh_t      *upstreams;
    /* held by whoever changes peers or `last`: worker 0 applying, the
     * master re-applying, and an old worker 0 during a reload */
    ngx_atomic_t                     lock;
    /* the last applied snapshot, re-applied by the master after a reload
     * and built from by every worker */
    ngx_http_xds_snapshot_t         *last;
    /* bumped with every change of `last` */
    ngx_atomic_t                     generation;
};


/* an upstream of a snapshot that this worker builds from text */
typedef struct {
    ngx_http_xds_upstream_def_t     *def;
    ngx_http_xds_upstream_t         *xu;        /* nginx.conf's; NULL: run-time */
    ngx_http_xds_build_t            *build;     /* NULL: unchanged */
} ngx_http_xds_rebuild_t;


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


static ngx_int_t ngx_http_xds_sync(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);
static void ngx_http_xds_release_current(void *data);
static ngx_http_xds_upstream_t **ngx_http_xds_find_runtime(ngx_str_t *name);
static ngx_http_xds_upstream_sh_t *ngx_http_xds_find_sh(
    ngx_http_xds_apply_shctx_t *ash, ngx_str_t *name);
static ngx_http_xds_upstream_sh_t *ngx_http_xds_runtime_sh(
    ngx_http_xds_main_conf_t *xmcf, ngx_str_t *name);
static ngx_int_t ngx_http_xds_build_all(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_snapshot_t *snapshot,
    ngx_pool_t *pool, ngx_array_t *rebuilds, u_char *err, size_t err_len);
static ngx_int_t ngx_http_xds_balancer_crc(ngx_pool_t *pool,
    ngx_http_xds_upstream_def_t *xud, ngx_http_xds_upstream_t *xu,
    uint32_t *crc);
static void ngx_http_xds_install_all(ngx_http_xds_main_conf_t *xmcf,
    ngx_array_t *rebuilds, ngx_http_xds_snapshot_t *snapshot);
static void ngx_http_xds_release_all(ngx_array_t *rebuilds);
static void ngx_http_xds_install_static(ngx_http_xds_upstream_t *xu,
    ngx_http_xds_build_t *build);
static ngx_int_t ngx_http_xds_install_runtime(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_build_t *build);
static void ngx_http_xds_remove_runtime(ngx_uint_t index);
static ngx_int_t ngx_http_xds_apply_def(ngx_log_t *log,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_snapshot_t *snapshot,
    u_char *err, size_t err_len);
static void ngx_http_xds_mark_deleted(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot);
static void ngx_http_xds_keep(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot);
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
static size_t ngx_http_xds_status_size(ngx_http_xds_upstream_t *xu);
static u_char *ngx_http_xds_status_upstream(u_char *p, u_char *last,
    ngx_http_xds_upstream_t *xu, ngx_uint_t json);
static u_char *ngx_http_xds_status_peer(u_char *p, u_char *last,
    ngx_http_upstream_rr_peer_t *peer, ngx_uint_t backup, ngx_uint_t json);


/* per worker: the generation of `last` this worker has built */
static ngx_atomic_uint_t  ngx_http_xds_synced;

/* per worker: the run-time upstreams (ngx_http_xds_upstream_t *) */
static ngx_array_t       *ngx_http_xds_runtime;


ngx_int_t
ngx_http_xds_apply_init_conf(ngx_conf_t *cf, ngx_http_xds_main_conf_t *xmcf)
{
    if (ngx_array_init(&xmcf->upstreams, cf->pool, 4,
                       sizeof(ngx_http_xds_upstream_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_xds_upstreams_init(cf, &xmcf->upstreams);
}


ngx_int_t
ngx_http_xds_apply_init_zone(ngx_http_xds_main_conf_t *xmcf, ngx_uint_t fresh)
{
    ngx_uint_t                   i;
    ngx_slab_pool_t             *shpool;
    ngx_http_xds_upstream_t     *xu;
    ngx_http_xds_upstream_sh_t  *ush;
    ngx_http_xds_apply_shctx_t  *ash;

    shpool = xmcf->shpool;
    ash = xmcf->sh->apply;

    if (ash == NULL) {
        ash = ngx_slab_calloc(shpool, sizeof(ngx_http_xds_apply_shctx_t));
        if (ash == NULL) {
            return NGX_ERROR;
        }

        xmcf->sh->apply = ash;
    }

    /* records are found by name, so they outlive reloads */

    xu = xmcf->upstreams.elts;

    for (i = 0; i < xmcf->upstreams.nelts; i++) {

        ush = ngx_http_xds_find_sh(ash, &xu[i].uscf->host);

        if (ush == NULL) {
            ush = ngx_slab_calloc(shpool, sizeof(ngx_http_xds_upstream_sh_t));
            if (ush == NULL) {
                return NGX_ERROR;
            }

            ush->name.data = ngx_slab_alloc(shpool, xu[i].uscf->host.len);
            if (ush->name.data == NULL) {
                ngx_slab_free(shpool, ush);
                return NGX_ERROR;
            }

            ngx_memcpy(ush->name.data, xu[i].uscf->host.data,
                       xu[i].uscf->host.len);
            ush->name.len = xu[i].uscf->host.len;

            ush->next = ash->upstreams;
            ash->upstreams = ush;
        }

        xu[i].sh = ush;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_xds_apply_init_process(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf)
{
    ngx_pool_cleanup_t  *cln;

    ngx_http_xds_runtime = ngx_array_create(cycle->pool, 4,
                                            sizeof(ngx_http_xds_upstream_t *));
    if (ngx_http_xds_runtime == NULL) {
        return NGX_ERROR;
    }

    /* the worker exits by destroying the cycle pool, which holds the
     * current builds: release them first */

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_xds_release_current;
    cln->data = xmcf;

    /* build what the last applied snapshot defines before serving */
    return ngx_http_xds_sync(cycle, xmcf);
}


static void
ngx_http_xds_release_current(void *data)
{
    ngx_http_xds_main_conf_t *xmcf = data;

    ngx_uint_t                 i;
    ngx_http_xds_build_t      *build;
    ngx_http_xds_upstream_t   *xu, **runtime;

    xu = xmcf->upstreams.elts;

    for (i = 0; i < xmcf->upstreams.nelts; i++) {
        if (ngx_http_xds_in_zone(&xu[i])) {
            /* nginx leaves them to the exit; the module frees them anyway
             * when the peers change */
            ngx_http_xds_peer_free_ranges(xu[i].uscf);
        }

        if (xu[i].build) {
            build = xu[i].build;
            xu[i].build = NULL;
            ngx_http_xds_build_release(build);
        }
    }

    /* a run-time upstream's record lives in its build's pool */

    runtime = ngx_http_xds_runtime->elts;

    for (i = 0; i < ngx_http_xds_runtime->nelts; i++) {
        ngx_http_xds_build_release(runtime[i]->build);
    }

    ngx_http_xds_runtime->nelts = 0;
}


ngx_int_t
ngx_http_xds_apply_report_static(ngx_http_xds_main_conf_t *xmcf,
    nxa_agent_t *agent)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    ngx_pool_t                      *pool;
    nxa_server_t                    *servers;
    nxa_upstream_t                   upstream;
    ngx_http_upstream_srv_conf_t   **uscfp;
    ngx_http_upstream_main_conf_t   *umcf;

    umcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_upstream_module);

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (!(uscfp[i]->flags & NGX_HTTP_UPSTREAM_CREATE)) {
            continue;
        }

        if (ngx_http_xds_upstreams_describe(pool, uscfp[i], &upstream,
                                            &servers)
            != NGX_OK
            || nxa_agent_add_static_upstream(agent, &upstream, servers)
               != NXA_OK)
        {
            rc = NGX_ERROR;
            break;
        }
    }

    ngx_destroy_pool(pool);

    return rc;
}


ngx_int_t
ngx_http_xds_apply_snapshot(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf, nxa_snapshot_t *snapshot, u_char *err,
    size_t err_len)
{
    ngx_int_t                 rc;
    ngx_pool_t               *pool;
    ngx_array_t               rebuilds;
    ngx_http_xds_snapshot_t  *xsn;

    pool = ngx_create_pool(4096, cycle->log);
    if (pool == NULL) {
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NGX_ERROR;
    }

    xsn = ngx_http_xds_snapshot_from_agent(pool, snapshot);

    if (xsn == NULL
        || ngx_array_init(&rebuilds, pool, 4, sizeof(ngx_http_xds_rebuild_t))
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NGX_ERROR;
    }

    /*
     * Building here first checks with nginx's parser what the other workers
     * will build; then the zones change: nothing changes unless all can.
     */

    rc = ngx_http_xds_build_all(cycle, xmcf, xsn, pool, &rebuilds, err,
                                err_len);

    if (rc == NGX_OK) {
        ngx_rwlock_wlock(&xmcf->sh->apply->lock);

        rc = ngx_http_xds_apply_def(cycle->log, xmcf, xsn, err, err_len);

        if (rc == NGX_OK) {
            ngx_http_xds_keep(xmcf, xsn);
        }

        ngx_rwlock_unlock(&xmcf->sh->apply->lock);
    }

    if (rc != NGX_OK) {
        ngx_http_xds_release_all(&rebuilds);
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_http_xds_install_all(xmcf, &rebuilds, xsn);
    ngx_http_xds_synced = xmcf->sh->apply->generation;

    ngx_destroy_pool(pool);

    return NGX_OK;
}


ngx_int_t
ngx_http_xds_apply_init_module(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf)
{
    u_char                       err[NGX_HTTP_XDS_ERROR_LEN];
    ngx_int_t                    rc;
    ngx_http_xds_apply_shctx_t  *ash;

    if (xmcf->sh == NULL || xmcf->sh->apply == NULL) {
        return NGX_OK;
    }

    ash = xmcf->sh->apply;

    /*
     * After a reload the upstream zones are rebuilt from nginx.conf: bring
     * them to the last applied version before any new worker starts. The
     * run-time upstreams' peers are in the module's zone, which survived:
     * only those that nginx.conf had before (and not now) are new. An old
     * worker 0 may still apply: the lock keeps `last` and the peers still.
     */

    ngx_rwlock_wlock(&ash->lock);

    rc = NGX_OK;

    if (ash->last) {
        rc = ngx_http_xds_apply_def(cycle->log, xmcf, ash->last, err,
                                    sizeof(err));
        if (rc == NGX_OK) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "xds: re-applied version %V after reload",
                          &ash->last->version);
        } else {
            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "xds: version %V not re-applied after reload: %s",
                          &ash->last->version, err);
        }
    }

    ngx_rwlock_unlock(&ash->lock);

    /* a failure here leaves nginx.conf's peers until the agent reconnects */

    return NGX_OK;
}


static void
ngx_http_xds_keep(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot)
{
    ngx_slab_pool_t          *shpool;
    ngx_http_xds_snapshot_t  *copy, *old;

    shpool = xmcf->shpool;

    copy = ngx_http_xds_snapshot_copy(shpool, snapshot);

    if (copy == NULL) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "xds: zone too small to keep version %V for reloads",
                      &snapshot->version);
    }

    ngx_shmtx_lock(&shpool->mutex);

    old = xmcf->sh->apply->last;
    xmcf->sh->apply->last = copy;
    xmcf->sh->apply->generation++;

    if (old) {
        ngx_slab_free_locked(shpool, old);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


static ngx_int_t
ngx_http_xds_apply_def(ngx_log_t *log, ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, u_char *err, size_t err_len)
{
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
                ngx_snprintf(err, err_len,
                             "upstream \"%V\": zone \"%V\" is full%Z",
                             &xud->name, &xmcf->shm_zone->shm.name);
                rc = NGX_ERROR;
                break;
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

        rc = ngx_http_xds_prepare(pool, plan, xud, err, err_len);

        if (rc != NGX_OK) {
            plans.nelts--;
            break;
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

    if (rc == NGX_OK) {
        ngx_http_xds_mark_deleted(xmcf, snapshot);
    }

    ngx_destroy_pool(pool);

    return rc;
}


/*
 * An upstream of nginx.conf that snapshots had and this one has not was
 * deleted at the control plane: requests to it get 502 (see
 * ngx_http_xds_peer.c). One a snapshot never had keeps nginx.conf's peers.
 */

static void
ngx_http_xds_mark_deleted(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot)
{
    ngx_uint_t                    i, j, present;
    ngx_http_xds_upstream_t      *xu;
    ngx_http_xds_upstream_def_t  *xud;

    xu = xmcf->upstreams.elts;

    for (i = 0; i < xmcf->upstreams.nelts; i++) {

        if (xu[i].sh == NULL) {
            continue;
        }

        present = 0;

        for (j = 0; j < snapshot->nupstreams; j++) {
            xud = &snapshot->upstreams[j];

            if (xud->name.len == xu[i].uscf->host.len
                && ngx_strncasecmp(xud->name.data, xu[i].uscf->host.data,
                                   xud->name.len)
                   == 0)
            {
                present = 1;
                break;
            }
        }

        if (present) {
            xu[i].sh->seen = 1;
            xu[i].sh->deleted = 0;

        } else if (xu[i].sh->seen && !xu[i].sh->deleted) {
            xu[i].sh->deleted = 1;
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "xds: upstream \"%V\" deleted", &xu[i].uscf->host);
        }
    }
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


ngx_int_t
ngx_http_xds_apply_sync(ngx_http_request_t *r, ngx_http_xds_main_conf_t *xmcf)
{
    if (xmcf->sh == NULL || xmcf->sh->apply == NULL
        || ngx_http_xds_synced == xmcf->sh->apply->generation)
    {
        /* zone peers are shared: only builds can be behind */
        return NGX_OK;
    }

    return ngx_http_xds_sync((ngx_cycle_t *) ngx_cycle, xmcf);
}


static ngx_int_t
ngx_http_xds_sync(ngx_cycle_t *cycle, ngx_http_xds_main_conf_t *xmcf)
{
    u_char                       err[NGX_HTTP_XDS_ERROR_LEN];
    ngx_pool_t                  *pool;
    ngx_array_t                  rebuilds;
    ngx_http_xds_apply_shctx_t  *ash;

    if (xmcf->sh == NULL || xmcf->sh->apply == NULL) {
        return NGX_OK;
    }

    ash = xmcf->sh->apply;

    pool = ngx_create_pool(4096, cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&rebuilds, pool, 4, sizeof(ngx_http_xds_rebuild_t))
        != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    /* worker 0 replaces `last` under this lock */

    ngx_shmtx_lock(&xmcf->shpool->mutex);

    if (ash->last) {
        if (ngx_http_xds_build_all(cycle, xmcf, ash->last, pool, &rebuilds,
                                   err, sizeof(err))
            == NGX_OK)
        {
            ngx_http_xds_install_all(xmcf, &rebuilds, ash->last);

        } else {
            /* worker 0 built the same text; only memory can fail here */
            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "xds: version %V not built in this worker: %s",
                          &ash->last->version, err);
            ngx_http_xds_release_all(&rebuilds);
        }
    }

    ngx_http_xds_synced = ash->generation;

    ngx_shmtx_unlock(&xmcf->shpool->mutex);

    ngx_destroy_pool(pool);

    return NGX_OK;
}


static ngx_http_xds_upstream_t **
ngx_http_xds_find_runtime(ngx_str_t *name)
{
    ngx_uint_t                 i;
    ngx_http_xds_upstream_t  **runtime;

    runtime = ngx_http_xds_runtime->elts;

    for (i = 0; i < ngx_http_xds_runtime->nelts; i++) {
        if (runtime[i]->uscf->host.len == name->len
            && ngx_strncasecmp(runtime[i]->uscf->host.data, name->data,
                               name->len)
               == 0)
        {
            return &runtime[i];
        }
    }

    return NULL;
}


/* records are only ever added, at the head: readable without a lock */

static ngx_http_xds_upstream_sh_t *
ngx_http_xds_find_sh(ngx_http_xds_apply_shctx_t *ash, ngx_str_t *name)
{
    ngx_http_xds_upstream_sh_t  *ush;

    for (ush = ash->upstreams; ush; ush = ush->next) {
        if (ush->name.len == name->len
            && ngx_strncasecmp(ush->name.data, name->data, name->len) == 0)
        {
            return ush;
        }
    }

    return NULL;
}


/*
 * The record of the run-time upstream `name`, with its (maybe empty) peer
 * list, created in the module's zone the first time; kept for the life of
 * the zone, so a worker's build never outlives the list it uses. The caller
 * holds ash->lock.
 */

static ngx_http_xds_upstream_sh_t *
ngx_http_xds_runtime_sh(ngx_http_xds_main_conf_t *xmcf, ngx_str_t *name)
{
    ngx_uint_t                     log_nomem;
    ngx_slab_pool_t               *shpool;
    ngx_http_xds_upstream_sh_t    *ush;
    ngx_http_xds_apply_shctx_t    *ash;
    ngx_http_upstream_rr_peers_t  *peers;

    ash = xmcf->sh->apply;
    shpool = xmcf->shpool;

    ush = ngx_http_xds_find_sh(ash, name);

    if (ush && ush->peers) {
        return ush;
    }

    ngx_shmtx_lock(&shpool->mutex);

    /* a full zone is reported by the NACK, not by a [crit] "no memory" */

    log_nomem = shpool->log_nomem;
    shpool->log_nomem = 0;

    peers = ngx_slab_calloc_locked(shpool,
                                   sizeof(ngx_http_upstream_rr_peers_t));
    if (peers == NULL) {
        goto failed;
    }

    if (ush == NULL) {
        ush = ngx_slab_calloc_locked(shpool,
                                     sizeof(ngx_http_xds_upstream_sh_t));
        if (ush == NULL) {
            goto failed;
        }

        ush->name.data = ngx_slab_alloc_locked(shpool, name->len);
        if (ush->name.data == NULL) {
            goto failed;
        }

        ngx_memcpy(ush->name.data, name->data, name->len);
        ush->name.len = name->len;

        ush->next = ash->upstreams;
        ash->upstreams = ush;
    }

    peers->shpool = shpool;
    peers->name = &ush->name;
    ush->peers = peers;

    shpool->log_nomem = log_nomem;
    ngx_shmtx_unlock(&shpool->mutex);

    return ush;

failed:

    if (ush && ush->name.data == NULL) {
        ngx_slab_free_locked(shpool, ush);
    }

    if (peers) {
        ngx_slab_free_locked(shpool, peers);
    }

    shpool->log_nomem = log_nomem;
    ngx_shmtx_unlock(&shpool->mutex);

    return NULL;
}


static ngx_int_t
ngx_http_xds_build_all(ngx_cycle_t *cycle, ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_pool_t *pool,
    ngx_array_t *rebuilds, u_char *err, size_t err_len)
{
    uint32_t                      crc, conf_crc;
    ngx_str_t                     text;
    ngx_uint_t                    i;
    ngx_shm_zone_t               *zone;
    ngx_http_xds_build_t         *current;
    ngx_http_xds_rebuild_t       *rb;
    ngx_http_xds_upstream_t      *xu, **runtime;
    ngx_http_xds_upstream_def_t  *xud;

    for (i = 0; i < snapshot->nupstreams; i++) {
        xud = &snapshot->upstreams[i];

        xu = ngx_http_xds_upstreams_find(&xmcf->upstreams, xud->name.data,
                                         xud->name.len);

        if (ngx_http_xds_build_text(pool, xud, &text) != NGX_OK) {
            ngx_snprintf(err, err_len, "out of memory%Z");
            return NGX_ERROR;
        }

        crc = ngx_crc32_short(text.data, text.len);

        /* a run-time upstream's peers are in the module's zone: balancers
         * then keep their per-zone state (random) as for a zone */
        zone = xu ? NULL : xmcf->shm_zone;

        if (xu && ngx_http_xds_in_zone(xu)) {

            /*
             * A zone upstream: its peers are edited in place; a build only
             * carries its balancer (and keepalive) when the control plane's
             * differs from nginx.conf's, and, for consistent hashing, the
             * hash points of the current servers.
             */

            zone = xu->uscf->shm_zone;

            if (!(xud->method == NXA_METHOD_HASH && xud->hash_consistent)) {
                if (ngx_http_xds_balancer_crc(pool, xud, NULL, &crc)
                    != NGX_OK
                    || (xu->build == NULL
                        && ngx_http_xds_balancer_crc(pool, xud, xu, &conf_crc)
                           != NGX_OK))
                {
                    ngx_snprintf(err, err_len, "out of memory%Z");
                    return NGX_ERROR;
                }

                if (xu->build == NULL && crc == conf_crc) {
                    continue;
                }
            }
        }

        if (xu) {
            current = xu->build;

        } else {
            runtime = ngx_http_xds_find_runtime(&xud->name);
            current = runtime ? (*runtime)->build : NULL;
        }

        if (current && current->crc == crc) {
            continue;
        }

        rb = ngx_array_push(rebuilds);
        if (rb == NULL) {
            ngx_snprintf(err, err_len, "out of memory%Z");
            return NGX_ERROR;
        }

        rb->def = xud;
        rb->xu = xu;

        rb->build = ngx_http_xds_build(cycle, &xud->name, &text,
                                       xud->keepalive, zone, err, err_len);
        if (rb->build == NULL) {
            return NGX_ERROR;
        }

        rb->build->crc = crc;
    }

    return NGX_OK;
}


/*
 * The checksum of an upstream's balancer lines (method, hash, keepalive):
 * the snapshot's, or with `xu` those nginx.conf gave it.
 */

static ngx_int_t
ngx_http_xds_balancer_crc(ngx_pool_t *pool, ngx_http_xds_upstream_def_t *xud,
    ngx_http_xds_upstream_t *xu, uint32_t *crc)
{
    ngx_str_t                     text;
    ngx_http_xds_srv_conf_t      *xscf;
    ngx_http_xds_upstream_def_t   def;

    def = *xud;
    def.nservers = 0;

    if (xu) {
        xscf = ngx_http_conf_upstream_srv_conf(xu->uscf, ngx_http_xds_module);

        def.method = xscf->method;
        def.hash_key = xscf->hash_key;
        def.hash_consistent = xscf->hash_consistent;
        def.keepalive = xscf->keepalive;
        def.keepalive_requests = xscf->keepalive_requests;
        def.keepalive_time = xscf->keepalive_time;
        def.keepalive_timeout = xscf->keepalive_timeout;
    }

    if (ngx_http_xds_build_text(pool, &def, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    *crc = ngx_crc32_short(text.data, text.len);

    return NGX_OK;
}


static void
ngx_http_xds_install_all(ngx_http_xds_main_conf_t *xmcf,
    ngx_array_t *rebuilds, ngx_http_xds_snapshot_t *snapshot)
{
    ngx_uint_t                    i, j, keep;
    ngx_http_xds_rebuild_t       *rb;
    ngx_http_xds_upstream_t     **runtime;
    ngx_http_xds_upstream_def_t  *xud;

    rb = rebuilds->elts;

    for (i = 0; i < rebuilds->nelts; i++) {
        if (rb[i].build == NULL) {
            continue;
        }

        if (rb[i].xu) {
            ngx_http_xds_install_static(rb[i].xu, rb[i].build);

        } else if (ngx_http_xds_install_runtime(xmcf, rb[i].build)
                   != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "xds: upstream \"%V\" not installed",
                          &rb[i].def->name);
            ngx_http_xds_build_release(rb[i].build);
        }

        rb[i].build = NULL;
    }

    /* run-time upstreams the snapshot no longer has are deleted */

    runtime = ngx_http_xds_runtime->elts;

    for (i = 0; i < ngx_http_xds_runtime->nelts; /* void */) {
        keep = 0;

        for (j = 0; j < snapshot->nupstreams; j++) {
            xud = &snapshot->upstreams[j];

            if (runtime[i]->uscf->host.len == xud->name.len
                && ngx_strncasecmp(runtime[i]->uscf->host.data,
                                   xud->name.data, xud->name.len)
                   == 0)
            {
                keep = 1;
                break;
            }
        }

        if (keep) {
            i++;

        } else {
            ngx_http_xds_remove_runtime(i);
        }
    }
}


static void
ngx_http_xds_release_all(ngx_array_t *rebuilds)
{
    ngx_uint_t               i;
    ngx_http_xds_rebuild_t  *rb;

    rb = rebuilds->elts;

    for (i = 0; i < rebuilds->nelts; i++) {
        if (rb[i].build) {
            ngx_http_xds_build_release(rb[i].build);
            rb[i].build = NULL;
        }
    }
}


/*
 * nginx.conf's upstream: proxy_pass holds its srv conf object, so the object
 * stays and takes the build's configuration (and, without a zone, peers).
 */

static void
ngx_http_xds_install_static(ngx_http_xds_upstream_t *xu,
    ngx_http_xds_build_t *build)
{
    void                  **srv_conf;
    ngx_http_xds_build_t   *old;

    srv_conf = build->uscf->srv_conf;

    srv_conf[ngx_http_upstream_module.ctx_index] = xu->uscf;
    srv_conf[ngx_http_xds_module.ctx_index] =
        xu->uscf->srv_conf[ngx_http_xds_module.ctx_index];

    if (!ngx_http_xds_in_zone(xu)) {
        xu->uscf->peer.data = build->uscf->peer.data;
    }

    /* the zone's peers stay: the balancer works on them under the build's
     * configuration */

    xu->uscf->srv_conf = srv_conf;
    xu->original_init = build->uscf->peer.init;

    old = xu->build;
    xu->build = build;

    if (old) {
        ngx_http_xds_build_release(old);
    }
}


/* an upstream only the control plane defines: found by proxy_pass $host */

static ngx_int_t
ngx_http_xds_install_runtime(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_build_t *build)
{
    ngx_uint_t                       i;
    ngx_http_xds_upstream_t         *xu, **runtime;
    ngx_http_xds_srv_conf_t         *xscf;
    ngx_http_xds_upstream_sh_t      *ush;
    ngx_http_upstream_srv_conf_t   **uscfp;
    ngx_http_upstream_main_conf_t   *umcf;

    /*
     * The peers are the shared ones worker 0 (or the master, after a
     * reload) applied before `last` named this upstream, so the balancing
     * state is one for all workers; the build's own peers go unused.
     */

    ush = ngx_http_xds_find_sh(xmcf->sh->apply, &build->uscf->host);
    if (ush == NULL || ush->peers == NULL) {
        return NGX_ERROR;
    }

    xu = ngx_pcalloc(build->pool, sizeof(ngx_http_xds_upstream_t));
    if (xu == NULL) {
        return NGX_ERROR;
    }

    build->uscf->peer.data = ush->peers;

    xu->uscf = build->uscf;
    xu->sh = ush;
    xu->build = build;
    xu->runtime = 1;

    xscf = ngx_http_conf_upstream_srv_conf(build->uscf, ngx_http_xds_module);
    xscf->xu = xu;

    if (ngx_http_xds_peer_wrap(xu) != NGX_OK) {
        return NGX_ERROR;
    }

    umcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_upstream_module);

    runtime = ngx_http_xds_find_runtime(&build->uscf->host);

    if (runtime) {
        /* replaced: requests still using the old build keep it alive */

        uscfp = umcf->upstreams.elts;

        for (i = 0; i < umcf->upstreams.nelts; i++) {
            if (uscfp[i] == (*runtime)->uscf) {
                uscfp[i] = build->uscf;
                break;
            }
        }

        ngx_http_xds_build_release((*runtime)->build);
        *runtime = xu;

        return NGX_OK;
    }

    uscfp = ngx_array_push(&umcf->upstreams);
    if (uscfp == NULL) {
        return NGX_ERROR;
    }

    runtime = ngx_array_push(ngx_http_xds_runtime);
    if (runtime == NULL) {
        umcf->upstreams.nelts--;
        return NGX_ERROR;
    }

    *uscfp = build->uscf;
    *runtime = xu;

    return NGX_OK;
}


static void
ngx_http_xds_remove_runtime(ngx_uint_t index)
{
    ngx_uint_t                       i;
    ngx_http_xds_upstream_t        **runtime;
    ngx_http_upstream_srv_conf_t   **uscfp;
    ngx_http_upstream_main_conf_t   *umcf;

    umcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_upstream_module);
    runtime = ngx_http_xds_runtime->elts;
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i] == runtime[index]->uscf) {
            ngx_memmove(&uscfp[i], &uscfp[i + 1],
                        (umcf->upstreams.nelts - i - 1) * sizeof(void *));
            umcf->upstreams.nelts--;
            break;
        }
    }

    /* requests still using it keep the build (and this record) alive */
    ngx_http_xds_build_release(runtime[index]->build);

    ngx_memmove(&runtime[index], &runtime[index + 1],
                (ngx_http_xds_runtime->nelts - index - 1) * sizeof(void *));
    ngx_http_xds_runtime->nelts--;
}


ngx_chain_t *
ngx_http_xds_apply_status(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_uint_t json)
{
    size_t                     size;
    u_char                    *p;
    ngx_buf_t                 *b;
    ngx_uint_t                 i, n;
    ngx_chain_t               *cl;
    ngx_http_xds_upstream_t   *xu, **all;

    /* nginx.conf's upstreams, then the run-time ones of this worker */

    n = xmcf->upstreams.nelts
        + (ngx_http_xds_runtime ? ngx_http_xds_runtime->nelts : 0);

    all = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_xds_upstream_t *));
    if (all == NULL) {
        return NULL;
    }

    xu = xmcf->upstreams.elts;

    for (i = 0; i < xmcf->upstreams.nelts; i++) {
        all[i] = &xu[i];
    }

    for ( /* void */ ; i < n; i++) {
        all[i] = ((ngx_http_xds_upstream_t **) ngx_http_xds_runtime->elts)
                     [i - xmcf->upstreams.nelts];
    }

    size = 64;

    for (i = 0; i < n; i++) {
        size += ngx_http_xds_status_size(all[i]);
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    p = b->pos;

    if (json) {
        p = ngx_slprintf(p, b->end, "[");
    }

    for (i = 0; i < n; i++) {
        if (json && i) {
            p = ngx_slprintf(p, b->end, ",");
        }

        p = ngx_http_xds_status_upstream(p, b->end, all[i], json);
    }

    if (json) {
        p = ngx_slprintf(p, b->end, "]");
    }

    b->last = p;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


static size_t
ngx_http_xds_status_size(ngx_http_xds_upstream_t *xu)
{
    ngx_http_upstream_rr_peers_t  *peers;

    peers = xu->uscf->peer.data;

    /* twice a generous bound: zone peers may be added while counting */

    return 2 * (256 + 2 * xu->uscf->host.len
                + (peers->number + (peers->next ? peers->next->number : 0))
                  * (256 + NGX_SOCKADDR_STRLEN));
}


static u_char *
ngx_http_xds_status_upstream(u_char *p, u_char *last,
    ngx_http_xds_upstream_t *xu, ngx_uint_t json)
{
    ngx_str_t                      zone;
    ngx_uint_t                     first;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *backup;

    peers = xu->uscf->peer.data;

    if (xu->uscf->shm_zone) {
        zone = xu->uscf->shm_zone->shm.name;

    } else {
        ngx_str_set(&zone, "");
    }

    ngx_http_upstream_rr_peers_rlock(peers);

    if (json) {
        p = ngx_slprintf(p, last, "{\"name\":\"%V\",\"zone\":\"%V\","
                         "\"source\":\"%s\",\"deleted\":%s,\"peers\":[",
                         &xu->uscf->host, &zone,
                         xu->runtime ? "control plane" : "nginx.conf",
                         (xu->sh && xu->sh->deleted) ? "true" : "false");
    } else {
        p = ngx_slprintf(p, last, "upstream %V (%s%s%V)%s\n",
                         &xu->uscf->host,
                         xu->runtime ? "control plane" : "nginx.conf",
                         zone.len ? ", zone " : "", &zone,
                         (xu->sh && xu->sh->deleted) ? " deleted" : "");
    }

    first = 1;
    backup = peers->next;

    for (peer = peers->peer; peer; peer = peer->next) {
        if (json && !first) {
            p = ngx_slprintf(p, last, ",");
        }

        p = ngx_http_xds_status_peer(p, last, peer, 0, json);
        first = 0;
    }

    for (peer = backup ? backup->peer : NULL; peer; peer = peer->next) {
        if (json && !first) {
            p = ngx_slprintf(p, last, ",");
        }

        p = ngx_http_xds_status_peer(p, last, peer, 1, json);
        first = 0;
    }

    ngx_http_upstream_rr_peers_unlock(peers);

    return ngx_slprintf(p, last, json ? "]}" : "\n");
}


static u_char *
ngx_http_xds_status_peer(u_char *p, u_char *last,
    ngx_http_upstream_rr_peer_t *peer, ngx_uint_t backup, ngx_uint_t json)
{
    if (json) {
        return ngx_slprintf(p, last,
                            "{\"server\":\"%V\",\"weight\":%i,"
                            "\"max_fails\":%ui,\"fail_timeout\":%T,"
                            "\"max_conns\":%ui,\"backup\":%s,\"down\":%s,"
                            "\"conns\":%ui,\"fails\":%ui}",
                            &peer->name, peer->weight, peer->max_fails,
                            peer->fail_timeout, peer->max_conns,
                            backup ? "true" : "false",
                            peer->down ? "true" : "false",
                            peer->conns, peer->fails);
    }

    return ngx_slprintf(p, last,
                        "  server %V weight=%i max_fails=%ui fail_timeout=%T"
                        " max_conns=%ui%s%s conns=%ui fails=%ui\n",
                        &peer->name, peer->weight, peer->max_fails,
                        peer->fail_timeout, peer->max_conns,
                        backup ? " backup" : "", peer->down ? " down" : "",
                        peer->conns, peer->fails);
}
