//! Feature unification for the BOX workspace (see this crate's `Cargo.toml`):
//! no code, only dependencies with the features the test build also turns on,
//! so that `tools/demo` and `tools/test` share one build.
