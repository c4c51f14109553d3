/*
 * nginx-xds: the builds each worker installs for a snapshot.
 *
 * For every upstream of a change whose text differs from this worker's
 * build, a build from text (ngx_http_xds_build.c); then installing them:
 * into nginx.conf's upstreams, or as run-time upstreams that proxy_pass
 * $host finds, kept per worker in a registry; a removed run-time upstream
 * is taken out of it by name. Replaced
 * builds are released, and live on while requests hold them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_compat.h"
#include "nginx_module/ngx_http_xds_snapshot.h"
#include "nginx_module/ngx_http_xds_build.h"
#include "nginx_module/ngx_http_xds_peer.h"
#include "nginx_module/ngx_http_xds_upstreams.h"
#include "nginx_module/ngx_http_xds_zone.h"
#include "nginx_module/ngx_http_xds_install.h"


static void ngx_http_xds_release_current(void *data);
static ngx_http_xds_upstream_t **ngx_http_xds_find_runtime(ngx_str_t *name);
static void ngx_http_xds_unindex_runtime(ngx_http_xds_upstream_t *xu);
static ngx_int_t ngx_http_xds_balancer_crc(ngx_pool_t *pool,
    ngx_http_xds_upstream_def_t *xud, ngx_http_xds_upstream_t *xu,
    uint32_t *crc);
static void ngx_http_xds_install_static(ngx_http_xds_upstream_t *xu,
    ngx_http_xds_build_t *build);
static ngx_int_t ngx_http_xds_install_runtime(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_build_t *build);
static void ngx_http_xds_remove_runtime(ngx_uint_t index);


/* per worker: a run-time upstream in the index by name; laid out as
 * ngx_str_node_t, allocated from the upstream's build pool */
typedef struct {
    ngx_str_node_t                   sn;
    ngx_http_xds_upstream_t         *xu;
} ngx_http_xds_runtime_node_t;


/* per worker: the run-time upstreams (ngx_http_xds_upstream_t *), and the
 * same by name, so that a change finds its upstream among many at once */
static ngx_array_t                  *ngx_http_xds_runtime;
static ngx_rbtree_t                  ngx_http_xds_runtime_tree;
static ngx_rbtree_node_t             ngx_http_xds_runtime_sentinel;


ngx_int_t
ngx_http_xds_install_init_process(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf)
{
    ngx_pool_cleanup_t  *cln;

    ngx_http_xds_runtime = ngx_array_create(cycle->pool, 4,
                                            sizeof(ngx_http_xds_upstream_t *));
    if (ngx_http_xds_runtime == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&ngx_http_xds_runtime_tree,
                    &ngx_http_xds_runtime_sentinel, ngx_http_xds_name_insert);

    /* the worker exits by destroying the cycle pool, which holds the
     * current builds: release them first */

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_xds_release_current;
    cln->data = xmcf;

    return NGX_OK;
}


static void
ngx_http_xds_release_current(void *data)
{
    ngx_http_xds_main_conf_t *xmcf = data;

    ngx_uint_t                 i;
    ngx_http_xds_build_t      *build;
    ngx_http_xds_upstream_t   *xu, **runtime;

    xu = xmcf->upstreams.elts;

    for (i = 0; i < xmcf->upstreams.nelts; i++) {
        if (ngx_http_xds_in_zone(&xu[i])) {
            /* nginx leaves them to the exit; the module frees them anyway
             * when the peers change */
            ngx_http_xds_free_random_ranges(xu[i].uscf);
        }

        if (xu[i].build) {
            build = xu[i].build;
            xu[i].build = NULL;
            ngx_http_xds_build_release(build);
        }
    }

    /* a run-time upstream's record lives in its build's pool */

    runtime = ngx_http_xds_runtime->elts;

    for (i = 0; i < ngx_http_xds_runtime->nelts; i++) {
        ngx_http_xds_unindex_runtime(runtime[i]);
        ngx_http_xds_build_release(runtime[i]->build);
    }

    ngx_http_xds_runtime->nelts = 0;
}


ngx_array_t *
ngx_http_xds_runtime_upstreams(void)
{
    return ngx_http_xds_runtime;
}


static ngx_http_xds_upstream_t **
ngx_http_xds_find_runtime(ngx_str_t *name)
{
    ngx_uint_t                    i;
    ngx_http_xds_upstream_t     **runtime;
    ngx_http_xds_runtime_node_t  *rn;

    rn = (ngx_http_xds_runtime_node_t *)
             ngx_http_xds_name_lookup(&ngx_http_xds_runtime_tree, name);

    if (rn == NULL) {
        return NULL;
    }

    /* its slot: pointers side by side, scanned without touching names */

    runtime = ngx_http_xds_runtime->elts;

    for (i = 0; i < ngx_http_xds_runtime->nelts; i++) {
        if (runtime[i] == rn->xu) {
            return &runtime[i];
        }
    }

    return NULL;
}


static void
ngx_http_xds_unindex_runtime(ngx_http_xds_upstream_t *xu)
{
    ngx_http_xds_runtime_node_t  *rn;

    rn = (ngx_http_xds_runtime_node_t *)
             ngx_http_xds_name_lookup(&ngx_http_xds_runtime_tree,
                                      &xu->uscf->host);

    if (rn && rn->xu == xu) {
        ngx_rbtree_delete(&ngx_http_xds_runtime_tree, &rn->sn.node);
    }
}


ngx_int_t
ngx_http_xds_build_all(ngx_cycle_t *cycle, ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_pool_t *pool,
    ngx_array_t *rebuilds, ngx_http_xds_rejects_t *rejects, u_char *err,
    size_t err_len)
{
    u_char                        reason[NGX_HTTP_XDS_ERROR_LEN];
    uint32_t                      crc, conf_crc;
    ngx_str_t                     text;
    ngx_uint_t                    i;
    ngx_shm_zone_t               *zone;
    ngx_http_xds_build_t         *current;
    ngx_http_xds_rebuild_t       *rb;
    ngx_http_xds_upstream_t      *xu, **runtime;
    ngx_http_xds_upstream_def_t  *xud;

    for (i = 0; i < snapshot->nupstreams; i++) {
        xud = &snapshot->upstreams[i];

        if (rejects && rejects->reasons[i]) {
            continue;
        }

        xu = ngx_http_xds_upstreams_find(&xmcf->upstreams, xud->name.data,
                                         xud->name.len);

        if (ngx_http_xds_build_text(pool, xud, &text) != NGX_OK) {
            ngx_snprintf(err, err_len, "out of memory%Z");
            return NGX_ERROR;
        }

        crc = ngx_crc32_short(text.data, text.len);

        /* a run-time upstream's peers are in the module's zone: balancers
         * then keep their per-zone state (random) as for a zone */
        zone = xu ? NULL : xmcf->shm_zone;

        if (xu && ngx_http_xds_in_zone(xu)) {

            /*
             * A zone upstream: its peers are edited in place; a build only
             * carries its balancer (and keepalive) when the control plane's
             * differs from nginx.conf's, and, for consistent hashing, the
             * hash points of the current servers.
             */

            zone = xu->uscf->shm_zone;

            if (!(xud->method == NXA_METHOD_HASH && xud->hash_consistent)) {
                if (ngx_http_xds_balancer_crc(pool, xud, NULL, &crc)
                    != NGX_OK
                    || (xu->build == NULL
                        && ngx_http_xds_balancer_crc(pool, xud, xu, &conf_crc)
                           != NGX_OK))
                {
                    ngx_snprintf(err, err_len, "out of memory%Z");
                    return NGX_ERROR;
                }

                if (xu->build == NULL && crc == conf_crc) {
                    continue;
                }
            }
        }

        if (xu) {
            current = xu->build;

        } else {
            runtime = ngx_http_xds_find_runtime(&xud->name);
            current = runtime ? (*runtime)->build : NULL;
        }

        if (current && current->crc == crc) {
            continue;
        }

        rb = ngx_array_push(rebuilds);
        if (rb == NULL) {
            ngx_snprintf(err, err_len, "out of memory%Z");
            return NGX_ERROR;
        }

        rb->def = xud;
        rb->xu = xu;

        rb->build = ngx_http_xds_build(cycle, &xud->name, &text,
                                       xud->keepalive, zone, reason,
                                       sizeof(reason));
        if (rb->build == NULL) {
            if (rejects == NULL) {
                ngx_snprintf(err, err_len, "%s%Z", reason);
                return NGX_ERROR;
            }

            /* nginx refuses this one: it keeps its build, the rest go on */

            rebuilds->nelts--;

            if (ngx_http_xds_reject(rejects, i, reason) != NGX_OK) {
                ngx_snprintf(err, err_len, "out of memory%Z");
                return NGX_ERROR;
            }

            continue;
        }

        ngx_http_xds_build_weights(rb->build, xud);

        rb->build->crc = crc;
    }

    return NGX_OK;
}


/*
 * The checksum of an upstream's balancer lines (method, hash, keepalive):
 * the snapshot's, or with `xu` those nginx.conf gave it.
 */

static ngx_int_t
ngx_http_xds_balancer_crc(ngx_pool_t *pool, ngx_http_xds_upstream_def_t *xud,
    ngx_http_xds_upstream_t *xu, uint32_t *crc)
{
    ngx_str_t                     text;
    ngx_http_xds_srv_conf_t      *xscf;
    ngx_http_xds_upstream_def_t   def;

    def = *xud;
    def.nservers = 0;

    if (xu) {
        xscf = ngx_http_conf_upstream_srv_conf(xu->uscf, ngx_http_xds_module);

        def.method = xscf->method;
        def.hash_key = xscf->hash_key;
        def.hash_consistent = xscf->hash_consistent;
        def.keepalive = xscf->keepalive;
        def.keepalive_requests = xscf->keepalive_requests;
        def.keepalive_time = xscf->keepalive_time;
        def.keepalive_timeout = xscf->keepalive_timeout;
    }

    if (ngx_http_xds_build_text(pool, &def, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    *crc = ngx_crc32_short(text.data, text.len);

    return NGX_OK;
}


void
ngx_http_xds_install_all(ngx_http_xds_main_conf_t *xmcf,
    ngx_array_t *rebuilds)
{
    ngx_uint_t                    i;
    ngx_http_xds_rebuild_t       *rb;

    rb = rebuilds->elts;

    for (i = 0; i < rebuilds->nelts; i++) {
        if (rb[i].build == NULL) {
            continue;
        }

        if (rb[i].xu) {
            ngx_http_xds_install_static(rb[i].xu, rb[i].build);

        } else if (ngx_http_xds_install_runtime(xmcf, rb[i].build)
                   != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "xds: upstream \"%V\" not installed",
                          &rb[i].def->name);
            ngx_http_xds_build_release(rb[i].build);
        }

        rb[i].build = NULL;
    }
}


void
ngx_http_xds_install_remove(ngx_str_t *name)
{
    ngx_http_xds_upstream_t  **runtime;

    runtime = ngx_http_xds_find_runtime(name);

    if (runtime) {
        ngx_http_xds_remove_runtime(runtime - (ngx_http_xds_upstream_t **)
                                              ngx_http_xds_runtime->elts);
    }
}


void
ngx_http_xds_release_all(ngx_array_t *rebuilds)
{
    ngx_uint_t               i;
    ngx_http_xds_rebuild_t  *rb;

    rb = rebuilds->elts;

    for (i = 0; i < rebuilds->nelts; i++) {
        if (rb[i].build) {
            ngx_http_xds_build_release(rb[i].build);
            rb[i].build = NULL;
        }
    }
}


void
ngx_http_xds_release_rejected(ngx_array_t *rebuilds,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects)
{
    ngx_uint_t               i;
    ngx_http_xds_rebuild_t  *rb;

    rb = rebuilds->elts;

    for (i = 0; i < rebuilds->nelts; i++) {
        if (rb[i].build && rejects->reasons[rb[i].def - snapshot->upstreams]) {
            ngx_http_xds_build_release(rb[i].build);
            rb[i].build = NULL;
        }
    }
}


/*
 * nginx.conf's upstream: proxy_pass holds its srv conf object, so the object
 * stays and takes the build's configuration (and, without a zone, peers).
 */

static void
ngx_http_xds_install_static(ngx_http_xds_upstream_t *xu,
    ngx_http_xds_build_t *build)
{
    void                  **srv_conf;
    ngx_http_xds_build_t   *old;

    srv_conf = build->uscf->srv_conf;

    srv_conf[ngx_http_upstream_module.ctx_index] = xu->uscf;
    srv_conf[ngx_http_xds_module.ctx_index] =
        xu->uscf->srv_conf[ngx_http_xds_module.ctx_index];

    if (!ngx_http_xds_in_zone(xu)) {
        xu->uscf->peer.data = build->uscf->peer.data;
    }

    /* the zone's peers stay: the balancer works on them under the build's
     * configuration */

    xu->uscf->srv_conf = srv_conf;
    xu->original_init = build->uscf->peer.init;

    old = xu->build;
    xu->build = build;

    if (old) {
        ngx_http_xds_build_release(old);
    }
}


/* an upstream only the control plane defines: found by proxy_pass $host */

static ngx_int_t
ngx_http_xds_install_runtime(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_build_t *build)
{
    ngx_uint_t                       i;
    ngx_http_xds_upstream_t         *xu, **runtime;
    ngx_http_xds_srv_conf_t         *xscf;
    ngx_http_xds_upstream_sh_t      *ush;
    ngx_http_xds_runtime_node_t     *rn;
    ngx_http_upstream_srv_conf_t   **uscfp;
    ngx_http_upstream_main_conf_t   *umcf;

    /*
     * The peers are the shared ones worker 0 (or the master, after a
     * reload) applied before the upstream's record named its definition,
     * so the balancing state is one for all workers; the build's own peers
     * go unused.
     */

    /* worker 0 (or the master) may be adding records to the tree */

    ngx_shmtx_lock(&xmcf->shpool->mutex);
    ush = ngx_http_xds_find_sh(xmcf->sh->apply, &build->uscf->host);
    ngx_shmtx_unlock(&xmcf->shpool->mutex);

    if (ush == NULL || ush->peers == NULL) {
        return NGX_ERROR;
    }

    xu = ngx_pcalloc(build->pool, sizeof(ngx_http_xds_upstream_t));
    rn = ngx_pcalloc(build->pool, sizeof(ngx_http_xds_runtime_node_t));

    if (xu == NULL || rn == NULL) {
        return NGX_ERROR;
    }

    /* its node in this worker's index by name: inserted once installed */

    rn->sn.str = build->uscf->host;
    rn->sn.node.key = ngx_hash_key_lc(rn->sn.str.data, rn->sn.str.len);
    rn->xu = xu;

    build->uscf->peer.data = ush->peers;

    xu->uscf = build->uscf;
    xu->sh = ush;
    xu->build = build;
    xu->runtime = 1;

    xscf = ngx_http_conf_upstream_srv_conf(build->uscf, ngx_http_xds_module);
    xscf->xu = xu;

    if (ngx_http_xds_peer_wrap(xu) != NGX_OK) {
        return NGX_ERROR;
    }

    umcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_upstream_module);

    runtime = ngx_http_xds_find_runtime(&build->uscf->host);

    if (runtime) {
        /* replaced: requests still using the old build keep it alive */

        uscfp = umcf->upstreams.elts;

        for (i = 0; i < umcf->upstreams.nelts; i++) {
            if (uscfp[i] == (*runtime)->uscf) {
                uscfp[i] = build->uscf;
                break;
            }
        }

        ngx_http_xds_unindex_runtime(*runtime);
        ngx_http_xds_build_release((*runtime)->build);
        *runtime = xu;

        ngx_rbtree_insert(&ngx_http_xds_runtime_tree, &rn->sn.node);

        return NGX_OK;
    }

    uscfp = ngx_array_push(&umcf->upstreams);
    if (uscfp == NULL) {
        return NGX_ERROR;
    }

    runtime = ngx_array_push(ngx_http_xds_runtime);
    if (runtime == NULL) {
        umcf->upstreams.nelts--;
        return NGX_ERROR;
    }

    *uscfp = build->uscf;
    *runtime = xu;

    ngx_rbtree_insert(&ngx_http_xds_runtime_tree, &rn->sn.node);

    return NGX_OK;
}


static void
ngx_http_xds_remove_runtime(ngx_uint_t index)
{
    ngx_uint_t                       i;
    ngx_http_xds_upstream_t        **runtime;
    ngx_http_upstream_srv_conf_t   **uscfp;
    ngx_http_upstream_main_conf_t   *umcf;

    umcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_upstream_module);
    runtime = ngx_http_xds_runtime->elts;
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i] == runtime[index]->uscf) {
            ngx_memmove(&uscfp[i], &uscfp[i + 1],
                        (umcf->upstreams.nelts - i - 1) * sizeof(void *));
            umcf->upstreams.nelts--;
            break;
        }
    }

    ngx_http_xds_unindex_runtime(runtime[index]);

    /* requests still using it keep the build (and this record) alive */
    ngx_http_xds_build_release(runtime[index]->build);

    ngx_memmove(&runtime[index], &runtime[index + 1],
                (ngx_http_xds_runtime->nelts - index - 1) * sizeof(void *));
    ngx_http_xds_runtime->nelts--;
}
