//! nodesim integration tests.
