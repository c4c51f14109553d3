/*
 * nginx-xds: the applied state in the module's zone: one record per
 * upstream, found by name so that it outlives reloads, and the run-time
 * upstreams' shared peer lists.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_zone.h"


ngx_int_t
ngx_http_xds_zone_init(ngx_http_xds_main_conf_t *xmcf, ngx_uint_t fresh)
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


/* records are only ever added, at the head: readable without a lock */

ngx_http_xds_upstream_sh_t *
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

ngx_http_xds_upstream_sh_t *
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
