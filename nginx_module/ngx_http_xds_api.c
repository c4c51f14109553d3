
/*
 * nginx-xds: `dynamic_upstream;` and `dyups_interface;`, the seed modules'
 * HTTP APIs forwarded to the control plane's HTTP gateway.
 *
 * Each such location is configured through the proxy module's own
 * directive handlers, as if it read
 *
 *     proxy_pass                  http://<the xds_api_server upstream>;
 *     proxy_set_header            X-Xds-Fleet $xds_fleet;
 *     proxy_set_header            Host $xds_api_server;
 *     proxy_set_header            Authorization $xds_api_authorization;
 *     proxy_pass_request_headers  on;     (unless the location says)
 *     proxy_pass_request_body     on;     (unless the location says)
 *     proxy_intercept_errors      off;    (unless the location says)
 *     proxy_cache                 off;    (unless the location says)
 *
 * so the request (method, URI as sent, body, headers but a client's own
 * X-Xds-Fleet) goes to the control plane without blocking the worker, and
 * its answer (status, body, Content-Type, X-Xds-*) comes back as it is.
 * With xds_api_token_file the gateway's bearer token replaces a client's own
 * Authorization header (so the location's access rules decide who may use
 * the API); without it a client's header goes through unchanged. The
 * location's own proxy_* directives (timeouts, ...) apply. When the control
 * plane cannot be reached the client gets nginx's 502 (504 on a timeout).
 *
 * xds_api_server may come anywhere in the http block: every forwarding
 * location shares one implicit upstream whose servers (and the optional
 * directives above) are filled in by its init_upstream, which the upstream
 * module calls once the whole block is parsed, before the proxy module
 * merges the locations.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_api_proxy.h"
#include "nginx_module/ngx_http_xds_api_vars.h"
#include "nginx_module/ngx_http_xds_api.h"


/*
 * The shared upstream's name. The space keeps it out of reach of a run-time
 * lookup (`proxy_pass http://$host;`): no Host header can name it, so
 * nothing reaches the API around the location's access rules.
 */
#define NGX_HTTP_XDS_API_UPSTREAM  "xds api server"


/* a proxy module directive and its arguments */
typedef struct {
    ngx_uint_t                     optional;
    char                          *argv[4];
} ngx_http_xds_api_directive_t;


static ngx_http_xds_api_loc_conf_t *ngx_http_xds_api_http_conf(
    ngx_cycle_t *cycle);
static ngx_int_t ngx_http_xds_api_add_upstream(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_http_xds_api_loc_conf_t *hlcf);
static ngx_int_t ngx_http_xds_api_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_xds_api_set_optional(ngx_conf_t *cf,
    ngx_http_xds_api_loc_conf_t *hlcf);


/*
 * What a forwarding location gets. The optional ones undo what the http or
 * server level may have set; they are set once the http block is parsed,
 * so a location that sets one itself keeps its own.
 */

static ngx_http_xds_api_directive_t  ngx_http_xds_api_directives[] = {
    { 0, { "proxy_pass", "http://" NGX_HTTP_XDS_API_UPSTREAM, NULL } },
    { 0, { "proxy_set_header", "X-Xds-Fleet", "$xds_fleet", NULL } },
    { 0, { "proxy_set_header", "Host", "$xds_api_server", NULL } },
    { 0, { "proxy_set_header", "Authorization", "$xds_api_authorization",
           NULL } },
    { 1, { "proxy_pass_request_headers", "on", NULL } },
    { 1, { "proxy_pass_request_body", "on", NULL } },
    { 1, { "proxy_intercept_errors", "off", NULL } },
    { 1, { "proxy_cache", "off", NULL } },
    { 0, { NULL } }
};


char *
ngx_http_xds_api_forward(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                          *rv;
    ngx_module_t                  *proxy;
    ngx_http_conf_ctx_t          **ctxp;
    ngx_http_xds_api_directive_t  *d;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_xds_api_loc_conf_t   *hlcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot share a location with another "
                           "handler (proxy_pass, xds_status, "
                           "dynamic_upstream, dyups_interface, ...)",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    proxy = ngx_http_xds_api_proxy_module(cf->cycle);

    if (proxy == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs nginx's proxy module, which this "
                           "nginx lacks", &cmd->name);
        return NGX_CONF_ERROR;
    }

    hlcf = ngx_http_xds_api_http_conf(cf->cycle);

    if (ngx_http_xds_api_add_variables(cf, hlcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (hlcf->upstream == NULL
        && ngx_http_xds_api_add_upstream(cf, cmd, hlcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* proxy_pass finds the shared upstream by its name */

    for (d = ngx_http_xds_api_directives; d->argv[0]; d++) {

        if (d->optional) {
            continue;
        }

        rv = ngx_http_xds_api_call(cf, proxy, d->argv);

        if (rv != NGX_CONF_OK) {
            if (rv != NGX_CONF_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" cannot set \"%s\": it %s",
                                   &cmd->name, d->argv[0], rv);
            }

            return NGX_CONF_ERROR;
        }
    }

    ctxp = ngx_array_push(&hlcf->locations);
    if (ctxp == NULL) {
        return NGX_CONF_ERROR;
    }

    *ctxp = cf->ctx;

    return NGX_CONF_OK;
}


/* the http{} level's configuration: the one every location can reach */

static ngx_http_xds_api_loc_conf_t *
ngx_http_xds_api_http_conf(ngx_cycle_t *cycle)
{
    ngx_http_conf_ctx_t  *ctx;

    ctx = (ngx_http_conf_ctx_t *) cycle->conf_ctx[ngx_http_module.index];

    return ctx->loc_conf[ngx_http_xds_module.ctx_index];
}


static ngx_int_t
ngx_http_xds_api_add_upstream(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_xds_api_loc_conf_t *hlcf)
{
    ngx_url_t                      u;
    ngx_http_upstream_srv_conf_t  *uscf;

    /* as proxy_pass parses its URL, so that it finds this one */

    ngx_memzero(&u, sizeof(ngx_url_t));

    ngx_str_set(&u.url, NGX_HTTP_XDS_API_UPSTREAM);
    u.default_port = 80;
    u.uri_part = 1;
    u.no_resolve = 1;

    uscf = ngx_http_upstream_add(cf, &u, 0);
    if (uscf == NULL) {
        return NGX_ERROR;
    }

    if (uscf->flags & NGX_HTTP_UPSTREAM_CREATE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "upstream \"%V\" is reserved for \"%V\"",
                           &uscf->host, &cmd->name);
        return NGX_ERROR;
    }

    if (ngx_array_init(&hlcf->locations, cf->pool, 4,
                       sizeof(ngx_http_conf_ctx_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    uscf->peer.init_upstream = ngx_http_xds_api_init_upstream;

    hlcf->upstream = uscf;
    hlcf->first = cmd->name;

    return NGX_OK;
}


/*
 * The upstream module's init_main_conf calls this once the whole http block
 * is parsed: xds_api_server is known by then, wherever it was.
 */

static ngx_int_t
ngx_http_xds_api_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_url_t                     u;
    ngx_http_upstream_server_t   *server;
    ngx_http_xds_api_loc_conf_t  *hlcf;

    hlcf = ngx_http_xds_api_http_conf(cf->cycle);

    if (us->flags & NGX_HTTP_UPSTREAM_CREATE) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" is reserved for \"%V\" in %s:%ui",
                      &us->host, &hlcf->first, us->file_name, us->line);
        return NGX_ERROR;
    }

    if (hlcf->server.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%V\" in %s:%ui needs \"xds_api_server\" in the "
                      "http block: the control plane's HTTP address",
                      &hlcf->first, us->file_name, us->line);
        return NGX_ERROR;
    }

    /* resolved now, as proxy_pass resolves a host name */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = hlcf->server;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s in xds_api_server \"%V\" in %s:%ui",
                      u.err ? u.err : "no address", &hlcf->server,
                      hlcf->file, hlcf->line);
        return NGX_ERROR;
    }

    us->servers = ngx_array_create(cf->pool, 1,
                                   sizeof(ngx_http_upstream_server_t));
    if (us->servers == NULL) {
        return NGX_ERROR;
    }

    server = ngx_array_push(us->servers);
    if (server == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(server, sizeof(ngx_http_upstream_server_t));

    server->name = hlcf->server;
    server->addrs = u.addrs;
    server->naddrs = u.naddrs;
    server->weight = 1;
    server->fail_timeout = 10;

    /*
     * max_fails 0: one refused connection while the control plane restarts
     * must not make nginx skip it for fail_timeout afterwards
     */

    server->max_fails = 0;

    if (ngx_http_xds_api_set_optional(cf, hlcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_upstream_init_round_robin(cf, us);
}


/* before the proxy module merges the locations' configurations */

static ngx_int_t
ngx_http_xds_api_set_optional(ngx_conf_t *cf,
    ngx_http_xds_api_loc_conf_t *hlcf)
{
    char                           *rv;
    void                           *saved;
    ngx_uint_t                      i;
    ngx_module_t                   *proxy;
    ngx_http_conf_ctx_t           **ctxp;
    ngx_http_xds_api_directive_t   *d;

    proxy = ngx_http_xds_api_proxy_module(cf->cycle);
    ctxp = hlcf->locations.elts;
    saved = cf->ctx;

    for (i = 0; i < hlcf->locations.nelts; i++) {

        cf->ctx = ctxp[i];

        for (d = ngx_http_xds_api_directives; d->argv[0]; d++) {

            if (!d->optional) {
                continue;
            }

            rv = ngx_http_xds_api_call(cf, proxy, d->argv);

            if (rv == NGX_CONF_OK
                || rv == ngx_http_xds_api_unknown
                || (rv != NGX_CONF_ERROR
                    && ngx_strcmp(rv, "is duplicate") == 0))
            {
                continue;
            }

            cf->ctx = saved;

            if (rv != NGX_CONF_ERROR) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"%V\" cannot set \"%s\": it %s",
                              &hlcf->first, d->argv[0], rv);
            }

            return NGX_ERROR;
        }
    }

    cf->ctx = saved;

    return NGX_OK;
}
