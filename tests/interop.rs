//! Interoperability with an OTLP collector we did not write.
