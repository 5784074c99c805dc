//! Shared inputs for the criterion benches (see `benches/README.md`).
//!
//! Each bench file in `benches/` measures one of our crates beside its
//! nearest peer on the same input; this library only builds those inputs.
