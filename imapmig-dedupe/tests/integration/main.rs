//! Integration tests of imapmig-dedupe: the Message-ID corpus and the
//! proptest properties of fingerprints and the index.

mod corpus;
mod properties;
