//! vn-agent: not built yet (issue 8).
