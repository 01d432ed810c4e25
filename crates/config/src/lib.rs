//! Configuration loading (being built).
