//! imapmig-core (being built; see the workspace README).
