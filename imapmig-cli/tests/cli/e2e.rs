//! Tests of the `e2e` part of the `imapmig` command.
