//! The Lambda simulator (being built).
