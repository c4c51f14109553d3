
/*
 * nginx-xds: the forwarded seed APIs' configuration: the module's location
 * configuration, `xds_api_server host:port;` (where the control plane's HTTP
 * gateway listens) and `xds_api_token_file path;` (its bearer token).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_api_vars.h"
#include "nginx_module/ngx_http_xds_api_conf.h"


void *
ngx_http_xds_api_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_xds_api_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_xds_api_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->server = { 0, NULL };
     *     alcf->authorization = { 0, NULL };
     *     alcf->file = NULL;
     *     alcf->line = 0;
     *     alcf->first = { 0, NULL };
     *     alcf->upstream = NULL;
     *     alcf->locations = { 0 };
     *     alcf->variables = 0;
     */

    return alcf;
}


char *
ngx_http_xds_api_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_xds_api_loc_conf_t *prev = parent;
    ngx_http_xds_api_loc_conf_t *conf = child;

    ngx_conf_merge_str_value(conf->server, prev->server, "");
    ngx_conf_merge_str_value(conf->authorization, prev->authorization, "");

    return NGX_CONF_OK;
}


char *
ngx_http_xds_api_server(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_xds_api_loc_conf_t *hlcf = conf;

    ngx_url_t   u;
    ngx_str_t  *value;

    if (hlcf->server.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strlcasestrn(value[1].data, value[1].data + value[1].len,
                         (u_char *) "://", 2)
        != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_api_server \"%V\": expected "
                           "host:port, without a scheme", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_api_server \"%V\": %s", &value[1],
                           u.err ? u.err : "cannot parse");
        return NGX_CONF_ERROR;
    }

    if (u.family == AF_UNIX || u.no_port || u.host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_api_server \"%V\": expected host:port",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    hlcf->server = value[1];
    hlcf->file = cf->conf_file->file.name.data;
    hlcf->line = cf->conf_file->line;

    if (ngx_http_xds_api_add_variables(cf, hlcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the gateway's bearer token, read now (in the master) from a file */

char *
ngx_http_xds_api_token_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_xds_api_loc_conf_t *hlcf = conf;

    u_char               *p, *last, *start;
    ngx_str_t            *value;
    ngx_http_xds_file_t   file;

    if (hlcf->authorization.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&file, sizeof(ngx_http_xds_file_t));

    if (ngx_http_xds_read_file(cf, cmd, &file, 4096) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the first line, without surrounding white space */

    start = file.content.data;
    last = start + file.content.len;

    p = ngx_strlchr(start, last, LF);
    if (p != NULL) {
        last = p;
    }

    while (start < last && (*start == ' ' || *start == '\t')) {
        start++;
    }

    while (last > start
           && (last[-1] == ' ' || last[-1] == '\t' || last[-1] == CR))
    {
        last--;
    }

    for (p = start; p < last; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid xds_api_token_file \"%V\": the token "
                               "may only hold printable ASCII characters "
                               "without spaces", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (last - start < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_api_token_file \"%V\": the token "
                           "must be at least 16 characters long",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    hlcf->authorization.len = sizeof("Bearer ") - 1 + (last - start);
    hlcf->authorization.data = ngx_pnalloc(cf->pool, hlcf->authorization.len);
    if (hlcf->authorization.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(hlcf->authorization.data, "Bearer ",
                   sizeof("Bearer ") - 1);
    ngx_memcpy(p, start, last - start);

    /* no copy of the secret is left behind in the pool but this one */

    ngx_explicit_memzero(file.content.data, file.content.len);

    return NGX_CONF_OK;
}
