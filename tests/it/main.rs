//! The integration tests, one module per former test binary, linked once against the crate.
//! `cargo test --test it <module>::` runs one group, e.g. `cargo test --test it controller_rbac::`.

mod support;

mod binhost;
mod binhost_config;
mod chart_binhost;
mod cluster_smoke;
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
mod crds;
mod engine_smoke;
mod faults;
mod gc;
mod hostile_corpus;
mod inputs_digest;
mod local_build;
mod local_depth;
mod manifests;
mod materialize;
mod parsers_never_panic;
mod plan_cli;
mod publish_local;
mod publish_registry;
mod push_latency;
mod registry_faults;
mod scale;
mod secrets_never_leak;
mod site_errors;
mod webhook;
mod webhook_hostile;
mod zentoo_image;
