/*
 * nginx-xds: the applied state in the module's zone.
 *
 * One record per upstream, found by name (a red-black tree keyed by the
 * name's hash) so that it outlives reloads. Each record holds the
 * definition applied to it, in a block of its own that is replaced alone
 * when that upstream changes, and the generation of that change. Each
 * applied version that changes something moves the zone's generation once
 * and logs which records it changed in a ring; a worker synced to
 * generation g visits only the records logged after g, or scans every
 * record when the ring no longer holds all of them. Nothing is copied per
 * change beyond the upstreams that changed.
 *
 * Locks: writers (worker 0 applying, the master re-applying after a
 * reload, an old worker 0 during one) hold the apply lock for writing, and
 * change what readers see (the tree, definitions, the change log, the
 * generation) under the zone's slab mutex too. Readers (a worker catching
 * up, or finding its run-time upstream's record) hold the slab mutex only:
 * the master frees it when its holder was killed, which an rwlock would not
 * be, and they hold it only to copy what changed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_snapshot.h"
#include "nginx_module/ngx_http_xds_upstreams.h"
#include "nginx_module/ngx_http_xds_zone.h"


static ngx_http_xds_upstream_sh_t *ngx_http_xds_new_sh(
    ngx_http_xds_apply_shctx_t *ash, ngx_slab_pool_t *shpool,
    ngx_str_t *name);
static ngx_int_t ngx_http_xds_name_cmp(ngx_str_t *a, ngx_str_t *b);
static ngx_uint_t ngx_http_xds_def_equal(ngx_http_xds_upstream_def_t *a,
    ngx_http_xds_upstream_def_t *b);
static ngx_http_xds_upstream_sh_t *ngx_http_xds_record(
    ngx_http_xds_main_conf_t *xmcf, ngx_str_t *name);
static ngx_int_t ngx_http_xds_set_def(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_upstream_sh_t *ush, ngx_http_xds_upstream_def_t *def,
    ngx_uint_t generation);


ngx_int_t
ngx_http_xds_zone_init(ngx_http_xds_main_conf_t *xmcf, ngx_uint_t fresh)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_slab_pool_t             *shpool;
    ngx_http_xds_upstream_t     *xu;
    ngx_http_xds_upstream_sh_t  *ush;
    ngx_http_xds_apply_shctx_t  *ash;

    shpool = xmcf->shpool;
    ash = xmcf->sh->apply;

    if (ash == NULL) {
        ash = ngx_slab_calloc(shpool, sizeof(ngx_http_xds_apply_shctx_t));
        if (ash == NULL) {
            return NGX_ERROR;
        }

        ngx_rbtree_init(&ash->tree, &ash->sentinel,
                        ngx_http_xds_name_insert);

        xmcf->sh->apply = ash;
    }

    /* the tree's insert function is this module's: set it again after a
     * reload loaded the module again */
    ash->tree.insert = ngx_http_xds_name_insert;

    /* records are found by name, so they outlive reloads; old workers may
     * be reading the tree */

    rc = NGX_OK;
    xu = xmcf->upstreams.elts;

    ngx_rwlock_wlock(&ash->lock);

    for (i = 0; i < xmcf->upstreams.nelts; i++) {

        ush = ngx_http_xds_find_sh(ash, &xu[i].uscf->host);

        if (ush == NULL) {
            ush = ngx_http_xds_new_sh(ash, shpool, &xu[i].uscf->host);
            if (ush == NULL) {
                rc = NGX_ERROR;
                break;
            }
        }

        xu[i].sh = ush;
    }

    ngx_rwlock_unlock(&ash->lock);

    return rc;
}


/* a new record named `name`, linked into the list and the tree; the caller
 * holds the apply lock for writing */

static ngx_http_xds_upstream_sh_t *
ngx_http_xds_new_sh(ngx_http_xds_apply_shctx_t *ash, ngx_slab_pool_t *shpool,
    ngx_str_t *name)
{
    ngx_uint_t                   log_nomem;
    ngx_http_xds_upstream_sh_t  *ush;

    ngx_shmtx_lock(&shpool->mutex);

    /* a full zone is reported by the NACK, not by a [crit] "no memory" */

    log_nomem = shpool->log_nomem;
    shpool->log_nomem = 0;

    ush = ngx_slab_calloc_locked(shpool, sizeof(ngx_http_xds_upstream_sh_t));

    if (ush) {
        ush->name.data = ngx_slab_alloc_locked(shpool, name->len);

        if (ush->name.data == NULL) {
            ngx_slab_free_locked(shpool, ush);
            ush = NULL;
        }
    }

    if (ush) {
        ngx_memcpy(ush->name.data, name->data, name->len);
        ush->name.len = name->len;
        ush->node.key = ngx_hash_key_lc(name->data, name->len);

        /* readers of the tree hold the mutex (see the file's top) */

        ngx_rbtree_insert(&ash->tree, &ush->node);

        ush->next = ash->upstreams;
        ash->upstreams = ush;
    }

    shpool->log_nomem = log_nomem;
    ngx_shmtx_unlock(&shpool->mutex);

    return ush;
}


/* upstream names compare without case, as nginx's do */

static ngx_int_t
ngx_http_xds_name_cmp(ngx_str_t *a, ngx_str_t *b)
{
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }

    return ngx_strncasecmp(a->data, b->data, a->len);
}


void
ngx_http_xds_name_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (ngx_http_xds_name_cmp(&((ngx_str_node_t *) node)->str,
                                       &((ngx_str_node_t *) temp)->str)
                 < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


ngx_str_node_t *
ngx_http_xds_name_lookup(ngx_rbtree_t *tree, ngx_str_t *name)
{
    ngx_int_t           rc;
    ngx_uint_t          key;
    ngx_str_node_t     *sn;
    ngx_rbtree_node_t  *node, *sentinel;

    key = ngx_hash_key_lc(name->data, name->len);

    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        sn = (ngx_str_node_t *) node;

        rc = ngx_http_xds_name_cmp(name, &sn->str);

        if (rc == 0) {
            return sn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


ngx_http_xds_upstream_sh_t *
ngx_http_xds_find_sh(ngx_http_xds_apply_shctx_t *ash, ngx_str_t *name)
{
    /* a record is laid out as ngx_str_node_t: its node, then its name */
    return (ngx_http_xds_upstream_sh_t *) ngx_http_xds_name_lookup(&ash->tree,
                                                                    name);
}


/*
 * The record of the run-time upstream `name`, with its (maybe empty) peer
 * list, created in the module's zone the first time; kept for the life of
 * the zone, so a worker's build never outlives the list it uses.
 */

ngx_http_xds_upstream_sh_t *
ngx_http_xds_runtime_sh(ngx_http_xds_main_conf_t *xmcf, ngx_str_t *name)
{
    ngx_uint_t                     log_nomem;
    ngx_slab_pool_t               *shpool;
    ngx_http_xds_upstream_sh_t    *ush;
    ngx_http_upstream_rr_peers_t  *peers;

    shpool = xmcf->shpool;

    ush = ngx_http_xds_record(xmcf, name);

    if (ush == NULL || ush->peers) {
        return ush;
    }

    ngx_shmtx_lock(&shpool->mutex);

    log_nomem = shpool->log_nomem;
    shpool->log_nomem = 0;

    peers = ngx_slab_calloc_locked(shpool,
                                   sizeof(ngx_http_upstream_rr_peers_t));

    shpool->log_nomem = log_nomem;
    ngx_shmtx_unlock(&shpool->mutex);

    if (peers == NULL) {
        /* the record stays, without peers: it may get them later */
        return NULL;
    }

    peers->shpool = shpool;
    peers->name = &ush->name;
    ush->peers = peers;

    return ush;
}


/* the record of `name`, created the first time; NULL: the zone is full */

static ngx_http_xds_upstream_sh_t *
ngx_http_xds_record(ngx_http_xds_main_conf_t *xmcf, ngx_str_t *name)
{
    ngx_http_xds_upstream_sh_t  *ush;

    ush = ngx_http_xds_find_sh(xmcf->sh->apply, name);

    if (ush) {
        return ush;
    }

    return ngx_http_xds_new_sh(xmcf->sh->apply, xmcf->shpool, name);
}


ngx_int_t
ngx_http_xds_zone_prepare(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects,
    ngx_http_xds_upstream_def_t **defs)
{
    u_char                        reason[NGX_HTTP_XDS_ERROR_LEN];
    u_char                       *p;
    size_t                        size;
    ngx_uint_t                    i, log_nomem;
    ngx_slab_pool_t              *shpool;
    ngx_http_xds_upstream_sh_t   *ush;
    ngx_http_xds_upstream_def_t  *xud;

    shpool = xmcf->shpool;

    for (i = 0; i < snapshot->nupstreams; i++) {
        xud = &snapshot->upstreams[i];
        defs[i] = NULL;

        if (rejects->reasons[i]) {
            continue;
        }

        ush = ngx_http_xds_find_sh(xmcf->sh->apply, &xud->name);

        if (ush && ush->def && ngx_http_xds_def_equal(ush->def, xud)) {
            continue;
        }

        size = ngx_http_xds_def_size(xud);

        ngx_shmtx_lock(&shpool->mutex);

        log_nomem = shpool->log_nomem;
        shpool->log_nomem = 0;

        p = ngx_slab_alloc_locked(shpool, size);

        shpool->log_nomem = log_nomem;
        ngx_shmtx_unlock(&shpool->mutex);

        if (p == NULL) {
            ngx_snprintf(reason, sizeof(reason),
                         "upstream \"%V\": zone \"%V\" is full%Z",
                         &xud->name, &xmcf->shm_zone->shm.name);

            if (ngx_http_xds_reject(rejects, i, reason) != NGX_OK) {
                ngx_http_xds_zone_unprepare(xmcf, snapshot, rejects, defs, 1);
                return NGX_ERROR;
            }

            continue;
        }

        defs[i] = ngx_http_xds_def_copy(p, xud);
    }

    return NGX_OK;
}


void
ngx_http_xds_zone_unprepare(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects,
    ngx_http_xds_upstream_def_t **defs, ngx_uint_t all)
{
    ngx_uint_t  i;

    for (i = 0; i < snapshot->nupstreams; i++) {
        if (defs[i] && (all || rejects->reasons[i])) {
            ngx_slab_free(xmcf->shpool, defs[i]);
            defs[i] = NULL;
        }
    }
}


ngx_uint_t
ngx_http_xds_zone_commit(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects,
    ngx_http_xds_upstream_def_t **defs, ngx_array_t *removed)
{
    ngx_uint_t                    i, n, generation, listing;
    ngx_slab_pool_t              *shpool;
    ngx_http_xds_upstream_sh_t   *ush, **rm;
    ngx_http_xds_apply_shctx_t   *ash;
    ngx_http_xds_upstream_def_t  *xud;

    ash = xmcf->sh->apply;
    shpool = xmcf->shpool;
    generation = ash->generation + 1;
    listing = ++ash->listing;
    n = 0;

    /*
     * First the records, outside the mutex (making one takes it): each
     * named upstream's, a rejected one's too (it keeps its record, and is
     * still named). The definitions to set are kept in place of defs[i].
     */

    for (i = 0; i < snapshot->nupstreams; i++) {
        xud = &snapshot->upstreams[i];

        ush = ngx_http_xds_find_sh(ash, &xud->name);

        if (ush == NULL && defs[i]) {
            /* the zone had no room for the record (peers made it, except
             * for nginx.conf's without a zone) */
            ush = ngx_http_xds_record(xmcf, &xud->name);

            if (ush == NULL) {
                ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                              "xds: zone too small to keep upstream \"%V\" "
                              "for reloads and other workers", &xud->name);
                ngx_slab_free(shpool, defs[i]);
                defs[i] = NULL;
            }
        }

        if (ush) {
            ush->listed = listing;
        }
    }

    /* then what readers see, under the mutex they read under */

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < snapshot->nupstreams; i++) {
        if (defs[i]) {
            ush = ngx_http_xds_find_sh(ash, &snapshot->upstreams[i].name);
            n += ngx_http_xds_set_def(xmcf, ush, defs[i], generation);
            defs[i] = NULL;
        }
    }

    if (snapshot->delta) {
        for (i = 0; i < snapshot->nremoved; i++) {
            ush = ngx_http_xds_find_sh(ash, &snapshot->removed[i]);

            if (ush && ush->def) {
                n += ngx_http_xds_set_def(xmcf, ush, NULL, generation);

                rm = ngx_array_push(removed);
                if (rm) {
                    *rm = ush;
                }
            }
        }

    } else {

        /* whole: what it does not name is removed */

        for (ush = ash->upstreams; ush; ush = ush->next) {
            if (ush->def && ush->listed != listing) {
                n += ngx_http_xds_set_def(xmcf, ush, NULL, generation);

                rm = ngx_array_push(removed);
                if (rm) {
                    *rm = ush;
                }
            }
        }
    }

    if (n) {
        ash->generation = generation;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return n;
}


/* replaces the definition of `ush` and logs the change; returns 1. The
 * caller holds the mutex. */

static ngx_int_t
ngx_http_xds_set_def(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_upstream_sh_t *ush, ngx_http_xds_upstream_def_t *def,
    ngx_uint_t generation)
{
    ngx_http_xds_change_t        *change;
    ngx_http_xds_apply_shctx_t   *ash;
    ngx_http_xds_upstream_def_t  *old;

    ash = xmcf->sh->apply;

    old = ush->def;
    ush->def = def;
    ush->def_generation = generation;

    change = &ash->changes[ash->nchanges % NGX_HTTP_XDS_CHANGE_LOG];

    if (ash->nchanges >= NGX_HTTP_XDS_CHANGE_LOG) {
        ash->lost = change->generation;
    }

    change->generation = generation;
    change->sh = ush;
    ash->nchanges++;

    if (old) {
        ngx_slab_free_locked(xmcf->shpool, old);
    }

    return 1;
}


static ngx_uint_t
ngx_http_xds_def_equal(ngx_http_xds_upstream_def_t *a,
    ngx_http_xds_upstream_def_t *b)
{
    ngx_uint_t              s;
    ngx_http_xds_server_t  *x, *y;

    if (a->method != b->method
        || a->hash_consistent != b->hash_consistent
        || a->keepalive != b->keepalive
        || a->keepalive_requests != b->keepalive_requests
        || a->keepalive_time != b->keepalive_time
        || a->keepalive_timeout != b->keepalive_timeout
        || a->nservers != b->nservers
        || a->name.len != b->name.len
        || ngx_strncmp(a->name.data, b->name.data, a->name.len) != 0
        || a->zone.len != b->zone.len
        || ngx_strncmp(a->zone.data, b->zone.data, a->zone.len) != 0
        || a->hash_key.len != b->hash_key.len
        || ngx_strncmp(a->hash_key.data, b->hash_key.data, a->hash_key.len)
           != 0)
    {
        return 0;
    }

    for (s = 0; s < a->nservers; s++) {
        x = &a->servers[s];
        y = &b->servers[s];

        if (x->weight != y->weight
            || x->max_fails != y->max_fails
            || x->fail_timeout != y->fail_timeout
            || x->max_conns != y->max_conns
            || x->backup != y->backup
            || x->down != y->down
            || x->address.len != y->address.len
            || ngx_strncmp(x->address.data, y->address.data, x->address.len)
               != 0)
        {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_http_xds_zone_changes(ngx_http_xds_apply_shctx_t *ash, ngx_uint_t since,
    ngx_array_t *changed, ngx_uint_t *scanned)
{
    ngx_uint_t                    i, first;
    ngx_http_xds_change_t        *change;
    ngx_http_xds_upstream_sh_t   *ush, **p;

    *scanned = (since < ash->lost);

    if (!*scanned) {

        /* the ring holds every change after `since`, oldest first: walked
         * back from the newest to the first entry not after `since`; an
         * entry counts when it is its record's newest, so each record is
         * visited once */

        first = ash->nchanges > NGX_HTTP_XDS_CHANGE_LOG
                ? ash->nchanges - NGX_HTTP_XDS_CHANGE_LOG : 0;

        for (i = ash->nchanges; i > first; i--) {
            change = &ash->changes[(i - 1) % NGX_HTTP_XDS_CHANGE_LOG];

            if (change->generation <= since) {
                break;
            }

            if (change->sh->def_generation != change->generation) {
                continue;
            }

            p = ngx_array_push(changed);
            if (p == NULL) {
                return NGX_ERROR;
            }

            *p = change->sh;
        }

        return NGX_OK;
    }

    for (ush = ash->upstreams; ush; ush = ush->next) {
        if (ush->def_generation > since) {
            p = ngx_array_push(changed);
            if (p == NULL) {
                return NGX_ERROR;
            }

            *p = ush;
        }
    }

    return NGX_OK;
}
