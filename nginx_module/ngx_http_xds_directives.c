/*
 * nginx-xds: the http{} directives that configure the agent: xds_server,
 * xds_node_id, xds_fleet, xds_node_label, xds_cache and xds_zone_size. Each
 * checks its value when nginx.conf is read, so `nginx -t` names a bad one.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_directives.h"


#define NGX_HTTP_XDS_ZONE_MIN         (128 * 1024)


char *
ngx_http_xds_server(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_xds_main_conf_t *xmcf = conf;

    u_char      *p;
    size_t       len;
    ngx_url_t    u;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (xmcf->server.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    len = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[i];
        u.no_resolve = 1;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid xds_server \"%V\": %s", &value[i],
                               u.err ? u.err : "cannot parse");
            return NGX_CONF_ERROR;
        }

        if (u.family == AF_UNIX || u.no_port || u.host.len == 0
            || ngx_strlchr(value[i].data, value[i].data + value[i].len, ',')
               != NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid xds_server \"%V\": expected "
                               "host:port", &value[i]);
            return NGX_CONF_ERROR;
        }

        len += value[i].len + 1;
    }

    /* NUL-terminated: the agent takes it as is */

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    xmcf->server.data = p;

    for (i = 1; i < cf->args->nelts; i++) {
        if (i > 1) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, value[i].data, value[i].len);
    }

    *p = '\0';
    xmcf->server.len = p - xmcf->server.data;

    return NGX_CONF_OK;
}


/*
 * xds_node_label KEY VALUE: sent as a string field of the Node metadata, so
 * a staged rollout's canary group can select this node by it.
 */

char *
ngx_http_xds_node_label(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_xds_main_conf_t *xmcf = conf;

    u_char       *p;
    ngx_str_t    *value;
    ngx_uint_t    i;
    nxa_label_t  *label;

    value = cf->args->elts;

    if (ngx_http_xds_valid_name(&value[1]) != NGX_OK
        || ngx_strcmp(value[1].data, "nginx") == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_node_label key \"%V\": must be 1-%d "
                           "characters of [A-Za-z0-9._-], and not \"nginx\"",
                           &value[1], NGX_HTTP_XDS_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    if (value[2].len > NGX_HTTP_XDS_NAME_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_node_label \"%V\" value \"%V\": "
                           "longer than %d characters",
                           &value[1], &value[2], NGX_HTTP_XDS_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    for (p = value[2].data; p < value[2].data + value[2].len; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid xds_node_label \"%V\" value: "
                               "control characters", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (xmcf->labels == NULL) {
        xmcf->labels = ngx_array_create(cf->pool, 4, sizeof(nxa_label_t));
        if (xmcf->labels == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    label = xmcf->labels->elts;

    for (i = 0; i < xmcf->labels->nelts; i++) {
        if (ngx_strcmp(label[i].key, value[1].data) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate xds_node_label \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    label = ngx_array_push(xmcf->labels);
    if (label == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the parser's tokens are NUL-terminated and live as long as the cycle */

    label->key = (const char *) value[1].data;
    label->value = (const char *) value[2].data;

    return NGX_CONF_OK;
}


char *
ngx_http_xds_name(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_xds_valid_name(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %V \"%V\": must be 1-%d characters "
                           "of [A-Za-z0-9._-]",
                           &cmd->name, &value[1], NGX_HTTP_XDS_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    *field = value[1];

    return NGX_CONF_OK;
}


char *
ngx_http_xds_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_xds_main_conf_t *xmcf = conf;

    ngx_str_t  *value;

    if (xmcf->cache_path.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_cache \"%V\": empty path", &value[1]);
        return NGX_CONF_ERROR;
    }

    xmcf->cache_path = value[1];

    /* relative to the prefix; the result is NUL-terminated */

    if (ngx_conf_full_name(cf->cycle, &xmcf->cache_path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_xds_zone_size(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_xds_main_conf_t *xmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (xmcf->zone_size != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_zone_size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < NGX_HTTP_XDS_ZONE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "xds_zone_size \"%V\" is too small, "
                           "it must be at least 128k", &value[1]);
        return NGX_CONF_ERROR;
    }

    xmcf->zone_size = size;

    return NGX_CONF_OK;
}


/* a node id or fleet: 1-255 characters of [A-Za-z0-9._-], as the agent */

ngx_int_t
ngx_http_xds_valid_name(ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HTTP_XDS_NAME_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if ((c >= 'a' && c <= 'z')
            || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '.' || c == '_' || c == '-')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}
