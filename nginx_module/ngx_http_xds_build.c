/*
 * nginx-xds: upstreams built at run time by nginx's own parser.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_compat.h"
#include "nginx_module/ngx_http_xds_build.h"


typedef struct {
    u_char                          *err;
    size_t                           err_len;
} ngx_http_xds_build_log_t;


static void ngx_http_xds_close_cached(ngx_http_xds_build_t *build);
static void ngx_http_xds_build_log_writer(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);
static u_char *ngx_http_xds_quote(u_char *p, ngx_str_t *value);


ngx_int_t
ngx_http_xds_build_text(ngx_pool_t *pool, ngx_http_xds_upstream_def_t *xud,
    ngx_str_t *text)
{
    size_t                  size;
    u_char                 *p;
    ngx_uint_t              i;
    ngx_http_xds_server_t  *xs;

    size = 128 + 2 * xud->hash_key.len;

    for (i = 0; i < xud->nservers; i++) {
        size += 176 + xud->servers[i].address.len;
    }

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;

    /*
     * servers first: hash, ip_hash and random refuse "backup" on the servers
     * that follow them, not on those before; nginx's server directive refuses
     * weight=0, so such a server is written with weight=1 (and a comment, so
     * the text and its crc differ) and ngx_http_xds_build_weights() sets 0
     */

    for (i = 0; i < xud->nservers; i++) {
        xs = &xud->servers[i];

        p = ngx_sprintf(p, "server %V weight=%ui max_fails=%ui"
                        " fail_timeout=%T",
                        &xs->address, xs->weight ? xs->weight : 1,
                        xs->max_fails, xs->fail_timeout);

        if (xs->max_conns) {
            p = ngx_sprintf(p, " max_conns=%ui", xs->max_conns);
        }

        p = ngx_sprintf(p, "%s%s;%s\n", xs->backup ? " backup" : "",
                        xs->down ? " down" : "",
                        xs->weight ? "" : " # weight 0");
    }

    switch (xud->method) {

    case NXA_METHOD_LEAST_CONN:
        p = ngx_sprintf(p, "least_conn;\n");
        break;

    case NXA_METHOD_IP_HASH:
        p = ngx_sprintf(p, "ip_hash;\n");
        break;

    case NXA_METHOD_HASH:
        p = ngx_sprintf(p, "hash ");
        p = ngx_http_xds_quote(p, &xud->hash_key);
        p = ngx_sprintf(p, "%s;\n", xud->hash_consistent ? " consistent" : "");
        break;

    case NXA_METHOD_RANDOM:
        p = ngx_sprintf(p, "random;\n");
        break;

    default:
        break;
    }

    /* keepalive after the method: it wraps whatever balancer is set */

    if (xud->keepalive) {
        p = ngx_sprintf(p, "keepalive %ui;\nkeepalive_requests %ui;\n"
                        "keepalive_time %Mms;\nkeepalive_timeout %Mms;\n",
                        xud->keepalive, xud->keepalive_requests,
                        xud->keepalive_time, xud->keepalive_timeout);
    }

    text->len = p - text->data;

    return NGX_OK;
}


/*
 * Gives the peers of servers with weight 0 (built with weight=1) their
 * weight. Only round robin and least_conn take weight 0 (the control plane
 * refuses it with hash, ip_hash and random, which divide by the total
 * weight), and both keep round robin peers: one per server, in order, the
 * backups at next. ngx_http_upstream_get_peer() then never picks such a
 * peer while one with a weight is available.
 */

void
ngx_http_xds_build_weights(ngx_http_xds_build_t *build,
    ngx_http_xds_upstream_def_t *xud)
{
    ngx_uint_t                     i, backup;
    ngx_http_xds_server_t         *xs;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *list;

    if (xud->method != NXA_METHOD_ROUND_ROBIN
        && xud->method != NXA_METHOD_LEAST_CONN)
    {
        return;
    }

    peers = build->uscf->peer.data;

    for (backup = 0; backup < 2 && peers; backup++) {
        list = backup ? peers->next : peers;
        if (list == NULL) {
            break;
        }

        peer = list->peer;

        for (i = 0; i < xud->nservers && peer; i++) {
            xs = &xud->servers[i];

            if ((ngx_uint_t) xs->backup != backup) {
                continue;
            }

            if (xs->weight == 0) {
                list->total_weight -= peer->weight;
                peer->weight = 0;
                peer->effective_weight = 0;
                peer->current_weight = 0;
            }

            peer = peer->next;
        }

        list->weighted = (list->total_weight != list->number);
    }
}


/* the hash key as one nginx token: quoted, with '"' and '\' escaped */

static u_char *
ngx_http_xds_quote(u_char *p, ngx_str_t *value)
{
    ngx_uint_t  i;

    *p++ = '"';

    for (i = 0; i < value->len; i++) {
        if (value->data[i] == '"' || value->data[i] == '\\') {
            *p++ = '\\';
        }

        *p++ = value->data[i];
    }

    *p++ = '"';

    return p;
}


ngx_http_xds_build_t *
ngx_http_xds_build(ngx_cycle_t *cycle, ngx_str_t *name, ngx_str_t *text,
    ngx_uint_t keepalive, ngx_shm_zone_t *zone, u_char *err, size_t err_len)
{
    char                           *rv;
    void                           *mconf;
    ngx_buf_t                       b;
    ngx_uint_t                      m, variables;
    ngx_log_t                       log;
    ngx_conf_t                      cf;
    ngx_pool_t                     *pool;
    ngx_conf_file_t                 conf_file;
    ngx_http_module_t              *module;
    ngx_http_conf_ctx_t            *ctx, *http_ctx;
    ngx_http_xds_build_t           *build;
    ngx_http_xds_build_log_t        capture;
    ngx_http_upstream_init_pt       init;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_upstream_srv_conf_t   *uscf;

    *err = '\0';

    ngx_memzero(&cf, sizeof(ngx_conf_t));

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, cycle->log);
    if (pool == NULL) {
        ngx_snprintf(err, err_len, "out of memory%Z");
        return NULL;
    }

    build = ngx_pcalloc(pool, sizeof(ngx_http_xds_build_t));
    if (build == NULL) {
        goto nomem;
    }

    build->pool = pool;
    build->refs = 1;
    build->crc = ngx_crc32_short(text->data, text->len);

    /* nginx's messages for this text go to `err`, not to the error log */

    capture.err = err;
    capture.err_len = err_len;

    ngx_memzero(&log, sizeof(ngx_log_t));
    log.log_level = NGX_LOG_WARN;
    log.writer = ngx_http_xds_build_log_writer;
    log.wdata = &capture;
    log.file = cycle->log->file;

    http_ctx = (ngx_http_conf_ctx_t *) cycle->conf_ctx[ngx_http_module.index];

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_conf_ctx_t));
    uscf = ngx_pcalloc(pool, sizeof(ngx_http_upstream_srv_conf_t));
    if (ctx == NULL || uscf == NULL) {
        goto nomem;
    }

    ctx->main_conf = http_ctx->main_conf;
    ctx->srv_conf = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    ctx->loc_conf = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    uscf->servers = ngx_array_create(pool, 4,
                                     sizeof(ngx_http_upstream_server_t));
    uscf->host.data = ngx_pstrdup(pool, name);
    if (ctx->srv_conf == NULL || ctx->loc_conf == NULL
        || uscf->servers == NULL || uscf->host.data == NULL)
    {
        goto nomem;
    }

    /* what ngx_http_upstream() sets up for an upstream{} block */

    uscf->host.len = name->len;
    uscf->flags = NGX_HTTP_UPSTREAM_CREATE
                  |NGX_HTTP_UPSTREAM_WEIGHT
                  |NGX_HTTP_UPSTREAM_MAX_CONNS
                  |NGX_HTTP_UPSTREAM_MAX_FAILS
                  |NGX_HTTP_UPSTREAM_FAIL_TIMEOUT
                  |NGX_HTTP_UPSTREAM_DOWN
                  |NGX_HTTP_UPSTREAM_BACKUP;
    uscf->file_name = (u_char *) "xds";
    uscf->no_port = 1;
    uscf->srv_conf = ctx->srv_conf;

    /* balancers that keep per-zone state (random) then build it from the
     * zone's peers, not from this build's */
    uscf->shm_zone = zone;

    cf.name = "xds";
    cf.args = ngx_array_create(pool, 10, sizeof(ngx_str_t));
    cf.temp_pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, cycle->log);
    if (cf.args == NULL || cf.temp_pool == NULL) {
        goto nomem;
    }

    cf.pool = pool;
    cf.cycle = cycle;
    cf.log = &log;
    cf.ctx = ctx;
    cf.module_type = NGX_HTTP_MODULE;
    cf.cmd_type = NGX_HTTP_UPS_CONF;

    /*
     * parse the text as nginx parses `-g` directives, from a buffer; set
     * first: create_srv_conf handlers note the file and line
     */

    ngx_memzero(&b, sizeof(ngx_buf_t));
    b.start = text->data;
    b.pos = text->data;
    b.last = text->data + text->len;
    b.end = b.last;
    b.temporary = 1;

    ngx_memzero(&conf_file, sizeof(ngx_conf_file_t));
    conf_file.file.fd = NGX_INVALID_FILE;
    ngx_str_set(&conf_file.file.name, "xds");
    conf_file.buffer = &b;
    cf.conf_file = &conf_file;

    ctx->srv_conf[ngx_http_upstream_module.ctx_index] = uscf;

    for (m = 0; cycle->modules[m]; m++) {
        if (cycle->modules[m]->type != NGX_HTTP_MODULE) {
            continue;
        }

        module = cycle->modules[m]->ctx;

        if (module->create_srv_conf
            && cycle->modules[m] != &ngx_http_upstream_module)
        {
            mconf = module->create_srv_conf(&cf);
            if (mconf == NULL) {
                goto nomem;
            }

            ctx->srv_conf[cycle->modules[m]->ctx_index] = mconf;
        }

        if (module->create_loc_conf) {
            mconf = module->create_loc_conf(&cf);
            if (mconf == NULL) {
                goto nomem;
            }

            ctx->loc_conf[cycle->modules[m]->ctx_index] = mconf;
        }
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_core_module);
    variables = cmcf->variables.nelts;

    rv = ngx_conf_parse(&cf, NULL);

    if (cmcf->variables.nelts != variables) {
        /* a variable nginx.conf never used has no handler at run time */
        cmcf->variables.nelts = variables;

        if (rv == NGX_CONF_OK) {
            ngx_snprintf(err, err_len,
                         "upstream \"%V\": hash key uses a variable that "
                         "nginx.conf does not use%Z", name);
            goto failed;
        }
    }

    if (rv != NGX_CONF_OK) {
        goto failed;
    }

    if (uscf->servers->nelts == 0) {
        ngx_snprintf(err, err_len, "upstream \"%V\": no servers%Z", name);
        goto failed;
    }

    init = uscf->peer.init_upstream ? uscf->peer.init_upstream
                                    : ngx_http_upstream_init_round_robin;

    if (init(&cf, uscf) != NGX_OK) {
        goto failed;
    }

    ngx_destroy_pool(cf.temp_pool);

    build->uscf = uscf;
    build->keepalive = keepalive;

    return build;

nomem:

    ngx_snprintf(err, err_len, "out of memory%Z");

failed:

    if (*err == '\0') {
        ngx_snprintf(err, err_len, "upstream \"%V\" cannot be built%Z", name);
    }

    if (cf.temp_pool) {
        ngx_destroy_pool(cf.temp_pool);
    }

    ngx_destroy_pool(pool);

    return NULL;
}


static void
ngx_http_xds_build_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    ngx_http_xds_build_log_t *capture = log->wdata;

    u_char  *p, *last;

    /* keep the first message, without the time, level and pid prefix */

    if (*capture->err != '\0') {
        return;
    }

    last = buf + len;
    p = ngx_strlchr(buf, last, '#');
    p = p ? ngx_strlchr(p, last, ' ') : NULL;
    p = p ? p + 1 : buf;

    if (last - p > 16 && ngx_strncmp(last - 16, " in command line", 16) == 0) {
        last -= 16;
    }

    ngx_snprintf(capture->err, capture->err_len, "%*s%Z", last - p, p);
}


void
ngx_http_xds_build_hold(ngx_http_xds_build_t *build)
{
    build->refs++;
}


void
ngx_http_xds_build_release(ngx_http_xds_build_t *build)
{
    if (--build->refs == 0) {
        ngx_http_xds_close_cached(build);

        if (build->uscf->shm_zone) {
            /* not in the pool: requests on the zone's peers allocated them */
            ngx_http_xds_free_random_ranges(build->uscf);
        }

        ngx_destroy_pool(build->pool);
    }
}


static void
ngx_http_xds_close_cached(ngx_http_xds_build_t *build)
{
    ngx_queue_t                    *q;
    ngx_connection_t               *c;
    ngx_http_xds_keepalive_conf_t  *kcf;
    ngx_http_xds_keepalive_item_t  *item;

    if (!build->keepalive) {
        return;
    }

    kcf = ngx_http_conf_upstream_srv_conf(build->uscf,
                                          ngx_http_upstream_keepalive_module);

    while (!ngx_queue_empty(&kcf->cache)) {
        q = ngx_queue_head(&kcf->cache);
        ngx_queue_remove(q);

        item = ngx_queue_data(q, ngx_http_xds_keepalive_item_t, queue);
        c = item->connection;

        /* as ngx_http_upstream_keepalive_close() does */
#if (NGX_HTTP_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        ngx_destroy_pool(c->pool);
        ngx_close_connection(c);
    }
}
