/*
 * nginx-xds: applying the agent's versions to upstreams: the entry points.
 *
 * The agent hands worker 0 each version as a change (the upstreams new or
 * different, and the names removed) or, when nginx has no state yet, whole.
 * Worker 0 first builds what every worker will build for the upstreams it
 * names (ngx_http_xds_install.c), then, under the zone's apply lock, copies
 * their definitions into their records (ngx_http_xds_zone.c), edits their
 * shared peers (ngx_http_xds_plan.c), and commits the records, which logs
 * each changed record under a new zone generation. Each upstream is applied
 * on its own: one nginx refuses in any step keeps what it had, its record
 * too, and is reported to the agent by name. Every other worker catches up
 * before its next request by visiting the records changed since its
 * generation (ngx_http_xds_apply_sync), and the master re-applies the
 * records to the rebuilt upstream zones after a reload. The cost of a
 * change follows the upstreams it names, not how many there are.
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
static ngx_int_t ngx_http_xds_collect(ngx_pool_t *pool,
    ngx_http_xds_apply_shctx_t *ash, ngx_uint_t since,
    ngx_http_xds_snapshot_t *xsn, ngx_uint_t *scanned);
static void ngx_http_xds_report_rejects(ngx_cycle_t *cycle,
    nxa_snapshot_t *snapshot, ngx_http_xds_snapshot_t *xsn,
    ngx_http_xds_rejects_t *rejects, u_char *err, size_t err_len);


/* per worker: the zone generation whose records this worker has built */
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

    /* build what every record defines before serving */
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
    ngx_int_t                      rc;
    ngx_uint_t                     i, current, generation;
    ngx_pool_t                    *pool;
    ngx_array_t                    rebuilds, removed;
    ngx_http_xds_rejects_t         rejects;
    ngx_http_xds_snapshot_t       *xsn;
    ngx_http_xds_upstream_sh_t   **rm;
    ngx_http_xds_apply_shctx_t    *ash;
    ngx_http_xds_upstream_def_t  **defs;

    *nrejected = 0;
    ash = xmcf->sh->apply;

    /* an old worker 0 may have applied during a reload: its changes are
     * built here first, so this worker's builds stay whole */

    (void) ngx_http_xds_sync(cycle, xmcf);

    pool = ngx_create_pool(4096, cycle->log);
    if (pool == NULL) {
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NGX_ERROR;
    }

    xsn = ngx_http_xds_snapshot_from_agent(pool, snapshot);

    if (xsn == NULL
        || ngx_array_init(&rebuilds, pool, 4, sizeof(ngx_http_xds_rebuild_t))
           != NGX_OK
        || ngx_array_init(&removed, pool, 4, sizeof(void *)) != NGX_OK
        || ngx_http_xds_rejects_init(pool, &rejects, xsn->nupstreams)
           != NGX_OK
        || (defs = ngx_pcalloc(pool, (xsn->nupstreams + 1) * sizeof(void *)))
           == NULL)
    {
        ngx_destroy_pool(pool);
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NGX_ERROR;
    }

    /*
     * Building here first checks with nginx's parser what the other workers
     * will build; then the records and the zones change. An upstream
     * refused by any step is left as it is; the others change.
     */

    rc = ngx_http_xds_build_all(cycle, xmcf, xsn, pool, &rebuilds, &rejects,
                                err, err_len);

    current = 0;
    generation = 0;

    if (rc == NGX_OK) {
        ngx_rwlock_wlock(&ash->lock);

        current = (ngx_http_xds_synced == ash->generation);

        rc = ngx_http_xds_zone_prepare(xmcf, xsn, &rejects, defs);

        if (rc != NGX_OK) {
            ngx_snprintf(err, err_len, "out of memory%Z");

        } else {
            rc = ngx_http_xds_plan_apply(cycle->log, xmcf, xsn, &rejects,
                                         err, err_len);
            if (rc == NGX_OK) {
                ngx_http_xds_zone_unprepare(xmcf, xsn, &rejects, defs, 0);
                (void) ngx_http_xds_zone_commit(xmcf, xsn, &rejects, defs,
                                                &removed);
                ngx_http_xds_plan_mark(xmcf, xsn, &rejects);

            } else {
                ngx_http_xds_zone_unprepare(xmcf, xsn, &rejects, defs, 1);
            }
        }

        generation = ash->generation;

        ngx_rwlock_unlock(&ash->lock);
    }

    if (rc != NGX_OK) {
        ngx_http_xds_release_all(&rebuilds);
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_http_xds_release_rejected(&rebuilds, xsn, &rejects);
    ngx_http_xds_install_all(xmcf, &rebuilds);

    /* records outlive reloads: their names can be read without the lock */

    rm = removed.elts;

    for (i = 0; i < removed.nelts; i++) {
        ngx_http_xds_install_remove(&rm[i]->name);
    }

    if (current) {
        ngx_http_xds_synced = generation;
    }

    if (rejects.n) {
        ngx_http_xds_report_rejects(cycle, snapshot, xsn, &rejects, err,
                                    err_len);
        *nrejected = rejects.n;
    }

    ngx_destroy_pool(pool);

    return NGX_OK;
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
    u_char                        err[NGX_HTTP_XDS_ERROR_LEN];
    ngx_int_t                     rc;
    ngx_uint_t                    i, n;
    ngx_pool_t                   *pool;
    ngx_http_xds_rejects_t        rejects;
    ngx_http_xds_snapshot_t       xsn;
    ngx_http_xds_upstream_t      *xu;
    ngx_http_xds_upstream_sh_t   *ush;
    ngx_http_xds_apply_shctx_t   *ash;

    if (xmcf->sh == NULL || xmcf->sh->apply == NULL) {
        return NGX_OK;
    }

    ash = xmcf->sh->apply;

    /*
     * After a reload the upstream zones are rebuilt from nginx.conf: bring
     * them to their records' definitions before any new worker starts. The
     * run-time upstreams' peers are in the module's zone, which survived:
     * only those that nginx.conf had before (and not now) have none yet. An
     * old worker 0 may still apply: the lock keeps the records and the
     * peers still.
     */

    pool = ngx_create_pool(4096, cycle->log);
    if (pool == NULL) {
        return NGX_OK;
    }

    ngx_rwlock_wlock(&ash->lock);

    n = 0;

    for (ush = ash->upstreams; ush; ush = ush->next) {
        n += (ush->def != NULL);
    }

    ngx_memzero(&xsn, sizeof(ngx_http_xds_snapshot_t));
    xsn.delta = 1;
    xsn.upstreams = ngx_pcalloc(pool, (n + 1)
                                      * sizeof(ngx_http_xds_upstream_def_t));

    for (ush = ash->upstreams; xsn.upstreams && ush; ush = ush->next) {
        if (ush->def == NULL) {
            continue;
        }

        xu = ngx_http_xds_upstreams_find(&xmcf->upstreams, ush->name.data,
                                         ush->name.len);

        if (xu ? ngx_http_xds_in_zone(xu) : ush->peers == NULL) {
            xsn.upstreams[xsn.nupstreams++] = *ush->def;
        }
    }

    if (xsn.upstreams
        && ngx_http_xds_rejects_init(pool, &rejects, xsn.nupstreams) == NGX_OK)
    {
        rc = xsn.nupstreams == 0
             ? NGX_OK
             : ngx_http_xds_plan_apply(cycle->log, xmcf, &xsn, &rejects,
                                       err, sizeof(err));

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "xds: version %*s not re-applied after reload: %s",
                          xmcf->sh->version_len, xmcf->sh->version, err);

        } else if (xmcf->sh->version_len) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "xds: re-applied version %*s after reload "
                          "(%ui upstream%s to peers nginx.conf rebuilt)",
                          xmcf->sh->version_len, xmcf->sh->version,
                          xsn.nupstreams, xsn.nupstreams == 1 ? "" : "s");
        }

        /* the rebuilt zones may be smaller: those keep nginx.conf's peers */

        for (i = 0; rc == NGX_OK && i < xsn.nupstreams; i++) {
            if (rejects.reasons[i]) {
                ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                              "xds: upstream \"%V\" of version %*s not "
                              "re-applied after reload: %s",
                              &xsn.upstreams[i].name, xmcf->sh->version_len,
                              xmcf->sh->version, rejects.reasons[i]);
            }
        }
    }

    ngx_rwlock_unlock(&ash->lock);

    ngx_destroy_pool(pool);

    /* a failure here leaves nginx.conf's peers until the agent reconnects */

    return NGX_OK;
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


/*
 * Brings this worker's builds to the zone's generation: the records changed
 * since the generation it has are copied under the zone's slab mutex, then
 * built (only those whose text differs from this worker's build) and
 * installed, and the run-time upstreams removed meanwhile are removed.
 */

static ngx_int_t
ngx_http_xds_sync(ngx_cycle_t *cycle, ngx_http_xds_main_conf_t *xmcf)
{
    u_char                       err[NGX_HTTP_XDS_ERROR_LEN];
    ngx_int_t                    rc;
    ngx_uint_t                   i, generation, since, scanned;
    ngx_pool_t                  *pool;
    ngx_array_t                  rebuilds;
    ngx_http_xds_snapshot_t      xsn;
    ngx_http_xds_apply_shctx_t  *ash;

    if (xmcf->sh == NULL || xmcf->sh->apply == NULL) {
        return NGX_OK;
    }

    ash = xmcf->sh->apply;

    if (ngx_http_xds_synced == ash->generation) {
        return NGX_OK;
    }

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

    ngx_memzero(&xsn, sizeof(ngx_http_xds_snapshot_t));

    /* worker 0 replaces definitions under this mutex; held only to copy */

    ngx_shmtx_lock(&xmcf->shpool->mutex);

    since = ngx_http_xds_synced;
    generation = ash->generation;
    scanned = 0;
    rc = ngx_http_xds_collect(pool, ash, since, &xsn, &scanned);

    ngx_shmtx_unlock(&xmcf->shpool->mutex);

    if (scanned) {
        /* rare (a whole version, a new worker after one): worth a line */
        ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                      "xds: caught up from generation %ui to %ui by a scan "
                      "of every record, as the change log no longer holds "
                      "every change since: %ui upstreams changed", since,
                      generation, xsn.nupstreams + xsn.nremoved);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "xds: no memory to catch up with generation %ui",
                      generation);
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    if (ngx_http_xds_build_all(cycle, xmcf, &xsn, pool, &rebuilds, NULL, err,
                               sizeof(err))
        == NGX_OK)
    {
        ngx_http_xds_install_all(xmcf, &rebuilds);

    } else {
        /* worker 0 built the same text; only memory can fail here */
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "xds: generation %ui not built in this worker: %s",
                      generation, err);
        ngx_http_xds_release_all(&rebuilds);
    }

    for (i = 0; i < xsn.nremoved; i++) {
        ngx_http_xds_install_remove(&xsn.removed[i]);
    }

    ngx_http_xds_synced = generation;

    ngx_destroy_pool(pool);

    return NGX_OK;
}


/*
 * The records changed after generation `since`, as a change: a copy of
 * each current definition (worker 0 frees the zone's when it replaces it),
 * and the names of those that have none now. The caller holds the zone's
 * slab mutex.
 */

static ngx_int_t
ngx_http_xds_collect(ngx_pool_t *pool, ngx_http_xds_apply_shctx_t *ash,
    ngx_uint_t since, ngx_http_xds_snapshot_t *xsn, ngx_uint_t *scanned)
{
    u_char                        *p;
    size_t                         size;
    ngx_uint_t                     i;
    ngx_array_t                    changed;
    ngx_http_xds_upstream_sh_t   **ush;
    ngx_http_xds_upstream_def_t   *def;

    if (ngx_array_init(&changed, pool, 16, sizeof(void *)) != NGX_OK
        || ngx_http_xds_zone_changes(ash, since, &changed, scanned)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    xsn->delta = 1;
    xsn->upstreams = ngx_pcalloc(pool, (changed.nelts + 1)
                                       * sizeof(ngx_http_xds_upstream_def_t));
    xsn->removed = ngx_pcalloc(pool, (changed.nelts + 1) * sizeof(ngx_str_t));

    if (xsn->upstreams == NULL || xsn->removed == NULL) {
        return NGX_ERROR;
    }

    ush = changed.elts;

    for (i = 0; i < changed.nelts; i++) {
        def = ush[i]->def;

        if (def == NULL) {
            /* a record's name lives as long as the zone */
            xsn->removed[xsn->nremoved++] = ush[i]->name;
            continue;
        }

        size = ngx_http_xds_def_size(def);

        p = ngx_palloc(pool, size);
        if (p == NULL) {
            return NGX_ERROR;
        }

        xsn->upstreams[xsn->nupstreams++] = *ngx_http_xds_def_copy(p, def);
    }

    return NGX_OK;
}
