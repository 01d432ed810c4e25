//! The lambdatel extension (being built).
