/*
 * nginx-xds: a version as the module keeps it: converted once from the
 * agent's, and each upstream's definition copied alone into the zone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_snapshot.h"


static ngx_int_t ngx_http_xds_str(ngx_pool_t *pool, ngx_str_t *dst,
    const char *src);
static u_char *ngx_http_xds_copy_str(u_char *p, ngx_str_t *dst,
    ngx_str_t *src);


ngx_int_t
ngx_http_xds_rejects_init(ngx_pool_t *pool, ngx_http_xds_rejects_t *rejects,
    ngx_uint_t nupstreams)
{
    rejects->pool = pool;
    rejects->n = 0;
    rejects->reasons = ngx_pcalloc(pool, (nupstreams + 1) * sizeof(u_char *));

    return rejects->reasons ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_xds_reject(ngx_http_xds_rejects_t *rejects, ngx_uint_t index,
    u_char *reason)
{
    size_t   len;
    u_char  *copy;

    if (rejects->reasons[index]) {
        return NGX_OK;
    }

    len = ngx_strlen(reason);

    copy = ngx_pnalloc(rejects->pool, len + 1);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(copy, reason, len + 1);

    rejects->reasons[index] = copy;
    rejects->n++;

    return NGX_OK;
}


ngx_http_xds_snapshot_t *
ngx_http_xds_snapshot_from_agent(ngx_pool_t *pool, nxa_snapshot_t *snapshot)
{
    size_t                        u, s;
    nxa_server_t                  server;
    nxa_upstream_t                upstream;
    ngx_http_xds_server_t        *xs;
    ngx_http_xds_snapshot_t      *xsn;
    ngx_http_xds_upstream_def_t  *xud;

    xsn = ngx_pcalloc(pool, sizeof(ngx_http_xds_snapshot_t));
    if (xsn == NULL) {
        return NULL;
    }

    if (ngx_http_xds_str(pool, &xsn->version, nxa_snapshot_version(snapshot))
        != NGX_OK)
    {
        return NULL;
    }

    xsn->delta = nxa_snapshot_is_delta(snapshot) ? 1 : 0;
    xsn->nremoved = nxa_snapshot_removed_count(snapshot);
    xsn->removed = ngx_pcalloc(pool, (xsn->nremoved + 1) * sizeof(ngx_str_t));
    if (xsn->removed == NULL) {
        return NULL;
    }

    for (u = 0; u < xsn->nremoved; u++) {
        if (ngx_http_xds_str(pool, &xsn->removed[u],
                             nxa_snapshot_removed(snapshot, u))
            != NGX_OK)
        {
            return NULL;
        }
    }

    xsn->nupstreams = nxa_snapshot_upstream_count(snapshot);
    xsn->upstreams = ngx_pcalloc(pool, (xsn->nupstreams + 1)
                                       * sizeof(ngx_http_xds_upstream_def_t));
    if (xsn->upstreams == NULL) {
        return NULL;
    }

    for (u = 0; u < xsn->nupstreams; u++) {
        if (nxa_snapshot_upstream(snapshot, u, &upstream) != NXA_OK) {
            return NULL;
        }

        xud = &xsn->upstreams[u];

        if (ngx_http_xds_str(pool, &xud->name, upstream.name) != NGX_OK
            || ngx_http_xds_str(pool, &xud->zone, upstream.zone) != NGX_OK
            || ngx_http_xds_str(pool, &xud->hash_key, upstream.hash_key)
               != NGX_OK)
        {
            return NULL;
        }

        xud->method = upstream.method;
        xud->hash_consistent = upstream.hash_consistent;
        xud->keepalive = upstream.keepalive;
        xud->keepalive_requests = upstream.keepalive_requests;
        xud->keepalive_time = upstream.keepalive_time_ms;
        xud->keepalive_timeout = upstream.keepalive_timeout_ms;
        xud->nservers = upstream.nservers;

        xud->servers = ngx_pcalloc(pool, (upstream.nservers + 1)
                                         * sizeof(ngx_http_xds_server_t));
        if (xud->servers == NULL) {
            return NULL;
        }

        for (s = 0; s < upstream.nservers; s++) {
            if (nxa_snapshot_server(snapshot, u, s, &server) != NXA_OK) {
                return NULL;
            }

            xs = &xud->servers[s];

            if (ngx_http_xds_str(pool, &xs->address, server.address)
                != NGX_OK)
            {
                return NULL;
            }

            xs->weight = server.weight;
            xs->max_fails = server.max_fails;
            xs->fail_timeout = server.fail_timeout;
            xs->max_conns = server.max_conns;
            xs->backup = server.backup ? 1 : 0;
            xs->down = server.down ? 1 : 0;
        }
    }

    return xsn;
}


size_t
ngx_http_xds_def_size(ngx_http_xds_upstream_def_t *xud)
{
    size_t      size;
    ngx_uint_t  s;

    size = sizeof(ngx_http_xds_upstream_def_t) + xud->name.len
           + xud->zone.len + xud->hash_key.len
           + xud->nservers * sizeof(ngx_http_xds_server_t);

    for (s = 0; s < xud->nservers; s++) {
        size += xud->servers[s].address.len;
    }

    return size;
}


ngx_http_xds_upstream_def_t *
ngx_http_xds_def_copy(u_char *p, ngx_http_xds_upstream_def_t *from)
{
    ngx_uint_t                    s;
    ngx_http_xds_upstream_def_t  *to;

    /* one block: a record's definition is replaced (and freed) whole */

    to = (ngx_http_xds_upstream_def_t *) p;
    p += sizeof(ngx_http_xds_upstream_def_t);

    *to = *from;
    to->servers = (ngx_http_xds_server_t *) p;
    p += from->nservers * sizeof(ngx_http_xds_server_t);

    for (s = 0; s < from->nservers; s++) {
        to->servers[s] = from->servers[s];
    }

    p = ngx_http_xds_copy_str(p, &to->name, &from->name);
    p = ngx_http_xds_copy_str(p, &to->zone, &from->zone);
    p = ngx_http_xds_copy_str(p, &to->hash_key, &from->hash_key);

    for (s = 0; s < from->nservers; s++) {
        p = ngx_http_xds_copy_str(p, &to->servers[s].address,
                                  &from->servers[s].address);
    }

    return to;
}


static u_char *
ngx_http_xds_copy_str(u_char *p, ngx_str_t *dst, ngx_str_t *src)
{
    dst->len = src->len;
    dst->data = p;

    return ngx_cpymem(p, src->data, src->len);
}


static ngx_int_t
ngx_http_xds_str(ngx_pool_t *pool, ngx_str_t *dst, const char *src)
{
    dst->len = ngx_strlen(src);

    dst->data = ngx_pnalloc(pool, dst->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, dst->len + 1);

    return NGX_OK;
}
