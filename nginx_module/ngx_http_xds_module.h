/*
 * nginx-xds: the hub header: the types every stage of the module shares.
 *
 * The module's files are one stage each. A stage's file includes this
 * header and the headers of the stages below it, never one above:
 *
 *   0  ngx_http_xds_compat.h    mirrors of nginx 1.22.1 internals
 *      ngx_http_xds_tls         the agent's TLS settings from nginx.conf
 *      ngx_http_xds_directives  the agent's other settings from nginx.conf
 *   1  ngx_http_xds_snapshot    the agent's version (a change or whole) as
 *                               plain structures
 *   2  ngx_http_xds_build       upstreams built by nginx's own parser
 *   3  ngx_http_xds_peer        the request side of changing peers
 *   4  ngx_http_xds_upstreams   nginx.conf's upstream blocks
 *   5  ngx_http_xds_zone        the applied state in the module's zone:
 *                               per-upstream records and the change log
 *   6  ngx_http_xds_plan        editing the shared peer lists
 *   7  ngx_http_xds_install     each worker's builds
 *   8  ngx_http_xds_apply       applying a change; workers catching up
 *      ngx_http_xds_prometheus  the status page in Prometheus' text format
 *   9  ngx_http_xds_api_vars    the forwarded APIs' variables
 *      ngx_http_xds_report      worker 0's reports into the zone
 *      ngx_http_xds_api_proxy   running the proxy module's directives
 *  10  ngx_http_xds_status, ngx_http_xds_api_conf, ngx_http_xds_api,
 *      ngx_http_xds_agent
 *  11  ngx_http_xds_module      directives and hooks
 */


#ifndef _NGX_HTTP_XDS_MODULE_H_INCLUDED_
#define _NGX_HTTP_XDS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "agent/xds_agent.h"
#include "nginx_module/ngx_http_xds_tls.h"


#define NGX_HTTP_XDS_VERSION_LEN  64
#define NGX_HTTP_XDS_ERROR_LEN    1024

/* the buckets of the apply duration histogram, +Inf included
 * (ngx_http_xds_prometheus.c) */
#define NGX_HTTP_XDS_APPLY_BUCKETS  15

/* entries of the zone's change log: a worker that fell further behind than
 * this many upstream changes catches up by a scan of every record */
#define NGX_HTTP_XDS_CHANGE_LOG     4096


typedef struct ngx_http_xds_apply_shctx_s  ngx_http_xds_apply_shctx_t;
typedef struct ngx_http_xds_upstream_sh_s  ngx_http_xds_upstream_sh_t;


/* The module's shared zone: what every worker must see. */
typedef struct {
    /* written by worker 0 under shpool->mutex, read by any worker */
    ngx_uint_t                     connected;
    ngx_pid_t                      agent_pid;   /* who wrote connected */
    u_char                         version[NGX_HTTP_XDS_VERSION_LEN];
    size_t                         version_len;
    u_char                         last_error[NGX_HTTP_XDS_ERROR_LEN];
    size_t                         last_error_len;
    time_t                         applied_at;
    time_t                         error_at;

    /* the metrics of ?format=prometheus, written by worker 0 under
     * shpool->mutex: snapshots rejected in whole or in part, and how long
     * applying snapshots took (per bucket, not cumulative) */
    ngx_uint_t                     nacks;
    ngx_uint_t                     applies;
    uint64_t                       apply_usec;
    ngx_uint_t                     apply_buckets[NGX_HTTP_XDS_APPLY_BUCKETS];

    /* the upstream state applied from snapshots (ngx_http_xds_zone.c) */
    ngx_http_xds_apply_shctx_t    *apply;
} ngx_http_xds_shctx_t;


typedef struct {
    ngx_str_t                      server;      /* xds_server */
    ngx_str_t                      node_id;     /* xds_node_id */
    ngx_str_t                      fleet;       /* xds_fleet */
    ngx_str_t                      cache_path;  /* xds_cache */
    size_t                         zone_size;   /* xds_zone_size */
    ngx_http_xds_tls_t             tls;         /* xds_tls_* */
    ngx_array_t                   *labels;      /* xds_node_label:
                                                   nxa_label_t */

    ngx_shm_zone_t                *shm_zone;
    ngx_http_xds_shctx_t          *sh;
    ngx_slab_pool_t               *shpool;

    /* per process: the agent (worker 0 only) */
    nxa_agent_t                   *agent;

    /* the nginx.conf upstreams snapshots change (ngx_http_xds_apply.c) */
    ngx_array_t                    upstreams;  /* ngx_http_xds_upstream_t */
} ngx_http_xds_main_conf_t;


/*
 * The module's location configuration (ngx_http_xds_api_conf.c). Only the
 * http{} level's has more than `server`: it is the configuration's state
 * (one per cycle) of the forwarded APIs (ngx_http_xds_api*.c).
 */
typedef struct {
    ngx_str_t                      server;     /* xds_api_server, merged */
    ngx_str_t                      authorization;  /* "Bearer <token>" of
                                                  xds_api_token_file, merged */

    /* http{} level only */
    u_char                        *file;       /* where xds_api_server is */
    ngx_uint_t                     line;
    ngx_str_t                      first;      /* the directive first used */
    ngx_http_upstream_srv_conf_t  *upstream;   /* shared by every location */
    ngx_array_t                    locations;  /* ngx_http_conf_ctx_t *,
                                                  of every location */
    ngx_uint_t                     variables;  /* $xds_fleet and
                                                  $xds_api_server added */
} ngx_http_xds_api_loc_conf_t;


/* a snapshot as the module keeps it (ngx_http_xds_snapshot.c) */

typedef struct {
    ngx_str_t                        address;
    ngx_uint_t                       weight;
    ngx_uint_t                       max_fails;
    time_t                           fail_timeout;
    ngx_uint_t                       max_conns;
    unsigned                         backup:1;
    unsigned                         down:1;
} ngx_http_xds_server_t;


typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        zone;
    ngx_int_t                        method;        /* NXA_METHOD_* */
    ngx_str_t                        hash_key;
    ngx_flag_t                       hash_consistent;
    ngx_uint_t                       keepalive;
    ngx_uint_t                       keepalive_requests;
    ngx_msec_t                       keepalive_time;
    ngx_msec_t                       keepalive_timeout;
    ngx_uint_t                       nservers;
    ngx_http_xds_server_t           *servers;
} ngx_http_xds_upstream_def_t;


/*
 * A version as the agent hands it over: whole (every upstream; the others
 * are removed), or a change against what nginx runs (the upstreams new or
 * different, and the names of those removed).
 */
typedef struct {
    ngx_str_t                        version;
    ngx_uint_t                       delta;
    ngx_uint_t                       nupstreams;
    ngx_http_xds_upstream_def_t     *upstreams;
    ngx_uint_t                       nremoved;
    ngx_str_t                       *removed;
} ngx_http_xds_snapshot_t;


/*
 * The upstreams of a snapshot that one apply rejects, each alone: the others
 * are applied, and each rejected one keeps what it had (see
 * ngx_http_xds_apply_snapshot()).
 */
typedef struct {
    ngx_pool_t                      *pool;
    ngx_uint_t                       n;         /* how many are rejected */
    u_char                         **reasons;   /* by upstream index: NULL, or
                                                   why (NUL-terminated) */
} ngx_http_xds_rejects_t;


/* an upstream built from text (ngx_http_xds_build.c) */
typedef struct {
    ngx_pool_t                      *pool;
    ngx_http_upstream_srv_conf_t    *uscf;
    /* requests using it, plus one while it is current */
    ngx_uint_t                       refs;
    /* the text it was built from, to notice changes */
    uint32_t                         crc;
    /* whether it has a keepalive cache to close when it is freed */
    ngx_uint_t                       keepalive;
} ngx_http_xds_build_t;


/* shared: one per upstream{} of nginx.conf and per run-time upstream;
 * outlives reloads (by name) */
struct ngx_http_xds_upstream_sh_s {
    /* in ngx_http_xds_apply_shctx_t.tree, keyed by the name's hash; laid
     * out as ngx_str_node_t (node, then name) */
    ngx_rbtree_node_t                node;
    ngx_str_t                        name;
    /* zone and run-time upstreams: taken for reading by every peer
     * get/init, for writing by apply */
    ngx_atomic_t                     lock;
    /* zone and run-time upstreams: bumped whenever the peer lists change
     * shape */
    ngx_atomic_t                     generation;
    /* a snapshot had it: from then on, a snapshot without it deletes it */
    ngx_atomic_t                     seen;
    ngx_atomic_t                     deleted;
    /* what the control plane defines for it as applied (one block in the
     * module's zone, replaced alone when it changes); NULL: nothing (never
     * defined, or removed). Written under the apply lock. */
    ngx_http_xds_upstream_def_t     *def;
    /* the zone generation that last changed `def` */
    ngx_atomic_t                     def_generation;
    /* worker 0: the `listing` of the last version naming it */
    ngx_uint_t                       listed;
    /* run-time upstreams: the peers of every worker's build, in the
     * module's zone (backups at next) */
    ngx_http_upstream_rr_peers_t    *peers;
    ngx_http_xds_upstream_sh_t      *next;
};


/*
 * per process: an upstream whose peers snapshots change: one of nginx.conf
 * (with a zone: peers edited in place; without: rebuilt), or one that only
 * the control plane defines (built at run time on peers shared in the
 * module's zone, found by proxy_pass $host)
 */
typedef struct {
    ngx_http_upstream_srv_conf_t    *uscf;
    ngx_http_upstream_init_peer_pt   original_init;
    ngx_http_xds_upstream_sh_t      *sh;
    /* the generation this worker's derived state (random ranges) is for */
    ngx_uint_t                       generation;
    /* the current build (rebuilt upstreams) */
    ngx_http_xds_build_t            *build;
    ngx_uint_t                       runtime;        /* not in nginx.conf */
} ngx_http_xds_upstream_t;


/* the upstream-level configuration: what nginx.conf said */
typedef struct {
    ngx_int_t                        method;          /* NXA_METHOD_* */
    ngx_str_t                        hash_key;
    ngx_flag_t                       hash_consistent;
    ngx_flag_t                       random_two;
    ngx_uint_t                       keepalive;
    ngx_uint_t                       keepalive_requests;
    ngx_msec_t                       keepalive_time;
    ngx_msec_t                       keepalive_timeout;

    ngx_http_xds_upstream_t         *xu;             /* NULL: not managed */
} ngx_http_xds_srv_conf_t;


/* whether snapshots edit the upstream's peers in its zone, in place */
#define ngx_http_xds_in_zone(xu)  ((xu)->sh && (xu)->uscf->shm_zone)


/* one entry of the zone's change log: record `sh` changed in `generation` */
typedef struct {
    ngx_atomic_uint_t                generation;
    ngx_http_xds_upstream_sh_t      *sh;
} ngx_http_xds_change_t;


/*
 * The applied state in the module's zone (ngx_http_xds_zone.c): a record
 * per upstream with its own definition, and a bounded log of which records
 * each generation changed, so a worker catches up by visiting those alone.
 */
struct ngx_http_xds_apply_shctx_s {
    /* every record, newest first: nginx.conf's upstreams and the run-time
     * ones; never freed */
    ngx_http_xds_upstream_sh_t      *upstreams;
    /* the same records by name */
    ngx_rbtree_t                     tree;
    ngx_rbtree_node_t                sentinel;
    /* held for writing by whoever changes records or peers: worker 0
     * applying, the master re-applying, and an old worker 0 during a
     * reload; for reading by a worker catching up */
    ngx_atomic_t                     lock;
    /* bumped by every applied version that changed a definition */
    ngx_atomic_t                     generation;
    /* bumped by every applied version: which records a whole one names */
    ngx_uint_t                       listing;
    /* the change log, a ring: entry i % NGX_HTTP_XDS_CHANGE_LOG of the
     * `nchanges` ever written; `lost` is the newest generation of an entry
     * overwritten (a worker synced to less than it scans every record) */
    ngx_atomic_uint_t                nchanges;
    ngx_atomic_uint_t                lost;
    ngx_http_xds_change_t            changes[NGX_HTTP_XDS_CHANGE_LOG];
};


extern ngx_module_t  ngx_http_xds_module;


#endif /* _NGX_HTTP_XDS_MODULE_H_INCLUDED_ */
