/*
 * nginx-xds: the status page (xds_status;): the connection, node, fleet,
 * applied version and last error, then every upstream this worker knows
 * with its peers and their state, as text or, with ?format=json, as JSON;
 * with ?format=prometheus, the metrics of ngx_http_xds_prometheus.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_install.h"
#include "nginx_module/ngx_http_xds_prometheus.h"
#include "nginx_module/ngx_http_xds_status.h"


#define NGX_HTTP_XDS_TIME_LEN         (sizeof("Mon, 28 Sep 1970 06:00:00 GMT") - 1)


static ngx_int_t ngx_http_xds_status_prometheus(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh);
static ngx_buf_t *ngx_http_xds_status_text(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh);
static ngx_buf_t *ngx_http_xds_status_json(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh);
static size_t ngx_http_xds_json_len(u_char *s, size_t len);
static u_char *ngx_http_xds_json_str(u_char *p, u_char *last, u_char *s,
    size_t len);
static u_char *ngx_http_xds_json_quote(u_char *p, u_char *last, u_char *s,
    size_t len);
static ngx_chain_t *ngx_http_xds_status_upstreams(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_uint_t json);
static size_t ngx_http_xds_status_size(ngx_http_xds_upstream_t *xu);
static u_char *ngx_http_xds_status_upstream(u_char *p, u_char *last,
    ngx_http_xds_upstream_t *xu, ngx_uint_t json);
static u_char *ngx_http_xds_status_peer(u_char *p, u_char *last,
    ngx_http_upstream_rr_peer_t *peer, ngx_uint_t backup, ngx_uint_t json);


ngx_int_t
ngx_http_xds_status_handler(ngx_http_request_t *r)
{
    off_t                      len;
    ngx_buf_t                 *head, *tail;
    ngx_int_t                  rc;
    ngx_str_t                  arg;
    ngx_uint_t                 json, prometheus;
    ngx_chain_t               *cl, *upstreams, *out, **ll;
    ngx_http_xds_shctx_t       sh;
    ngx_http_xds_main_conf_t  *xmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    json = 0;
    prometheus = 0;

    if (ngx_http_arg(r, (u_char *) "format", 6, &arg) == NGX_OK) {
        if (arg.len == 4 && ngx_strncmp(arg.data, "json", 4) == 0) {
            json = 1;

        } else if (arg.len == 10
                   && ngx_strncmp(arg.data, "prometheus", 10) == 0)
        {
            prometheus = 1;
        }
    }

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_xds_module);

    ngx_shmtx_lock(&xmcf->shpool->mutex);
    sh = *xmcf->sh;
    ngx_shmtx_unlock(&xmcf->shpool->mutex);

    if (prometheus) {
        return ngx_http_xds_status_prometheus(r, xmcf, &sh);
    }

    head = json ? ngx_http_xds_status_json(r, xmcf, &sh)
                : ngx_http_xds_status_text(r, xmcf, &sh);
    if (head == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    upstreams = ngx_http_xds_status_upstreams(r, xmcf, json);
    if (upstreams == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tail = ngx_calloc_buf(r->pool);
    if (tail == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* for text, an empty special buffer: it only ends the response */

    if (json) {
        tail->pos = (u_char *) "}" CRLF;
        tail->last = tail->pos + sizeof("}" CRLF) - 1;
        tail->memory = 1;
    }

    tail->last_buf = (r == r->main) ? 1 : 0;
    tail->last_in_chain = 1;

    out = ngx_alloc_chain_link(r->pool);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out->buf = head;
    len = ngx_buf_size(head);
    ll = &out->next;

    /* empty buffers would make the writer complain */

    for (cl = upstreams; cl; cl = cl->next) {
        if (ngx_buf_size(cl->buf) == 0) {
            continue;
        }

        len += ngx_buf_size(cl->buf);
        *ll = cl;
        ll = &cl->next;
    }

    *ll = ngx_alloc_chain_link(r->pool);
    if (*ll == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (*ll)->buf = tail;
    (*ll)->next = NULL;
    len += ngx_buf_size(tail);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;

    if (json) {
        ngx_str_set(&r->headers_out.content_type, "application/json");

    } else {
        ngx_str_set(&r->headers_out.content_type, "text/plain");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


static ngx_int_t
ngx_http_xds_status_prometheus(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh)
{
    off_t         len;
    ngx_int_t     rc;
    ngx_chain_t  *out, *cl;

    out = ngx_http_xds_prometheus(r, xmcf, sh);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (cl = out; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;

    /* the media type of the text exposition format */

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


static ngx_buf_t *
ngx_http_xds_status_text(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh)
{
    size_t      len;
    ngx_buf_t  *b;

    len = sizeof("connected: yes" CRLF) - 1
          + sizeof("server: " CRLF) - 1 + ngx_max(xmcf->server.len, 4)
          + sizeof("node id: " CRLF) - 1 + xmcf->node_id.len
          + sizeof("fleet: " CRLF) - 1 + xmcf->fleet.len
          + sizeof("applied version:  ( GMT)" CRLF) - 1 + sh->version_len
          + NGX_HTTP_XDS_TIME_LEN
          + sizeof("last error:  ()" CRLF) - 1 + sh->last_error_len
          + NGX_HTTP_XDS_TIME_LEN
          + sizeof("upstreams:" CRLF) - 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    b->last = ngx_sprintf(b->last, "connected: %s" CRLF,
                          sh->connected ? "yes" : "no");

    if (xmcf->server.len) {
        b->last = ngx_sprintf(b->last, "server: %V" CRLF, &xmcf->server);

    } else {
        b->last = ngx_cpymem(b->last, "server: none" CRLF,
                             sizeof("server: none" CRLF) - 1);
    }

    b->last = ngx_sprintf(b->last, "node id: %V" CRLF "fleet: %V" CRLF,
                          &xmcf->node_id, &xmcf->fleet);

    if (sh->version_len) {
        b->last = ngx_sprintf(b->last, "applied version: %*s (",
                              sh->version_len, sh->version);
        b->last = ngx_http_time(b->last, sh->applied_at);
        *b->last++ = ')';
        *b->last++ = CR; *b->last++ = LF;

    } else {
        b->last = ngx_cpymem(b->last, "applied version: none" CRLF,
                             sizeof("applied version: none" CRLF) - 1);
    }

    if (sh->last_error_len) {
        b->last = ngx_sprintf(b->last, "last error: %*s (",
                              sh->last_error_len, sh->last_error);
        b->last = ngx_http_time(b->last, sh->error_at);
        *b->last++ = ')';
        *b->last++ = CR; *b->last++ = LF;

    } else {
        b->last = ngx_cpymem(b->last, "last error: none" CRLF,
                             sizeof("last error: none" CRLF) - 1);
    }

    b->last = ngx_cpymem(b->last, "upstreams:" CRLF,
                         sizeof("upstreams:" CRLF) - 1);

    return b;
}


static ngx_buf_t *
ngx_http_xds_status_json(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh)
{
    size_t      len;
    ngx_buf_t  *b;

    len = sizeof("{\"connected\":false,\"server\":,\"node_id\":,\"fleet\":,"
                 "\"version\":,\"applied_at\":,\"last_error\":,"
                 "\"error_at\":,\"upstreams\":") - 1
          + ngx_http_xds_json_len(xmcf->server.data, xmcf->server.len)
          + ngx_http_xds_json_len(xmcf->node_id.data, xmcf->node_id.len)
          + ngx_http_xds_json_len(xmcf->fleet.data, xmcf->fleet.len)
          + ngx_http_xds_json_len(sh->version, sh->version_len)
          + ngx_http_xds_json_len(sh->last_error, sh->last_error_len)
          + 2 * NGX_TIME_T_LEN;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    b->last = ngx_sprintf(b->last, "{\"connected\":%s,\"server\":",
                          sh->connected ? "true" : "false");
    b->last = ngx_http_xds_json_str(b->last, b->end, xmcf->server.data,
                                    xmcf->server.len);

    b->last = ngx_cpymem(b->last, ",\"node_id\":", sizeof(",\"node_id\":") - 1);
    b->last = ngx_http_xds_json_str(b->last, b->end, xmcf->node_id.data,
                                    xmcf->node_id.len);

    b->last = ngx_cpymem(b->last, ",\"fleet\":", sizeof(",\"fleet\":") - 1);
    b->last = ngx_http_xds_json_str(b->last, b->end, xmcf->fleet.data,
                                    xmcf->fleet.len);

    b->last = ngx_cpymem(b->last, ",\"version\":", sizeof(",\"version\":") - 1);
    b->last = ngx_http_xds_json_str(b->last, b->end, sh->version,
                                    sh->version_len);

    if (sh->version_len) {
        b->last = ngx_sprintf(b->last, ",\"applied_at\":%T", sh->applied_at);

    } else {
        b->last = ngx_cpymem(b->last, ",\"applied_at\":null",
                             sizeof(",\"applied_at\":null") - 1);
    }

    b->last = ngx_cpymem(b->last, ",\"last_error\":",
                         sizeof(",\"last_error\":") - 1);
    b->last = ngx_http_xds_json_str(b->last, b->end, sh->last_error,
                                    sh->last_error_len);

    if (sh->last_error_len) {
        b->last = ngx_sprintf(b->last, ",\"error_at\":%T", sh->error_at);

    } else {
        b->last = ngx_cpymem(b->last, ",\"error_at\":null",
                             sizeof(",\"error_at\":null") - 1);
    }

    b->last = ngx_cpymem(b->last, ",\"upstreams\":",
                         sizeof(",\"upstreams\":") - 1);

    return b;
}


/* a JSON string, or null when empty */

static size_t
ngx_http_xds_json_len(u_char *s, size_t len)
{
    if (len == 0) {
        return sizeof("null") - 1;
    }

    return 2 + len + ngx_escape_json(NULL, s, len);
}


static u_char *
ngx_http_xds_json_str(u_char *p, u_char *last, u_char *s, size_t len)
{
    if (len == 0) {
        return ngx_slprintf(p, last, "null");
    }

    return ngx_http_xds_json_quote(p, last, s, len);
}


/*
 * The one place the status page escapes a string for JSON: `s` quoted and
 * escaped, or nothing at all when it does not fit before `last` (the
 * callers size their buffers for it; see ngx_http_xds_status_size()).
 */

static u_char *
ngx_http_xds_json_quote(u_char *p, u_char *last, u_char *s, size_t len)
{
    if ((size_t) (last - p) < 2 + len + ngx_escape_json(NULL, s, len)) {
        return p;
    }

    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s, len);
    *p++ = '"';

    return p;
}


static ngx_chain_t *
ngx_http_xds_status_upstreams(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_uint_t json)
{
    size_t                     size;
    u_char                    *p;
    ngx_buf_t                 *b;
    ngx_uint_t                 i, n;
    ngx_array_t               *runtime;
    ngx_chain_t               *cl;
    ngx_http_xds_upstream_t   *xu, **all;

    /* nginx.conf's upstreams, then the run-time ones of this worker */

    runtime = ngx_http_xds_runtime_upstreams();

    n = xmcf->upstreams.nelts + (runtime ? runtime->nelts : 0);

    all = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_xds_upstream_t *));
    if (all == NULL) {
        return NULL;
    }

    xu = xmcf->upstreams.elts;

    for (i = 0; i < xmcf->upstreams.nelts; i++) {
        all[i] = &xu[i];
    }

    for ( /* void */ ; i < n; i++) {
        all[i] = ((ngx_http_xds_upstream_t **) runtime->elts)
                     [i - xmcf->upstreams.nelts];
    }

    size = 64;

    for (i = 0; i < n; i++) {
        size += ngx_http_xds_status_size(all[i]);
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    p = b->pos;

    if (json) {
        p = ngx_slprintf(p, b->end, "[");
    }

    for (i = 0; i < n; i++) {
        if (json && i) {
            p = ngx_slprintf(p, b->end, ",");
        }

        p = ngx_http_xds_status_upstream(p, b->end, all[i], json);
    }

    if (json) {
        p = ngx_slprintf(p, b->end, "]");
    }

    b->last = p;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


static size_t
ngx_http_xds_status_size(ngx_http_xds_upstream_t *xu)
{
    ngx_http_upstream_rr_peers_t  *peers;

    peers = xu->uscf->peer.data;

    /* twice a generous bound: zone peers may be added while counting */

    /* JSON escapes a character in at most 6 */

    return 2 * (256 + 6 * xu->uscf->host.len
                + (xu->uscf->shm_zone ? 6 * xu->uscf->shm_zone->shm.name.len
                                      : 0)
                + (peers->number + (peers->next ? peers->next->number : 0))
                  * (256 + 6 * NGX_SOCKADDR_STRLEN));
}


static u_char *
ngx_http_xds_status_upstream(u_char *p, u_char *last,
    ngx_http_xds_upstream_t *xu, ngx_uint_t json)
{
    ngx_str_t                      zone;
    ngx_uint_t                     first;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *backup;

    peers = xu->uscf->peer.data;

    if (xu->uscf->shm_zone) {
        zone = xu->uscf->shm_zone->shm.name;

    } else {
        ngx_str_set(&zone, "");
    }

    ngx_http_upstream_rr_peers_rlock(peers);

    if (json) {
        p = ngx_slprintf(p, last, "{\"name\":");
        p = ngx_http_xds_json_quote(p, last, xu->uscf->host.data,
                                    xu->uscf->host.len);
        p = ngx_slprintf(p, last, ",\"zone\":");
        p = ngx_http_xds_json_quote(p, last, zone.data, zone.len);
        p = ngx_slprintf(p, last, ",\"source\":\"%s\",\"deleted\":%s,"
                         "\"peers\":[",
                         xu->runtime ? "control plane" : "nginx.conf",
                         (xu->sh && xu->sh->deleted) ? "true" : "false");
    } else {
        p = ngx_slprintf(p, last, "upstream %V (%s%s%V)%s\n",
                         &xu->uscf->host,
                         xu->runtime ? "control plane" : "nginx.conf",
                         zone.len ? ", zone " : "", &zone,
                         (xu->sh && xu->sh->deleted) ? " deleted" : "");
    }

    first = 1;
    backup = peers->next;

    for (peer = peers->peer; peer; peer = peer->next) {
        if (json && !first) {
            p = ngx_slprintf(p, last, ",");
        }

        p = ngx_http_xds_status_peer(p, last, peer, 0, json);
        first = 0;
    }

    for (peer = backup ? backup->peer : NULL; peer; peer = peer->next) {
        if (json && !first) {
            p = ngx_slprintf(p, last, ",");
        }

        p = ngx_http_xds_status_peer(p, last, peer, 1, json);
        first = 0;
    }

    ngx_http_upstream_rr_peers_unlock(peers);

    return ngx_slprintf(p, last, json ? "]}" : "\n");
}


static u_char *
ngx_http_xds_status_peer(u_char *p, u_char *last,
    ngx_http_upstream_rr_peer_t *peer, ngx_uint_t backup, ngx_uint_t json)
{
    if (json) {
        p = ngx_slprintf(p, last, "{\"server\":");
        p = ngx_http_xds_json_quote(p, last, peer->name.data, peer->name.len);

        return ngx_slprintf(p, last,
                            ",\"weight\":%i,"
                            "\"max_fails\":%ui,\"fail_timeout\":%T,"
                            "\"max_conns\":%ui,\"backup\":%s,\"down\":%s,"
                            "\"conns\":%ui,\"fails\":%ui}",
                            peer->weight, peer->max_fails,
                            peer->fail_timeout, peer->max_conns,
                            backup ? "true" : "false",
                            peer->down ? "true" : "false",
                            peer->conns, peer->fails);
    }

    return ngx_slprintf(p, last,
                        "  server %V weight=%i max_fails=%ui fail_timeout=%T"
                        " max_conns=%ui%s%s conns=%ui fails=%ui\n",
                        &peer->name, peer->weight, peer->max_fails,
                        peer->fail_timeout, peer->max_conns,
                        backup ? " backup" : "", peer->down ? " down" : "",
                        peer->conns, peer->fails);
}
