//! vcctl as a library. [`local`] runs the whole virtualcluster system in one process (what
//! `vcctl up` does), for people and for tests.

pub mod local;
