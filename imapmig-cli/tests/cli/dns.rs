//! Tests of the `dns` part of the `imapmig` command.
