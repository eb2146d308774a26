//! vc-manager: not built yet (issue 7).
