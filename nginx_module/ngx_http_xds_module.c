
/*
 * nginx-xds: the module's directives, shared zone, status page and the
 * xDS agent's life in worker 0.
 *
 * The agent (agent/xds_agent.h) runs its own thread in worker 0 and never
 * calls ngx_*: it queues snapshots and log lines under a pthread mutex and
 * wakes the worker's event loop through an eventfd. Applying snapshots is
 * ngx_http_xds_apply.c's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_api.h"
#include "nginx_module/ngx_http_xds_apply.h"
#include "nginx_module/ngx_http_xds_upstreams.h"


#define NGX_HTTP_XDS_ZONE_MIN         (128 * 1024)
#define NGX_HTTP_XDS_ZONE_DEFAULT     (4 * 1024 * 1024)
#define NGX_HTTP_XDS_NAME_MAX         255
#define NGX_HTTP_XDS_TIMER            500
#define NGX_HTTP_XDS_LOG_QUEUE_MAX    1024
#define NGX_HTTP_XDS_TIME_LEN         (sizeof("Mon, 28 Sep 1970 06:00:00 GMT") - 1)


typedef struct ngx_http_xds_msg_s  ngx_http_xds_msg_t;

/* a snapshot or a log line from the agent thread, malloc()ed by it */
struct ngx_http_xds_msg_s {
    ngx_http_xds_msg_t            *next;
    nxa_snapshot_t                *snapshot;   /* NULL: a log line */
    ngx_uint_t                     level;
    size_t                         len;
    u_char                         text[1];
};


/* worker 0's side of the agent; one per process */
typedef struct {
    /* shared with the agent thread, under mutex */
    pthread_mutex_t                mutex;
    ngx_http_xds_msg_t            *head;
    ngx_http_xds_msg_t           **tail;
    ngx_uint_t                     nlines;
    ngx_uint_t                     dropped;
    ngx_uint_t                     closing;

    /* written before the agent thread starts, read-only after */
    ngx_fd_t                       fd;
    ngx_uint_t                     log_level;

    /* the worker's own */
    ngx_http_xds_main_conf_t      *xmcf;
    ngx_cycle_t                   *cycle;
    ngx_connection_t              *conn;
    ngx_event_t                    timer;
    ngx_uint_t                     connected;
} ngx_http_xds_worker_t;


static void *ngx_http_xds_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_xds_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_xds_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_xds_init_module(ngx_cycle_t *cycle);
static char *ngx_http_xds_server(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_xds_node_label(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_xds_name(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_xds_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_xds_zone_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_xds_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_xds_valid_name(ngx_str_t *name);
static ngx_int_t ngx_http_xds_init_zone(ngx_shm_zone_t *shm_zone, void *data);

static ngx_int_t ngx_http_xds_sync_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_xds_status_handler(ngx_http_request_t *r);
static ngx_buf_t *ngx_http_xds_status_text(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh);
static ngx_buf_t *ngx_http_xds_status_json(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh);
static size_t ngx_http_xds_json_len(u_char *s, size_t len);
static u_char *ngx_http_xds_json_str(u_char *p, u_char *s, size_t len);

static ngx_int_t ngx_http_xds_init_process(ngx_cycle_t *cycle);
static void ngx_http_xds_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_xds_start_agent(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);
static void ngx_http_xds_stop_agent(ngx_http_xds_worker_t *xw);
static void ngx_http_xds_set_connected(ngx_http_xds_main_conf_t *xmcf,
    ngx_uint_t connected);
static void ngx_http_xds_set_error(ngx_http_xds_main_conf_t *xmcf,
    u_char *err, size_t len);

static void ngx_http_xds_agent_snapshot(void *ctx, nxa_snapshot_t *snapshot);
static void ngx_http_xds_agent_log(void *ctx, int level, const char *msg);
static void ngx_http_xds_agent_push(ngx_http_xds_worker_t *xw,
    ngx_http_xds_msg_t *msg);
static void ngx_http_xds_notify_handler(ngx_event_t *rev);
static void ngx_http_xds_process_queue(ngx_http_xds_worker_t *xw);
static void ngx_http_xds_apply(ngx_http_xds_worker_t *xw,
    nxa_snapshot_t *snapshot);
static void ngx_http_xds_connected_handler(ngx_event_t *ev);


static ngx_command_t  ngx_http_xds_commands[] = {

    { ngx_string("xds_server"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_server,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("xds_node_id"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_name,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_xds_main_conf_t, node_id),
      NULL },

    { ngx_string("xds_fleet"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_name,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_xds_main_conf_t, fleet),
      NULL },

    { ngx_string("xds_node_label"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_xds_node_label,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("xds_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("xds_zone_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_zone_size,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    /* TLS to the control plane (ngx_http_xds_tls.c) */

    { ngx_string("xds_tls_ca"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_tls_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_xds_main_conf_t, tls.ca),
      NULL },

    { ngx_string("xds_tls_cert"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_tls_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_xds_main_conf_t, tls.cert),
      NULL },

    { ngx_string("xds_tls_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_tls_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_xds_main_conf_t, tls.key),
      NULL },

    { ngx_string("xds_tls_server_name"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_xds_main_conf_t, tls.server_name),
      NULL },

    { ngx_string("xds_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_xds_status,
      0,
      0,
      NULL },

    /* the seed modules' HTTP APIs, forwarded (ngx_http_xds_api.c) */

    { ngx_string("xds_api_server"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_api_server,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("xds_api_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_xds_api_token_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("dynamic_upstream"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_xds_api_forward,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("dyups_interface"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_xds_api_forward,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_xds_module_ctx = {
    ngx_http_xds_upstreams_preconfiguration, /* preconfiguration */
    ngx_http_xds_postconfiguration,        /* postconfiguration */

    ngx_http_xds_create_main_conf,         /* create main configuration */
    ngx_http_xds_init_main_conf,           /* init main configuration */

    ngx_http_xds_create_srv_conf,          /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_xds_api_create_loc_conf,      /* create location configuration */
    ngx_http_xds_api_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_xds_module = {
    NGX_MODULE_V1,
    &ngx_http_xds_module_ctx,              /* module context */
    ngx_http_xds_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_xds_init_module,              /* init module */
    ngx_http_xds_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_xds_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_xds_zone_name = ngx_string("ngx_http_xds");
static ngx_str_t  ngx_http_xds_default_fleet = ngx_string("default");

static ngx_http_xds_worker_t  ngx_http_xds_worker = {
    PTHREAD_MUTEX_INITIALIZER,
    NULL,
    &ngx_http_xds_worker.head,
    0,
    0,
    0,
    -1,
    0,
    NULL,
    NULL,
    NULL,
    { 0 },
    0
};


static void *
ngx_http_xds_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_xds_main_conf_t  *xmcf;

    xmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_xds_main_conf_t));
    if (xmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     xmcf->server = { 0, NULL };
     *     xmcf->node_id = { 0, NULL };
     *     xmcf->fleet = { 0, NULL };
     *     xmcf->cache_path = { 0, NULL };
     *     xmcf->tls = { { { 0, NULL }, ... } };
     *     xmcf->labels = NULL;
     *     xmcf->shm_zone = NULL;
     *     xmcf->sh = NULL;
     *     xmcf->shpool = NULL;
     *     xmcf->agent = NULL;
     */

    xmcf->zone_size = NGX_CONF_UNSET_SIZE;

    return xmcf;
}


static char *
ngx_http_xds_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_xds_main_conf_t *xmcf = conf;

    u_char          *p;
    ngx_shm_zone_t  *shm_zone;

    ngx_conf_init_size_value(xmcf->zone_size, NGX_HTTP_XDS_ZONE_DEFAULT);

    if (xmcf->fleet.data == NULL) {
        xmcf->fleet = ngx_http_xds_default_fleet;
    }

    if (xmcf->node_id.data == NULL) {

        /* the agent wants C strings; cycle->hostname is not one */

        p = ngx_pnalloc(cf->pool, cf->cycle->hostname.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        xmcf->node_id.len = cf->cycle->hostname.len;
        xmcf->node_id.data = p;
        *ngx_cpymem(p, cf->cycle->hostname.data, xmcf->node_id.len) = '\0';

        if (xmcf->server.data != NULL
            && ngx_http_xds_valid_name(&xmcf->node_id) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "host name \"%V\" is no valid xds_node_id, "
                               "set xds_node_id", &xmcf->node_id);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_xds_tls_check(cf, &xmcf->tls) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_xds_zone_name,
                                     xmcf->zone_size, &ngx_http_xds_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_xds_init_zone;
    shm_zone->data = xmcf;

    xmcf->shm_zone = shm_zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_xds_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_xds_main_conf_t   *xmcf;

    xmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_xds_module);

    if (ngx_http_xds_apply_init_conf(cf, xmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* the earliest phase: peers must be current before anything uses them */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_xds_sync_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_xds_init_module(ngx_cycle_t *cycle)
{
    ngx_http_xds_main_conf_t  *xmcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    xmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_xds_module);

    return ngx_http_xds_apply_init_module(cycle, xmcf);
}


static char *
ngx_http_xds_server(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_xds_main_conf_t *xmcf = conf;

    ngx_url_t   u;
    ngx_str_t  *value;

    if (xmcf->server.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_server \"%V\": %s", &value[1],
                           u.err ? u.err : "cannot parse");
        return NGX_CONF_ERROR;
    }

    if (u.family == AF_UNIX || u.no_port || u.host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid xds_server \"%V\": expected host:port",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    /* configuration tokens are NUL-terminated: the agent takes it as is */

    xmcf->server = value[1];

    return NGX_CONF_OK;
}


/*
 * xds_node_label KEY VALUE: sent as a string field of the Node metadata, so
 * a staged rollout's canary group can select this node by it.
 */

static char *
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


static char *
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


static char *
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


static char *
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


static char *
ngx_http_xds_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_xds_status_handler;

    return NGX_CONF_OK;
}


/* a node id or fleet: 1-255 characters of [A-Za-z0-9._-], as the agent */

static ngx_int_t
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


static ngx_int_t
ngx_http_xds_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_xds_main_conf_t *xmcf = shm_zone->data;

    size_t                 len;
    ngx_slab_pool_t       *shpool;
    ngx_http_xds_shctx_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    xmcf->shpool = shpool;

    if (data || shm_zone->shm.exists) {

        /* a reload kept the zone: its state stays */

        xmcf->sh = shpool->data;

        return ngx_http_xds_apply_init_zone(xmcf, 0);
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_xds_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    xmcf->sh = sh;

    len = sizeof(" in xds zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in xds zone \"%V\"%Z",
                &shm_zone->shm.name);

    return ngx_http_xds_apply_init_zone(xmcf, 1);
}


static ngx_int_t
ngx_http_xds_sync_handler(ngx_http_request_t *r)
{
    ngx_http_xds_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_xds_module);

    if (ngx_http_xds_apply_sync(r, xmcf) != NGX_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "xds sync failed");
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_xds_status_handler(ngx_http_request_t *r)
{
    off_t                      len;
    ngx_buf_t                 *head, *tail;
    ngx_int_t                  rc;
    ngx_str_t                  arg;
    ngx_uint_t                 json;
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

    if (ngx_http_arg(r, (u_char *) "format", 6, &arg) == NGX_OK
        && arg.len == 4
        && ngx_strncmp(arg.data, "json", 4) == 0)
    {
        json = 1;
    }

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_xds_module);

    ngx_shmtx_lock(&xmcf->shpool->mutex);
    sh = *xmcf->sh;
    ngx_shmtx_unlock(&xmcf->shpool->mutex);

    head = json ? ngx_http_xds_status_json(r, xmcf, &sh)
                : ngx_http_xds_status_text(r, xmcf, &sh);
    if (head == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    upstreams = ngx_http_xds_apply_status(r, xmcf, json);
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
    b->last = ngx_http_xds_json_str(b->last, xmcf->server.data,
                                    xmcf->server.len);

    b->last = ngx_cpymem(b->last, ",\"node_id\":", sizeof(",\"node_id\":") - 1);
    b->last = ngx_http_xds_json_str(b->last, xmcf->node_id.data,
                                    xmcf->node_id.len);

    b->last = ngx_cpymem(b->last, ",\"fleet\":", sizeof(",\"fleet\":") - 1);
    b->last = ngx_http_xds_json_str(b->last, xmcf->fleet.data,
                                    xmcf->fleet.len);

    b->last = ngx_cpymem(b->last, ",\"version\":", sizeof(",\"version\":") - 1);
    b->last = ngx_http_xds_json_str(b->last, sh->version, sh->version_len);

    if (sh->version_len) {
        b->last = ngx_sprintf(b->last, ",\"applied_at\":%T", sh->applied_at);

    } else {
        b->last = ngx_cpymem(b->last, ",\"applied_at\":null",
                             sizeof(",\"applied_at\":null") - 1);
    }

    b->last = ngx_cpymem(b->last, ",\"last_error\":",
                         sizeof(",\"last_error\":") - 1);
    b->last = ngx_http_xds_json_str(b->last, sh->last_error,
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
ngx_http_xds_json_str(u_char *p, u_char *s, size_t len)
{
    if (len == 0) {
        return ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s, len);
    *p++ = '"';

    return p;
}


static ngx_int_t
ngx_http_xds_init_process(ngx_cycle_t *cycle)
{
    ngx_http_xds_main_conf_t  *xmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    xmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_xds_module);
    if (xmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_xds_apply_init_process(cycle, xmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_process != NGX_PROCESS_WORKER || ngx_worker != 0) {
        return NGX_OK;
    }

    if (xmcf->server.len == 0) {
        ngx_http_xds_set_connected(xmcf, 0);
        return NGX_OK;
    }

    if (ngx_http_xds_start_agent(cycle, xmcf) != NGX_OK) {

        /* nginx keeps serving what it has; the status page says why */

        ngx_http_xds_stop_agent(&ngx_http_xds_worker);
    }

    return NGX_OK;
}


static void
ngx_http_xds_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_xds_stop_agent(&ngx_http_xds_worker);
}


static ngx_int_t
ngx_http_xds_start_agent(ngx_cycle_t *cycle, ngx_http_xds_main_conf_t *xmcf)
{
    int                     rc;
    char                    err[NGX_HTTP_XDS_ERROR_LEN];
    sigset_t                set, old;
    ngx_fd_t                fd;
    ngx_connection_t       *c;
    nxa_config_t            config;
    ngx_http_xds_worker_t  *xw;

    xw = &ngx_http_xds_worker;

    xw->xmcf = xmcf;
    xw->cycle = cycle;
    xw->log_level = cycle->log->log_level;

    fd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "xds eventfd() failed");
        ngx_http_xds_set_error(xmcf, (u_char *) "eventfd() failed",
                               sizeof("eventfd() failed") - 1);
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        if (close(fd) == -1) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "xds eventfd close() failed");
        }

        ngx_http_xds_set_error(xmcf, (u_char *) "no free connection",
                               sizeof("no free connection") - 1);
        return NGX_ERROR;
    }

    xw->fd = fd;
    xw->conn = c;

    c->data = xw;
    c->read->handler = ngx_http_xds_notify_handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&config, sizeof(nxa_config_t));

    config.server = (const char *) xmcf->server.data;
    config.node_id = (const char *) xmcf->node_id.data;
    config.fleet = (const char *) xmcf->fleet.data;
    config.cache_path = xmcf->cache_path.len
                        ? (const char *) xmcf->cache_path.data : NULL;
    config.user_agent = "nginx-xds nginx/" NGINX_VERSION;
    ngx_http_xds_tls_config(&xmcf->tls, &config);

    if (xmcf->labels) {
        config.labels = xmcf->labels->elts;
        config.nlabels = xmcf->labels->nelts;
    }

    config.on_snapshot = ngx_http_xds_agent_snapshot;
    config.on_log = ngx_http_xds_agent_log;
    config.ctx = xw;

    err[0] = '\0';

    if (nxa_agent_create(&config, &xmcf->agent, err, sizeof(err)) != NXA_OK) {
        err[sizeof(err) - 1] = '\0';
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "xds cannot create the agent: %s", err);
        ngx_http_xds_set_error(xmcf, (u_char *) err, ngx_strlen(err));
        xmcf->agent = NULL;
        return NGX_ERROR;
    }

    if (ngx_http_xds_apply_report_static(xmcf, xmcf->agent) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "xds cannot report the static upstreams");
    }

    /* gRPC's threads inherit the mask: nginx's signals stay with nginx */

    sigfillset(&set);

    rc = pthread_sigmask(SIG_SETMASK, &set, &old);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, rc,
                      "xds pthread_sigmask() failed");
        return NGX_ERROR;
    }

    rc = nxa_agent_start(xmcf->agent);

    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (rc != NXA_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "xds cannot start the agent for \"%V\"",
                      &xmcf->server);
        ngx_http_xds_set_error(xmcf, (u_char *) "cannot start the agent",
                               sizeof("cannot start the agent") - 1);
        return NGX_ERROR;
    }

    xw->timer.handler = ngx_http_xds_connected_handler;
    xw->timer.data = xw;
    xw->timer.log = cycle->log;
    xw->timer.cancelable = 1;

    ngx_add_timer(&xw->timer, NGX_HTTP_XDS_TIMER);

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "xds agent started: server \"%V\"%s, node \"%V\", "
                  "fleet \"%V\"", &xmcf->server,
                  xmcf->tls.cert.content.len ? " over mutual TLS"
                  : xmcf->tls.ca.content.len ? " over TLS" : "",
                  &xmcf->node_id, &xmcf->fleet);

    return NGX_OK;
}


/*
 * Stops the agent and everything around it; safe to call twice and with
 * nothing started. A snapshot still queued is the agent's one outstanding
 * snapshot: nxa_agent_destroy() releases it without an answer, so the
 * control plane sees no NACK from a worker that merely exits.
 */

static void
ngx_http_xds_stop_agent(ngx_http_xds_worker_t *xw)
{
    ngx_http_xds_msg_t        *msg, *next;
    ngx_http_xds_main_conf_t  *xmcf;

    xmcf = xw->xmcf;

    if (xmcf == NULL) {
        return;
    }

    pthread_mutex_lock(&xw->mutex);

    xw->closing = 1;
    msg = xw->head;
    xw->head = NULL;
    xw->tail = &xw->head;
    xw->nlines = 0;

    pthread_mutex_unlock(&xw->mutex);

    if (xmcf->agent) {
        nxa_agent_destroy(xmcf->agent);
        xmcf->agent = NULL;

        ngx_log_error(NGX_LOG_NOTICE, xw->cycle->log, 0,
                      "xds agent stopped");
    }

    while (msg) {
        next = msg->next;

        if (msg->snapshot == NULL) {
            ngx_log_error(msg->level, xw->cycle->log, 0, "xds agent: %*s",
                          msg->len, msg->text);
        }

        ngx_free(msg);
        msg = next;
    }

    if (xw->timer.timer_set) {
        ngx_del_timer(&xw->timer);
    }

    if (xw->conn) {
        ngx_close_connection(xw->conn);
        xw->conn = NULL;
        xw->fd = -1;
    }

    ngx_shmtx_lock(&xmcf->shpool->mutex);

    if (xmcf->sh->agent_pid == ngx_pid) {
        xmcf->sh->connected = 0;
        xmcf->sh->agent_pid = 0;
    }

    ngx_shmtx_unlock(&xmcf->shpool->mutex);

    xw->xmcf = NULL;
}


static void
ngx_http_xds_set_connected(ngx_http_xds_main_conf_t *xmcf,
    ngx_uint_t connected)
{
    ngx_shmtx_lock(&xmcf->shpool->mutex);

    xmcf->sh->connected = connected;
    xmcf->sh->agent_pid = ngx_pid;

    ngx_shmtx_unlock(&xmcf->shpool->mutex);
}


static void
ngx_http_xds_set_error(ngx_http_xds_main_conf_t *xmcf, u_char *err,
    size_t len)
{
    len = ngx_min(len, NGX_HTTP_XDS_ERROR_LEN);

    ngx_shmtx_lock(&xmcf->shpool->mutex);

    ngx_memcpy(xmcf->sh->last_error, err, len);
    xmcf->sh->last_error_len = len;
    xmcf->sh->error_at = ngx_time();

    ngx_shmtx_unlock(&xmcf->shpool->mutex);
}


/*
 * The agent thread's side: these two run on the agent's thread and must
 * not call ngx_*, so they use malloc() and write() directly.
 */

static void
ngx_http_xds_agent_snapshot(void *ctx, nxa_snapshot_t *snapshot)
{
    ngx_http_xds_worker_t *xw = ctx;

    ngx_http_xds_msg_t  *msg;

    msg = malloc(sizeof(ngx_http_xds_msg_t));
    if (msg == NULL) {
        nxa_snapshot_done(snapshot, NXA_ERROR, "out of memory in nginx");
        return;
    }

    msg->next = NULL;
    msg->snapshot = snapshot;
    msg->level = 0;
    msg->len = 0;
    msg->text[0] = '\0';

    ngx_http_xds_agent_push(xw, msg);
}


static void
ngx_http_xds_agent_log(void *ctx, int level, const char *text)
{
    ngx_http_xds_worker_t *xw = ctx;

    size_t               len;
    ngx_uint_t           ngx_level;
    ngx_http_xds_msg_t  *msg;

    switch (level) {

    case NXA_LOG_ERROR:
        ngx_level = NGX_LOG_ERR;
        break;

    case NXA_LOG_WARN:
        ngx_level = NGX_LOG_WARN;
        break;

    case NXA_LOG_INFO:
        ngx_level = NGX_LOG_INFO;
        break;

    default:
        ngx_level = NGX_LOG_DEBUG;
        break;
    }

    /* lines the error log would drop are not worth a wakeup */

    if (xw->log_level < ngx_level) {
        return;
    }

    len = strlen(text);

    msg = malloc(sizeof(ngx_http_xds_msg_t) + len);
    if (msg == NULL) {
        return;
    }

    msg->next = NULL;
    msg->snapshot = NULL;
    msg->level = ngx_level;
    msg->len = len;
    memcpy(msg->text, text, len + 1);

    ngx_http_xds_agent_push(xw, msg);
}


static void
ngx_http_xds_agent_push(ngx_http_xds_worker_t *xw, ngx_http_xds_msg_t *msg)
{
    uint64_t  one;

    pthread_mutex_lock(&xw->mutex);

    if (xw->closing) {
        pthread_mutex_unlock(&xw->mutex);

        /* a snapshot stays the agent's outstanding one: destroy frees it */

        free(msg);
        return;
    }

    if (msg->snapshot == NULL) {

        if (xw->nlines >= NGX_HTTP_XDS_LOG_QUEUE_MAX) {
            xw->dropped++;
            pthread_mutex_unlock(&xw->mutex);
            free(msg);
            return;
        }

        xw->nlines++;
    }

    *xw->tail = msg;
    xw->tail = &msg->next;

    pthread_mutex_unlock(&xw->mutex);

    one = 1;

    if (write(xw->fd, &one, sizeof(uint64_t)) == -1) {
        /* EAGAIN: the counter is full, so the worker is woken anyway */
    }
}


static void
ngx_http_xds_notify_handler(ngx_event_t *rev)
{
    ngx_connection_t       *c;
    ngx_http_xds_worker_t  *xw;
    uint64_t                count;
    ssize_t                 n;

    c = rev->data;
    xw = c->data;

    if (c->close) {

        /* worker_shutdown_timeout closes what is left, ours too */

        ngx_http_xds_stop_agent(xw);
        return;
    }

    n = read(c->fd, &count, sizeof(uint64_t));

    if (n == -1 && ngx_errno != NGX_EAGAIN) {
        ngx_log_error(NGX_LOG_ALERT, rev->log, ngx_errno,
                      "xds eventfd read() failed");
    }

    ngx_http_xds_process_queue(xw);
}


static void
ngx_http_xds_process_queue(ngx_http_xds_worker_t *xw)
{
    ngx_uint_t           dropped;
    ngx_http_xds_msg_t  *msg, *next;

    pthread_mutex_lock(&xw->mutex);

    msg = xw->head;
    xw->head = NULL;
    xw->tail = &xw->head;
    xw->nlines = 0;
    dropped = xw->dropped;
    xw->dropped = 0;

    pthread_mutex_unlock(&xw->mutex);

    if (dropped) {
        ngx_log_error(NGX_LOG_WARN, xw->cycle->log, 0,
                      "xds agent: %ui log lines dropped", dropped);
    }

    while (msg) {
        next = msg->next;

        if (msg->snapshot) {
            ngx_http_xds_apply(xw, msg->snapshot);

        } else {
            ngx_log_error(msg->level, xw->cycle->log, 0, "xds agent: %*s",
                          msg->len, msg->text);
        }

        ngx_free(msg);
        msg = next;
    }
}


static void
ngx_http_xds_apply(ngx_http_xds_worker_t *xw, nxa_snapshot_t *snapshot)
{
    size_t                     len;
    u_char                     err[NGX_HTTP_XDS_ERROR_LEN];
    ngx_int_t                  rc;
    const char                *version;
    ngx_http_xds_main_conf_t  *xmcf;

    xmcf = xw->xmcf;
    version = nxa_snapshot_version(snapshot);

    err[0] = '\0';

    rc = ngx_http_xds_apply_snapshot(xw->cycle, xmcf, snapshot, err,
                                     sizeof(err));

    if (rc == NGX_OK) {
        len = ngx_min(ngx_strlen(version), NGX_HTTP_XDS_VERSION_LEN);

        ngx_shmtx_lock(&xmcf->shpool->mutex);

        ngx_memcpy(xmcf->sh->version, version, len);
        xmcf->sh->version_len = len;
        xmcf->sh->applied_at = ngx_time();

        ngx_shmtx_unlock(&xmcf->shpool->mutex);

        ngx_log_error(NGX_LOG_NOTICE, xw->cycle->log, 0,
                      "xds applied version \"%s\"%s", version,
                      nxa_snapshot_from_cache(snapshot)
                      ? " from the cache file" : "");

        nxa_snapshot_done(snapshot, NXA_OK, NULL);
        return;
    }

    err[sizeof(err) - 1] = '\0';

    if (err[0] == '\0') {
        ngx_cpystrn(err, (u_char *) "rejected by nginx", sizeof(err));
    }

    ngx_http_xds_set_error(xmcf, err, ngx_strlen(err));

    ngx_log_error(NGX_LOG_ERR, xw->cycle->log, 0,
                  "xds rejected version \"%s\": %s", version, err);

    nxa_snapshot_done(snapshot, NXA_ERROR, (const char *) err);
}


static void
ngx_http_xds_connected_handler(ngx_event_t *ev)
{
    ngx_uint_t              connected;
    ngx_http_xds_worker_t  *xw;

    xw = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {

        /* an old worker 0 after a reload: its successor runs the agent */

        ngx_http_xds_stop_agent(xw);
        return;
    }

    connected = nxa_agent_connected(xw->xmcf->agent) ? 1 : 0;

    if (connected != xw->connected) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      connected ? "xds connected to \"%V\""
                                : "xds disconnected from \"%V\"",
                      &xw->xmcf->server);
        xw->connected = connected;
    }

    ngx_http_xds_set_connected(xw->xmcf, connected);

    ngx_add_timer(ev, NGX_HTTP_XDS_TIMER);
}
