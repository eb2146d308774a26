//! End-to-end harness (filled by the issues that bring the programs it drives).
