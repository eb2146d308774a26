//! syncer: not built yet (issue 6).
