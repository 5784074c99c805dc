//! Tests of the `mime` part of the `imapmig` command.
