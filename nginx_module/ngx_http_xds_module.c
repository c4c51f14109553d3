/*
 * nginx-xds: the module's definition, its configuration (the http{}
 * directives' values are read by ngx_http_xds_directives.c), its shared
 * zone, and the hooks that hand work to the other files: applying
 * snapshots (ngx_http_xds_apply.c), worker 0's agent (ngx_http_xds_agent.c)
 * and the status page (ngx_http_xds_status.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_directives.h"
#include "nginx_module/ngx_http_xds_upstreams.h"
#include "nginx_module/ngx_http_xds_zone.h"
#include "nginx_module/ngx_http_xds_apply.h"
#include "nginx_module/ngx_http_xds_status.h"
#include "nginx_module/ngx_http_xds_api.h"
#include "nginx_module/ngx_http_xds_api_conf.h"
#include "nginx_module/ngx_http_xds_agent.h"


#define NGX_HTTP_XDS_ZONE_DEFAULT     (4 * 1024 * 1024)


static void *ngx_http_xds_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_xds_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_xds_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_xds_init_module(ngx_cycle_t *cycle);
static char *ngx_http_xds_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_xds_init_zone(ngx_shm_zone_t *shm_zone, void *data);

static ngx_int_t ngx_http_xds_sync_handler(ngx_http_request_t *r);

static ngx_int_t ngx_http_xds_init_process(ngx_cycle_t *cycle);
static void ngx_http_xds_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_xds_commands[] = {

    { ngx_string("xds_server"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
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

    /* the seed modules' HTTP APIs, forwarded (ngx_http_xds_api*.c) */

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


/*
 * xds_server ADDRESS...: one or more control planes, each host:port; the
 * agent gets them joined by "," and fails over between them.
 */

static char *
ngx_http_xds_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_xds_status_handler;

    return NGX_CONF_OK;
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

        return ngx_http_xds_zone_init(xmcf, 0);
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

    return ngx_http_xds_zone_init(xmcf, 1);
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

    return ngx_http_xds_agent_init_process(cycle, xmcf);
}


static void
ngx_http_xds_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_xds_agent_exit_process(cycle);
}
