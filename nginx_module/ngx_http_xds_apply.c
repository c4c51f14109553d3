/* placeholder until the apply engine lands: owned by the lead */

/*
 * Minimal bodies of ngx_http_xds_apply.h for the module's plumbing tests:
 * every snapshot is accepted and changes nothing, the status section is
 * empty.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_apply.h"


ngx_int_t
ngx_http_xds_apply_init_conf(ngx_conf_t *cf, ngx_http_xds_main_conf_t *xmcf)
{
    return NGX_OK;
}


ngx_int_t
ngx_http_xds_apply_init_zone(ngx_http_xds_main_conf_t *xmcf, ngx_uint_t fresh)
{
    return NGX_OK;
}


ngx_int_t
ngx_http_xds_apply_init_process(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf)
{
    return NGX_OK;
}


ngx_int_t
ngx_http_xds_apply_report_static(ngx_http_xds_main_conf_t *xmcf,
    nxa_agent_t *agent)
{
    return NGX_OK;
}


ngx_int_t
ngx_http_xds_apply_snapshot(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf, nxa_snapshot_t *snapshot, u_char *err,
    size_t err_len)
{
    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "xds placeholder apply: version \"%s\", %uz upstreams",
                  nxa_snapshot_version(snapshot),
                  nxa_snapshot_upstream_count(snapshot));

    return NGX_OK;
}


ngx_int_t
ngx_http_xds_apply_sync(ngx_http_request_t *r, ngx_http_xds_main_conf_t *xmcf)
{
    return NGX_OK;
}


ngx_chain_t *
ngx_http_xds_apply_status(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_uint_t json)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_create_temp_buf(r->pool, 2);
    if (b == NULL) {
        return NULL;
    }

    if (json) {
        b->last = ngx_cpymem(b->last, "[]", 2);
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}
