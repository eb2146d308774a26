//! End-to-end support of virtualcluster: the benchmark harness behind the `bench` binary (the
//! end-to-end suites live in `tests/it`).

pub mod bench;
