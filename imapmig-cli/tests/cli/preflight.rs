//! Tests of the `preflight` part of the `imapmig` command.
