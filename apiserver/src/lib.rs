//! apiserver: not built yet (issue 3).
