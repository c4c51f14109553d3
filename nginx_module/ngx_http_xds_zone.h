/*
 * nginx-xds: stage 5, the applied state in the module's zone (its types,
 * ngx_http_xds_apply_shctx_t and ngx_http_xds_upstream_sh_t, are in the
 * hub): one record per upstream holding its own applied definition, and a
 * bounded change log by which the other workers catch up on what changed.
 */


#ifndef _NGX_HTTP_XDS_ZONE_H_INCLUDED_
#define _NGX_HTTP_XDS_ZONE_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* shm zone init: lays out (or, after a reload, finds) the applied state in
 * the module's zone. Called by the module's zone init with the pool locked
 * state it gets from nginx; `fresh` is 1 when the zone is new. */
ngx_int_t ngx_http_xds_zone_init(ngx_http_xds_main_conf_t *xmcf,
    ngx_uint_t fresh);

/* Trees of ngx_str_node_t by name without case, as nginx matches upstream
 * names: the insert function for ngx_rbtree_init(), and the lookup; a
 * node's key is ngx_hash_key_lc() of its name. */
void ngx_http_xds_name_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
ngx_str_node_t *ngx_http_xds_name_lookup(ngx_rbtree_t *tree,
    ngx_str_t *name);

/* The shared record of the upstream `name` (nginx.conf's or run-time), or
 * NULL. The caller holds the apply lock for writing, or the zone's slab
 * mutex. */
ngx_http_xds_upstream_sh_t *ngx_http_xds_find_sh(
    ngx_http_xds_apply_shctx_t *ash, ngx_str_t *name);

/* The record of the run-time upstream `name` with its peer list, created
 * the first time; NULL when the zone is full. The caller holds the apply
 * lock for writing. */
ngx_http_xds_upstream_sh_t *ngx_http_xds_runtime_sh(
    ngx_http_xds_main_conf_t *xmcf, ngx_str_t *name);

/*
 * Applying a version to the records, in two steps around the peers' (the
 * caller holds the apply lock for writing throughout). Prepare copies into
 * the zone each upstream of `snapshot` that `rejects` does not hold and
 * whose definition differs from its record's, into defs[i] (NULL:
 * unchanged); one the zone has no room for is added to `rejects`. NGX_ERROR:
 * out of memory for `rejects`; nothing is kept then.
 */
ngx_int_t ngx_http_xds_zone_prepare(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects,
    ngx_http_xds_upstream_def_t **defs);

/* Frees the prepared copies of the upstreams `rejects` holds (all of them
 * with `all`). */
void ngx_http_xds_zone_unprepare(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects,
    ngx_http_xds_upstream_def_t **defs, ngx_uint_t all);

/*
 * Commit: each prepared definition replaces its record's (records exist by
 * now: nginx.conf's, or made by the peers' step), the upstreams the version
 * removes lose theirs (a delta names them; a whole version removes every
 * record it does not name), each change is logged, and the zone's
 * generation moves once if anything changed. The records of removed
 * upstreams are added to `removed` (ngx_http_xds_upstream_sh_t *). Returns
 * how many records changed.
 */
ngx_uint_t ngx_http_xds_zone_commit(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects,
    ngx_http_xds_upstream_def_t **defs, ngx_array_t *removed);

/*
 * The records whose definition changed after generation `since`, into
 * `changed` (ngx_http_xds_upstream_sh_t *), each once: from the change log
 * when it still holds every change since then, else by a scan of every
 * record (then `*scanned` is 1). The caller holds the zone's slab mutex
 * (or the apply lock for writing).
 */
ngx_int_t ngx_http_xds_zone_changes(ngx_http_xds_apply_shctx_t *ash,
    ngx_uint_t since, ngx_array_t *changed, ngx_uint_t *scanned);


#endif /* _NGX_HTTP_XDS_ZONE_H_INCLUDED_ */
