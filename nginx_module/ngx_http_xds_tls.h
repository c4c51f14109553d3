
/*
 * nginx-xds: TLS to the control plane (xds_tls_ca, xds_tls_cert,
 * xds_tls_key, xds_tls_server_name) and the secret files the module reads.
 *
 * Every file is read when the configuration is (in the master, as the user
 * nginx starts as, like ssl_certificate_key), checked (`nginx -t` fails on a
 * bad one, naming the directive and the file) and kept in the cycle's pool;
 * worker 0 hands the PEM text to the agent.
 */


#ifndef _NGX_HTTP_XDS_TLS_H_INCLUDED_
#define _NGX_HTTP_XDS_TLS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "agent/xds_agent.h"


/* a file read at configuration time */
typedef struct {
    ngx_str_t                      file;     /* full name */
    ngx_str_t                      content;  /* NUL-terminated */
} ngx_http_xds_file_t;


typedef struct {
    ngx_http_xds_file_t            ca;       /* xds_tls_ca */
    ngx_http_xds_file_t            cert;     /* xds_tls_cert */
    ngx_http_xds_file_t            key;      /* xds_tls_key */
    ngx_str_t                      server_name;  /* xds_tls_server_name */
} ngx_http_xds_tls_t;


/* xds_tls_ca, xds_tls_cert, xds_tls_key FILE; (http): cmd->offset names an
 * ngx_http_xds_file_t */
char *ngx_http_xds_tls_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* checks the directives together once the http block is parsed */
char *ngx_http_xds_tls_check(ngx_conf_t *cf, ngx_http_xds_tls_t *tls);

/* fills the TLS fields of the agent's configuration */
void ngx_http_xds_tls_config(ngx_http_xds_tls_t *tls, nxa_config_t *config);

/*
 * Reads `file` (relative to the configuration's directory) whole into
 * `out`, NUL-terminated, at most `max` bytes. On error logs it with the
 * directive's name and returns NGX_ERROR.
 */
ngx_int_t ngx_http_xds_read_file(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_xds_file_t *file, size_t max);


#endif /* _NGX_HTTP_XDS_TLS_H_INCLUDED_ */
