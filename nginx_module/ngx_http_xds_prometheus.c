/*
 * nginx-xds: the status page in Prometheus' text format (version 0.0.4),
 * as `xds_status;` serves it with ?format=prometheus: the agent's state
 * (connected, applied version, NACKs, how long applies take) and, as the
 * popular nginx exporters show them, every peer's requests, failures,
 * active connections and state, read from the peers themselves (in a zone:
 * shared by every worker).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_compat.h"
#include "nginx_module/ngx_http_xds_install.h"
#include "nginx_module/ngx_http_xds_prometheus.h"


/* the peer families, each written into a buffer of its own in one pass
 * over the peers */
#define NGX_HTTP_XDS_PROM_REQUESTS  0
#define NGX_HTTP_XDS_PROM_FAILURES  1
#define NGX_HTTP_XDS_PROM_CONNS     2
#define NGX_HTTP_XDS_PROM_STATE     3
#define NGX_HTTP_XDS_PROM_FAMILIES  4


static ngx_buf_t *ngx_http_xds_prometheus_node(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh);
static ngx_int_t ngx_http_xds_prometheus_peers(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_buf_t **b);
static void ngx_http_xds_prometheus_peer(ngx_buf_t **b,
    ngx_str_t *upstream, ngx_http_upstream_rr_peer_t *peer, time_t now);
static u_char *ngx_http_xds_prometheus_label(u_char *p, u_char *last,
    u_char *s, size_t len);


/* the upper bounds of the apply histogram's buckets, in microseconds */
static uint64_t  ngx_http_xds_apply_bounds[NGX_HTTP_XDS_APPLY_BUCKETS - 1] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000
};

static char  *ngx_http_xds_apply_le[NGX_HTTP_XDS_APPLY_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"
};

static char  *ngx_http_xds_prom_head[NGX_HTTP_XDS_PROM_FAMILIES] = {
    "# HELP nginx_xds_upstream_peer_requests_total Requests sent to the peer"
    " (each try counts).\n"
    "# TYPE nginx_xds_upstream_peer_requests_total counter\n",

    "# HELP nginx_xds_upstream_peer_failures_total Tries of the peer that"
    " failed (as max_fails counts them).\n"
    "# TYPE nginx_xds_upstream_peer_failures_total counter\n",

    "# HELP nginx_xds_upstream_peer_active_connections Connections to the"
    " peer in use now.\n"
    "# TYPE nginx_xds_upstream_peer_active_connections gauge\n",

    "# HELP nginx_xds_upstream_peer_state 1 for the peer's state (up, down:"
    " marked down, unavail: max_fails reached within fail_timeout), else 0.\n"
    "# TYPE nginx_xds_upstream_peer_state gauge\n"
};


void
ngx_http_xds_prometheus_observe_apply(ngx_http_xds_shctx_t *sh, uint64_t usec)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_XDS_APPLY_BUCKETS - 1; i++) {
        if (usec <= ngx_http_xds_apply_bounds[i]) {
            break;
        }
    }

    sh->apply_buckets[i]++;
    sh->applies++;
    sh->apply_usec += usec;
}


ngx_chain_t *
ngx_http_xds_prometheus(ngx_http_request_t *r, ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_shctx_t *sh)
{
    ngx_buf_t    *b[1 + NGX_HTTP_XDS_PROM_FAMILIES];
    ngx_uint_t    i;
    ngx_chain_t  *out, **ll;

    b[0] = ngx_http_xds_prometheus_node(r, xmcf, sh);
    if (b[0] == NULL) {
        return NULL;
    }

    if (ngx_http_xds_prometheus_peers(r, xmcf, &b[1]) != NGX_OK) {
        return NULL;
    }

    out = NULL;
    ll = &out;

    for (i = 0; i < 1 + NGX_HTTP_XDS_PROM_FAMILIES; i++) {
        *ll = ngx_alloc_chain_link(r->pool);
        if (*ll == NULL) {
            return NULL;
        }

        (*ll)->buf = b[i];
        (*ll)->next = NULL;
        ll = &(*ll)->next;
    }

    b[NGX_HTTP_XDS_PROM_FAMILIES]->last_buf = (r == r->main) ? 1 : 0;
    b[NGX_HTTP_XDS_PROM_FAMILIES]->last_in_chain = 1;

    return out;
}


static ngx_buf_t *
ngx_http_xds_prometheus_node(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh)
{
    u_char      *p, *last;
    size_t       len;
    uint64_t     cumulative;
    ngx_int_t    version;
    ngx_buf_t   *b;
    ngx_uint_t   i;

    len = 4096 + 2 * (xmcf->node_id.len + xmcf->fleet.len + xmcf->server.len);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;
    last = b->end;

    p = ngx_slprintf(p, last,
            "# HELP nginx_xds_info The node id, fleet and control plane"
            " (xds_server) of this nginx.\n"
            "# TYPE nginx_xds_info gauge\n"
            "nginx_xds_info{node=\"");
    p = ngx_http_xds_prometheus_label(p, last, xmcf->node_id.data,
                                      xmcf->node_id.len);
    p = ngx_slprintf(p, last, "\",fleet=\"");
    p = ngx_http_xds_prometheus_label(p, last, xmcf->fleet.data,
                                      xmcf->fleet.len);
    p = ngx_slprintf(p, last, "\",server=\"");
    p = ngx_http_xds_prometheus_label(p, last, xmcf->server.data,
                                      xmcf->server.len);
    p = ngx_slprintf(p, last, "\"} 1\n");

    /* versions are the control plane's numbers; another text shows as 0 */

    version = sh->version_len ? ngx_atoi(sh->version, sh->version_len) : 0;
    if (version == NGX_ERROR) {
        version = 0;
    }

    p = ngx_slprintf(p, last,
            "# HELP nginx_xds_connected 1 while the agent has a stream to"
            " the control plane, else 0.\n"
            "# TYPE nginx_xds_connected gauge\n"
            "nginx_xds_connected %ui\n"
            "# HELP nginx_xds_applied_version The version applied last"
            " (0: none yet).\n"
            "# TYPE nginx_xds_applied_version gauge\n"
            "nginx_xds_applied_version %i\n"
            "# HELP nginx_xds_applied_timestamp_seconds When the applied"
            " version was applied (0: none yet).\n"
            "# TYPE nginx_xds_applied_timestamp_seconds gauge\n"
            "nginx_xds_applied_timestamp_seconds %T\n"
            "# HELP nginx_xds_last_error_timestamp_seconds When the last"
            " error or rejection happened (0: none yet).\n"
            "# TYPE nginx_xds_last_error_timestamp_seconds gauge\n"
            "nginx_xds_last_error_timestamp_seconds %T\n"
            "# HELP nginx_xds_nacks_total Snapshots this nginx rejected,"
            " in whole or in part (NACKs).\n"
            "# TYPE nginx_xds_nacks_total counter\n"
            "nginx_xds_nacks_total %ui\n"
            "# HELP nginx_xds_apply_duration_seconds How long applying a"
            " snapshot to the shared peers took.\n"
            "# TYPE nginx_xds_apply_duration_seconds histogram\n",
            sh->connected ? 1 : 0, version,
            sh->version_len ? sh->applied_at : (time_t) 0,
            sh->last_error_len ? sh->error_at : (time_t) 0,
            sh->nacks);

    cumulative = 0;

    for (i = 0; i < NGX_HTTP_XDS_APPLY_BUCKETS; i++) {
        cumulative += sh->apply_buckets[i];
        p = ngx_slprintf(p, last,
                         "nginx_xds_apply_duration_seconds_bucket{le=\"%s\"}"
                         " %uL\n", ngx_http_xds_apply_le[i], cumulative);
    }

    p = ngx_slprintf(p, last,
                     "nginx_xds_apply_duration_seconds_sum %uL.%06uL\n"
                     "nginx_xds_apply_duration_seconds_count %ui\n",
                     sh->apply_usec / 1000000, sh->apply_usec % 1000000,
                     sh->applies);

    b->last = p;

    return b;
}


static ngx_int_t
ngx_http_xds_prometheus_peers(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_buf_t **b)
{
    size_t                          size;
    time_t                          now;
    ngx_uint_t                      i, f, n, npeers;
    ngx_array_t                    *runtime;
    ngx_http_xds_upstream_t        *xu, **all;
    ngx_http_upstream_rr_peer_t    *peer;
    ngx_http_upstream_rr_peers_t   *peers, *list;

    /* nginx.conf's upstreams, then the run-time ones of this worker */

    runtime = ngx_http_xds_runtime_upstreams();

    n = xmcf->upstreams.nelts + (runtime ? runtime->nelts : 0);

    all = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_xds_upstream_t *));
    if (all == NULL) {
        return NGX_ERROR;
    }

    xu = xmcf->upstreams.elts;

    for (i = 0; i < xmcf->upstreams.nelts; i++) {
        all[i] = &xu[i];
    }

    for ( /* void */ ; i < n; i++) {
        all[i] = ((ngx_http_xds_upstream_t **) runtime->elts)
                     [i - xmcf->upstreams.nelts];
    }

    /*
     * Per peer and family at most three lines (the state), each with both
     * names escaped (two bytes a character at most); twice that, since
     * zone peers may be added while counting.
     */

    size = 0;

    for (i = 0; i < n; i++) {
        peers = all[i]->uscf->peer.data;
        npeers = peers->number + (peers->next ? peers->next->number : 0);
        size += npeers * 3 * (160 + 2 * all[i]->uscf->host.len
                              + 2 * NGX_SOCKADDR_STRLEN);
    }

    size *= 2;

    for (f = 0; f < NGX_HTTP_XDS_PROM_FAMILIES; f++) {
        b[f] = ngx_create_temp_buf(r->pool,
                                   ngx_strlen(ngx_http_xds_prom_head[f])
                                   + size + 1);
        if (b[f] == NULL) {
            return NGX_ERROR;
        }

        b[f]->last = ngx_cpymem(b[f]->last, ngx_http_xds_prom_head[f],
                                ngx_strlen(ngx_http_xds_prom_head[f]));
    }

    now = ngx_time();

    for (i = 0; i < n; i++) {
        if (all[i]->sh && all[i]->sh->deleted) {
            continue;
        }

        peers = all[i]->uscf->peer.data;

        ngx_http_upstream_rr_peers_rlock(peers);

        for (list = peers; list; list = list->next) {
            for (peer = list->peer; peer; peer = peer->next) {
                ngx_http_xds_prometheus_peer(b, &all[i]->uscf->host, peer,
                                             now);
            }
        }

        ngx_http_upstream_rr_peers_unlock(peers);
    }

    return NGX_OK;
}


static void
ngx_http_xds_prometheus_peer(ngx_buf_t **b, ngx_str_t *upstream,
    ngx_http_upstream_rr_peer_t *peer, time_t now)
{
    u_char       labels[1024];
    u_char      *l, *end;
    size_t       len;
    char        *state;
    ngx_buf_t   *sb;
    ngx_uint_t   i;

    static char  *states[] = { "up", "down", "unavail" };

    /* upstream="...",server="...", cut short rather than overflowing */

    end = labels + sizeof(labels);
    l = ngx_slprintf(labels, end, "upstream=\"");
    l = ngx_http_xds_prometheus_label(l, end - 20, upstream->data,
                                      upstream->len);
    l = ngx_slprintf(l, end, "\",server=\"");
    l = ngx_http_xds_prometheus_label(l, end - 4, peer->name.data,
                                      peer->name.len);
    l = ngx_slprintf(l, end, "\"");
    len = l - labels;

    b[NGX_HTTP_XDS_PROM_REQUESTS]->last =
        ngx_slprintf(b[NGX_HTTP_XDS_PROM_REQUESTS]->last,
                     b[NGX_HTTP_XDS_PROM_REQUESTS]->end,
                     "nginx_xds_upstream_peer_requests_total{%*s} %uA\n",
                     len, labels, *ngx_http_xds_peer_requests(peer));

    b[NGX_HTTP_XDS_PROM_FAILURES]->last =
        ngx_slprintf(b[NGX_HTTP_XDS_PROM_FAILURES]->last,
                     b[NGX_HTTP_XDS_PROM_FAILURES]->end,
                     "nginx_xds_upstream_peer_failures_total{%*s} %uA\n",
                     len, labels, *ngx_http_xds_peer_failures(peer));

    b[NGX_HTTP_XDS_PROM_CONNS]->last =
        ngx_slprintf(b[NGX_HTTP_XDS_PROM_CONNS]->last,
                     b[NGX_HTTP_XDS_PROM_CONNS]->end,
                     "nginx_xds_upstream_peer_active_connections{%*s} %ui\n",
                     len, labels, peer->conns);

    /* as ngx_http_upstream_get_peer() skips it */

    if (peer->down) {
        state = "down";

    } else if (peer->max_fails && peer->fails >= peer->max_fails
               && now - peer->checked <= peer->fail_timeout)
    {
        state = "unavail";

    } else {
        state = "up";
    }

    sb = b[NGX_HTTP_XDS_PROM_STATE];

    for (i = 0; i < 3; i++) {
        sb->last = ngx_slprintf(sb->last, sb->end,
                                "nginx_xds_upstream_peer_state{%*s,"
                                "state=\"%s\"} %d\n", len, labels, states[i],
                                ngx_strcmp(states[i], state) == 0);
    }
}


/* a label value escaped as the text format wants: \\, \" and \n */

static u_char *
ngx_http_xds_prometheus_label(u_char *p, u_char *last, u_char *s, size_t len)
{
    while (len-- && p + 2 <= last) {
        switch (*s) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *s;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *s;
        }

        s++;
    }

    return p;
}
