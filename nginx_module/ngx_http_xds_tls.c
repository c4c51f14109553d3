
/*
 * nginx-xds: TLS to the control plane and the secret files the module
 * reads (see ngx_http_xds_tls.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_tls.h"


/* a PEM file is a few certificates at most */
#define NGX_HTTP_XDS_TLS_FILE_MAX  (1024 * 1024)


char *
ngx_http_xds_tls_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    int                   kind;
    char                  err[NGX_MAX_ERROR_STR];
    ngx_str_t            *value;
    ngx_http_xds_file_t  *file;

    file = (ngx_http_xds_file_t *) (p + cmd->offset);

    if (file->file.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %V \"%V\": empty file name",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_xds_read_file(cf, cmd, file, NGX_HTTP_XDS_TLS_FILE_MAX)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    kind = ngx_strcmp(cmd->name.data, "xds_tls_key") == 0
           ? NXA_PEM_PRIVATE_KEY : NXA_PEM_CERTIFICATES;

    err[0] = '\0';

    if (nxa_pem_check(kind, (const char *) file->content.data,
                      file->content.len, err, sizeof(err))
        != NXA_OK)
    {
        err[sizeof(err) - 1] = '\0';
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %V \"%V\": %s", &cmd->name, &value[1],
                           err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_xds_tls_check(ngx_conf_t *cf, ngx_http_xds_tls_t *tls)
{
    char  err[NGX_MAX_ERROR_STR];

    if ((tls->cert.file.len == 0) != (tls->key.file.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"%s\": a client certificate is "
                           "the two together",
                           tls->cert.file.len ? "xds_tls_cert" : "xds_tls_key",
                           tls->cert.file.len ? "xds_tls_key" : "xds_tls_cert");
        return NGX_CONF_ERROR;
    }

    if (tls->ca.file.len == 0
        && (tls->cert.file.len || tls->server_name.len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"xds_tls_ca\": the CA bundle that "
                           "verifies the control plane turns TLS on",
                           tls->cert.file.len ? "xds_tls_cert"
                                              : "xds_tls_server_name");
        return NGX_CONF_ERROR;
    }

    if (tls->cert.file.len == 0) {
        return NGX_CONF_OK;
    }

    err[0] = '\0';

    if (nxa_pem_key_matches((const char *) tls->cert.content.data,
                            tls->cert.content.len,
                            (const char *) tls->key.content.data,
                            tls->key.content.len, err, sizeof(err))
        != NXA_OK)
    {
        err[sizeof(err) - 1] = '\0';
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_tls_key \"%V\" for xds_tls_cert "
                           "\"%V\": %s",
                           &tls->key.file, &tls->cert.file, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_http_xds_tls_config(ngx_http_xds_tls_t *tls, nxa_config_t *config)
{
    config->tls_ca = tls->ca.content.len
                     ? (const char *) tls->ca.content.data : NULL;
    config->tls_cert = tls->cert.content.len
                       ? (const char *) tls->cert.content.data : NULL;
    config->tls_key = tls->key.content.len
                      ? (const char *) tls->key.content.data : NULL;
    config->tls_server_name = tls->server_name.len
                              ? (const char *) tls->server_name.data : NULL;
}


ngx_int_t
ngx_http_xds_read_file(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_xds_file_t *file, size_t max)
{
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value;
    ngx_file_info_t   fi;

    value = cf->args->elts;

    file->file = value[1];

    /* relative to the configuration's directory, as ssl_certificate */

    if (ngx_conf_full_name(cf->cycle, &file->file, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(file->file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "invalid %V \"%V\": cannot open \"%V\"",
                           &cmd->name, &value[1], &file->file);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "invalid %V \"%V\": " ngx_fd_info_n " failed",
                           &cmd->name, &value[1]);
        goto failed;
    }

    size = (size_t) ngx_file_size(&fi);

    if (!ngx_is_file(&fi) || size == 0 || size > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %V \"%V\": %s", &cmd->name, &value[1],
                           !ngx_is_file(&fi) ? "not a regular file"
                           : size == 0 ? "the file is empty"
                           : "the file is too large");
        goto failed;
    }

    file->content.data = ngx_pnalloc(cf->pool, size + 1);
    if (file->content.data == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, file->content.data, size);

    if (n != (ssize_t) size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, n == -1 ? ngx_errno : 0,
                           "invalid %V \"%V\": cannot read the file",
                           &cmd->name, &value[1]);
        goto failed;
    }

    file->content.data[size] = '\0';
    file->content.len = size;

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &file->file);
    }

    return NGX_OK;

failed:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &file->file);
    }

    return NGX_ERROR;
}
