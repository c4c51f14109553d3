/*
 * nginx-xds: applying snapshots to upstreams: the entry points and the
 * state they share.
 *
 * Worker 0 applies a snapshot: it first builds what every worker will build
 * (ngx_http_xds_install.c), then, under the zone's apply lock, edits the
 * shared peers (ngx_http_xds_plan.c) and keeps what it applied in the
 * module's zone with a new generation. Each upstream is applied on its own:
 * one nginx refuses in either step keeps what it had, is reported to the
 * agent by name, and is kept in the zone as it was before. Every other
 * worker catches up with that generation before its next request
 * (ngx_http_xds_apply_sync), and the master re-applies the kept snapshot
 * after a reload.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_snapshot.h"
#include "nginx_module/ngx_http_xds_upstreams.h"
#include "nginx_module/ngx_http_xds_zone.h"
#include "nginx_module/ngx_http_xds_plan.h"
#include "nginx_module/ngx_http_xds_install.h"
#include "nginx_module/ngx_http_xds_apply.h"


static ngx_int_t ngx_http_xds_sync(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);
static void ngx_http_xds_keep(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot);
static ngx_http_xds_snapshot_t *ngx_http_xds_applied(ngx_pool_t *pool,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects,
    ngx_http_xds_snapshot_t *last);
static void ngx_http_xds_report_rejects(ngx_cycle_t *cycle,
    nxa_snapshot_t *snapshot, ngx_http_xds_snapshot_t *xsn,
    ngx_http_xds_rejects_t *rejects, u_char *err, size_t err_len);


/* per worker: the generation of `last` this worker has built */
static ngx_atomic_uint_t  ngx_http_xds_synced;


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
ngx_http_xds_apply_init_process(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf)
{
    if (ngx_http_xds_install_init_process(cycle, xmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* build what the last applied snapshot defines before serving */
    return ngx_http_xds_sync(cycle, xmcf);
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
    ngx_http_xds_main_conf_t *xmcf, nxa_snapshot_t *snapshot,
    ngx_uint_t *nrejected, u_char *err, size_t err_len)
{
    ngx_int_t                 rc;
    ngx_pool_t               *pool;
    ngx_array_t               rebuilds;
    ngx_http_xds_rejects_t    rejects;
    ngx_http_xds_snapshot_t  *xsn, *applied;

    *nrejected = 0;

    pool = ngx_create_pool(4096, cycle->log);
    if (pool == NULL) {
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NGX_ERROR;
    }

    xsn = ngx_http_xds_snapshot_from_agent(pool, snapshot);

    if (xsn == NULL
        || ngx_array_init(&rebuilds, pool, 4, sizeof(ngx_http_xds_rebuild_t))
           != NGX_OK
        || ngx_http_xds_rejects_init(pool, &rejects, xsn->nupstreams)
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NGX_ERROR;
    }

    /*
     * Building here first checks with nginx's parser what the other workers
     * will build; then the zones change. An upstream refused by either step
     * is left as it is; the others change.
     */

    rc = ngx_http_xds_build_all(cycle, xmcf, xsn, pool, &rebuilds, &rejects,
                                err, err_len);

    if (rc == NGX_OK) {
        ngx_rwlock_wlock(&xmcf->sh->apply->lock);

        rc = ngx_http_xds_plan_apply(cycle->log, xmcf, xsn, &rejects, err,
                                     err_len);

        if (rc == NGX_OK) {
            /* what every worker builds, and a reload re-applies: the
             * rejected upstreams as the last applied version had them */

            applied = ngx_http_xds_applied(pool, xsn, &rejects,
                                           xmcf->sh->apply->last);
            if (applied) {
                ngx_http_xds_keep(xmcf, applied);

            } else {
                ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                              "xds: no memory to keep version %V",
                              &xsn->version);
            }
        }

        ngx_rwlock_unlock(&xmcf->sh->apply->lock);
    }

    if (rc != NGX_OK) {
        ngx_http_xds_release_all(&rebuilds);
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_http_xds_release_rejected(&rebuilds, xsn, &rejects);
    ngx_http_xds_install_all(xmcf, &rebuilds, xsn);
    ngx_http_xds_synced = xmcf->sh->apply->generation;

    if (rejects.n) {
        ngx_http_xds_report_rejects(cycle, snapshot, xsn, &rejects, err,
                                    err_len);
        *nrejected = rejects.n;
    }

    ngx_destroy_pool(pool);

    return NGX_OK;
}


/*
 * `snapshot` with each rejected upstream as `last` has it (found by name),
 * or without it: what nginx runs after this apply. Shallow: it points into
 * `snapshot` and `last`, so it must be copied before `last` is freed.
 */

static ngx_http_xds_snapshot_t *
ngx_http_xds_applied(ngx_pool_t *pool, ngx_http_xds_snapshot_t *snapshot,
    ngx_http_xds_rejects_t *rejects, ngx_http_xds_snapshot_t *last)
{
    ngx_uint_t                    i, j;
    ngx_http_xds_snapshot_t      *applied;
    ngx_http_xds_upstream_def_t  *xud, *old;

    if (rejects->n == 0) {
        return snapshot;
    }

    applied = ngx_pcalloc(pool, sizeof(ngx_http_xds_snapshot_t));
    if (applied == NULL) {
        return NULL;
    }

    applied->version = snapshot->version;
    applied->upstreams = ngx_pcalloc(pool,
                                     (snapshot->nupstreams + 1)
                                     * sizeof(ngx_http_xds_upstream_def_t));
    if (applied->upstreams == NULL) {
        return NULL;
    }

    for (i = 0; i < snapshot->nupstreams; i++) {
        xud = &snapshot->upstreams[i];

        if (rejects->reasons[i] == NULL) {
            applied->upstreams[applied->nupstreams++] = *xud;
            continue;
        }

        for (j = 0; last && j < last->nupstreams; j++) {
            old = &last->upstreams[j];

            if (old->name.len == xud->name.len
                && ngx_strncasecmp(old->name.data, xud->name.data,
                                   xud->name.len)
                   == 0)
            {
                applied->upstreams[applied->nupstreams++] = *old;
                break;
            }
        }
    }

    return applied;
}


static void
ngx_http_xds_report_rejects(ngx_cycle_t *cycle, nxa_snapshot_t *snapshot,
    ngx_http_xds_snapshot_t *xsn, ngx_http_xds_rejects_t *rejects,
    u_char *err, size_t err_len)
{
    ngx_uint_t  i, first;

    first = 1;

    for (i = 0; i < xsn->nupstreams; i++) {
        if (rejects->reasons[i] == NULL) {
            continue;
        }

        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "xds rejected upstream \"%V\" of version \"%V\", "
                      "which keeps its last applied state: %s",
                      &xsn->upstreams[i].name, &xsn->version,
                      rejects->reasons[i]);

        (void) nxa_snapshot_reject_upstream(snapshot, i,
                                            (const char *) rejects->reasons[i]);

        if (first) {
            ngx_snprintf(err, err_len, "%s%Z", rejects->reasons[i]);
            first = 0;
        }
    }
}


ngx_int_t
ngx_http_xds_apply_init_module(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf)
{
    u_char                       err[NGX_HTTP_XDS_ERROR_LEN];
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_pool_t                  *pool;
    ngx_http_xds_rejects_t       rejects;
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

    pool = ngx_create_pool(4096, cycle->log);
    if (pool == NULL) {
        return NGX_OK;
    }

    ngx_rwlock_wlock(&ash->lock);

    if (ash->last
        && ngx_http_xds_rejects_init(pool, &rejects, ash->last->nupstreams)
           == NGX_OK)
    {
        rc = ngx_http_xds_plan_apply(cycle->log, xmcf, ash->last, &rejects,
                                     err, sizeof(err));
        if (rc == NGX_OK) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "xds: re-applied version %V after reload",
                          &ash->last->version);
        } else {
            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "xds: version %V not re-applied after reload: %s",
                          &ash->last->version, err);
        }

        /* the rebuilt zones may be smaller: those keep nginx.conf's peers */

        for (i = 0; rc == NGX_OK && i < ash->last->nupstreams; i++) {
            if (rejects.reasons[i]) {
                ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                              "xds: upstream \"%V\" of version %V not "
                              "re-applied after reload: %s",
                              &ash->last->upstreams[i].name,
                              &ash->last->version, rejects.reasons[i]);
            }
        }
    }

    ngx_rwlock_unlock(&ash->lock);

    ngx_destroy_pool(pool);

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
                                   NULL, err, sizeof(err))
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
