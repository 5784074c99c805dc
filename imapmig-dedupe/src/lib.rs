//! imapmig-dedupe (being built; see the workspace README).
