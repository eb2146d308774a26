//! Process plumbing shared by every virtualcluster program.

pub mod process;
