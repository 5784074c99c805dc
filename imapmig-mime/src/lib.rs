//! imapmig-mime (being built; see the workspace README).
