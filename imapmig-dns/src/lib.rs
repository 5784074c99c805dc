//! imapmig-dns (being built; see the workspace README).
