//! nodesim: not built yet (issue 5).
