//! imapmig-folders (being built; see the workspace README).
