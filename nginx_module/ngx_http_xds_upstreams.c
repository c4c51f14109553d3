/*
 * nginx-xds: recording nginx.conf's upstream blocks, and describing them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_peer.h"
#include "nginx_module/ngx_http_xds_upstreams.h"


typedef char *(*ngx_http_xds_set_pt)(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* a balancer or keepalive directive whose arguments the module records */
typedef struct {
    ngx_module_t         *module;
    char                 *name;
    ngx_int_t             method;    /* NGX_CONF_UNSET: not a method */
    ngx_command_t        *cmd;
    ngx_http_xds_set_pt   set;       /* the directive's own handler */
} ngx_http_xds_hook_t;


static char *ngx_http_xds_hooked_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_xds_record(ngx_conf_t *cf, ngx_http_xds_hook_t *hook,
    ngx_http_xds_srv_conf_t *xscf);
static u_char *ngx_http_xds_strdup0(ngx_pool_t *pool, ngx_str_t *src);


extern ngx_module_t  ngx_http_upstream_hash_module;
extern ngx_module_t  ngx_http_upstream_ip_hash_module;
extern ngx_module_t  ngx_http_upstream_least_conn_module;
extern ngx_module_t  ngx_http_upstream_random_module;
extern ngx_module_t  ngx_http_upstream_keepalive_module;


static ngx_http_xds_hook_t  ngx_http_xds_hooks[] = {
    { &ngx_http_upstream_least_conn_module, "least_conn",
      NXA_METHOD_LEAST_CONN, NULL, NULL },
    { &ngx_http_upstream_ip_hash_module, "ip_hash",
      NXA_METHOD_IP_HASH, NULL, NULL },
    { &ngx_http_upstream_hash_module, "hash",
      NXA_METHOD_HASH, NULL, NULL },
    { &ngx_http_upstream_random_module, "random",
      NXA_METHOD_RANDOM, NULL, NULL },
    { &ngx_http_upstream_keepalive_module, "keepalive",
      NGX_CONF_UNSET, NULL, NULL },
    { &ngx_http_upstream_keepalive_module, "keepalive_requests",
      NGX_CONF_UNSET, NULL, NULL },
    { &ngx_http_upstream_keepalive_module, "keepalive_time",
      NGX_CONF_UNSET, NULL, NULL },
    { &ngx_http_upstream_keepalive_module, "keepalive_timeout",
      NGX_CONF_UNSET, NULL, NULL },
    { NULL, NULL, 0, NULL, NULL }
};


ngx_int_t
ngx_http_xds_upstreams_preconfiguration(ngx_conf_t *cf)
{
    ngx_command_t        *cmd;
    ngx_http_xds_hook_t  *hook;

    /*
     * Interpose on the directives' handlers: the process keeps them across
     * reloads, so this is done once; the handler records, then calls the
     * directive's own handler unchanged.
     */

    for (hook = ngx_http_xds_hooks; hook->module; hook++) {

        if (hook->cmd) {
            continue;
        }

        for (cmd = hook->module->commands; cmd->name.len; cmd++) {
            if (ngx_strcmp(cmd->name.data, hook->name) == 0) {
                hook->cmd = cmd;
                hook->set = cmd->set;
                cmd->set = ngx_http_xds_hooked_set;
                break;
            }
        }

        if (hook->cmd == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "xds: directive \"%s\" not found", hook->name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void *
ngx_http_xds_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_xds_srv_conf_t  *xscf;

    xscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_xds_srv_conf_t));
    if (xscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     xscf->hash_key = { 0, NULL };
     *     xscf->hash_consistent = 0;
     *     xscf->random_two = 0;
     *     xscf->keepalive = 0;
     *     xscf->xu = NULL;
     */

    xscf->method = NXA_METHOD_ROUND_ROBIN;
    xscf->keepalive_requests = 1000;
    xscf->keepalive_time = 3600000;
    xscf->keepalive_timeout = 60000;

    return xscf;
}


static char *
ngx_http_xds_hooked_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                     *rv;
    ngx_http_xds_hook_t      *hook;
    ngx_http_xds_srv_conf_t  *xscf;

    for (hook = ngx_http_xds_hooks; hook->cmd != cmd; hook++) {
        /* void */
    }

    rv = hook->set(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    xscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_xds_module);

    if (xscf && ngx_http_xds_record(cf, hook, xscf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_xds_record(ngx_conf_t *cf, ngx_http_xds_hook_t *hook,
    ngx_http_xds_srv_conf_t *xscf)
{
    ngx_int_t   n;
    ngx_str_t  *value;

    value = cf->args->elts;

    if (hook->method != NGX_CONF_UNSET) {
        xscf->method = hook->method;

        if (hook->method == NXA_METHOD_HASH) {
            xscf->hash_key = value[1];
            xscf->hash_consistent = (cf->args->nelts == 3);

        } else if (hook->method == NXA_METHOD_RANDOM) {
            xscf->random_two = (cf->args->nelts > 1);
        }

        return NGX_OK;
    }

    /* the directive's own handler has validated the value */

    if (ngx_strcmp(hook->name, "keepalive") == 0) {
        n = ngx_atoi(value[1].data, value[1].len);
        xscf->keepalive = (n == NGX_ERROR) ? 0 : (ngx_uint_t) n;

    } else if (ngx_strcmp(hook->name, "keepalive_requests") == 0) {
        n = ngx_atoi(value[1].data, value[1].len);
        xscf->keepalive_requests = (n == NGX_ERROR) ? 0 : (ngx_uint_t) n;

    } else if (ngx_strcmp(hook->name, "keepalive_time") == 0) {
        xscf->keepalive_time = ngx_parse_time(&value[1], 0);

    } else {
        xscf->keepalive_timeout = ngx_parse_time(&value[1], 0);
    }

    return NGX_OK;
}


/*
 * Variables a hash key of a run-time upstream may use: nginx resolves a
 * variable's handler only for those nginx.conf names, so these are named
 * here, at configuration time.
 */
static ngx_str_t  ngx_http_xds_hash_variables[] = {
    ngx_string("remote_addr"),
    ngx_string("binary_remote_addr"),
    ngx_string("request_uri"),
    ngx_string("uri"),
    ngx_string("args"),
    ngx_string("host"),
    ngx_string("http_host"),
    ngx_string("server_name"),
    ngx_null_string
};


ngx_int_t
ngx_http_xds_upstreams_init(ngx_conf_t *cf, ngx_array_t *upstreams)
{
    ngx_uint_t                       i;
    ngx_http_xds_upstream_t         *xu;
    ngx_http_xds_srv_conf_t         *xscf;
    ngx_http_upstream_srv_conf_t   **uscfp;
    ngx_http_upstream_main_conf_t   *umcf;

    for (i = 0; ngx_http_xds_hash_variables[i].len; i++) {
        if (ngx_http_get_variable_index(cf, &ngx_http_xds_hash_variables[i])
            == NGX_ERROR)
        {
            return NGX_ERROR;
        }
    }

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        /* upstream{} blocks; not the implicit ones of proxy_pass */

        if (!(uscfp[i]->flags & NGX_HTTP_UPSTREAM_CREATE)) {
            continue;
        }

        xu = ngx_array_push(upstreams);
        if (xu == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(xu, sizeof(ngx_http_xds_upstream_t));

        xu->uscf = uscfp[i];

        xscf = ngx_http_conf_upstream_srv_conf(uscfp[i], ngx_http_xds_module);
        xscf->xu = xu;

        if (ngx_http_xds_peer_wrap(xu) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_http_xds_upstream_t *
ngx_http_xds_upstreams_find(ngx_array_t *upstreams, u_char *name, size_t len)
{
    ngx_uint_t                i;
    ngx_http_xds_upstream_t  *xu;

    xu = upstreams->elts;

    for (i = 0; i < upstreams->nelts; i++) {
        if (xu[i].uscf->host.len == len
            && ngx_strncasecmp(xu[i].uscf->host.data, name, len) == 0)
        {
            return &xu[i];
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_xds_upstreams_describe(ngx_pool_t *pool,
    ngx_http_upstream_srv_conf_t *uscf, nxa_upstream_t *out,
    nxa_server_t **servers)
{
    ngx_uint_t                    i, j, n;
    nxa_server_t                 *s;
    ngx_http_xds_srv_conf_t      *xscf;
    ngx_http_upstream_server_t   *server;

    xscf = ngx_http_conf_upstream_srv_conf(uscf, ngx_http_xds_module);

    ngx_memzero(out, sizeof(nxa_upstream_t));

    out->name = (char *) ngx_http_xds_strdup0(pool, &uscf->host);
    out->zone = (char *) (uscf->shm_zone
                          ? ngx_http_xds_strdup0(pool, &uscf->shm_zone->shm.name)
                          : (u_char *) "");
    out->method = (int) xscf->method;
    out->hash_key = (char *) ngx_http_xds_strdup0(pool, &xscf->hash_key);
    out->hash_consistent = (int) xscf->hash_consistent;
    out->keepalive = (unsigned) xscf->keepalive;
    out->keepalive_requests = (unsigned) xscf->keepalive_requests;
    out->keepalive_time_ms = (unsigned) xscf->keepalive_time;
    out->keepalive_timeout_ms = (unsigned) xscf->keepalive_timeout;

    if (out->name == NULL || out->zone == NULL || out->hash_key == NULL) {
        return NGX_ERROR;
    }

    server = uscf->servers->elts;

    for (n = 0, i = 0; i < uscf->servers->nelts; i++) {
        n += server[i].naddrs;
    }

    s = ngx_pcalloc(pool, (n ? n : 1) * sizeof(nxa_server_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    /* every address of a server line is a server of its own, as in nginx */

    for (n = 0, i = 0; i < uscf->servers->nelts; i++) {
        for (j = 0; j < server[i].naddrs; j++, n++) {
            s[n].address = (char *) ngx_http_xds_strdup0(pool,
                                                 &server[i].addrs[j].name);
            if (s[n].address == NULL) {
                return NGX_ERROR;
            }

            s[n].weight = (unsigned) server[i].weight;
            s[n].max_fails = (unsigned) server[i].max_fails;
            s[n].fail_timeout = (unsigned) server[i].fail_timeout;
            s[n].max_conns = (unsigned) server[i].max_conns;
            s[n].backup = server[i].backup;
            s[n].down = (int) server[i].down;
        }
    }

    out->nservers = n;
    *servers = s;

    return NGX_OK;
}


static u_char *
ngx_http_xds_strdup0(ngx_pool_t *pool, ngx_str_t *src)
{
    u_char  *dst;

    dst = ngx_pnalloc(pool, src->len + 1);
    if (dst == NULL) {
        return NULL;
    }

    *ngx_cpymem(dst, src->data, src->len) = '\0';

    return dst;
}
