//! Tests of the `exchange` part of the `imapmig` command.
