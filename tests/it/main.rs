//! The integration tests: one module per area, all linked into this one test binary.
//! `cargo test --test it <module>::` runs one group, e.g. `cargo test --test it controller_rbac::`.
//! A filter is a substring: `faults::` also runs `registry_faults::`, `gc::` `controller_gc::`,
//! `binhost::` `chart_binhost::`; add `-- --skip registry_faults::` (and so on) to leave them out.
//! Every test of every module shares this process: see `support::load` for the tests that must
//! not run beside heavy ones.

mod support;

mod binhost;
mod binhost_config;
mod chart_binhost;
mod chart_network;
mod cluster_smoke;
mod completions;
mod controller_build;
mod controller_drift;
mod controller_gc;
mod controller_leader;
mod controller_lifecycle;
mod controller_metrics;
mod controller_owners;
mod controller_pins;
mod controller_policy;
mod controller_push;
mod controller_rbac;
mod controller_security;
mod controller_why;
mod crds;
mod dashboard;
mod engine_smoke;
mod faults;
mod gc;
mod hostile_corpus;
mod inputs_digest;
mod layers;
mod local_build;
mod local_depth;
mod manifests;
mod materialize;
mod monitoring;
mod parsers_never_panic;
mod plan_cli;
mod publish_local;
mod publish_registry;
mod push_latency;
mod real_node;
mod registry_faults;
mod scale;
mod secrets_never_leak;
mod site_errors;
mod supply_chain;
mod webhook;
mod webhook_hostile;
mod zentoo_image;
